//! Receive-side permissions: what a peer may send us.
//!
//! Checked for every record in every batch, against the peer's certificate (name, role and
//! desk roles) and the nodes that authored the new changes (named in their Automerge actor
//! ids). Only central authors catalog changes. A window may send records of the kinds its
//! desks write; records it relays from other nodes are accepted when their authors are known
//! nodes allowed to write them. Central and the standby are full replicas and relay anything
//! but catalogs written by someone other than central.

use std::collections::BTreeMap;

use lifeline_core::record::Header;
use lifeline_core::store::Refusal;
use lifeline_core::{DeskRole, NodeName, NodeRole};

use crate::identity::NodeIdentity;

/// The nodes this node knows, from its configuration and the certificates it has seen.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    nodes: BTreeMap<String, (NodeRole, Vec<DeskRole>)>,
}

/// The roster as sessions share it: connections add to it while sessions run.
pub type SharedRoster = std::sync::Arc<std::sync::RwLock<Roster>>;

impl Roster {
    pub fn new() -> Self {
        Roster::default()
    }

    pub fn shared(self) -> SharedRoster {
        std::sync::Arc::new(std::sync::RwLock::new(self))
    }

    /// A node known only by its configured role (its desks are learned when it connects).
    pub fn learn_role(&mut self, name: &NodeName, role: NodeRole) {
        self.nodes
            .entry(name.to_string())
            .or_insert((role, Vec::new()));
    }

    pub fn learn(&mut self, id: &NodeIdentity) {
        self.nodes
            .insert(id.name.to_string(), (id.role, id.desks.clone()));
    }

    pub fn role_of(&self, node: &str) -> Option<NodeRole> {
        self.nodes.get(node).map(|(r, _)| *r)
    }

    fn may_write(&self, node: &str, header: &Header) -> bool {
        match self.nodes.get(node) {
            Some((NodeRole::Central, _)) => true,
            Some((_, _)) if header.kind.is_catalog() => false,
            Some((NodeRole::Standby, _)) => true,
            Some((NodeRole::Window, desks)) => {
                header.kind.is_node_record() || desks.iter().any(|d| d.may_write(header.kind))
            }
            None => false,
        }
    }
}

/// Decides whether changes to one record, authored by `authors`, may be taken from `peer`.
pub fn check(
    roster: &Roster,
    peer: &NodeIdentity,
    header: &Header,
    authors: &[String],
) -> Result<(), Refusal> {
    let kind = header.kind;
    if kind.is_catalog() {
        // Windows may relay catalogs among themselves (isolated mode), but only changes
        // central wrote.
        if let Some(a) = authors
            .iter()
            .find(|a| roster.role_of(a) != Some(NodeRole::Central))
        {
            return Err(Refusal::CatalogNotFromCentral { author: a.clone() });
        }
        return Ok(());
    }
    for author in authors {
        let allowed = if author == peer.name.as_str() {
            match peer.role {
                NodeRole::Central | NodeRole::Standby => true,
                NodeRole::Window => {
                    kind.is_node_record() || peer.desks.iter().any(|d| d.may_write(kind))
                }
            }
        } else {
            match peer.role {
                // Servers are full replicas and relay what others wrote.
                NodeRole::Central | NodeRole::Standby => true,
                // A node's own bookkeeping (its episode entry, its range requests) is
                // relayed even for a node not met yet; desk records only for known nodes
                // allowed to write them.
                NodeRole::Window => kind.is_node_record() || roster.may_write(author, header),
            }
        };
        if !allowed {
            return Err(Refusal::KindNotAllowed {
                author: author.clone(),
                kind,
                sender: peer.name.clone(),
                sender_role: peer.role,
            });
        }
    }
    Ok(())
}

/// A hello that names another node than the peer's certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("hello names {claimed:?} but the certificate names {certified}")]
pub struct HelloNameMismatch {
    /// The name the hello gives.
    pub claimed: String,
    /// The name the peer's certificate carries.
    pub certified: NodeName,
}

/// A peer that names itself in its hello must be the node its certificate names.
pub fn check_hello_name(peer: &NodeIdentity, claimed: &str) -> Result<NodeName, HelloNameMismatch> {
    if claimed == peer.name.as_str() {
        Ok(peer.name.clone())
    } else {
        Err(HelloNameMismatch {
            claimed: claimed.to_owned(),
            certified: peer.name.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeline_core::{EpisodeId, OperatorName, RecordId, RecordKind};

    fn id(name: &str, role: NodeRole, desks: &[DeskRole]) -> NodeIdentity {
        NodeIdentity::new(NodeName::new(name).expect("valid"), role, desks.to_vec())
    }

    fn header(kind: RecordKind) -> Header {
        Header {
            id: RecordId::generate(),
            kind,
            origin: NodeName::new("W01").expect("valid"),
            operator: OperatorName::new("x").expect("valid"),
            created_ms: 0,
            episode: None::<EpisodeId>,
            paper: None,
        }
    }

    #[test]
    fn only_central_authors_catalogs() {
        let central = id("central", NodeRole::Central, &[]);
        let standby = id("standby", NodeRole::Standby, &[]);
        let w01 = id("W01", NodeRole::Window, &[DeskRole::Admin]);
        let mut roster = Roster::new();
        for n in [&central, &standby, &w01] {
            roster.learn(n);
        }
        let cat = header(RecordKind::DrugCatalog);
        assert!(check(&roster, &central, &cat, &["central".into()]).is_ok());
        assert!(check(&roster, &standby, &cat, &["central".into()]).is_ok());
        assert!(check(&roster, &standby, &cat, &["standby".into()]).is_err());
        // A window may relay central's catalog (isolated mode), never its own.
        assert!(check(&roster, &w01, &cat, &["central".into()]).is_ok());
        assert!(check(&roster, &w01, &cat, &["W01".into()]).is_err());
    }

    #[test]
    fn windows_write_their_desks_kinds_and_relay_known_authors() {
        let w01 = id("W01", NodeRole::Window, &[DeskRole::Registration]);
        let w02 = id("W02", NodeRole::Window, &[DeskRole::Cashier]);
        let mut roster = Roster::new();
        roster.learn(&w01);
        roster.learn(&w02);
        assert!(check(&roster, &w01, &header(RecordKind::Patient), &["W01".into()]).is_ok());
        let err = check(&roster, &w01, &header(RecordKind::Invoice), &["W01".into()]).unwrap_err();
        assert!(
            matches!(
                err,
                Refusal::KindNotAllowed {
                    kind: RecordKind::Invoice,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("may not write invoice"), "{err}");
        // W01 relays W02's invoice: W02 is a known cashier.
        assert!(check(&roster, &w01, &header(RecordKind::Invoice), &["W02".into()]).is_ok());
        // Episodes and range requests are the node's own, whatever its desks.
        assert!(check(&roster, &w01, &header(RecordKind::Episode), &["W01".into()]).is_ok());
        // ... but not an invoice from a node nobody knows.
        assert!(check(&roster, &w01, &header(RecordKind::Invoice), &["W99".into()]).is_err());
    }

    #[test]
    fn a_hello_must_name_the_certificate_s_node() {
        let w01 = id("W01", NodeRole::Window, &[]);
        assert_eq!(check_hello_name(&w01, "W01"), Ok(w01.name.clone()));
        let err = check_hello_name(&w01, "central").unwrap_err();
        assert_eq!(err.certified, w01.name);
        assert_eq!(err.claimed, "central");
    }
}
