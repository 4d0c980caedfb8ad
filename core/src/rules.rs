//! The rules that hold at the desks, during an outage and after: each refusal is a typed
//! error whose message tells the person at the desk what was wrong.

use crate::id::{EpisodeId, NameError, RecordId};
use crate::numbers::NumberError;
use crate::record::RecordKind;
use crate::roles::DeskRole;
use crate::status::StatusError;

/// Why a desk operation was refused. Nothing is written when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    #[error("a {desk} desk may not {action} (it does not write {kind} records)")]
    NotPermitted {
        desk: DeskRole,
        action: &'static str,
        kind: RecordKind,
    },
    /// The node's certificate does not let it write this kind, whoever asks (peers would
    /// refuse the record, so the desk must not hear "saved").
    #[error("this {role} node's certificate does not allow {kind} records (its desks: {desks})")]
    NodeMayNotWrite {
        role: crate::roles::NodeRole,
        kind: RecordKind,
        desks: String,
    },
    /// The write breaks a rule every replica applies to the record's changes
    /// ([`crate::trust::rules`]): no other node would keep it, so it is not saved here either.
    #[error("no other node would accept this write: {0}")]
    BreaksReplicaRule(Box<crate::trust::Breach>),
    #[error("no {kind} record {id}")]
    NotFound { kind: RecordKind, id: RecordId },
    #[error("record {id} is a {found}, not a {expected}")]
    WrongKind {
        id: RecordId,
        expected: RecordKind,
        found: RecordKind,
    },
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error(transparent)]
    Status(#[from] StatusError),
    #[error(transparent)]
    Number(#[from] NumberError),
    /// A name made from others (an episode id from the node's name) is not a valid name.
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("the {catalog} catalog has not reached this node yet; it comes from central")]
    CatalogMissing { catalog: &'static str },
    #[error("{code:?} is not in the {catalog} catalog")]
    UnknownCode { catalog: &'static str, code: String },
    #[error("only central may {action}")]
    CentralOnly { action: &'static str },
    #[error(
        "prescription {prescription} was written during emergency episode {episode} and has not \
         been reconciled with central: print it and hand the drugs out, but it cannot be marked \
         dispensed in the system until central has it"
    )]
    EmergencyDispenseOnHold {
        prescription: RecordId,
        episode: EpisodeId,
    },
    #[error(
        "reports are not run in emergency mode (episode {episode}): this node's data is \
         incomplete; ask for an incomplete report explicitly if you must"
    )]
    ReportInEmergency { episode: EpisodeId },
    #[error("patient {id} was merged into {into}; use that record")]
    PatientMerged { id: RecordId, into: RecordId },
    #[error("charge {charge} is already on an invoice")]
    AlreadyInvoiced { charge: RecordId },
    #[error("charge {charge} has not been settled yet")]
    ChargeNotSettled { charge: RecordId },
    #[error("charge {charge} was not paid by insurance, so there is nothing to re-settle")]
    NothingToResettle { charge: RecordId },
    #[error(
        "prescription {prescription} is not paid yet (charge {charge}): the pharmacy dispenses \
         paid prescriptions; send the patient to the cashier"
    )]
    NotPaid {
        prescription: RecordId,
        charge: RecordId,
    },
    #[error("charge {charge} is on invoice {invoice}: void the invoice first (take it back)")]
    OnInvoice { charge: RecordId, invoice: RecordId },
    #[error("charge {charge} has been refunded already")]
    AlreadyRefunded { charge: RecordId },
    #[error("the drugs of charge {charge} were handed out: they cannot be refunded here")]
    DrugsHandedOut { charge: RecordId },
    #[error(
        "{kind} {id} came from the HIS and is changed there; Lifeline changes it only during \
         an emergency episode"
    )]
    HisReadOnly { kind: RecordKind, id: RecordId },
}

impl RuleError {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        RuleError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Longest free text accepted in a record field.
pub const TEXT_MAX_LEN: usize = 200;

pub fn check_text(field: &str, value: &str, required: bool) -> Result<(), RuleError> {
    if required && value.trim().is_empty() {
        return Err(RuleError::invalid(field, "must not be empty"));
    }
    if value.chars().count() > TEXT_MAX_LEN {
        return Err(RuleError::invalid(field, "longer than 200 characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(RuleError::invalid(field, "contains control characters"));
    }
    if value.chars().any(is_bidi_control) {
        return Err(RuleError::invalid(
            field,
            "contains bidirectional control characters (they can make text read backwards)",
        ));
    }
    Ok(())
}

/// The Unicode bidirectional formatting characters (class Cf, not Cc): marks, embeddings,
/// overrides and isolates. A name with U+202E shows its end first.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// A phone number: digits, optionally with a leading '+' and '-' separators, 5 to 20 digits.
pub fn check_phone(value: &str) -> Result<(), RuleError> {
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let ok_chars = value
        .char_indices()
        .all(|(i, c)| c.is_ascii_digit() || c == '-' || (c == '+' && i == 0));
    if !ok_chars || !(5..=20).contains(&digits) {
        return Err(RuleError::invalid(
            "phone",
            format!("{value:?} is not a phone number (5 to 20 digits)"),
        ));
    }
    Ok(())
}

/// A mainland resident identity number: 18 characters, 17 digits and a check character
/// (ISO 7064 MOD 11-2), which is verified.
pub fn check_national_id(value: &str) -> Result<(), RuleError> {
    let bad = |why: &str| RuleError::invalid("national_id", format!("{value:?} {why}"));
    let bytes = value.as_bytes();
    if bytes.len() != 18 {
        return Err(bad("is not 18 characters long"));
    }
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let mut sum = 0;
    for (b, w) in bytes[..17].iter().zip(WEIGHTS) {
        if !b.is_ascii_digit() {
            return Err(bad("must start with 17 digits"));
        }
        sum += u32::from(b - b'0') * w;
    }
    let expected = CHECK[(sum % 11) as usize];
    if bytes[17].to_ascii_uppercase() != expected {
        return Err(bad("has a wrong check character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn national_id_check_character() {
        assert!(check_national_id("11010519491231002X").is_ok());
        assert!(check_national_id("110105194912310021").is_err());
        assert!(check_national_id("1101051949123100").is_err());
        assert!(check_national_id("A1010519491231002X").is_err());
    }

    #[test]
    fn phones_and_text() {
        assert!(check_phone("13800138000").is_ok());
        assert!(check_phone("+86-10-6512-3456").is_ok());
        assert!(check_phone("12").is_err());
        assert!(check_phone("call me").is_err());
        assert!(check_text("name", "  ", true).is_err());
        assert!(check_text("name", "王小明", true).is_ok());
        assert!(check_text("name", "a\u{7}b", true).is_err());
        let err = check_text("name", "\u{202E}nimda", true).unwrap_err();
        assert!(err.to_string().contains("bidirectional"), "{err}");
        for c in ['\u{061C}', '\u{200F}', '\u{202A}', '\u{2066}', '\u{2069}'] {
            assert!(
                check_text("name", &format!("a{c}b"), true).is_err(),
                "{c:?}"
            );
        }
    }
}
