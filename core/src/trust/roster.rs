//! The roster: every node this node knows, by the key its certificate certifies, and the keys
//! the hospital CA revoked. It is replicated: each node sends its peers every member and
//! revocation it holds, and each receiver checks them against the CA itself (lifeline-sync
//! does, for core knows nothing of certificates) before admitting them here. So a window can
//! check a change written by a node it never met.
//!
//! A member's rights come from its certificate: its role, and for a window its desks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::key::{KeyId, PublicKey};
use crate::clock::UnixMs;
use crate::id::NodeName;
use crate::record::RecordKind;
use crate::roles::{DeskRole, NodeRole};

/// One node's certified key, with the rights its certificate gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: NodeName,
    pub role: NodeRole,
    /// The desks of a window (servers have rights by their role).
    pub desks: Vec<DeskRole>,
    pub key: PublicKey,
    /// What proves the member (its certificate, DER), relayed to peers so that each checks it
    /// against the CA itself. Empty for a member made from an uncertified key (tests and
    /// benchmarks), which no peer admits from the network.
    #[serde(with = "hex_bytes", default)]
    pub credential: Vec<u8>,
}

impl Member {
    pub fn key_id(&self) -> KeyId {
        self.key.id()
    }

    /// The rights this member's certificate gives.
    pub fn rights(&self) -> Rights<'_> {
        Rights {
            role: self.role,
            desks: &self.desks,
        }
    }
}

/// What a node may write and serve, by its certificate: central writes everything, the
/// standby everything but catalogs and receipts, a window the kinds its desks write and its own
/// bookkeeping (episodes, range requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rights<'a> {
    pub role: NodeRole,
    pub desks: &'a [DeskRole],
}

impl Rights<'_> {
    pub fn may_write(&self, kind: RecordKind) -> bool {
        match self.role {
            NodeRole::Central => true,
            _ if kind.is_central_only() => false,
            NodeRole::Standby => true,
            NodeRole::Window => {
                kind.is_node_record() || self.desks.iter().any(|d| d.may_write(kind))
            }
        }
    }

    /// Whether a person may work at `desk` on this node: servers serve every desk, a window
    /// only the desks its certificate names.
    pub fn serves_desk(&self, desk: DeskRole) -> bool {
        match self.role {
            NodeRole::Central | NodeRole::Standby => true,
            NodeRole::Window => self.desks.contains(&desk),
        }
    }

    /// Whether the node acts for the information department (closes episodes for everyone).
    pub fn administers(&self) -> bool {
        self.role != NodeRole::Window || self.desks.contains(&DeskRole::Admin)
    }
}

/// The CA's word that a node's key must no longer be trusted (a stolen window PC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub name: NodeName,
    pub key: KeyId,
    pub revoked_ms: UnixMs,
    pub reason: String,
    /// The CA-signed statement, relayed to peers so that each checks it against the CA.
    #[serde(with = "hex_bytes")]
    pub proof: Vec<u8>,
}

/// Every member and revocation a node holds.
#[derive(Debug, Clone)]
pub struct Roster {
    members: BTreeMap<KeyId, Member>,
    revoked: BTreeMap<KeyId, Revocation>,
    /// Which roster this one was grown from, and how many of its changes could judge a
    /// change already judged differently (see [`Roster::judges_like`]). Not part of what
    /// the roster says: equality is by members and revocations.
    lineage: Lineage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lineage {
    /// Unique to each [`Roster::new`] in this process, kept by its clones.
    origin: u64,
    /// Revocations, members replaced, and second keys of a name, since `origin`.
    changes: u64,
}

impl Default for Roster {
    fn default() -> Self {
        static ORIGINS: AtomicU64 = AtomicU64::new(0);
        Roster {
            members: BTreeMap::new(),
            revoked: BTreeMap::new(),
            lineage: Lineage {
                origin: ORIGINS.fetch_add(1, Ordering::Relaxed),
                changes: 0,
            },
        }
    }
}

impl PartialEq for Roster {
    fn eq(&self, other: &Self) -> bool {
        self.members == other.members && self.revoked == other.revoked
    }
}

impl Eq for Roster {}

/// What admitting a member or a revocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    New,
    Known,
}

impl Roster {
    pub fn new() -> Roster {
        Roster::default()
    }

    /// Adds a member (checked against the CA by the caller). A member already known keeps the
    /// credential it has unless it had none.
    pub fn admit(&mut self, member: Member) -> Admitted {
        match self.members.get_mut(&member.key_id()) {
            Some(known) if *known == member => Admitted::Known,
            Some(known) if !known.credential.is_empty() && member.credential.is_empty() => {
                Admitted::Known
            }
            Some(known) => {
                *known = member;
                self.lineage.changes += 1;
                Admitted::New
            }
            None => {
                // A second key of a name changes which member the name stands for.
                if self.members.values().any(|m| m.name == member.name) {
                    self.lineage.changes += 1;
                }
                self.members.insert(member.key_id(), member);
                Admitted::New
            }
        }
    }

    /// Whether every change judged under `earlier` is judged alike under this roster: this
    /// one was grown from `earlier` only by admitting nodes it did not know (a change is
    /// judged by its signers' members and revocations, which such an admission leaves as
    /// they were: a change by an unknown signer was refused, never accepted). A revocation,
    /// a member replaced or a second key of a known name in between, or rosters of
    /// different origins, answer false. A store's merge prepared ahead of its writer is
    /// kept through the first window connecting after an outage this way.
    pub fn judges_like(&self, earlier: &Roster) -> bool {
        // Fewer members on the same lineage: this one is the older of the two.
        self.lineage == earlier.lineage && self.members.len() >= earlier.members.len()
    }

