//! What the hostile-peer tests run on: honest nodes (a real store, a real mesh on loopback,
//! a certificate from the test's hospital CA) and a hostile window that holds a valid window
//! certificate but speaks the protocol by hand, frame by frame, to send whatever it likes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use lifeline_core::automerge::transaction::Transaction;
use lifeline_core::automerge::{ActorId, Automerge, AutomergeError, ChangeHash};
use lifeline_core::trust::{SignedCommit, SigningKey};
use lifeline_core::{DeskRole, NodeName, NodeRole, RecordId, Store, StoreOptions};
use lifeline_sync::frame::{Ack, Frame, Hello, PROTOCOL_VERSION, WireDoc};
use lifeline_sync::identity::{self, AcceptPolicy, LoadedIdentity, NodeIdentity};
use lifeline_sync::mesh::{Mesh, MeshConfig, PeerAddr};
use tokio::sync::mpsc;

pub fn name(s: &str) -> NodeName {
    NodeName::new(s).expect("valid")
}

pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A certificate from the CA in `ca`, loaded.
pub fn issue(ca: &Path, node: &str, role: NodeRole, desks: &[DeskRole]) -> LoadedIdentity {
    let id = NodeIdentity::new(name(node), role, desks.to_vec());
    let files = identity::issue(ca, &id, 30).expect("issue");
    identity::load(&files.tls_files()).expect("load")
}

/// An honest node: its store (signing with its certificate's key, writing only what the
/// certificate lets it) and its mesh.
pub struct Node {
    pub store: Store,
    pub mesh: Mesh,
    pub addr: SocketAddr,
}

pub async fn start(
    dir: &Path,
    ca: &Path,
    node: &str,
    role: NodeRole,
    desks: &[DeskRole],
    peers: Vec<PeerAddr>,
) -> Node {
    let loaded = issue(ca, node, role, desks);
    let mut opts = StoreOptions::new(name(node), role);
    opts.desks = desks.to_vec();
    opts.credentials = Some(loaded.credentials().expect("credentials"));
    let store = Store::open(dir.join(format!("{node}.redb")), opts).expect("open");
    let cfg = MeshConfig::new(loopback(), peers, AcceptPolicy::any());
    let mesh = Mesh::start(store.clone(), loaded, cfg).await.expect("mesh");
    let addr = mesh.local_addr().expect("bound");
    Node { store, mesh, addr }
}

pub fn dial(node: &str, role: NodeRole, addr: SocketAddr) -> PeerAddr {
    PeerAddr {
        name: name(node),
        role,
        addr,
    }
}

