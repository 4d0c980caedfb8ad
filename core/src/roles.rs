//! Who may do what: the node's role in the mesh and the desk roles of the people at a window.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::id::OperatorName;
use crate::record::RecordKind;

/// A node's place in the mesh, as named in its certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    Central,
    Standby,
    Window,
}

/// A desk at an outpatient window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeskRole {
    Registration,
    Cashier,
    Pharmacy,
    Triage,
    Doctor,
    /// The information department: catalogs, emergency mode, review decisions.
    Admin,
}

/// A role string that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a {what} (expected one of: {expected})")]
pub struct RoleParseError {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! named_enum {
    ($ty:ident, $what:literal, $($variant:ident = $name:literal),+) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            pub fn name(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
        impl FromStr for $ty {
            type Err = RoleParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err(RoleParseError {
                        what: $what,
                        value: s.to_owned(),
                        expected: concat!($($name, " "),+),
                    }),
                }
            }
        }
    };
}

named_enum!(
    NodeRole,
    "node role",
    Central = "central",
    Standby = "standby",
    Window = "window"
);
named_enum!(
    DeskRole,
    "desk role",
    Registration = "registration",
    Cashier = "cashier",
    Pharmacy = "pharmacy",
    Triage = "triage",
    Doctor = "doctor",
    Admin = "admin"
);

impl DeskRole {
    /// The record kinds a desk of this role may create or change.
    pub fn may_write(self, kind: RecordKind) -> bool {
        use RecordKind as K;
        match self {
            // Registering a visit charges its fee.
            DeskRole::Registration => matches!(kind, K::Patient | K::Visit | K::Charge | K::Lease),
            DeskRole::Cashier => matches!(
                kind,
                K::Charge | K::Invoice | K::Refund | K::Resettlement | K::Lease
            ),
            DeskRole::Pharmacy => matches!(kind, K::Prescription | K::Dispense),
            DeskRole::Triage => matches!(kind, K::Visit),
            DeskRole::Doctor => matches!(kind, K::Prescription | K::Visit | K::Charge),
            DeskRole::Admin => true,
        }
    }
}

/// The person making a change, and the desk they work at. Every change carries one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    pub name: OperatorName,
    pub desk: DeskRole,
}

impl Operator {
    pub fn new(name: OperatorName, desk: DeskRole) -> Self {
        Operator { name, desk }
    }

    /// The node itself, acting on its own (automatic episodes, leases, central's
    /// acknowledgements): `lifeline-system` at the admin desk.
    pub fn system() -> Self {
        Operator {
            name: OperatorName::new("lifeline-system")
                .expect("\"lifeline-system\" is a valid operator name"),
            desk: DeskRole::Admin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_refuse() {
        assert_eq!("cashier".parse::<DeskRole>(), Ok(DeskRole::Cashier));
        let err = "janitor".parse::<DeskRole>().unwrap_err();
        assert!(err.to_string().contains("registration"));
        assert_eq!("standby".parse::<NodeRole>(), Ok(NodeRole::Standby));
    }

    #[test]
    fn desks_write_only_their_kinds() {
        assert!(DeskRole::Registration.may_write(RecordKind::Patient));
        assert!(!DeskRole::Registration.may_write(RecordKind::Invoice));
        assert!(DeskRole::Registration.may_write(RecordKind::Charge));
        assert!(DeskRole::Cashier.may_write(RecordKind::Refund));
        assert!(!DeskRole::Doctor.may_write(RecordKind::Refund));
        assert!(!DeskRole::Pharmacy.may_write(RecordKind::Charge));
        assert!(!DeskRole::Cashier.may_write(RecordKind::DrugCatalog));
    }
}
