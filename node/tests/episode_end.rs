//! An outage ends when the outage ends, not when the desks stop writing: real daemons
//! (central, the standby, three windows) with the registration desks writing steadily all
//! the way through central's death and return.
//!
//! The plan: "业务库(HISSERVER)恢复运行后 … 即可停止应急库,以上传门诊应急数据 … 此时,门诊系统
//! 重新登陆就可以恢复正常工作" (once the system of record runs again, emergency mode stops,
//! the emergency data is uploaded, and the desks work normally). Before this was fixed, a
//! window that kept writing after central came back tagged every new record with the open
//! episode and paused every new visit at triage, and left the episode only once the traffic
//! stopped: the episode's length and grade followed the desks, not the outage.
//!
//! `--nocapture` shows the steps with their times.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{CENTRAL, NOT_CENTRAL, STANDBY, Scenario, WINDOWS, WriteLog};
use lifeline_node::report::EpisodeLine;

/// Steady desk traffic: a patient and a visit about every third of a second per
/// registration window (a few writes a second each, as at a busy window).
const PACE: Duration = Duration::from_millis(300);

/// How long after a window sees central again its housekeeping may take to end the outage
/// for it (it runs every second; generous for a loaded 2-core machine).
const RECOVERY_SLACK: Duration = Duration::from_secs(3);

/// Every node in the episode (the standby too) sees central back and ends its part within
/// this of the windows seeing it (a bound for a loaded machine, not a measure).
const CLOSE_BOUND_MS: i64 = 10_000;

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[test]
fn windows_leave_the_episode_while_the_desks_keep_writing_after_central_returns() {
    let mut h = Scenario::create(false);
    h.open();
    let writers = h.writers(PACE);
    std::thread::sleep(Duration::from_secs(1));

    h.step("kill central (SIGKILL)");
    let killed_ms = wall_ms();
    h.kill(CENTRAL).expect("kill central");
    h.wait_mode(&WINDOWS, "degraded", Some(STANDBY));
    let episodes = h.wait_episode(&WINDOWS);
    let episode = episodes.values().next().cloned().expect("an episode");
    std::thread::sleep(Duration::from_secs(2));

    h.step("restart central; the desks go on writing");
    h.start(CENTRAL).expect("restart central");
    h.wait_mode(&WINDOWS, "normal", Some(CENTRAL));
    let back = Instant::now();
    let back_ms = wall_ms();

    // The outage is over for each window at once, however busy its desks are: it stops
    // tagging, and leaves once central has everything written in the episode.
    h.wait("every window out of the outage (no longer tagging)", |h| {
        for w in WINDOWS {
            if h.status(w)?.episode.is_some() {
                return Ok(false);
            }
        }
        Ok(true)
    });
    h.wait_episode_left(&NOT_CENTRAL);
    let left = Instant::now();
    // Keep writing a while longer: leaving did not need the traffic to stop.
    std::thread::sleep(Duration::from_secs(3));
    let mut log = WriteLog::default();
    for w in writers {
        log.extend(w.finish());
    }
    let stopped = Instant::now();
    let stopped_ms = wall_ms();
    log.assert_no_failures("through central's death and return");
    assert!(
        left < stopped,
        "the windows left the episode while the desks were still writing"
    );

    // Records written once the outage was over (allowing the windows their round of
    // housekeeping) are normal records: no episode, no YJ number, queued at triage.
    let over = back + RECOVERY_SLACK;
    let after: Vec<_> = log.acked.iter().filter(|a| a.at >= over).collect();
    let visits_after = after
        .iter()
        .filter(|a| a.kind == common::Kind::Visit)
        .count();
    assert!(
        visits_after >= 4,
        "only {visits_after} visits written after central returned: not steady traffic"
    );
    for a in &after {
        assert_eq!(
            a.episode,
            None,
            "written {:?} after central was back, still tagged: {a:?}",
            a.at.duration_since(back)
        );
        if let Some(no) = &a.registration_no {
            assert!(!no.starts_with("YJ"), "a YJ number after the outage: {a:?}");
        }
    }
    let sample = after
        .iter()
        .find(|a| a.kind == common::Kind::Visit)
        .expect("a visit after the return");
    let visit: serde_json::Value = h
        .desk(&sample.node, lifeline_core::DeskRole::Registration)
        .client()
        .get(&format!("/visits/{}", sample.id))
        .expect("read the visit");
    assert_eq!(visit["status"], "queued", "not paused at triage: {visit}");
    // And the records of the outage itself were tagged.
    let during = log.acked.iter().filter(|a| a.episode.is_some()).count();
    assert!(during > 0, "nothing was written in the episode");

    // The episode's length is the outage's: closed when every node saw central back, not
    // when the traffic stopped; so is its grade.
    let list: Vec<EpisodeLine> = h
        .admin(CENTRAL)
        .expect("central")
        .get("/admin/episodes")
        .expect("episodes");
    let e = list
        .iter()
        .find(|e| e.id == episode)
        .unwrap_or_else(|| panic!("episode {episode} on central: {list:?}"));
    let closed = e.closed_ms.expect("the episode is closed");
    assert!(e.opened_ms >= killed_ms, "{e:?}");
    assert!(
        closed < stopped_ms,
        "closed only when the desks stopped writing: {e:?}"
    );
    assert!(
        closed <= back_ms + CLOSE_BOUND_MS,
        "closed {} ms after central was back: {e:?}",
        closed - back_ms
    );
    assert_eq!(e.grade, "IV");
    h.summary(&format!(
        "{} acknowledged writes ({during} in the episode, {} after central returned); the \
         episode lasted {} ms and closed {} ms after central was back",
        log.acked.len(),
        after.len(),
        e.duration_ms,
        closed - back_ms
    ));
}
