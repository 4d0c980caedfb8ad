//! What a restore writes into the checked copy of a snapshot before it replaces the store: a
//! new incarnation (and the node restored into), the numbers it must never hand out again,
//! and an entry in the audit chain.

use redb::{ReadableTable, WriteTransaction};

use crate::clock::UnixMs;
use crate::desk::lessor_base;
use crate::id::{NodeName, OperatorName};
use crate::numbers::{MAX_LEASE, NumberUse, RangeState, Series};
use crate::roles::NodeRole;
use crate::store::audit::{AuditEntry, AuditEvent, GENESIS};
use crate::store::tables::{self, meta_keys};

/// Who a restore's writes are attributed to.
const RESTORE_ACTOR: &str = "lifeline-restore";

/// Gives the restored copy its new identity, retires the numbers that may have been used
/// after the backup, and records the restore in the audit chain.
/// `action` and `cause` say in the audit entry what brought the store back (a restore from a
/// snapshot, or a copy by hand found at an opening).
pub(in crate::store) fn stamp(
    w: &WriteTransaction,
    node: &NodeName,
    incarnation: &str,
    action: &str,
    cause: &str,
    now: UnixMs,
) -> Result<(), redb::Error> {
    {
        let mut meta = w.open_table(tables::META)?;
        meta.insert(meta_keys::INCARNATION, incarnation.as_bytes())?;
        meta.insert(meta_keys::INCARNATION_MS, now.to_string().as_bytes())?;
        meta.insert(meta_keys::NODE, node.as_str().as_bytes())?;
        // The requests the backup made were the earlier life's: a grant on one of them may
        // have been numbered from after the backup.
        meta.remove(meta_keys::LEASE_REQUESTS)?;
        // Its grants after the backup come back from the members that hold them: it leases
        // from its cursor again once it has caught up with every one (`store::relearn`).
        meta.insert(meta_keys::RELEARNING, "restored".as_bytes())?;
    }
    let retired = retire_numbers(w, now)?;
    append_audit(
        w,
        node,
        now,
        action,
        &format!("{cause}; new incarnation {incarnation}; {retired} unused numbers retired"),
    )
}

/// After a restore, numbers the backup shows as unused may have been handed out after the
/// backup was taken (their records come back from peers later). They are retired (voided,
/// never handed out again), and a lessor's cursor jumps ahead, so that a restored node can
/// never issue or lease a number twice. Returns how many numbers were retired.
fn retire_numbers(w: &WriteTransaction, now: UnixMs) -> Result<u64, redb::Error> {
    let operator =
        OperatorName::new(RESTORE_ACTOR).expect("lifeline-restore is a valid operator name");
    let mut retired = 0;
    let mut ranges = w.open_table(tables::RANGES)?;
    let mut numbers = w.open_table(tables::NUMBERS)?;
    let mut states: Vec<RangeState> = Vec::new();
    for entry in ranges.iter()? {
        let (_, v) = entry?;
        if let Ok(state) = serde_json::from_slice::<RangeState>(v.value()) {
            states.push(state);
        }
    }
    for mut state in states {
        let code = state.range.series.code();
        for number in state.next..=state.range.end {
            let used = NumberUse::Voided {
                record: None,
                reason: "retired at restore: may have been used after the backup".into(),
                operator: operator.clone(),
                at_ms: now,
            };
            let bytes = serde_json::to_vec(&used).unwrap_or_default();
            numbers.insert((code, number), bytes.as_slice())?;
            retired += 1;
        }
        state.next = state.range.end + 1;
        let bytes = serde_json::to_vec(&state).unwrap_or_default();
        ranges.insert(state.range.id.as_str(), bytes.as_slice())?;
    }
    // Every series jumps, also one the backup had not leased from yet: the lessor may have
    // leased from it since, from its base.
    let role: Option<NodeRole> = w
        .open_table(tables::META)?
        .get(meta_keys::ROLE)?
        .and_then(|v| String::from_utf8_lossy(v.value()).parse().ok());
    let base = role.map_or(1, lessor_base);
    let mut lessor = w.open_table(tables::LESSOR)?;
    for series in Series::ALL {
        let cursor = lessor.get(series.code())?.map_or(base, |v| v.value());
        lessor.insert(series.code(), cursor.saturating_add(10 * MAX_LEASE))?;
    }
    Ok(retired)
}

/// Appends one entry to a database's audit chain, outside a running store.
fn append_audit(
    w: &WriteTransaction,
    node: &NodeName,
    now: UnixMs,
    action: &str,
    detail: &str,
) -> Result<(), redb::Error> {
    let mut meta = w.open_table(tables::META)?;
    let text = |v: Option<redb::AccessGuard<'_, &[u8]>>| {
        v.map(|v| String::from_utf8_lossy(v.value()).into_owned())
    };
    let seq: u64 = text(meta.get(meta_keys::AUDIT_SEQ)?)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let head = text(meta.get(meta_keys::AUDIT_HEAD)?).unwrap_or_else(|| GENESIS.to_owned());
    let event = AuditEvent {
        actor: RESTORE_ACTOR.into(),
        action: action.into(),
        record: None,
        changes: Vec::new(),
        detail: Some(detail.into()),
    };
    let entry = AuditEntry::next(seq, &head, now, node.clone(), event);
    let bytes = entry.encode();
    w.open_table(tables::AUDIT)?
        .insert(entry.seq, bytes.as_slice())?;
    meta.insert(meta_keys::AUDIT_SEQ, entry.seq.to_string().as_bytes())?;
    meta.insert(meta_keys::AUDIT_HEAD, entry.hash.as_bytes())?;
    Ok(())
}
