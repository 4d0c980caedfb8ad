//! Episodes that end when the outage ends, drills apart, the information department's
//! estimates, records typed in from paper, and restore drills.

use super::*;
use crate::desk::{DrillStatus, RestoreDrill, drill_status, escalation};
use crate::record::{Charge, Episode};

const HOUR: i64 = 3_600_000;

fn visit_on(store: &Store, p: crate::id::RecordId, paper: Option<&str>) -> Visit {
    store
        .register_visit(
            &op("reg1", DeskRole::Registration),
            NewVisit {
                patient: p,
                department: "PED-GEN".into(),
                doctor: None,
                expert: false,
                payment: None,
                occurred_at: paper.map(|t| t.parse().expect("a local time")),
            },
        )
        .expect("visit")
        .value
}

/// "业务库(HISSERVER)恢复运行后 … 即可停止应急库,以上传门诊应急数据。… 此时,门诊系统重新登陆
/// 就可以恢复正常工作" (once the system of record runs again, emergency mode stops, the
/// emergency data goes up, and the desks work normally): when the system of record is back
/// the node stops tagging at once, so what the desks write next is normal (queued, not
/// paused; no YJ number); the episode closes at the outage's end, with the outage's grade,
/// however long reconciliation takes; the node leaves once central has every record.
#[test]
fn an_episode_ends_when_the_system_of_record_is_back_not_when_the_desks_stop() {
    let (_d, w01, clock) = window();
    let system = admin();
    lease(&w01, Series::EmergencyRegistration, 100);
    let p = w01
        .create_patient(&op("reg1", DeskRole::Registration), new_patient("赵六"))
        .expect("patient")
        .value
        .header
        .id;
    let id = w01
        .open_episode(&system, "central unreachable for 30 s", Opening::Automatic)
        .expect("open")
        .value;
    let during = visit_on(&w01, p, None);
    assert_eq!(during.header.episode.as_ref(), Some(&id));
    clock.advance_ms(3 * HOUR);
    // The system of record is back; the desks go on writing.
    assert_eq!(
        w01.recover_from_episode(&system).expect("recover").value,
        Some(id.clone())
    );
    assert_eq!(w01.episode().expect("read"), None);
    assert_eq!(w01.reconciling_episode().expect("read"), Some(id.clone()));
    let after = visit_on(&w01, p, None);
    assert_eq!(after.header.episode, None, "a normal record");
    assert!(!after.registration_no.starts_with("YJ"));
    assert_eq!(
        after.status_log.current::<VisitStatus>(),
        Ok(VisitStatus::Queued)
    );
    // The episode closed at the outage's end: grade III (3 hours), whatever comes next.
    clock.advance_ms(5 * HOUR);
    let (summary, _) = w01.episode_by_id(&id).expect("read").expect("known");
    assert!(!summary.open);
    assert_eq!(summary.duration_ms, 3 * HOUR);
    assert_eq!(summary.grade, "III");
    // Not left until central has every record of the episode.
    assert_eq!(
        w01.leave_reconciled_episode(&system).expect("leave").value,
        None
    );
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    copy_all(&w01, &central);
    central
        .acknowledge_emergency_records(&system)
        .expect("acknowledge");
    copy_all(&central, &w01);
    assert_eq!(
        w01.leave_reconciled_episode(&system).expect("leave").value,
        Some(id.clone())
    );
    assert_eq!(w01.reconciling_episode().expect("read"), None);
    let e: Episode = w01.get(summary.record).expect("read").expect("present");
    let me = &e.nodes["W01"];
    assert_eq!(me.recovered_ms, Some(e.opened_ms + 3 * HOUR));
    assert!(me.left_ms.is_some());
    assert_eq!(e.closed_ms, me.recovered_ms);
}

