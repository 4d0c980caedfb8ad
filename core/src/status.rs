//! Forward-only statuses.
//!
//! A record's status is not one register that the last writer wins; it is a log of the states
//! the record has reached (`status_log`: state name → who and when). The current status is
//! the furthest state in the log by rank. Two nodes that move the same record concurrently add
//! two keys to the log; after merging, both keys are present and the furthest wins on every
//! node, whatever order the changes arrived in. A state is never removed from the log, so a
//! status can never move backwards, by construction rather than by check.

use std::collections::BTreeMap;
use std::fmt;

use autosurgeon::{Hydrate, Reconcile};
use serde::Serialize;

use crate::clock::UnixMs;
use crate::id::{NodeName, OperatorName};

/// Who moved a record into a state, and when.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Stamp {
    pub at_ms: UnixMs,
    pub node: NodeName,
    pub operator: OperatorName,
}

/// A forward-only status: its states in rank order and the moves a desk may make.
pub trait Status: Copy + Eq + Ord + fmt::Debug + Send + Sync + 'static {
    /// The record kind, for messages ("a visit cannot move from seen to queued").
    const RECORD: &'static str;
    /// Every state, lowest rank first.
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
    /// Whether a desk may move a record directly from `from` to `self`.
    fn may_follow(self, from: Self) -> bool;

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.name() == name)
    }
}

/// A refused status move.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {record} cannot move from {from} to {to}")]
pub struct TransitionError {
    pub record: &'static str,
    pub from: &'static str,
    pub to: &'static str,
}

