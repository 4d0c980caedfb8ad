//! The wire format: length-prefixed frames.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes of a postcard-encoded
//! [`Frame`]. Frames larger than [`MAX_FRAME_BYTES`] are refused before anything is
//! allocated for them; a frame that does not decode is an error, never a panic. Either closes
//! the peer's connection with a logged reason.

use lifeline_core::store::Scope;
use serde::{Deserialize, Serialize};

/// The protocol version carried in the hello (ALPN carries the major version). Version 2
/// added signed commits to batches and sync messages, and the roster frame. Version 3 (issue
/// 10): the hello says what a window keeps, digests name their scope, and records can be
/// fetched on request. Version 4: emergency records are offered (ids and heads) before their
/// changes are sent, and a hello says whether offers come. Version 5: central acknowledges
/// emergency records with receipts (a record kind earlier versions refuse). Version 6: an
/// offer's answer names the records asked of another peer already (`Want.later`). Version 7:
/// a hello names the opening of the sender's store and its feed's head then. Version 8: a
/// record the receiver holds none of may come as the sender stores it (one chunk, DEFLATE
/// with the store's dictionary, `lifeline_core::store::chunks`), which the receiver unpacks
/// and keeps as it is.
pub const PROTOCOL_VERSION: u16 = 8;

/// Largest frame accepted or sent.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// A record's id on the wire.
pub type WireId = [u8; 16];
/// An Automerge change hash on the wire.
pub type WireHash = [u8; 32];

