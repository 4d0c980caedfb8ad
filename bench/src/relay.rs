//! Byte-counting relays on loopback, put between two peers so that what one replication costs
//! on the wire is counted outside both implementations: a UDP relay for QUIC (Lifeline's mesh)
//! and a TCP relay for stream transports (samod).
//!
//! The UDP relay counts datagram payloads, which for QUIC is everything QUIC sends (handshake,
//! TLS, packet headers, acknowledgements, retransmissions); the TCP relay counts the bytes of
//! the stream. Neither counts IP, UDP or TCP headers. The client dials the relay's address;
//! the relay forwards to one upstream address and counts both directions.
//!
//! A relay can also cut its link ([`Relay::cut`]) and restore it ([`Relay::restore`]): while
//! cut, the UDP relay drops every datagram both ways and the TCP relay closes what it relays
//! and refuses new connections, as a pulled cable or a dead switch would (`lifeline-bench
//! chaos`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use anyhow::Context;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// Bytes relayed so far, per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    /// From the client (the dialing side) to the upstream (the listening side).
    pub to_upstream_bytes: u64,
    /// From the upstream back to the client.
    pub to_client_bytes: u64,
    /// Datagrams (UDP) or reads (TCP), both ways.
    pub packets: u64,
}

impl Traffic {
    pub fn total_bytes(&self) -> u64 {
        self.to_upstream_bytes + self.to_client_bytes
    }

    /// What was relayed between `earlier` and `self`.
    pub fn since(&self, earlier: &Traffic) -> Traffic {
        Traffic {
            to_upstream_bytes: self.to_upstream_bytes - earlier.to_upstream_bytes,
            to_client_bytes: self.to_client_bytes - earlier.to_client_bytes,
            packets: self.packets - earlier.packets,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    to_upstream: AtomicU64,
    to_client: AtomicU64,
    packets: AtomicU64,
    /// Set while the link is cut: nothing is carried (and nothing counted).
    cut: AtomicBool,
}

impl Counters {
    fn count(&self, direction: &AtomicU64, bytes: usize) {
        direction.fetch_add(bytes as u64, Ordering::Relaxed);
        self.packets.fetch_add(1, Ordering::Relaxed);
    }

    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::Relaxed)
    }

    fn snapshot(&self) -> Traffic {
        Traffic {
            to_upstream_bytes: self.to_upstream.load(Ordering::Relaxed),
            to_client_bytes: self.to_client.load(Ordering::Relaxed),
            packets: self.packets.load(Ordering::Relaxed),
        }
    }
}

/// Most clients one relay serves at once (a client is a source address: a window's endpoint,
/// which gets a new port each time its mesh starts). A UDP relay full of clients forgets the
/// one it has heard from least recently, so a window restarted any number of times is served.
const MAX_CLIENTS: usize = 64;
/// Larger than any UDP datagram.
const DATAGRAM_MAX: usize = 65_536;
/// The TCP relay's copy buffer.
const TCP_BUFFER: usize = 64 * 1024;

/// A relay on 127.0.0.1 in front of one upstream address, counting what it carries (UDP
/// datagrams or a TCP stream's bytes). Dropping it stops it and what it relays.
#[derive(Debug)]
pub struct Relay {
    addr: SocketAddr,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Relay {
    /// A UDP relay; must be called inside a tokio runtime.
    pub async fn udp(upstream: SocketAddr) -> anyhow::Result<Relay> {
        let listen = Arc::new(
            UdpSocket::bind("127.0.0.1:0")
                .await
                .context("cannot bind the UDP relay")?,
        );
        let addr = listen.local_addr()?;
        Ok(Relay::spawn(addr, |counters| {
            udp_main(listen, upstream, counters)
        }))
    }

    /// A TCP relay; must be called inside a tokio runtime.
    pub async fn tcp(upstream: SocketAddr) -> anyhow::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind the TCP relay")?;
        let addr = listener.local_addr()?;
        Ok(Relay::spawn(addr, |counters| {
            tcp_main(listener, upstream, counters)
        }))
    }

