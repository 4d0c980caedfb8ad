//! Dialing: a server that is down is probed with fresh dials, and one slow to answer is still
//! reached.

use std::net::SocketAddr;
use std::time::Duration;

use lifeline_core::{DeskRole, NodeName, NodeRole};
use lifeline_sync::identity;

use lifeline_sync::mesh::MeshConfig;

use super::{TestNode, eventually, loopback, peer, start_central, start_with};

/// The Initial packets' destination connection ids received on a silent UDP socket for
/// `secs`: one id per dial (a dial's retransmissions repeat its id).
fn dials_heard(socket: &std::net::UdpSocket, secs: u64) -> std::collections::BTreeSet<Vec<u8>> {
    let mut dials = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    let mut buf = [0u8; 2048];
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    while std::time::Instant::now() < deadline {
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        // A long header: flags, version (4 bytes), the destination id's length, the id.
        if n > 6 && buf[0] & 0x80 != 0 {
            let len = usize::from(buf[5]);
            if let Some(id) = buf.get(6..6 + len) {
                dials.insert(id.to_vec());
            }
        }
    }
    dials
}

/// W01, dialing central at `central` with its mesh configuration changed by `tweak`.
async fn window_dialing(
    dir: &std::path::Path,
    ca: &std::path::Path,
    central: SocketAddr,
    tweak: impl FnOnce(&mut MeshConfig),
) -> TestNode {
    let peers = vec![peer("central", NodeRole::Central, central)];
    start_with(
        dir,
        ca,
        "W01",
        NodeRole::Window,
        &[DeskRole::Registration],
        peers,
        tweak,
    )
    .await
}

/// Waits until `window` is connected to central.
async fn connected_to_central(window: &TestNode, what: &str, secs: u64) {
    let name = NodeName::new("central").expect("valid");
    eventually(what, secs, || window.mesh.is_connected(&name)).await;
}

/// A server that is down is probed with fresh dials, each given a moment to be answered,
/// not with one dial retransmitting at growing intervals for the whole connect timeout
/// (quinn hears nothing of a port nobody listens on): so a central coming back after an
/// outage is heard within a fraction of a second. Once it listens, the window connects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_is_probed_with_fresh_dials_until_it_answers() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca");
    identity::init_ca(&ca).expect("ca");
    // The server's address, held by a socket that reads and never answers.
    let silent = std::net::UdpSocket::bind(loopback()).expect("bind");
    let addr = silent.local_addr().expect("addr");
    let w1 = window_dialing(dir.path(), &ca, addr, |cfg| {
        cfg.connect_timeout = Duration::from_secs(60);
        cfg.reconnect_max = Duration::from_secs(60);
        cfg.answer_timeout = Duration::from_millis(300);
        cfg.reconnect_min = Duration::from_millis(100);
    })
    .await;
    let heard = tokio::task::spawn_blocking(move || (dials_heard(&silent, 3), silent))
        .await
        .expect("join");
    let (dials, silent) = heard;
    assert!(
        dials.len() >= 3,
        "one dial every 0.4 s or so over 3 s, not one for the whole minute: {} heard",
        dials.len()
    );
    let status = w1.mesh.status();
    assert_eq!(
        status[0].last_error.as_deref(),
        Some("no answer to the dial")
    );

    drop(silent);
    let central = start_central(dir.path(), &ca, |cfg| cfg.listen = addr).await;
    connected_to_central(&w1, "W01 connected to central once it listens", 20).await;
    for n in [w1, central] {
        n.mesh.shutdown().await;
    }
}

/// A UDP relay to `server` that holds back every datagram from it for `delay`, for one
/// client; stops when `stop` is set.
fn slow_relay(
    server: SocketAddr,
    delay: Duration,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> SocketAddr {
    use std::sync::atomic::Ordering;
    let relay = std::net::UdpSocket::bind(loopback()).expect("bind");
    relay
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let addr = relay.local_addr().expect("addr");
    let sender = relay.try_clone().expect("clone");
    let (late, due) = std::sync::mpsc::channel::<(std::time::Instant, Vec<u8>, SocketAddr)>();
    let held = stop.clone();
    std::thread::spawn(move || {
        while !held.load(Ordering::Relaxed) {
            let Ok((at, bytes, to)) = due.recv_timeout(Duration::from_millis(50)) else {
                continue;
            };
            std::thread::sleep(at.saturating_duration_since(std::time::Instant::now()));
            let _ = sender.send_to(&bytes, to);
        }
    });
    std::thread::spawn(move || {
        let mut client = None;
        let mut buf = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, from)) = relay.recv_from(&mut buf) else {
                continue;
            };
            if from == server {
                if let Some(to) = client {
                    let _ = late.send((std::time::Instant::now() + delay, buf[..n].to_vec(), to));
                }
            } else {
                client = Some(from);
                let _ = relay.send_to(&buf[..n], server);
            }
        }
    });
    addr
}

/// A server that answers, but later than `answer_timeout` (an overloaded machine), is still
/// reached: every few unanswered dials, one waits the whole connect timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_slow_to_answer_is_still_reached() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = dir.path().join("ca");
    identity::init_ca(&ca).expect("ca");
    let central = start_central(dir.path(), &ca, |_| {}).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let relay = slow_relay(central.addr, Duration::from_millis(600), stop.clone());
    let w1 = window_dialing(dir.path(), &ca, relay, |cfg| {
        cfg.connect_timeout = Duration::from_secs(10);
        cfg.answer_timeout = Duration::from_millis(200);
        cfg.reconnect_min = Duration::from_millis(100);
    })
    .await;
    connected_to_central(&w1, "W01 connected through the slow relay", 30).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for n in [w1, central] {
        n.mesh.shutdown().await;
    }
}
