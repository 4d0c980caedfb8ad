//! Failover scenarios with real daemons on loopback: a hospital of central, a standby and
//! three windows (W01 registration + triage, W02 cashier + registration, W03 pharmacy +
//! doctor), failover thresholds in seconds (heartbeat 200 ms, peer timeout 1 s, emergency
//! after 2 s).
//!
//! - central is killed while the windows write: the windows keep writing through the standby,
//!   in an emergency episode ("YJ" numbers), without a failed or slow write; central comes
//!   back and ends up with every acknowledged record; the windows leave the episode;
//! - central and the standby both go: the windows mesh and share what they write, and
//!   everything reaches both servers when they are back;
//! - central is restored from an old backup: what it lost comes back from the others;
//! - the windows' link to central is cut (a UDP relay that drops everything) while central
//!   stays up: the windows work through the standby, and go back to normal when it heals;
//! - a window's whole data directory is rolled back to an older copy: it never hands out
//!   again the emergency numbers of the visits it lost, once they come back.
//!
//! - replication runs on threads below the desks' priority (`[network] replication_nice`).
//!
//! Each scenario asserts that every record a desk was told is saved ("durable": true) can be
//! read on the nodes that must have it. One more test, ignored until core is fixed,
//! reproduces a bug these scenarios revealed: an episode every node left at about the same
//! time is never closed.
//!
//! `--nocapture` shows each scenario's steps with their times; `LIFELINE_KEEP_TEST_DIRS=1`
//! keeps the hospitals' files and logs (they are always kept when a scenario fails).

mod common;

use std::time::{Duration, Instant};

use common::{ALL, CENTRAL, NOT_CENTRAL, STANDBY, Scenario, UdpProxy, WINDOWS, WriteLog};
use lifeline_core::{DeskRole, NodeName, NodeRole, RecordId, Store, StoreOptions};

/// Pause between a writer's patient + visit pairs: steady traffic that a 2-core machine
/// running five debug daemons absorbs.
const PACE: Duration = Duration::from_millis(40);

/// Every visit registered in an episode carries a "YJ" number, and only those do; there are
/// some on each registration window; and no registration number was handed out twice (the
/// emergency ones come from ranges leased to each window in advance).
fn assert_emergency_numbers(log: &WriteLog) {
    let mut emergency_by_node = std::collections::BTreeMap::<&str, usize>::new();
    let mut numbers = std::collections::BTreeMap::<&str, &str>::new();
    for visit in log.visits() {
        let no = visit.registration_no.as_deref().unwrap_or_default();
        assert!(
            !no.is_empty(),
            "a visit without a registration number: {visit:?}"
        );
        if let Some(other) = numbers.insert(no, &visit.id) {
            panic!(
                "registration number {no} was given to visits {other} and {}",
                visit.id
            );
        }
        match &visit.episode {
            Some(_) => {
                assert!(
                    no.starts_with("YJ"),
                    "an emergency visit without a YJ number: {visit:?}"
                );
                *emergency_by_node.entry(visit.node.as_str()).or_default() += 1;
            }
            None => assert!(
                !no.starts_with("YJ"),
                "a normal visit with a YJ number: {visit:?}"
            ),
        }
    }
    for node in common::REGISTRATION {
        assert!(
            emergency_by_node.get(node).copied().unwrap_or(0) > 0,
            "no emergency (YJ) visit was registered on {node}: {emergency_by_node:?}"
        );
    }
}

/// Visits registered while every window was in the episode (from when that was seen until
/// `until`) are all emergency visits.
fn assert_tagged_between(log: &WriteLog, since: Instant, until: Instant) {
    let after: Vec<_> = log
        .visits()
        .filter(|v| v.at >= since && v.at + v.latency <= until)
        .collect();
    assert!(
        !after.is_empty(),
        "no visit was written once the episode was open"
    );
    for v in after {
        assert!(
            v.episode.is_some(),
            "a visit written in the episode is not tagged: {v:?}"
        );
    }
}

