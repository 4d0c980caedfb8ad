//! A window's working set: windows keep the patient master, reference data, central's
//! receipts, node records and the records of the last days (`[retention] window_days`); older records are pruned from
//! windows only, once central is known to hold them, and never while they are unreconciled
//! or take part in an open review item. Central and the standby keep everything.
//!
//! Pruning removes a record from every table that holds it (its chunks and heads, the feed,
//! the indexes, what we believe peers have) and from the kept counts and digest, in bounded
//! commits, with one audit entry per commit. A pruned record can be fetched from a server
//! again on request (see lifeline-sync's fetch).

use redb::ReadableTable;

use super::audit::AuditEvent;
use super::digest::kept_always;
use super::error::{ReadError, RecordDamage, StorageContext, WriteError};
use super::replication::decode_state;
use super::tables::count_keys::records as records_key;
use super::tables::{self, decode_heads};
use super::{Store, Tx};
use super::{episode_edits, index};
use crate::id::RecordId;
use crate::record::{Header, RecordKind};
use crate::roles::NodeRole;
use crate::rules::RuleError;

/// What one prune did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Pruned {
    /// Records removed.
    pub removed: usize,
    /// Old records kept because they are unreconciled, open for review or not yet known to
    /// be held by central.
    pub kept: usize,
    /// Whether old records remain to be looked at (the limit was reached).
    pub more: bool,
}

impl Tx<'_, '_> {
    /// Central's cursor into our feed, if central is a known peer.
    fn central_cursor(&self) -> Result<Option<(String, u64)>, ReadError> {
        let t = self
            .r()
            .open_table(tables::PEER_STATE)
            .ctx("reading peer state")?;
        for entry in t.iter().ctx("reading peer state")? {
            let (k, v) = entry.ctx("reading peer state")?;
            let state = decode_state(v.value());
            if state.role == Some(NodeRole::Central) {
                return Ok(Some((k.value().to_owned(), state.acked_by_peer)));
            }
        }
        Ok(None)
    }

    /// Whether central holds a record as we do: it acknowledged our feed past the record, or
    /// it is known to have the record's heads.
    fn central_holds(&mut self, central: &(String, u64), id: RecordId) -> Result<bool, ReadError> {
        let key = id.to_bytes();
        let pos = self
            .r()
            .open_table(tables::FEED_POS)
            .ctx("reading the feed")?
            .get(key)
            .ctx("reading the feed")?
            .map(|v| v.value());
        if pos.is_some_and(|p| p <= central.1) {
            return Ok(true);
        }
        let ours = self
            .r()
            .open_table(tables::DOC_HEADS)
            .ctx("reading heads")?
            .get(key)
            .ctx("reading heads")?
            .map(|v| decode_heads(v.value()))
            .unwrap_or_default();
        let theirs = self.known_heads(&central.0, id)?.unwrap_or_default();
        Ok(!ours.is_empty() && ours.iter().all(|h| theirs.contains(h)))
    }