/// Central lost again seconds after it came back: the second outage, opened by the same node
/// in the same minute, is an episode of its own that the node stays in (with the first's id
/// it found the first, closed, episode by it and left the new one at once, every round: the
/// failover benchmark's windows went in and out of emergency mode for up to 24 s).
#[test]
fn a_second_outage_in_the_same_minute_is_an_episode_of_its_own() {
    let (_d, w01, clock) = window();
    let system = admin();
    let first = w01
        .open_episode(&system, "central unreachable", Opening::Automatic)
        .expect("open")
        .value;
    clock.advance_ms(5_000);
    w01.recover_from_episode(&system).expect("recover");
    w01.reconcile_episodes(&system).expect("reconcile");
    let closed = w01.episodes().expect("episodes");
    assert!(
        closed.iter().all(|e| !e.open),
        "the first episode closed: {closed:?}"
    );
    clock.advance_ms(5_000);
    let second = w01
        .open_episode(&system, "central unreachable again", Opening::Automatic)
        .expect("open")
        .value;
    assert_ne!(second, first);
    assert!(second.as_str().starts_with(first.as_str()), "{second}");
    assert_eq!(
        w01.reconcile_episodes(&system).expect("reconcile").value,
        Some(second.clone()),
        "the node stays in the new outage's episode"
    );
    assert_eq!(w01.episode().expect("read"), Some(second));
}

/// "为提高信息系统突发事件应急响应水平,信息技术部和相关部门应定期或不定期组织应急预案演练"
/// (drills of the plan, regularly): a drill runs the whole procedure on records marked as a
/// drill (the id says so, on every record), never joined by a real outage nor joining one,
/// and its money is kept out of the real cashier summary.
/// Two windows cut off from central and from each other each open an episode; one sees
/// central back and closes its own before it hears of the other's. Once both have closed,
/// every node reports them as one outage: the later merged into the earlier, which ends at
/// the last recovery.
#[test]
fn episodes_that_closed_apart_but_overlapped_are_one_outage() {
    let TwoEpisodes {
        _dirs,
        a,
        clock_a,
        b,
        clock_b,
        first,
        second,
    } = two_windows_in_episodes_of_their_own();
    let system = admin();
    clock_a.advance_ms(HOUR);
    a.recover_from_episode(&system).expect("recover");
    // W01's episode is closed; W02, still cut off, keeps its own open and stays in it.
    copy_all(&a, &b);
    assert_eq!(
        b.reconcile_episodes(&system).expect("reconcile").value,
        Some(second.clone()),
        "a window still in the outage stays in its episode"
    );
    clock_b.advance_ms(2 * HOUR);
    b.recover_from_episode(&system).expect("recover");
    copy_all(&b, &a);
    for store in [&a, &b] {
        store.reconcile_episodes(&system).expect("reconcile");
    }
    copy_all(&a, &b);
    copy_all(&b, &a);
    for store in [&a, &b] {
        let (summary, merged) = store.episode_by_id(&second).expect("read").expect("found");
        assert_eq!(summary.episode.episode_id, first);
        assert_eq!(merged, vec![second.clone()]);
        assert!(!summary.open);
        // From W01's opening to W02's recovery, two hours and a minute later on its clock.
        assert!(
            summary.duration_ms > 2 * HOUR,
            "the outage lasts until the last recovery: {} ms",
            summary.duration_ms
        );
    }
    let a_says = a.episodes().expect("read");
    let b_says = b.episodes().expect("read");
    assert_eq!(
        a_says.iter().map(|e| &e.episode).collect::<Vec<_>>(),
        b_says.iter().map(|e| &e.episode).collect::<Vec<_>>(),
        "both windows hold the same episodes"
    );
}