    /// Runs the relay's main task, which counts into the relay's counters.
    fn spawn<F>(addr: SocketAddr, main: impl FnOnce(Arc<Counters>) -> F) -> Relay
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(main(counters.clone()));
        Relay {
            addr,
            counters,
            task,
        }
    }

    /// The address clients dial instead of the upstream's.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn traffic(&self) -> Traffic {
        self.counters.snapshot()
    }

    /// Cuts the link: from now on nothing passes either way until [`Relay::restore`].
    pub fn cut(&self) {
        self.counters.cut.store(true, Ordering::Relaxed);
    }

    /// Restores a cut link: what is sent from now on passes again.
    pub fn restore(&self) {
        self.counters.cut.store(false, Ordering::Relaxed);
    }

    pub fn is_cut(&self) -> bool {
        self.counters.is_cut()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        // Aborting the main task drops its JoinSet, which aborts the per-client tasks (or the
        // relayed connections).
        self.task.abort();
    }
}

async fn udp_main(listen: Arc<UdpSocket>, upstream: SocketAddr, counters: Arc<Counters>) {
    let mut clients: HashMap<SocketAddr, UdpClient> = HashMap::new();
    let mut back_tasks = tokio::task::JoinSet::new();
    let mut buf = vec![0u8; DATAGRAM_MAX];
    // Datagrams received, as a clock for "heard from least recently".
    let mut received = 0u64;
    loop {
        let (len, client) = match listen.recv_from(&mut buf).await {
            Ok(x) => x,
            // An ICMP "port unreachable" from an earlier send: not the relay's problem.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(_) => return,
        };
        received += 1;
        if counters.is_cut() {
            continue;
        }
        if !clients.contains_key(&client) {
            if clients.len() >= MAX_CLIENTS {
                let oldest = clients
                    .iter()
                    .min_by_key(|(_, c)| c.last_heard)
                    .map(|(addr, _)| *addr);
                if let Some(gone) = oldest.and_then(|addr| clients.remove(&addr)) {
                    gone.back.abort();
                }
            }
            let Ok(up) = UdpSocket::bind("127.0.0.1:0").await else {
                continue;
            };
            if up.connect(upstream).await.is_err() {
                continue;
            }
            let up = Arc::new(up);
            let back = back_tasks.spawn(udp_back(
                up.clone(),
                listen.clone(),
                client,
                counters.clone(),
            ));
            clients.insert(
                client,
                UdpClient {
                    up,
                    back,
                    last_heard: received,
                },
            );
        }
        while back_tasks.try_join_next().is_some() {}
        if let Some(c) = clients.get_mut(&client) {
            c.last_heard = received;
            counters.count(&counters.to_upstream, len);
            // Upstream down (ECONNREFUSED) is the peers' problem, not the relay's.
            let _ = c.up.send(&buf[..len]).await;
        }
    }
}

/// One client of the UDP relay: its socket towards the upstream and the task that carries
/// the upstream's answers back.
struct UdpClient {
    up: Arc<UdpSocket>,
    back: tokio::task::AbortHandle,
    /// The value of the relay's datagram clock when this client last sent one.
    last_heard: u64,
}

async fn udp_back(
    up: Arc<UdpSocket>,
    listen: Arc<UdpSocket>,
    client: SocketAddr,
    counters: Arc<Counters>,
) {
    let mut buf = vec![0u8; DATAGRAM_MAX];
    loop {
        match up.recv(&mut buf).await {
            Ok(_) if counters.is_cut() => continue,
            Ok(len) => {
                counters.count(&counters.to_client, len);
                let _ = listen.send_to(&buf[..len], client).await;
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
            Err(_) => return,
        }
    }
}

async fn tcp_main(listener: TcpListener, upstream: SocketAddr, counters: Arc<Counters>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        if counters.is_cut() {
            continue;
        }
        while connections.try_join_next().is_some() {}
        if connections.len() >= MAX_CLIENTS {
            continue;
        }
        let Ok(server) = TcpStream::connect(upstream).await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (client_read, client_write) = client.into_split();
        let (server_read, server_write) = server.into_split();
        let c = counters.clone();
        connections.spawn(async move {
            tokio::join!(
                tcp_copy(client_read, server_write, &c, Direction::ToUpstream),
                tcp_copy(server_read, client_write, &c, Direction::ToClient),
            );
        });
    }
}

