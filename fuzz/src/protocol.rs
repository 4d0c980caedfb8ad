//! `sync_message`: arbitrary bytes from a peer as the protocol's messages, decoded all the way
//! down, by a real `Session` (the sans-I/O protocol) over a `MemoryReplica` (the store's checks
//! in memory).
//!
//! `frame_decode` stops at the envelope (postcard); this goes on into what each frame carries:
//! a batch's records and signed commits, Automerge sync messages (`Frame::Sync`), roster
//! entries (certificates checked against the CA, CA-signed revocations), acks, rewinds,
//! digests, fetches and their answers. The session has had the peer's hello (a registration
//! window, `W01`, whose key `seeds/signer-W01.pkcs8` signed the seeds' changes and is in the
//! roster); the input is a stream of frames (`Frame::split` again and again), each handed to
//! `Session::handle_frame` until one is refused. The CA is `seeds/ca.pem`, so that roster seeds
//! carry certificates it issued.
//!
//! Checks ([`check`]): no panic outside the project's containment of Automerge's decoder. A
//! frame is taken or refused with an error that says something; every frame the session sends
//! in answer encodes. An Automerge sync message that decodes encodes back to the same message.

use std::path::Path;
use std::time::{Duration, Instant};

use lifeline_core::automerge::sync;
use lifeline_core::trust::{Member, SigningKey};
use lifeline_core::{DeskRole, NodeName, NodeRole};
use lifeline_sync::frame::{Frame, Hello, PROTOCOL_VERSION};
use lifeline_sync::identity::{Anchor, NodeIdentity};
use lifeline_sync::proto::{Session, SessionConfig};
use lifeline_sync::replica::MemoryReplica;

const W01_KEY: &[u8] = include_bytes!("../seeds/signer-W01.pkcs8");
const CA: &[u8] = include_bytes!("../seeds/ca.pem");
const PEER: &str = "W01";

/// What every input meets: the CA and the peer's roster entry.
pub struct Fixture {
    anchor: Anchor,
    peer: Member,
    start: Instant,
}

fn name(s: &str) -> NodeName {
    NodeName::new(s).expect("a valid name")
}

impl Fixture {
    /// The fixture, writing the CA's certificate into `dir` (the anchor loads it from a file).
    pub fn new(dir: &Path) -> Fixture {
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, CA).expect("write the CA certificate");
        let key = SigningKey::from_pkcs8(name(PEER), W01_KEY).expect("the seed key is P-256");
        Fixture {
            anchor: Anchor::load(&ca).expect("the seed CA loads"),
            peer: Member {
                name: key.author().clone(),
                role: NodeRole::Window,
                desks: vec![DeskRole::Registration],
                key: key.public_key().clone(),
                credential: Vec::new(),
            },
            start: Instant::now(),
        }
    }
}

/// Every frame the session has to send encodes.
fn drain(session: &mut Session<MemoryReplica>) {
    while let Some(frame) = session.poll_transmit() {
        frame.encode().expect("a frame the session sends encodes");
    }
}

/// An Automerge sync message that decodes encodes to bytes that decode to a message that
/// encodes to the same bytes: nothing is lost past the first encoding. (Not the same
/// message: an empty Bloom filter's parameters are not encoded, so a decoded one that says
/// 10 bits per entry and 7 probes comes back with none, found by this target.)
fn round_trip_sync_message(bytes: &[u8]) {
    let Some(Ok(message)) = lifeline_core::error::contained(|| sync::Message::decode(bytes)) else {
        return;
    };
    let encoded = message.encode();
    let again = sync::Message::decode(&encoded).expect("an encoded sync message decodes");
    assert_eq!(
        again.encode(),
        encoded,
        "encode(decode(encode(m))) != encode(m)"
    );
}

/// One input: a fresh replica and session, the peer's hello, then the input's frames.
pub fn check(fx: &Fixture, data: &[u8]) {
    let replica = MemoryReplica::seeded(name("central"), 1);
    replica.admit_member(fx.peer.clone());
    let peer = NodeIdentity::new(name(PEER), NodeRole::Window, vec![DeskRole::Registration]);
    let mut now = fx.start;
    let mut session = Session::new(
        replica,
        SessionConfig::default(),
        peer,
        fx.anchor.clone(),
        now,
    )
    .expect("a session over a memory replica starts");
    let hello = Frame::Hello(Hello {
        protocol: PROTOCOL_VERSION,
        node: PEER.into(),
        incarnation: "memory-fuzz".into(),
        feed_head: 0,
        opening: "fuzz".into(),
        opened_feed_head: 0,
        applied_from_you: 0,
        keeps_since_ms: None,
        offering: false,
    });
    session
        .handle_frame(hello, now)
        .expect("the peer's hello is taken");
    drain(&mut session);
    let mut rest = data;
    while let Ok(Some((frame, used))) = Frame::split(rest) {
        rest = &rest[used..];
        now += Duration::from_millis(10);
        if let Frame::Sync { message, .. } = &frame {
            round_trip_sync_message(message);
        }
        if let Err(e) = session.handle_frame(frame, now) {
            assert!(!e.to_string().is_empty(), "an empty refusal");
            return;
        }
        drain(&mut session);
    }
    if let Err(e) = session.handle_timeout(now) {
        assert!(!e.to_string().is_empty(), "an empty refusal");
    }
    drain(&mut session);
}