    /// Removes one record from every table, the kept counts and the digest.
    fn remove_record(&mut self, id: RecordId, header: &Header) -> Result<(), WriteError> {
        let Some(doc) = self.shared_loaded(id) else {
            return Ok(());
        };
        let (patient, prescription) = (
            index::id_field(&*doc, "patient"),
            index::id_field(&*doc, "prescription"),
        );
        let edits = episode_edits::edited_in(&*doc);
        let key = id.to_bytes();
        let w = self.w();
        w.open_table(tables::DOC_CHUNKS)
            .ctx("pruning")?
            .retain_in((key, 0)..=(key, u32::MAX), |_, _| false)
            .ctx("pruning")?;
        // The signed commits stay (they may sign other records' changes); the record's index
        // of them goes with it.
        w.open_table(tables::RECORD_SIGNED)
            .ctx("pruning")?
            .retain_in((key, [0u8; 32])..=(key, [0xffu8; 32]), |_, _| false)
            .ctx("pruning")?;
        let heads = w
            .open_table(tables::DOC_HEADS)
            .ctx("pruning")?
            .remove(key)
            .ctx("pruning")?
            .map(|v| decode_heads(v.value()));
        let seq = w
            .open_table(tables::FEED_POS)
            .ctx("pruning")?
            .remove(key)
            .ctx("pruning")?
            .map(|v| v.value());
        if let Some(seq) = seq {
            w.open_table(tables::FEED)
                .ctx("pruning")?
                .remove(seq)
                .ctx("pruning")?;
        }
        w.open_table(tables::BY_KIND)
            .ctx("pruning")?
            .remove((header.kind.code(), key))
            .ctx("pruning")?;
        if let Some(episode) = &header.episode {
            w.open_table(tables::BY_EPISODE)
                .ctx("pruning")?
                .remove((episode.as_str(), key))
                .ctx("pruning")?;
        }
        for episode in &edits {
            w.open_table(tables::BY_EPISODE)
                .ctx("pruning")?
                .remove((episode_edits::edited_key(episode).as_str(), key))
                .ctx("pruning")?;
        }
        if let Some(p) = patient {
            w.open_table(tables::BY_PATIENT)
                .ctx("pruning")?
                .remove((p.to_bytes(), key))
                .ctx("pruning")?;
        }
        if header.kind == RecordKind::Charge {
            // Never there for a pruned charge (a pending re-settlement is an open item, which
            // is kept), but no index may outlive its record.
            w.open_table(tables::RESETTLE_PENDING)
                .ctx("pruning")?
                .remove(key)
                .ctx("pruning")?;
        }
        if matches!(header.kind, RecordKind::Visit | RecordKind::Prescription) {
            // A record still waiting in a queue goes with the queue's row.
            w.open_table(tables::QUEUES)
                .ctx("pruning")?
                .remove((header.kind.code(), key))
                .ctx("pruning")?;
        }
        if let (RecordKind::Dispense, Some(rx)) = (header.kind, prescription) {
            w.open_table(tables::BY_PRESCRIPTION)
                .ctx("pruning")?
                .remove((rx.to_bytes(), key))
                .ctx("pruning")?;
        }
        // A record pulled from the HIS is indexed by its HIS key (patients are never pruned).
        self.unindex_keys(id)?;
        self.forget_holders(id)?;
        let w = self.w();
        let peers: Vec<String> = {
            let t = w.open_table(tables::PEER_STATE).ctx("pruning")?;
            let mut names = Vec::new();
            for entry in t.iter().ctx("pruning")? {
                names.push(entry.ctx("pruning")?.0.value().to_owned());
            }
            names
        };
        for peer in &peers {
            w.open_table(tables::PEER_SYNC)
                .ctx("pruning")?
                .remove((peer.as_str(), key))
                .ctx("pruning")?;
        }
        self.kept
            .digest
            .change(id, header.kind, heads.as_deref(), None);
        self.count(records_key(header.kind), -1);
        if let Some(seq) = seq {
            self.backlog_record_removed(seq)?;
        }
        self.forget(id);
        Ok(())
    }
}

impl Store {
    /// On a window: prunes up to `limit` records created before `keep_since_ms` that the
    /// window no longer keeps (see the module docs), in one commit. Central and the standby
    /// keep everything and refuse.
    pub fn prune(&self, keep_since_ms: i64, limit: usize) -> Result<Pruned, WriteError> {
        if self.role() != NodeRole::Window {
            return Err(RuleError::invalid(
                "role",
                "only windows prune: central and the standby keep every record",
            )
            .into());
        }
        let mut candidates = Vec::new();
        for kind in RecordKind::ALL {
            if kept_always(kind) {
                continue;
            }
            self.each_id_before(
                kind,
                keep_since_ms,
                limit.saturating_add(1),
                &mut candidates,
            )?;
        }
        self.write(move |tx| {
            let mut out = Pruned::default();
            let Some(central) = tx.central_cursor()? else {
                out.kept = candidates.len();
                return Ok(out);
            };
            for id in candidates {
                if out.removed >= limit {
                    out.more = true;
                    break;
                }
                let Some(doc) = tx.doc(id)? else { continue };
                let header =
                    Header::of(doc).map_err(|e| ReadError::corrupt(id, RecordDamage::Header(e)))?;
                let unreconciled = tx.is_unreconciled(id)?;
                if unreconciled || tx.has_open_items(id)? || !tx.central_holds(&central, id)? {
                    out.kept += 1;
                    continue;
                }
                tx.remove_record(id, &header)?;
                out.removed += 1;
            }
            if out.removed > 0 {
                tx.audit(AuditEvent {
                    actor: "lifeline-system".into(),
                    action: "store.prune".into(),
                    record: None,
                    changes: Vec::new(),
                    detail: Some(format!(
                        "{} records created before {keep_since_ms} removed from this window",
                        out.removed
                    )),
                })?;
            }
            Ok(out)
        })
    }
}