/// Everything two nodes say to each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    /// First frame each way.
    Hello(Hello),
    /// Records changed on the sender.
    Batch(Batch),
    /// The receiver applied a batch in one durable commit.
    Ack(Ack),
    /// The receiver found our cursor ahead of its history: resend from `applied_from_you`.
    Rewind {
        applied_from_you: u64,
    },
    /// Automerge's sync protocol for one record whose delta lacked dependencies, with the
    /// signed commits of the changes the message carries.
    Sync {
        id: WireId,
        message: Vec<u8>,
        signatures: Vec<Vec<u8>>,
    },
    /// Ask for the peer's digest of the records in a scope.
    DigestRequest {
        scope: Scope,
    },
    Digest(WireDigest),
    Ping {
        nonce: u64,
    },
    Pong {
        nonce: u64,
    },
    Goodbye {
        reason: String,
    },
    /// Members (their certificates, DER) and revocations (CA-signed) the sender holds and
    /// has not sent on this connection yet: the roster replicates, and each receiver checks
    /// every entry against the CA itself.
    Roster {
        members: Vec<Vec<u8>>,
        revocations: Vec<Vec<u8>>,
    },
    /// Ask for whole records (a window asking a server for records it no longer keeps).
    Fetch {
        request: u64,
        ids: Vec<WireId>,
    },
    /// The answer to a [`Frame::Fetch`]: the records held, whole, and those not held.
    Fetched {
        request: u64,
        docs: Vec<WireDoc>,
        missing: Vec<WireId>,
    },
    /// Records the sender would send, by id and its heads, before their changes: its
    /// emergency records after an outage, which the receiver often holds already (every node
    /// relayed them to the others meanwhile). The receiver answers each offer, in order, with
    /// a [`Frame::Want`]. `last` ends the sender's offers on this connection.
    Offer {
        offer: u64,
        docs: Vec<(WireId, Vec<WireHash>)>,
        last: bool,
    },
    /// The answer to an offer: the records whose changes the receiver lacks (`ids`), and
    /// those it lacks but has asked another peer for (`later`: offer them again after the
    /// rest). It holds the others at the offered heads.
    Want {
        offer: u64,
        ids: Vec<WireId>,
        later: Vec<WireId>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u16,
    pub node: String,
    /// The sender's store incarnation.
    pub incarnation: String,
    /// The sender's latest feed sequence.
    pub feed_head: u64,
    /// This opening of the sender's store (new at every start) and the feed's head when it
    /// began: a receiver that applied more of the sender's feed than that, from an earlier
    /// opening, knows the sender lost history (a file copied back by hand keeps its
    /// incarnation), even after it wrote past that point again.
    pub opening: String,
    pub opened_feed_head: u64,
    /// The receiver's feed sequence up to which the sender has applied everything.
    pub applied_from_you: u64,
    /// A window's working set: it keeps the records every node keeps (patients, catalogs,
    /// node records) and the others created since this time (ms since the epoch); `None` for
    /// a node that keeps everything.
    pub keeps_since_ms: Option<i64>,
    /// The sender offers its emergency records first ([`Frame::Offer`]): the receiver holds
    /// its own feed back until the last offer, when it knows what the sender holds, so that
    /// nothing the sender offered is sent back to it.
    pub offering: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub batch: u64,
    /// The sender's feed sequence this batch completes, if it is a feed batch; `None` for
    /// the emergency records sent first on reconnect.
    pub upto: Option<u64>,
    pub docs: Vec<WireDoc>,
    /// The signed commits of the changes in `docs`, each once (encoded
    /// `lifeline_core::trust::SignedCommit`s).
    pub signatures: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireDoc {
    pub id: WireId,
    /// The sender's feed sequence of this record's latest change.
    pub seq: u64,
    /// The sender's heads after these changes.
    pub heads: Vec<WireHash>,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub batch: u64,
    /// The sender's feed sequence now applied here (as far as it goes without gaps).
    pub applied_upto: Option<u64>,
    /// Records whose changes need others first: continue them with the sync protocol.
    pub missing: Vec<WireId>,
    /// Records refused, with the reason.
    pub rejected: Vec<(WireId, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireDigest {
    /// The scope it was asked for.
    pub scope: Scope,
    pub records: u64,
    pub buckets: Vec<String>,
}

/// Why bytes from a peer are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    #[error("frame of {len} bytes is larger than the {max}-byte limit")]
    Oversized { len: usize, max: usize },
    #[error("frame is truncated: {have} of {need} bytes")]
    Truncated { have: usize, need: usize },
    #[error("frame does not decode")]
    Malformed(#[source] postcard::Error),
    #[error("{count} bytes follow the frame inside its length")]
    TrailingBytes { count: usize },
    #[error("cannot encode a frame")]
    Encode(#[source] postcard::Error),
}

impl Frame {
    /// The frame with its length prefix.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        let body = postcard::to_stdvec(self).map_err(FrameError::Encode)?;
        if body.len() > MAX_FRAME_BYTES {
            return Err(FrameError::Oversized {
                len: body.len(),
                max: MAX_FRAME_BYTES,
            });
        }
        let len = u32::try_from(body.len()).map_err(|_| FrameError::Oversized {
            len: body.len(),
            max: MAX_FRAME_BYTES,
        })?;
        let mut out = Vec::with_capacity(4 + body.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decodes a frame body (without its length prefix).
    pub fn decode_body(body: &[u8]) -> Result<Frame, FrameError> {
        if body.len() > MAX_FRAME_BYTES {
            return Err(FrameError::Oversized {
                len: body.len(),
                max: MAX_FRAME_BYTES,
            });
        }
        let (frame, rest) =
            postcard::take_from_bytes::<Frame>(body).map_err(FrameError::Malformed)?;
        if !rest.is_empty() {
            return Err(FrameError::TrailingBytes { count: rest.len() });
        }
        Ok(frame)
    }

    /// The length a prefix announces, refused if over the limit.
    pub fn body_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
        let len = u32::from_be_bytes(prefix) as usize;
        if len > MAX_FRAME_BYTES {
            return Err(FrameError::Oversized {
                len,
                max: MAX_FRAME_BYTES,
            });
        }
        Ok(len)
    }

    /// Splits one whole frame off the front of `buf`: `Ok(None)` if more bytes are needed.
    pub fn split(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
        let Some(prefix) = buf.get(..4) else {
            return Ok(None);
        };
        let mut p = [0u8; 4];
        p.copy_from_slice(prefix);
        let len = Frame::body_len(p)?;
        let Some(body) = buf.get(4..4 + len) else {
            return Ok(None);
        };
        Ok(Some((Frame::decode_body(body)?, 4 + len)))
    }

    /// A short name for logs and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello(_) => "hello",
            Frame::Batch(_) => "batch",
            Frame::Ack(_) => "ack",
            Frame::Rewind { .. } => "rewind",
            Frame::Sync { .. } => "sync",
            Frame::Roster { .. } => "roster",
            Frame::DigestRequest { .. } => "digest_request",
            Frame::Digest(_) => "digest",
            Frame::Ping { .. } => "ping",
            Frame::Pong { .. } => "pong",
            Frame::Goodbye { .. } => "goodbye",
            Frame::Fetch { .. } => "fetch",
            Frame::Fetched { .. } => "fetched",
            Frame::Offer { .. } => "offer",
            Frame::Want { .. } => "want",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Frame {
        Frame::Batch(Batch {
            batch: 7,
            upto: Some(42),
            docs: vec![WireDoc {
                id: [1; 16],
                seq: 42,
                heads: vec![[2; 32]],
                bytes: vec![1, 2, 3],
            }],
            signatures: vec![vec![4, 5]],
        })
    }

    #[test]
    fn frames_round_trip() {
        let bytes = sample().encode().expect("encode");
        let (frame, used) = Frame::split(&bytes).expect("decode").expect("whole");
        assert_eq!(frame, sample());
        assert_eq!(used, bytes.len());
    }

    #[test]
    fn partial_frames_wait_and_bad_frames_fail() {
        let bytes = sample().encode().expect("encode");
        for cut in 0..bytes.len() {
            assert_eq!(Frame::split(&bytes[..cut]), Ok(None), "cut at {cut}");
        }
        let oversized = (u32::MAX).to_be_bytes();
        assert!(matches!(
            Frame::split(&oversized),
            Err(FrameError::Oversized { .. })
        ));
        let mut garbage = vec![0, 0, 0, 5];
        garbage.extend_from_slice(&[0xff; 5]);
        assert!(matches!(
            Frame::split(&garbage),
            Err(FrameError::Malformed { .. })
        ));
        let mut trailing = sample().encode().expect("encode");
        let len = u32::from_be_bytes([trailing[0], trailing[1], trailing[2], trailing[3]]) + 1;
        trailing[..4].copy_from_slice(&len.to_be_bytes());
        trailing.push(0);
        assert!(matches!(
            Frame::split(&trailing),
            Err(FrameError::TrailingBytes { count: 1 })
        ));
    }
}