#[test]
fn central_killed_while_windows_write() {
    let mut h = Scenario::create(false);
    h.open();
    let mut log = WriteLog::default();

    let writers = h.writers(PACE);
    std::thread::sleep(Duration::from_millis(1500));
    let killed = Instant::now();
    h.step("kill central (SIGKILL)");
    h.kill(CENTRAL).expect("kill central");

    // The windows notice, work through the standby, and enter an emergency episode.
    h.wait_mode(&WINDOWS, "degraded", Some(STANDBY));
    h.wait_episode(&WINDOWS);
    let in_episode = Instant::now();
    std::thread::sleep(Duration::from_secs(2));

    // A doctor at W03 prescribes for a visit registered at W01 during the outage: the visit
    // reaches W03 through the standby.
    let mut own = WriteLog::default();
    h.write_rounds(1, &mut own);
    let visit = own
        .visits()
        .find(|v| v.node == "W01")
        .map(|v| v.id.clone())
        .expect("a visit written on W01");
    h.wait_everywhere(&["W03"], &own);
    let doctor = h.desk("W03", DeskRole::Doctor);
    let rx = doctor
        .prescribe(&visit)
        .unwrap_or_else(|f| panic!("prescribing on W03 in the outage failed: {f:?}"));
    assert!(
        rx.episode.is_some(),
        "an outage prescription is not tagged: {rx:?}"
    );
    own.acked.push(rx);

    for w in writers {
        log.extend(w.finish());
    }
    log.extend(own);
    log.assert_no_failures("while central was down");
    log.assert_latency_bounded(killed);
    let during = log.acked.iter().filter(|a| a.at > killed).count();
    assert!(
        during >= 20,
        "only {during} writes were acknowledged during the outage"
    );
    assert_emergency_numbers(&log);
    assert_tagged_between(&log, in_episode, Instant::now());

    // The standby holds everything the desks were told is saved.
    h.wait_everywhere(&[STANDBY], &log);

    // Central comes back (on the store it had when it was killed) while the desks write.
    h.step("restart central");
    h.start(CENTRAL).expect("restart central");
    let writers = h.writers(PACE);
    h.wait_mode(&WINDOWS, "normal", Some(CENTRAL));
    std::thread::sleep(Duration::from_millis(1000));
    for w in writers {
        log.extend(w.finish());
    }
    log.assert_no_failures("while central came back");
    log.assert_latency_bounded(killed);

    h.wait_everywhere(&ALL, &log);
    // The windows, and the standby (which entered the episode too), leave it.
    h.wait_episode_left(&NOT_CENTRAL);
    let records = h.wait_same_records(&ALL);
    assert!(
        records as usize >= log.acked.len(),
        "{records} records for {} writes",
        log.acked.len()
    );
    h.wait_digests_agree(&ALL);
    h.summary(&format!(
        "{} acknowledged writes ({during} during the outage), {records} records on every node",
        log.acked.len()
    ));
}

#[test]
fn standby_down_too_windows_mesh() {
    let mut h = Scenario::create(true);
    h.open();
    let mut log = WriteLog::default();
    h.write_rounds(3, &mut log);

    let cut = Instant::now();
    h.step("kill central and the standby (SIGKILL)");
    h.kill(CENTRAL).expect("kill central");
    h.kill(STANDBY).expect("kill the standby");
    h.wait_mode(&WINDOWS, "isolated", None);
    let writers = h.writers(PACE);
    h.wait_episode(&WINDOWS);
    let in_episode = Instant::now();

    // A patient created on W01 is readable on W02 (and W03), and the other way round.
    let mut shared = WriteLog::default();
    h.write_patient("W01", &mut shared);
    h.write_patient("W02", &mut shared);
    h.wait_everywhere(&WINDOWS, &shared);
    std::thread::sleep(Duration::from_secs(1));

    for w in writers {
        log.extend(w.finish());
    }
    log.extend(shared);
    log.assert_no_failures("while both servers were down");
    log.assert_latency_bounded(cut);
    assert_emergency_numbers(&log);
    assert_tagged_between(&log, in_episode, Instant::now());
    // Everything written while isolated is on every window.
    h.wait_everywhere(&WINDOWS, &log);

    h.step("restart the standby and central");
    h.start(STANDBY).expect("restart the standby");
    h.start(CENTRAL).expect("restart central");
    h.wait_mode(&WINDOWS, "normal", Some(CENTRAL));
    h.wait_everywhere(&[CENTRAL, STANDBY], &log);
    h.wait_episode_left(&NOT_CENTRAL);
    let records = h.wait_same_records(&ALL);
    h.summary(&format!(
        "{} acknowledged writes, {records} records on every node",
        log.acked.len()
    ));
}