#[test]
fn a_drill_runs_the_procedure_on_records_marked_as_a_drill() {
    let (_d, w01, _) = window();
    lease(&w01, Series::EmergencyRegistration, 100);
    let drill = w01
        .open_episode(&admin(), "monthly drill", Opening::Drill)
        .expect("drill")
        .value;
    assert!(drill.is_drill(), "{drill}");
    let err = rule(
        w01.open_episode(&admin(), "real", Opening::Declared)
            .unwrap_err(),
    );
    assert!(err.to_string().contains("drill"), "{err}");
    let (_p, v) = registered(&w01);
    assert!(v.header.is_drill());
    assert!(v.registration_no.starts_with("YJ"), "the whole procedure");
    let fee: Charge = w01
        .get(v.fee_charge.expect("fee"))
        .expect("read")
        .expect("present");
    assert!(fee.header.is_drill());
    w01.settle_charge(
        &op("c1", DeskRole::Cashier),
        fee.header.id,
        Settlement::Paid,
    )
    .expect("settle");
    let summary = w01
        .cashier_summary(
            Date::new(2026, 11, 25).expect("valid"),
            ReportMode::AllowIncomplete,
        )
        .expect("summary");
    assert_eq!(
        summary.total_settled,
        Fen::ZERO,
        "a drill's money is not real"
    );
    assert_eq!(summary.drill_records_left_out, 1);
    let (e, _) = w01.episode_by_id(&drill).expect("read").expect("known");
    assert!(e.episode.drill);
    // A person ends a drill; a real outage afterwards opens a real episode.
    w01.leave_episode(&admin(), LeaveScope::HospitalWide)
        .expect("stop the drill");
    let real = w01
        .open_episode(&admin(), "central down", Opening::Automatic)
        .expect("open")
        .value;
    assert!(!real.is_drill());
    // Nor does a drill start during a real outage.
    let err = rule(
        w01.open_episode(&admin(), "drill", Opening::Drill)
            .unwrap_err(),
    );
    assert!(err.to_string().contains("real outage"), "{err}");
}

/// "信息科或后勤部门应在30分钟之内初步查明故障原因、所需恢复时间": the information
/// department's estimate and the cause are kept on the episode, side by side with earlier
/// estimates, and the expected grade follows the latest.
#[test]
fn estimates_and_the_cause_are_kept_on_the_episode() {
    let (_d, w01, clock) = window();
    let id = w01
        .open_episode(&admin(), "central unreachable", Opening::Automatic)
        .expect("open")
        .value;
    clock.advance_ms(20 * 60_000);
    w01.estimate_recovery(&admin(), 1, None).expect("estimate");
    clock.advance_ms(10 * 60_000);
    w01.estimate_recovery(&admin(), 4, Some("storage controller failed"))
        .expect("estimate");
    let refused = rule(
        w01.estimate_recovery(&op("c1", DeskRole::Cashier), 2, None)
            .unwrap_err(),
    );
    assert!(refused.to_string().contains("information department"));
    assert!(w01.estimate_recovery(&admin(), 0, None).is_err());
    let (s, _) = w01.episode_by_id(&id).expect("read").expect("known");
    let e = &s.episode;
    assert_eq!(e.estimates.len(), 2);
    assert_eq!(e.cause.as_deref(), Some("storage controller failed"));
    let latest = e.latest_estimate().expect("an estimate");
    assert_eq!(latest.hours, 4);
    let esc = escalation(e.opened_ms, e.closed_ms, clock_now(&clock), Some(latest));
    assert_eq!(esc.expected_grade, "III", "30 min + 4 h");
    assert!(!esc.estimate_missing);
}

