//! The roster in the store: the members (certified keys) and revocations this node holds,
//! kept durably and in memory ([`Store::roster`]), so that signatures are checked without a
//! read. Members and revocations come checked against the CA by the caller (lifeline-sync).

use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable};

use super::error::{ReadError, StorageContext, WriteError};
use super::tables;
use super::{Store, audit::AuditEvent};
use crate::trust::{Admitted, Member, Revocation, Roster};

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Every entry of a roster table, decoded.
fn entries<T: serde::de::DeserializeOwned>(
    r: &redb::ReadTransaction,
    table: redb::TableDefinition<tables::Hash, &[u8]>,
    what: &'static str,
) -> Result<Vec<T>, ReadError> {
    let t = r.open_table(table).ctx("reading the roster")?;
    let mut out = Vec::new();
    for entry in t.iter().ctx("reading the roster")? {
        let (_, v) = entry.ctx("reading the roster")?;
        out.push(serde_json::from_slice(v.value()).map_err(ReadError::undecodable(what))?);
    }
    Ok(out)
}

/// Reads the roster tables (at open).
pub(super) fn load(db: &impl ReadableDatabase) -> Result<Roster, ReadError> {
    let r = db.begin_read().ctx("reading the roster")?;
    let mut roster = Roster::new();
    for member in entries::<Member>(&r, tables::ROSTER, "roster member")? {
        roster.admit(member);
    }
    for revocation in entries::<Revocation>(&r, tables::REVOKED, "revocation")? {
        roster.revoke(revocation);
    }
    Ok(roster)
}

impl super::Shared {
    /// Every member and revocation the node holds, for the store and its batches alike.
    pub(super) fn current_roster(&self) -> Arc<Roster> {
        self.roster
            .read()
            .map(|r| Arc::clone(&r))
            .unwrap_or_default()
    }
}

impl Store {
    /// Every member and revocation this node holds.
    pub fn roster(&self) -> Arc<Roster> {
        self.shared.current_roster()
    }

    /// Admits a member whose certificate the caller checked against the CA. Durable before
    /// it counts; audited when new.
    pub fn admit_member(&self, member: Member) -> Result<Admitted, WriteError> {
        if (*self.roster()).clone().admit(member.clone()) == Admitted::Known {
            return Ok(Admitted::Known);
        }
        let kept = member.clone();
        self.write(move |tx| {
            let member = kept;
            tx.w()
                .open_table(tables::ROSTER)
                .ctx("writing the roster")?
                .insert(member.key_id().0, encode(&member).as_slice())
                .ctx("writing the roster")?;
            tx.audit(AuditEvent {
                actor: "roster".into(),
                action: "roster.admit".into(),
                record: None,
                changes: Vec::new(),
                detail: Some(format!(
                    "{} ({}) key {}",
                    member.name,
                    member.role,
                    member.key_id()
                )),
            })?;
            Ok(())
        })?;
        self.replace_roster(|r| {
            r.admit(member);
        });
        Ok(Admitted::New)
    }

    /// Records a revocation whose CA signature the caller checked. From then on the key's
    /// signatures are refused for every change this node does not hold yet.
    pub fn revoke(&self, revocation: Revocation) -> Result<Admitted, WriteError> {
        if self.roster().is_revoked(&revocation.key) {
            return Ok(Admitted::Known);
        }
        let kept = revocation.clone();
        self.write(move |tx| {
            tx.w()
                .open_table(tables::REVOKED)
                .ctx("writing the roster")?
                .insert(kept.key.0, encode(&kept).as_slice())
                .ctx("writing the roster")?;
            tx.audit(AuditEvent {
                actor: "roster".into(),
                action: "roster.revoke".into(),
                record: None,
                changes: Vec::new(),
                detail: Some(format!("{} key {}: {}", kept.name, kept.key, kept.reason)),
            })?;
            Ok(())
        })?;
        tracing::warn!(node = %revocation.name, key = %revocation.key.short(), "a node's key was revoked");
        self.replace_roster(|r| {
            r.revoke(revocation.clone());
        });
        Ok(Admitted::New)
    }

    fn replace_roster(&self, f: impl FnOnce(&mut Roster)) {
        if let Ok(mut shared) = self.shared.roster.write() {
            let mut next = (**shared).clone();
            f(&mut next);
            *shared = Arc::new(next);
        }
    }
}