#[derive(Debug, Clone, Copy)]
enum Direction {
    ToUpstream,
    ToClient,
}

/// Copies until end of stream or an error, then shuts the other side's writing half, so a
/// close passes through the relay.
async fn tcp_copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    counters: &Counters,
    direction: Direction,
) {
    let counter = match direction {
        Direction::ToUpstream => &counters.to_upstream,
        Direction::ToClient => &counters.to_client,
    };
    let mut buf = vec![0u8; TCP_BUFFER];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) if counters.is_cut() => break,
            Ok(n) => {
                counters.count(counter, n);
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_udp_relay_forwards_and_counts_both_ways() {
        let server = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let relay = Relay::udp(server.local_addr().expect("addr"))
            .await
            .expect("relay");
        let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        client.send_to(b"hello", relay.addr()).await.expect("send");
        let mut buf = [0u8; 64];
        let (n, from) = server.recv_from(&mut buf).await.expect("recv");
        assert_eq!(&buf[..n], b"hello");
        server.send_to(b"hi!", from).await.expect("reply");
        let (n, _) = client.recv_from(&mut buf).await.expect("recv reply");
        assert_eq!(&buf[..n], b"hi!");
        let t = relay.traffic();
        assert_eq!(
            (t.to_upstream_bytes, t.to_client_bytes, t.packets),
            (5, 3, 2)
        );
        assert_eq!(t.total_bytes(), 8);
        assert_eq!(t.since(&Traffic::default()), t);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cut_udp_relay_carries_nothing_until_restored() {
        let server = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let relay = Relay::udp(server.local_addr().expect("addr"))
            .await
            .expect("relay");
        let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let mut buf = [0u8; 64];
        relay.cut();
        assert!(relay.is_cut());
        client.send_to(b"lost", relay.addr()).await.expect("send");
        let nothing = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            server.recv_from(&mut buf),
        )
        .await;
        assert!(nothing.is_err(), "a cut link carried a datagram");
        relay.restore();
        client.send_to(b"found", relay.addr()).await.expect("send");
        let (n, _) = server.recv_from(&mut buf).await.expect("recv");
        assert_eq!(&buf[..n], b"found");
        assert_eq!(relay.traffic().to_upstream_bytes, 5);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_udp_relay_forgets_its_quietest_client() {
        let server = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let relay = Relay::udp(server.local_addr().expect("addr"))
            .await
            .expect("relay");
        let mut buf = [0u8; 64];
        // More clients than the relay keeps, one after another, as a window restarted again
        // and again: each is still carried.
        for i in 0..MAX_CLIENTS + 3 {
            let client = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
            client
                .send_to(format!("{i}").as_bytes(), relay.addr())
                .await
                .expect("send");
            let (n, _) = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                server.recv_from(&mut buf),
            )
            .await
            .expect("carried")
            .expect("recv");
            assert_eq!(&buf[..n], format!("{i}").as_bytes());
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_tcp_relay_forwards_counts_and_passes_the_close() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let relay = Relay::tcp(listener.local_addr().expect("addr"))
            .await
            .expect("relay");
        let mut client = TcpStream::connect(relay.addr()).await.expect("connect");
        let (mut server, _) = listener.accept().await.expect("accept");
        client.write_all(b"ping-ping").await.expect("write");
        let mut buf = [0u8; 9];
        server.read_exact(&mut buf).await.expect("read");
        server.write_all(b"pong").await.expect("write");
        let mut reply = [0u8; 4];
        client.read_exact(&mut reply).await.expect("read reply");
        assert_eq!(&reply, b"pong");
        drop(client);
        let mut rest = Vec::new();
        server
            .read_to_end(&mut rest)
            .await
            .expect("the close reaches the server");
        assert!(rest.is_empty());
        let t = relay.traffic();
        assert_eq!((t.to_upstream_bytes, t.to_client_bytes), (9, 4));
    }
}
