//! Which peer each record a node lacks was asked of, so that two peers offering the same
//! record at once do not both send it.
//!
//! After an outage every node offers central the same emergency records nearly at once: the
//! standby, which wrote none, offers the others' at once, and each window offers its own
//! and then the others'. Central asks the first node that offers a record it lacks, and
//! tells a second one "later": that node offers the record again after the rest of its
//! offers, by when it has most often landed from the first. A node is told "later" at most
//! once per record, so a record whose first sender never delivers (disconnected, slow) is
//! asked of the next node that offers it again: nothing waits for a peer that went away.
//!
//! Kept in memory only (it is advice, not state: a restart forgets it, and the worst that
//! costs is a record sent twice), bounded to [`MOST_ASKS`] records.

use std::collections::HashMap;

use crate::id::{NodeName, RecordId};

/// Records remembered at most; past this the registry starts afresh.
pub const MOST_ASKS: usize = 200_000;

/// What to answer a peer that offers a record this node lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// Send it.
    Now,
    /// Another peer was asked for it already: offer it again after your others.
    Later,
}

#[derive(Debug, Clone)]
struct Asked {
    of: NodeName,
    /// Peers told "later" for this record.
    deferred: Vec<NodeName>,
}

/// The peers asked for records this node lacks.
#[derive(Debug, Default, Clone)]
pub struct Asks {
    asked: HashMap<RecordId, Asked>,
}

impl Asks {
    /// `peer` offers `id`, which this node lacks.
    pub fn lacking(&mut self, peer: &NodeName, id: RecordId) -> Ask {
        if self.asked.len() >= MOST_ASKS && !self.asked.contains_key(&id) {
            self.asked.clear();
        }
        match self.asked.get_mut(&id) {
            Some(a) if a.of != *peer && !a.deferred.contains(peer) => {
                a.deferred.push(peer.clone());
                Ask::Later
            }
            Some(a) => {
                a.of = peer.clone();
                Ask::Now
            }
            None => {
                self.asked.insert(
                    id,
                    Asked {
                        of: peer.clone(),
                        deferred: Vec::new(),
                    },
                );
                Ask::Now
            }
        }
    }

    /// An offer found `id` held here: nothing is waited for any more.
    pub fn held(&mut self, id: RecordId) {
        self.asked.remove(&id);
    }

    /// Whether no record is remembered.
    pub fn is_empty(&self) -> bool {
        self.asked.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str) -> NodeName {
        NodeName::new(name).expect("name")
    }

    #[test]
    fn a_second_peer_is_told_later_once_and_then_asked() {
        let mut asks = Asks::default();
        let id = RecordId::from_bytes([7; 16]);
        let (w1, s) = (node("W01"), node("standby"));
        assert_eq!(asks.lacking(&s, id), Ask::Now);
        assert_eq!(asks.lacking(&w1, id), Ask::Later);
        // The standby offers it again (its send was lost): asked again.
        assert_eq!(asks.lacking(&s, id), Ask::Now);
        // W01 offers it again and it still has not landed: asked now, never deferred twice.
        assert_eq!(asks.lacking(&w1, id), Ask::Now);
        assert_eq!(asks.lacking(&w1, id), Ask::Now);
        asks.held(id);
        assert!(asks.is_empty());
        assert_eq!(asks.lacking(&w1, id), Ask::Now);
    }
}