/// "对在故障期间采用手工受理的事项,应及时在系统中补充完善": a record typed in afterwards from a
/// paper form carries the time on the paper beside the time it was entered, is marked as
/// from paper, and belongs to the episode of the time on the paper.
#[test]
fn paper_records_carry_the_time_on_the_paper_and_join_the_episode_of_that_time() {
    let (_d, w01, clock) = window();
    lease(&w01, Series::EmergencyRegistration, 100);
    let p = w01
        .create_patient(&op("reg1", DeskRole::Registration), new_patient("钱七"))
        .expect("patient")
        .value
        .header
        .id;
    // An outage from 09:00 to 11:00 (the clock starts at 2026-11-25 09:00).
    let id = w01
        .open_episode(&admin(), "central unreachable", Opening::Automatic)
        .expect("open")
        .value;
    clock.advance_ms(2 * HOUR);
    w01.leave_episode(&admin(), LeaveScope::ThisNode)
        .expect("end");
    // At 14:00 the slips of the manual fallback are typed in.
    clock.advance_ms(3 * HOUR);
    let v = visit_on(&w01, p, Some("2026-11-25 10:15"));
    let paper = v.header.paper.expect("marked as from paper");
    assert_eq!(
        paper.occurred_ms,
        v.header.created_ms - 3 * HOUR - 45 * 60_000
    );
    assert_eq!(v.header.occurred_ms(), paper.occurred_ms);
    assert_eq!(v.header.episode.as_ref(), Some(&id), "the episode of 10:15");
    assert!(v.registration_no.starts_with("YJ"));
    let fee: Charge = w01
        .get(v.fee_charge.expect("fee"))
        .expect("read")
        .expect("present");
    assert_eq!(fee.header.paper, v.header.paper, "its fee too");
    assert_eq!(fee.header.episode.as_ref(), Some(&id));
    // Before the outage: a normal record, still marked as from paper.
    let before = visit_on(&w01, p, Some("2026-11-25 08:30"));
    assert_eq!(before.header.episode, None);
    assert!(before.header.paper.is_some());
    for (bad, why) in [
        ("2026-11-25 15:00", "future"),
        ("2026-10-01 09:00", "older"),
    ] {
        let err = rule(
            w01.register_visit(
                &op("reg1", DeskRole::Registration),
                NewVisit {
                    patient: p,
                    department: "PED-GEN".into(),
                    doctor: None,
                    expert: false,
                    payment: None,
                    occurred_at: Some(bad.parse().expect("a local time")),
                },
            )
            .unwrap_err(),
        );
        assert!(err.to_string().contains(why), "{err}");
    }
}

/// "平时每月对全系统备份数据要进行模拟恢复一次,以检查数据的可用性" (a simulated restore of the
/// backups every month): each drill is recorded with its date, file, result and operator,
/// and a node whose last drill is more than 31 days old (or never) is overdue.
#[test]
fn restore_drills_are_recorded_and_overdue_after_a_month() {
    let (_d, w01, clock) = window();
    assert!(
        drill_status(None, clock_now(&clock)).overdue,
        "never drilled"
    );
    let drill = |passed| RestoreDrill {
        at_ms: clock_now(&clock),
        file: "/backup/W01-2026-11-25.redb".into(),
        passed,
        problems: u64::from(!passed),
        operator: OperatorName::new("zhang.li").expect("valid"),
    };
    w01.record_restore_drill(&admin(), drill(true))
        .expect("record");
    assert!(
        w01.record_restore_drill(&op("c1", DeskRole::Cashier), drill(true))
            .is_err()
    );
    let drills = w01.restore_drills().expect("read");
    assert_eq!(drills.len(), 1);
    assert_eq!(drills[0].operator.as_str(), "zhang.li");
    let status = |now| drill_status(w01.restore_drills().expect("read").pop(), now);
    assert!(!status(clock_now(&clock) + 31 * 24 * HOUR).overdue);
    let DrillStatus { overdue, .. } = status(clock_now(&clock) + 32 * 24 * HOUR);
    assert!(overdue, "more than 31 days");
    let audit = w01.audit_entries(0, 1000).expect("audit");
    assert!(audit.iter().any(|a| a.action == "restore.drill"));
}

