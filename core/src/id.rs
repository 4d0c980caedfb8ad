//! Identifiers: record ids that never collide offline, and validated names for nodes,
//! operators and emergency episodes.
//!
//! Record ids are ULIDs generated on the node that creates the record: unique without
//! coordination, sortable by creation time. Names are checked once at the boundary so that
//! the rest of the code can put them in keys, file names and Automerge actor ids.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// The id of one record (one Automerge document), unique across the hospital.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecordId(ulid::Ulid);

impl RecordId {
    /// A fresh id. Monotonic within a process, random across processes.
    pub fn generate() -> Self {
        RecordId(ulid::Ulid::new())
    }

    /// A fresh id stamped with `ms` (the store's clock), so that index ranges by creation
    /// time agree with the records' `created_ms`.
    pub fn generate_at(ms: i64) -> Self {
        let ms = u64::try_from(ms.max(0)).unwrap_or(0);
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
        RecordId(ulid::Ulid::from_datetime(at))
    }

    /// The 16 bytes used as the redb key.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_bytes()
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        RecordId(ulid::Ulid::from_bytes(bytes))
    }

    /// When the id was generated (milliseconds since the epoch), from its ULID prefix.
    pub fn created_ms(self) -> i64 {
        i64::try_from(self.0.timestamp_ms()).unwrap_or(i64::MAX)
    }

    /// The smallest id generated at or after `ms`: ids sort by creation time, so an index
    /// range from this id holds everything created since.
    pub fn lowest_at(ms: i64) -> Self {
        let ms = u64::try_from(ms.max(0)).unwrap_or(0);
        RecordId(ulid::Ulid::from_parts(ms, 0))
    }
}

/// Where a store's new record ids and its actor get their random part: the operating system
/// (every node, [`Ids::random`]), or a seeded stream ([`Ids::seeded`]) for a simulation that
/// must replay a run exactly. Clones share the stream.
#[derive(Debug, Clone, Default)]
pub struct Ids(Option<Arc<Mutex<u64>>>);

impl Ids {
    pub fn random() -> Self {
        Ids(None)
    }

    /// The same seed gives the same ids, in the same order of calls.
    pub fn seeded(seed: u64) -> Self {
        Ids(Some(Arc::new(Mutex::new(seed))))
    }

    /// A new record id stamped with `ms` (see [`RecordId::generate_at`]).
    pub fn record_id_at(&self, ms: i64) -> RecordId {
        let Some(state) = &self.0 else {
            return RecordId::generate_at(ms);
        };
        let ms = u64::try_from(ms.max(0)).unwrap_or(0);
        let random = (u128::from(next(state)) << 64 | u128::from(next(state))) & ((1 << 80) - 1);
        RecordId(ulid::Ulid::from_parts(ms, random))
    }

    /// Eight random bytes (an actor id's tail).
    pub fn tail(&self) -> [u8; 8] {
        match &self.0 {
            None => {
                let id = RecordId::generate().to_bytes();
                let mut tail = [0u8; 8];
                tail.copy_from_slice(&id[8..]);
                tail
            }
            Some(state) => next(state).to_be_bytes(),
        }
    }
}

/// The next value of a splitmix64 stream.
fn next(state: &Mutex<u64>) -> u64 {
    let mut s = state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({})", self.0)
    }
}

/// A string that is not a record id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a record id (26 characters of Crockford base32)")]
pub struct ParseIdError {
    pub value: String,
}

impl FromStr for RecordId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ulid::Ulid::from_string(s)
            .map(RecordId)
            .map_err(|_| ParseIdError {
                value: s.to_owned(),
            })
    }
}