#[test]
fn central_restored_from_old_backup() {
    let mut h = Scenario::create(false);
    h.open();
    let mut log = WriteLog::default();
    h.write_rounds(5, &mut log);
    h.wait_everywhere(&[CENTRAL], &log);

    // A backup of central's store, taken while it is stopped.
    h.step("stop central (SIGTERM) for a backup");
    h.stop(CENTRAL).expect("stop central");
    let store = h.store_path(CENTRAL).expect("central's store path");
    let backup = h.dir().join("central-backup.redb");
    std::fs::copy(&store, &backup).expect("copy central's store aside");
    h.start(CENTRAL).expect("start central");
    h.wait_mode(&WINDOWS, "normal", Some(CENTRAL));

    // More work after the backup, all of it on central.
    let backed_up = log.acked.len();
    h.write_rounds(10, &mut log);
    h.wait_everywhere(&[CENTRAL], &log);
    let before_restore = h.wait_same_records(&ALL);
    // The backup really is old: it has the first records and none of the later ones.
    let (old, new) = log.acked.split_at(backed_up);
    let in_backup = ids_in_store_copy(&h, &backup, log.acked.iter().map(|a| a.id.as_str()));
    assert!(
        old.iter().all(|a| in_backup.contains(&a.id)),
        "the backup lacks records written before it"
    );
    assert!(
        !new.iter().any(|a| in_backup.contains(&a.id)),
        "the backup has records written after it"
    );

    // Central is put back to the old backup: what it lost comes back from the others.
    h.step("stop central and put the old backup back");
    h.stop(CENTRAL).expect("stop central");
    std::fs::copy(&backup, &store).expect("restore the backup");
    h.start(CENTRAL).expect("start central on the backup");
    h.wait_everywhere(&[CENTRAL], &log);
    // The store file copied back alone cannot tell it went back (same incarnation), the mark
    // beside it can: central opens it as restored (a new incarnation, its unused numbers
    // retired), and leases nothing from its cursor (which went back with the file) until it
    // has caught up with every member; here all are up, so it relearns.
    h.wait("central relearned the history it lost", |h| {
        Ok(h.status(CENTRAL)?.leasing_held_for.is_empty())
    });
    let central_log =
        std::fs::read_to_string(h.dir().join(format!("{CENTRAL}.log"))).expect("central's log");
    assert!(
        central_log.contains("a backup was copied over it; it is treated as restored"),
        "central's opening was not told by the mark beside its store"
    );

    // And central works on: new records reach it and everyone.
    h.write_rounds(2, &mut log);
    h.wait_everywhere(&ALL, &log);
    h.wait_episode_left(&NOT_CENTRAL);
    let records = h.wait_same_records(&ALL);
    assert!(
        records > before_restore,
        "{records} records after the restore, {before_restore} before"
    );
    log.assert_no_failures("around the restore");
    h.summary(&format!(
        "{} acknowledged writes ({} after the backup), {records} records on every node",
        log.acked.len(),
        log.acked.len() - backed_up
    ));
}

/// A hospital whose windows reach central through a UDP relay (to cut and heal), opened.
fn open_behind_a_relay() -> (Scenario, UdpProxy) {
    let mut h = Scenario::create(false);
    let proxy = UdpProxy::start(h.quic_addr(CENTRAL)).expect("start the UDP proxy");
    for w in WINDOWS {
        h.set_peer_addr(w, CENTRAL, proxy.addr())
            .expect("point the window at the proxy");
    }
    h.open();
    (h, proxy)
}

/// W01's whole data directory (its store and the mark beside it) rolled back to a copy taken
/// before an outage in which it numbered emergency registrations: nothing on disk tells it,
/// its peers rewind it and send those visits back, and in the next outage it numbers on past
/// them. Before, it handed their YJ numbers out again.
#[test]
fn a_window_rolled_back_whole_never_hands_a_number_out_twice() {
    const W01: &str = "W01";
    let (mut h, proxy) = open_behind_a_relay();
    let mut log = WriteLog::default();
    h.write_rounds(1, &mut log);

    h.step("stop W01 and copy its data directory aside");
    h.stop(W01).expect("stop W01");
    let store = h.store_path(W01).expect("W01's store path");
    let mark = lifeline_core::store::mark_file(&store);
    let copy = h.dir().join("W01-copy.redb");
    std::fs::copy(&store, &copy).expect("copy W01's store aside");
    let mark_then = std::fs::read(&mark).expect("the mark beside W01's store");
    h.start(W01).expect("start W01");
    h.wait_mode(&WINDOWS, "normal", Some(CENTRAL));

    h.step("an outage: the windows number emergency registrations");
    proxy.partition();
    h.wait_episode(&WINDOWS);
    h.write_rounds(3, &mut log);
    proxy.heal();
    h.wait_mode(&WINDOWS, "normal", Some(CENTRAL));
    h.wait_everywhere(&[CENTRAL], &log);

    h.step("W01's data directory rolled back to the copy");
    h.stop(W01).expect("stop W01");
    std::fs::copy(&copy, &store).expect("copy the store back");
    std::fs::write(&mark, &mark_then).expect("copy the mark back");
    h.start(W01).expect("start W01 on the copy");
    h.wait_everywhere(&[W01], &log);

    h.step("another outage: W01 numbers again");
    proxy.partition();
    h.wait_episode(&WINDOWS);
    h.write_rounds(3, &mut log);
    proxy.heal();
    log.assert_no_failures("around the rollback");
    assert_emergency_numbers(&log);
    h.wait_everywhere(&ALL, &log);
    h.summary(&format!(
        "{} acknowledged writes, {} visits, no registration number twice",
        log.acked.len(),
        log.visits().count()
    ));
}