/// W01 opens an episode, and its store is restored from a backup taken before: the episode
/// is lost here but lives on at the peers, so every one W01 opens in its new life has an id
/// of its own, in the restore's minute and after it. The second case is a clock set back
/// before the restore: the restore is stamped a minute before the lost episode's, and the
/// next opening, the clock right again, falls in the lost one's minute (`lifeline-sim
/// --store`, seed 3234, where the episode ids collided and the window's part in its new
/// episode was never ended).
#[test]
fn an_episode_opened_in_a_restore_s_minute_has_an_id_of_its_own() {
    use crate::store::{RestoreOptions, restore_from};
    let system = admin();
    let restored_then_opened = |set_back_ms: i64| {
        let (dir, w01, clock) = window();
        let backup = dir.path().join("backup.redb");
        w01.backup_to(&backup, &|_, _| {}).expect("backup");
        clock.advance_ms(30_000);
        let lost = w01
            .open_episode(&system, "central unreachable", Opening::Automatic)
            .expect("open")
            .value;
        let path = w01.path().to_path_buf();
        drop(w01);
        clock.advance_ms(-set_back_ms);
        let options = RestoreOptions {
            at_ms: Some(crate::clock::Clock::now_ms(&clock)),
            ..RestoreOptions::default()
        };
        restore_from(&backup, &path, &node("W01"), options, &|_, _| {}).expect("restore");
        clock.advance_ms(set_back_ms + 5_000);
        let w01 = crate::test_support::store_at(&path, "W01", NodeRole::Window, &clock);
        let again = w01
            .open_episode(&system, "central unreachable", Opening::Automatic)
            .expect("open")
            .value;
        assert_ne!(again, lost);
        assert_eq!(again.opened_minute(), lost.opened_minute());
        assert!(again.as_str().contains("-R"), "{again}");
        w01.leave_episode(&system, LeaveScope::ThisNode)
            .expect("leave");
        clock.advance_ms(60_000);
        let later = w01
            .open_episode(&system, "central unreachable", Opening::Automatic)
            .expect("open")
            .value;
        assert!(
            later.as_str().starts_with("YJ-20261125-0901-W01-R"),
            "{later}"
        );
        dir
    };
    restored_then_opened(45_000);
    restored_then_opened(0);
}

/// W02 joins central's episode and leaves it; its store is backed up; it joins again, and its
/// backup is copied back over its store by hand (the same actor) before it joins once more:
/// the fields of W02's entry in the episode hold two values, one of each life. The standby
/// joins and leaves after both reached it: it writes its own entry and leaves W02's as it is,
/// two values and all (rewriting the whole map settled W02's conflict in the standby's name,
/// which no peer accepts from it: `lifeline-sim --store`, seed 2283, where the standby's
/// housekeeping failed with "standby may not write `nodes.W02`").
#[test]
fn a_node_writes_only_its_own_entry_of_an_episode_another_node_joined_twice() {
    use automerge::ReadDoc;
    let system = admin();
    let (_cdir, central, clock) = temp_store("central", NodeRole::Central);
    let episode = central
        .open_episode(&system, "HIS unreachable", Opening::Automatic)
        .expect("open")
        .value;
    let join = |store: &Store| {
        copy_all(&central, store);
        let joined = store
            .open_episode(&system, "central unreachable", Opening::Automatic)
            .expect("join")
            .value;
        assert_eq!(joined, episode);
    };
    let (wdir, w02, _) = temp_store("W02", NodeRole::Window);
    join(&w02);
    w02.leave_episode(&system, LeaveScope::ThisNode)
        .expect("leave");
    let backup = wdir.path().join("backup.redb");
    w02.backup_to(&backup, &|_, _| {}).expect("backup");
    join(&w02);
    let (_sdir, standby, _) = temp_store("standby", NodeRole::Standby);
    copy_all(&w02, &standby);
    let path = w02.path().to_path_buf();
    drop(w02);
    std::fs::copy(&backup, &path).expect("copied back by hand");
    let w02 = crate::test_support::store_at(&path, "W02", NodeRole::Window, &clock);
    join(&w02);
    copy_all(&w02, &standby);
    let conflicted = |store: &Store| {
        let record = (store.episodes().expect("read").into_iter())
            .find(|e| e.episode.episode_id == episode)
            .expect("held")
            .record;
        let doc = store.doc(record).expect("read").expect("held");
        let (_, nodes) = doc
            .get(automerge::ROOT, "nodes")
            .expect("read")
            .expect("a nodes map");
        let (_, entry) = doc.get(&nodes, "W02").expect("read").expect("W02's entry");
        doc.keys(&entry)
            .filter(|k| doc.get_all(&entry, k.as_str()).expect("read").len() > 1)
            .count()
    };
    let before = conflicted(&standby);
    assert!(before > 0, "W02's two lives left no conflict");
    join(&standby);
    standby
        .leave_episode(&system, LeaveScope::ThisNode)
        .expect("the standby leaves");
    assert_eq!(conflicted(&standby), before, "W02's entry as W02 left it");
    copy_all(&standby, &central);
}