macro_rules! status_enum {
    (
        $(#[$doc:meta])* $name:ident, $record:literal,
        states { $($state:ident = $sname:literal),+ $(,)? },
        moves { $($from:ident -> $to:ident),+ $(,)? }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($state),+ }

        impl Status for $name {
            const RECORD: &'static str = $record;
            const ALL: &'static [Self] = &[$($name::$state),+];
            fn name(self) -> &'static str {
                match self { $($name::$state => $sname),+ }
            }
            fn may_follow(self, from: Self) -> bool {
                matches!((from, self), $(($name::$from, $name::$to))|+)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

status_enum!(
    /// Registration and triage. A visit registered during an emergency episode enters paused;
    /// resuming moves it to queued. `seen` outranks `cancelled`: a patient who was seen was
    /// seen, whatever another desk did meanwhile.
    VisitStatus, "visit",
    states {
        Registered = "registered",
        Paused = "paused",
        Queued = "queued",
        Called = "called",
        Cancelled = "cancelled",
        Seen = "seen",
    },
    moves {
        Registered -> Paused,
        Registered -> Queued,
        Paused -> Queued,
        Queued -> Called,
        Queued -> Seen,
        Called -> Seen,
        Registered -> Cancelled,
        Paused -> Cancelled,
        Queued -> Cancelled,
        Called -> Cancelled,
    }
);

status_enum!(
    /// A prescription. `dispensed` outranks `cancelled`: drugs handed out cannot be taken back
    /// by a concurrent cancel; the pair goes to review.
    PrescriptionStatus, "prescription",
    states {
        Issued = "issued",
        Printed = "printed",
        Cancelled = "cancelled",
        Dispensed = "dispensed",
    },
    moves {
        Issued -> Printed,
        Issued -> Dispensed,
        Printed -> Dispensed,
        Issued -> Cancelled,
        Printed -> Cancelled,
    }
);

status_enum!(
    /// An invoice: issued, then possibly voided. Its number is never reused.
    InvoiceStatus, "invoice",
    states { Issued = "issued", Voided = "voided" },
    moves { Issued -> Voided }
);

status_enum!(
    /// A dispense: printed and on hold, then dispensed in the system.
    DispenseStatus, "dispense",
    states { OnHold = "on_hold", Dispensed = "dispensed" },
    moves { OnHold -> Dispensed }
);

status_enum!(
    /// A charge: pending payment, settled, then possibly refunded. Which invoice covers a
    /// settled charge is the charge's `invoice` field, not a status, because a voided invoice
    /// releases its charges for a new one; `invoiced` is only found on charges written
    /// before that rule.
    ChargeStatus, "charge",
    states {
        Pending = "pending",
        Settled = "settled",
        Invoiced = "invoiced",
        Refunded = "refunded",
    },
    moves { Pending -> Settled, Settled -> Invoiced, Settled -> Refunded, Invoiced -> Refunded }
);

/// The states a record has reached, as stored in its document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
#[serde(transparent)]
pub struct StatusLog(pub BTreeMap<String, Stamp>);

/// A status log with no state this version knows (a corrupt or foreign record).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {record} has no known status (log keys: {keys:?})")]
pub struct UnknownStatus {
    pub record: &'static str,
    pub keys: Vec<String>,
}

impl StatusLog {
    pub fn starting<S: Status>(state: S, stamp: Stamp) -> Self {
        let mut log = StatusLog::default();
        log.0.insert(state.name().to_owned(), stamp);
        log
    }

    /// The furthest state reached. States this version does not know are ignored, so that an
    /// older node reads a newer node's records.
    pub fn current<S: Status>(&self) -> Result<S, UnknownStatus> {
        self.0
            .keys()
            .filter_map(|k| S::parse(k))
            .max()
            .ok_or_else(|| UnknownStatus {
                record: S::RECORD,
                keys: self.0.keys().cloned().collect(),
            })
    }

    pub fn reached<S: Status>(&self, state: S) -> Option<&Stamp> {
        self.0.get(state.name())
    }

    /// Checks that a desk may move the record to `to` from its current state.
    pub fn check_move<S: Status>(&self, to: S) -> Result<S, StatusError> {
        let from = self.current::<S>()?;
        if to > from && to.may_follow(from) {
            Ok(from)
        } else {
            Err(StatusError::Transition(TransitionError {
                record: S::RECORD,
                from: from.name(),
                to: to.name(),
            }))
        }
    }
}

/// Why a status could not be read or moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    #[error(transparent)]
    Unknown(#[from] UnknownStatus),
    #[error(transparent)]
    Transition(#[from] TransitionError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp() -> Stamp {
        Stamp {
            at_ms: 1,
            node: NodeName::new("W01").expect("valid"),
            operator: OperatorName::new("nurse1").expect("valid"),
        }
    }

    #[test]
    fn visit_moves_forward_only() {
        let mut log = StatusLog::starting(VisitStatus::Registered, stamp());
        assert!(log.check_move(VisitStatus::Queued).is_ok());
        log.0.insert("queued".into(), stamp());
        assert_eq!(log.current::<VisitStatus>(), Ok(VisitStatus::Queued));
        let err = log.check_move(VisitStatus::Registered).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a visit cannot move from queued to registered"
        );
        assert!(log.check_move(VisitStatus::Paused).is_err());
        log.0.insert("seen".into(), stamp());
        assert!(log.check_move(VisitStatus::Cancelled).is_err());
    }

    #[test]
    fn concurrent_states_resolve_to_the_furthest() {
        let mut log = StatusLog::starting(PrescriptionStatus::Issued, stamp());
        log.0.insert("cancelled".into(), stamp());
        log.0.insert("dispensed".into(), stamp());
        assert_eq!(
            log.current::<PrescriptionStatus>(),
            Ok(PrescriptionStatus::Dispensed)
        );
    }

    #[test]
    fn every_move_goes_up_in_rank() {
        fn check<S: Status>() {
            for &from in S::ALL {
                for &to in S::ALL {
                    if to.may_follow(from) {
                        assert!(to > from, "{from:?} -> {to:?} goes backwards");
                    }
                }
            }
        }
        check::<VisitStatus>();
        check::<PrescriptionStatus>();
        check::<InvoiceStatus>();
        check::<DispenseStatus>();
        check::<ChargeStatus>();
    }

    #[test]
    fn unknown_states_are_ignored_and_an_empty_log_is_an_error() {
        let mut log = StatusLog::default();
        assert!(log.current::<InvoiceStatus>().is_err());
        log.0.insert("from_the_future".into(), stamp());
        assert!(log.current::<InvoiceStatus>().is_err());
        log.0.insert("issued".into(), stamp());
        assert_eq!(log.current::<InvoiceStatus>(), Ok(InvoiceStatus::Issued));
    }
}