#[test]
fn partition_heals() {
    let (h, proxy) = open_behind_a_relay();
    let mut log = WriteLog::default();
    let writers = h.writers(PACE);
    std::thread::sleep(Duration::from_secs(1));

    let cut = Instant::now();
    h.step("partition the windows from central");
    proxy.partition();
    h.wait_mode(&WINDOWS, "degraded", Some(STANDBY));
    h.wait_episode(&WINDOWS);
    let in_episode = Instant::now();
    // Central itself stays up and in touch with the standby, which relays the windows' work.
    let central = h.status_of(CENTRAL);
    assert_eq!(central.mode.mode, "normal");
    assert!(
        h.status_of(STANDBY).episode.is_none(),
        "the standby reaches central: no episode for it"
    );
    let mut relayed = WriteLog::default();
    h.write_rounds(1, &mut relayed);
    h.wait_everywhere(&[CENTRAL], &relayed);
    std::thread::sleep(Duration::from_millis(500));

    h.step("heal the partition");
    proxy.heal();
    let healed = Instant::now();
    h.wait_mode(&WINDOWS, "normal", Some(CENTRAL));
    let back_after = healed.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    for w in writers {
        log.extend(w.finish());
    }
    log.extend(relayed);
    log.assert_no_failures("across the partition");
    log.assert_latency_bounded(cut);
    assert_emergency_numbers(&log);
    assert_tagged_between(&log, in_episode, healed);

    h.wait_everywhere(&ALL, &log);
    h.wait_episode_left(&NOT_CENTRAL);
    let records = h.wait_same_records(&ALL);
    h.summary(&format!(
        "{} acknowledged writes, back to normal {back_after:?} after the heal, {records} records on every node",
        log.acked.len()
    ));
}

/// An episode closes once every node that took part has left it, even when they left at
/// the same time, each before seeing the other's leave (as the windows and the standby do
/// when central comes back: they leave within the same second).
///
/// Two stores without daemons, so that it is deterministic: nodes that leave an episode
/// before seeing each other's leave each think someone is still in; `reconcile_episodes`
/// closes it once every node has left, at the last leave, on every node. (Found by the first
/// scenario above, where the episode otherwise stayed open for ever.)
#[test]
fn episode_left_concurrently_by_every_node_closes() {
    use lifeline_core::store::Credentials;
    use lifeline_core::{
        Operator, OperatorName,
        desk::{LeaveScope, Opening},
    };

    let dir = tempfile::tempdir().expect("temporary directory");
    let open = |name: &str| {
        let name = NodeName::new(name).expect("node name");
        let mut opts = StoreOptions::new(name.clone(), NodeRole::Window);
        opts.credentials = Some(
            Credentials::uncertified(name.clone(), NodeRole::Window, DeskRole::ALL).expect("a key"),
        );
        Store::open(dir.path().join(format!("{name}.redb")), opts).expect("open a store")
    };
    let copy_all = |from: &Store, to: &Store| {
        let out = to.merge_from(from).expect("apply");
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    };
    let system = Operator::new(
        OperatorName::new("lifeline-system").expect("operator name"),
        DeskRole::Admin,
    );
    let (w01, w02) = (open("W01"), open("W02"));
    // Central goes: W01 opens the episode, W02 joins it.
    let id = w01
        .open_episode(&system, "central unreachable", Opening::Automatic)
        .expect("open")
        .value;
    copy_all(&w01, &w02);
    assert_eq!(
        w02.open_episode(&system, "central unreachable", Opening::Automatic)
            .expect("join")
            .value,
        id
    );
    copy_all(&w02, &w01);
    // Central is back: both leave before either sees the other's leave.
    w01.leave_episode(&system, LeaveScope::ThisNode)
        .expect("W01 leaves");
    w02.leave_episode(&system, LeaveScope::ThisNode)
        .expect("W02 leaves");
    copy_all(&w01, &w02);
    copy_all(&w02, &w01);
    for store in [&w01, &w02] {
        store.reconcile_episodes(&system).expect("reconcile");
        let episodes = store.episodes().expect("episodes");
        let episode = episodes
            .iter()
            .find(|e| e.episode.episode_id == id)
            .expect("the episode");
        assert!(
            episode.episode.nodes.values().all(|n| n.left_ms.is_some()),
            "both nodes left: {episode:?}"
        );
        assert!(
            !episode.open,
            "on {}: every node left the episode, but it is still open: {episode:?}",
            store.node()
        );
    }
}

