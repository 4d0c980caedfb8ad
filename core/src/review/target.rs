//! Conflict ids: stable across nodes because they are made of the conflict's kind, records
//! and field; built for the report and taken apart again when a reviewer decides.

use super::conflict::ConflictKind;
use crate::id::RecordId;

/// A conflict id, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Field {
        record: RecordId,
        field: String,
    },
    Pair {
        a: RecordId,
        b: RecordId,
    },
    Status {
        kind: ConflictKind,
        record: RecordId,
    },
}

impl Target {
    pub(super) fn id(&self) -> String {
        match self {
            Target::Field { record, field } => {
                format!("{}:{record}:{field}", ConflictKind::FieldConflict.prefix())
            }
            Target::Pair { a, b } => {
                format!("{}:{a}:{b}", ConflictKind::DuplicatePatient.prefix())
            }
            Target::Status { kind, record } => format!("{}:{record}", kind.prefix()),
        }
    }

    /// A pair in id order, so that both nodes name it the same.
    pub(super) fn pair(x: RecordId, y: RecordId) -> Target {
        Target::Pair {
            a: x.min(y),
            b: x.max(y),
        }
    }

    pub(crate) fn parse(id: &str) -> Option<Target> {
        let mut parts = id.splitn(3, ':');
        let prefix = parts.next()?;
        let kind = ConflictKind::ALL
            .into_iter()
            .find(|k| k.prefix() == prefix)?;
        let record: RecordId = parts.next()?.parse().ok()?;
        let rest = parts.next();
        match (kind, rest) {
            (ConflictKind::FieldConflict, Some(field)) if !field.is_empty() => {
                Some(Target::Field {
                    record,
                    field: field.to_owned(),
                })
            }
            (ConflictKind::DuplicatePatient, Some(other)) => {
                let other: RecordId = other.parse().ok()?;
                (record < other).then_some(Target::Pair {
                    a: record,
                    b: other,
                })
            }
            (ConflictKind::FieldConflict | ConflictKind::DuplicatePatient, _) => None,
            (kind, None) => Some(Target::Status { kind, record }),
            (_, Some(_)) => None,
        }
    }
}