impl TryFrom<String> for RecordId {
    type Error = ParseIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<RecordId> for String {
    fn from(id: RecordId) -> String {
        id.to_string()
    }
}

/// A name that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} is invalid: {reason}")]
pub struct NameError {
    pub what: &'static str,
    pub value: String,
    pub reason: &'static str,
}

/// Longest name accepted for nodes, operators and episodes.
pub const NAME_MAX_LEN: usize = 64;

fn check_name(what: &'static str, value: &str) -> Result<(), NameError> {
    let fail = |reason| NameError {
        what,
        value: value.to_owned(),
        reason,
    };
    if value.is_empty() {
        return Err(fail("it is empty"));
    }
    if value.len() > NAME_MAX_LEN {
        return Err(fail("it is longer than 64 bytes"));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(fail(
            "only ASCII letters, digits, '-', '_' and '.' are allowed",
        ));
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Result<Self, NameError> {
                let value = value.into();
                check_name($what, &value)?;
                Ok($name(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $name::new(s)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }
    };
}

name_type!(
    /// A node's name, as written in its certificate (`W01`, `central`, `standby`).
    NodeName,
    "node name"
);
name_type!(
    /// The login name of a person working at a desk.
    OperatorName,
    "operator name"
);
name_type!(
    /// An emergency episode ("YJ") id, shared by every node that took part in one outage.
    EpisodeId,
    "episode id"
);

/// How the id of a drill episode begins (`lifeline emergency start --drill`). Every record
/// written in a drill carries such an id in its episode tag, so a record says by itself that
/// it is a drill, on every node and in every export.
pub const DRILL_PREFIX: &str = "YJ-DRILL-";

impl EpisodeId {
    /// An episode of a drill, not of a real outage.
    pub fn is_drill(&self) -> bool {
        self.0.starts_with(DRILL_PREFIX)
    }

    /// The minute the episode opened, as its id names it (`YYYYMMDD-HHMM`, the hospital's
    /// local time, which every node of a hospital writes ids in): ordered as the openings
    /// are, to the minute. `None` for an id not made by `open_episode`.
    pub fn opened_minute(&self) -> Option<&str> {
        let rest = self
            .0
            .strip_prefix(DRILL_PREFIX)
            .or_else(|| self.0.strip_prefix("YJ-"))?;
        let minute = rest.get(..13)?;
        let well_formed = minute
            .char_indices()
            .all(|(i, c)| if i == 8 { c == '-' } else { c.is_ascii_digit() });
        (well_formed && rest.as_bytes().get(13) == Some(&b'-')).then_some(minute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_ids_round_trip_and_refuse_garbage() {
        let id = RecordId::generate();
        assert_eq!(id.to_string().parse::<RecordId>(), Ok(id));
        assert_eq!(RecordId::from_bytes(id.to_bytes()), id);
        assert!("not-an-id".parse::<RecordId>().is_err());
    }

    #[test]
    fn seeded_ids_replay_and_carry_their_time() {
        let (a, b) = (Ids::seeded(7), Ids::seeded(7));
        let at = 1_795_568_400_000;
        let first: Vec<RecordId> = (0..3).map(|i| a.record_id_at(at + i)).collect();
        let again: Vec<RecordId> = (0..3).map(|i| b.record_id_at(at + i)).collect();
        assert_eq!(first, again, "the same seed, the same ids");
        assert_eq!(first[2].created_ms(), at + 2);
        assert_ne!(first[0], first[1]);
        assert_eq!(a.tail(), b.tail());
        assert_ne!(Ids::seeded(8).record_id_at(at), first[0], "another seed");
        let clone = a.clone();
        assert_ne!(
            clone.record_id_at(at),
            a.record_id_at(at),
            "clones share the stream"
        );
        assert_ne!(
            Ids::random().record_id_at(at),
            Ids::random().record_id_at(at)
        );
    }

    #[test]
    fn names_are_validated() {
        assert!(NodeName::new("W01").is_ok());
        assert!(NodeName::new("").is_err());
        assert!(NodeName::new("a b").is_err());
        assert!(NodeName::new("x".repeat(65)).is_err());
        let err = OperatorName::new("张三").unwrap_err();
        assert!(err.to_string().contains("operator name"));
    }
}