/// Waits until `f` holds, polling; panics after `secs`.
pub async fn eventually(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// An actor id of `node`'s, as a store makes them.
pub fn actor_of(node: &str) -> ActorId {
    let mut bytes = node.as_bytes().to_vec();
    bytes.push(0);
    bytes.extend_from_slice(&RecordId::generate().to_bytes()[8..]);
    ActorId::from(bytes)
}

/// The changes `f` makes on a copy of `doc` as `actor`: their bytes and hashes.
pub fn forge(
    doc: &Automerge,
    actor: ActorId,
    f: impl FnOnce(&mut Transaction<'_>) -> Result<(), AutomergeError>,
) -> (Vec<u8>, Vec<ChangeHash>) {
    let mut copy = doc.clone();
    copy.set_actor(actor);
    let before = copy.get_heads();
    copy.transact(f).expect("the forged change applies");
    let hashes = copy.get_changes(&before).iter().map(|c| c.hash()).collect();
    (copy.save_after(&before), hashes)
}

/// One record's changes as a batch carries them.
pub fn wire(id: RecordId, bytes: Vec<u8>) -> WireDoc {
    WireDoc {
        id: id.to_bytes(),
        seq: 0,
        heads: Vec::new(),
        bytes,
    }
}

/// Whether a hostile window reads what it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    Reads,
    /// Never reads a byte: the peer's answers pile up.
    Deaf,
}

/// A window with a valid certificate that sends what it likes.
pub struct Hostile {
    pub conn: quinn::Connection,
    send: quinn::SendStream,
    frames: mpsc::Receiver<Frame>,
    /// The records the honest peer sent it, as it holds them.
    pub docs: HashMap<RecordId, Automerge>,
    pub key: SigningKey,
    /// Its own certificate (DER), for its roster entry.
    pub certificate: Vec<u8>,
    next_batch: u64,
    _endpoint: quinn::Endpoint,
}

impl Hostile {
    /// Dials `to` (a node named `to_name` with role `to_role`) and says hello; reading the
    /// peer's frames only when asked to.
    pub async fn connect(
        me: &LoadedIdentity,
        to: SocketAddr,
        to_name: &str,
        to_role: NodeRole,
        reading: Reading,
    ) -> Result<Hostile, String> {
        identity::install_crypto_provider();
        let client =
            identity::client_config_for(me, &name(to_name), to_role).map_err(|e| e.to_string())?;
        let mut endpoint = quinn::Endpoint::client(loopback()).map_err(|e| e.to_string())?;
        endpoint.set_default_client_config(client);
        let conn = endpoint
            .connect(to, &identity::server_name(&name(to_name)))
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())?;
        let (send, recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
        let (tx, frames) = mpsc::channel(1024);
        match reading {
            Reading::Reads => drop(tokio::spawn(read_frames(recv, tx))),
            // The stream is kept open, never read.
            Reading::Deaf => drop(tokio::spawn(async move {
                let _unread = recv;
                let _tx = tx;
                std::future::pending::<()>().await
            })),
        }
        let credentials = me.credentials().map_err(|e| e.to_string())?;
        let mut hostile = Hostile {
            conn,
            send,
            frames,
            docs: HashMap::new(),
            key: credentials.key().clone(),
            certificate: credentials.member().credential.clone(),
            next_batch: 1,
            _endpoint: endpoint,
        };
        hostile
            .send(&Frame::Hello(Hello {
                protocol: PROTOCOL_VERSION,
                node: me.identity().name.to_string(),
                incarnation: "hostile".into(),
                feed_head: 0,
                opening: "hostile".into(),
                opened_feed_head: 0,
                applied_from_you: 0,
                keeps_since_ms: None,
                offering: false,
            }))
            .await;
        Ok(hostile)
    }

    pub async fn send(&mut self, frame: &Frame) {
        let bytes = frame.encode().expect("encode");
        // A peer that closed the connection makes this fail; the tests look at why.
        let _ = self.send.write_all(&bytes).await;
    }

    /// Sends raw bytes, frames or not.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.send.write_all(bytes).await;
    }

    /// Handles the peer's frames (records kept, batches acked, offers and pings answered) until `until`
    /// holds or `within` passes; the frames it did not handle itself.
    pub async fn pump_until(
        &mut self,
        within: Duration,
        until: impl Fn(&Hostile, &[Frame]) -> bool,
    ) -> Vec<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        let mut others = Vec::new();
        while !until(self, &others) {
            let Ok(Some(frame)) = tokio::time::timeout_at(deadline, self.frames.recv()).await
            else {
                break;
            };
            match frame {
                Frame::Batch(batch) => {
                    for doc in &batch.docs {
                        let id = RecordId::from_bytes(doc.id);
                        let held = self.docs.entry(id).or_default();
                        // A record the peer holds none of may come packed, as stored.
                        if let Ok(bytes) = lifeline_core::store::unpack_chunk(&doc.bytes) {
                            let _ = held.load_incremental(&bytes);
                        }
                    }
                    let ack = Frame::Ack(Ack {
                        batch: batch.batch,
                        applied_upto: batch.upto,
                        missing: Vec::new(),
                        rejected: Vec::new(),
                    });
                    self.send(&ack).await;
                }
                Frame::Ping { nonce } => self.send(&Frame::Pong { nonce }).await,
                // As an honest window answers: it wants what it does not hold.
                Frame::Offer { offer, docs, .. } => {
                    let ids = docs
                        .into_iter()
                        .map(|(id, _)| id)
                        .filter(|id| !self.docs.contains_key(&RecordId::from_bytes(*id)))
                        .collect();
                    self.send(&Frame::Want {
                        offer,
                        ids,
                        later: Vec::new(),
                    })
                    .await;
                }
                other => others.push(other),
            }
        }
        others
    }

    /// Sends a batch and returns the peer's ack of it (None if the connection ended).
    pub async fn batch(&mut self, docs: Vec<WireDoc>, signatures: Vec<Vec<u8>>) -> Option<Ack> {
        let batch = self.next_batch;
        self.next_batch += 1;
        self.send(&Frame::Batch(lifeline_sync::frame::Batch {
            batch,
            upto: None,
            docs,
            signatures,
        }))
        .await;
        let frames = self
            .pump_until(Duration::from_secs(20), |_, seen| {
                seen.iter()
                    .any(|f| matches!(f, Frame::Ack(a) if a.batch == batch))
            })
            .await;
        frames.into_iter().find_map(|f| match f {
            Frame::Ack(a) if a.batch == batch => Some(a),
            _ => None,
        })
    }

    /// A signature of `hashes` by this window's own key.
    pub fn sign(&self, hashes: Vec<ChangeHash>) -> Vec<Vec<u8>> {
        vec![
            SignedCommit::sign(&self.key, hashes)
                .expect("sign")
                .encode(),
        ]
    }

    /// Whether the peer closed the connection within `within`.
    pub async fn closed_within(&self, within: Duration) -> bool {
        tokio::time::timeout(within, self.conn.closed())
            .await
            .is_ok()
    }
}

async fn read_frames(mut recv: quinn::RecvStream, tx: mpsc::Sender<Frame>) {
    loop {
        let mut prefix = [0u8; 4];
        if recv.read_exact(&mut prefix).await.is_err() {
            return;
        }
        let Ok(len) = Frame::body_len(prefix) else {
            return;
        };
        let mut body = vec![0u8; len];
        if recv.read_exact(&mut body).await.is_err() {
            return;
        }
        let Ok(frame) = Frame::decode_body(&body) else {
            return;
        };
        if tx.send(frame).await.is_err() {
            return;
        }
    }
}