/// Which of `ids` a copy of a store file holds (opened as central, on a scratch copy).
fn ids_in_store_copy<'a>(
    h: &Scenario,
    file: &std::path::Path,
    ids: impl Iterator<Item = &'a str>,
) -> std::collections::BTreeSet<String> {
    let scratch = h.dir().join("inspect.redb");
    std::fs::copy(file, &scratch).expect("copy the store file");
    let opts = StoreOptions::new(
        NodeName::new(CENTRAL).expect("node name"),
        NodeRole::Central,
    );
    let store = Store::open(&scratch, opts).expect("open the copy");
    let mut found = std::collections::BTreeSet::new();
    for id in ids {
        let rid: RecordId = id.parse().expect("a record id");
        if store.doc(rid).expect("read the copy").is_some() {
            found.insert(id.to_owned());
        }
    }
    found
}

/// Replication (the mesh's tasks and its blocking work) runs on the daemon's background
/// runtime, `replication_nice` (10) steps below the desks, while the desks' runtime and the
/// store's writer stay at the daemon's priority. Read from the kernel's view of central's
/// threads: the background runtime's threads are the ones that worked while the windows'
/// records reached central.
#[cfg(target_os = "linux")]
#[test]
fn replication_runs_below_the_desks() {
    let mut h = Scenario::create(false);
    h.open();
    let pid = h.pid(CENTRAL).expect("central runs");
    let mut log = WriteLog::default();
    h.write_rounds(1, &mut log);
    h.wait_everywhere(&ALL, &log);
    let before = threads_of(pid);
    h.write_rounds(3, &mut log);
    h.wait_everywhere(&ALL, &log);
    let after = threads_of(pid);
    let named = |name: &'static str| after.iter().filter(move |t| t.name == name);
    // Thread names are cut to 15 bytes: "store-writer-ce".
    let writer: Vec<&Thread> = after
        .iter()
        .filter(|t| t.name.starts_with("store-writer"))
        .collect();
    assert_eq!(writer.len(), 1, "one store writer: {after:?}");
    let base = writer[0].nice;
    let worked = |t: &Thread| {
        let earlier = before
            .iter()
            .find(|b| b.tid == t.tid)
            .map_or(0, |b| b.ticks);
        t.ticks > earlier
    };
    assert!(
        named("lifeline-mesh").any(worked),
        "replication's work ran on the background runtime: {before:?} then {after:?}"
    );
    assert!(
        named("lifeline-mesh").all(|t| t.nice == (base + 10).min(19)),
        "every replication thread 10 steps below the writer: {after:?}"
    );
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        named("lifeline").filter(|t| t.nice == base).count() >= workers,
        "the desks' runtime at the daemon's priority: {after:?}"
    );
}

/// A thread of a process, as `/proc` shows it.
#[cfg(target_os = "linux")]
#[derive(Debug)]
struct Thread {
    tid: String,
    name: String,
    nice: i32,
    /// CPU time in clock ticks, user and system.
    ticks: u64,
}

#[cfg(target_os = "linux")]
fn threads_of(pid: u32) -> Vec<Thread> {
    let mut out = Vec::new();
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the daemon's threads");
    for task in tasks.flatten() {
        let path = task.path();
        let (Ok(comm), Ok(stat)) = (
            std::fs::read_to_string(path.join("comm")),
            std::fs::read_to_string(path.join("stat")),
        ) else {
            continue; // the thread ended meanwhile
        };
        // The fields after the name in parentheses, from the third (state): utime is the
        // 14th field, stime the 15th, the nice value the 19th.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).copied().unwrap_or_default();
        let number = |n: usize| {
            field(n)
                .parse::<i64>()
                .expect("a number in the thread's stat")
        };
        out.push(Thread {
            tid: task.file_name().to_string_lossy().into_owned(),
            name: comm.trim().to_owned(),
            nice: i32::try_from(number(19)).expect("a nice value"),
            ticks: u64::try_from(number(14) + number(15)).expect("CPU ticks"),
        });
    }
    out
}