    /// Records a revocation (checked against the CA by the caller).
    pub fn revoke(&mut self, revocation: Revocation) -> Admitted {
        if self.revoked.contains_key(&revocation.key) {
            return Admitted::Known;
        }
        self.revoked.insert(revocation.key, revocation);
        self.lineage.changes += 1;
        Admitted::New
    }

    pub fn member(&self, key: &KeyId) -> Option<&Member> {
        self.members.get(key)
    }

    pub fn revocation(&self, key: &KeyId) -> Option<&Revocation> {
        self.revoked.get(key)
    }

    pub fn is_revoked(&self, key: &KeyId) -> bool {
        self.revoked.contains_key(key)
    }

    /// A member named `name` whose key is not revoked (the newest certificate first is not
    /// knowable here; any will do for a name's role, which certificates of one node share).
    pub fn member_named(&self, name: &str) -> Option<&Member> {
        self.members
            .values()
            .find(|m| m.name.as_str() == name && !self.is_revoked(&m.key_id()))
    }

    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    pub fn revocations(&self) -> impl Iterator<Item = &Revocation> {
        self.revoked.values()
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// Bytes as hex in JSON.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::SigningKey;

    fn member(name: &str, role: NodeRole, desks: &[DeskRole]) -> Member {
        let key = SigningKey::generate(NodeName::new(name).expect("valid")).expect("key");
        Member {
            name: key.author().clone(),
            role,
            desks: desks.to_vec(),
            key: key.public_key().clone(),
            credential: Vec::new(),
        }
    }

    #[test]
    fn rights_follow_the_certificate() {
        let w = member("W01", NodeRole::Window, &[DeskRole::Registration]);
        assert!(w.rights().may_write(RecordKind::Patient));
        assert!(w.rights().may_write(RecordKind::Lease));
        assert!(!w.rights().may_write(RecordKind::Invoice));
        assert!(!w.rights().serves_desk(DeskRole::Cashier));
        assert!(!w.rights().administers());
        let admin = member("W02", NodeRole::Window, &[DeskRole::Admin]);
        assert!(!admin.rights().may_write(RecordKind::DrugCatalog));
        let standby = member("standby", NodeRole::Standby, &[]);
        assert!(standby.rights().may_write(RecordKind::Charge));
        assert!(!standby.rights().may_write(RecordKind::ServiceCatalog));
        assert!(!standby.rights().may_write(RecordKind::Receipt));
        assert!(!admin.rights().may_write(RecordKind::Receipt));
        assert!(standby.rights().serves_desk(DeskRole::Pharmacy));
    }

    #[test]
    fn revoked_keys_are_known_and_their_names_fall_back_to_others() {
        let mut roster = Roster::new();
        let old = member("W07", NodeRole::Window, &[DeskRole::Cashier]);
        let new = member("W07", NodeRole::Window, &[DeskRole::Cashier]);
        assert_eq!(roster.admit(old.clone()), Admitted::New);
        assert_eq!(roster.admit(old.clone()), Admitted::Known);
        roster.admit(new.clone());
        let revocation = Revocation {
            name: old.name.clone(),
            key: old.key_id(),
            revoked_ms: 1,
            reason: "stolen".into(),
            proof: vec![1],
        };
        assert_eq!(roster.revoke(revocation.clone()), Admitted::New);
        assert_eq!(roster.revoke(revocation), Admitted::Known);
        assert!(roster.is_revoked(&old.key_id()));
        assert_eq!(
            roster.member_named("W07").map(Member::key_id),
            Some(new.key_id())
        );
        let json = serde_json::to_string(&new).expect("json");
        assert_eq!(serde_json::from_str::<Member>(&json).expect("back"), new);
    }

    #[test]
    fn only_admitting_unknown_nodes_keeps_a_roster_judging_alike() {
        let w01 = member("W01", NodeRole::Window, &[DeskRole::Registration]);
        let mut earlier = Roster::new();
        earlier.admit(w01.clone());
        let mut later = earlier.clone();
        assert!(later.judges_like(&earlier));
        later.admit(member("W02", NodeRole::Window, &[DeskRole::Cashier]));
        later.admit(w01.clone());
        assert!(later.judges_like(&earlier), "a node first seen, one known");
        assert!(!earlier.judges_like(&later), "the older of the two");

        let mut second_key = earlier.clone();
        second_key.admit(member("W01", NodeRole::Window, &[DeskRole::Registration]));
        assert!(!second_key.judges_like(&earlier), "a second key of W01");

        let mut replaced = earlier.clone();
        let mut with_credential = w01.clone();
        with_credential.credential = vec![1, 2, 3];
        assert_eq!(replaced.admit(with_credential), Admitted::New);
        assert!(!replaced.judges_like(&earlier), "W01's member replaced");

        let mut revoked = earlier.clone();
        revoked.revoke(Revocation {
            name: w01.name.clone(),
            key: w01.key_id(),
            revoked_ms: 1,
            reason: "stolen".into(),
            proof: vec![1],
        });
        assert!(!revoked.judges_like(&earlier), "W01 revoked");

        let mut elsewhere = Roster::new();
        elsewhere.admit(w01);
        assert_eq!(elsewhere, earlier, "the same members and revocations");
        assert!(
            !elsewhere.judges_like(&earlier),
            "a roster of another origin"
        );
    }
}
