//! lifeline-core: the outpatient records, the rules that hold during an outage, and the
//! durable store (redb + Automerge). No network I/O and no async runtime here: the sync
//! crate reaches storage only through this crate's API.

pub mod calendar;
pub mod clock;
pub mod desk;
pub mod error;
pub mod health;
pub mod housekeeping;
pub mod id;
pub mod import;
pub mod money;
pub mod numbers;
pub mod record;
pub mod review;
pub mod roles;
pub mod rules;
pub mod status;
pub mod store;
pub mod trust;

#[cfg(test)]
mod test_support;

pub use automerge;
pub use clock::{Age, Clock, Date, ManualClock, SystemClock, UnixMs};
pub use id::{EpisodeId, Ids, NodeName, OperatorName, RecordId};
pub use money::Fen;
pub use record::{Record, RecordKind};
pub use roles::{DeskRole, NodeRole, Operator};
pub use rules::RuleError;
pub use store::{OpenError, ReadError, Store, StoreOptions, WriteError};
