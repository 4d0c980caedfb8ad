//! The information department's admin desk at a server (central or the standby, whichever is
//! up): now and then it reviews what the machine left for a person and decides one item, as
//! `lifeline merge-patients` and `lifeline resolve` do. A decision is a desk write like any
//! other: acknowledged at the server's next commit, lost if the server crashes first.
//! - A duplicate pair (`family`) merged, the second record into the first: the direction
//!   every admin picks, so that two servers deciding at once agree. The merge must then hold
//!   on every node, and no other pair be merged ([`crate::check`]).
//! - A phone written at two nodes at once, left in conflict: one of the two values chosen, a
//!   new value over both. No node may then show a conflict, and every node the chosen phone.

use lifeline_core::RecordId;
use lifeline_core::record::{Header, Patient};
use lifeline_core::review::{ConflictKind, duplicate_patients, field_conflict};

use crate::backing::Backing;
use crate::family::Pair;
use crate::sim::{Power, Sim};
use crate::work::Job;

impl<R: Backing> Sim<R> {
    /// One review at a server that is up: a merge or a resolution, whichever there is to
    /// decide (a coin picks when there are both). Returns whether it decided something.
    pub(crate) fn admin_review(&mut self) -> bool {
        let servers: Vec<usize> = (0..2.min(self.nodes.len()))
            .filter(|&n| self.nodes[n].power == Power::Up)
            .collect();
        let Some(&node) = self.work_rng.pick(&servers) else {
            return false;
        };
        let merge_first = self.work_rng.chance(0.5);
        let mut decided = false;
        for merge in [merge_first, !merge_first] {
            decided = if merge {
                self.admin_merge(node)
            } else {
                self.admin_resolve(node)
            };
            if decided {
                break;
            }
        }
        decided
    }

    /// Merges one duplicate pair flagged at `node` and not yet decided.
    fn admin_merge(&mut self, node: usize) -> bool {
        let replica = self.nodes[node].replica();
        let flagged: Vec<Pair> = self
            .ledger
            .families
            .iter()
            .filter(|pair| !self.ledger.merges_asked.contains(pair))
            .filter(|[a, b]| {
                let read = |id| replica.get::<Patient>(id).ok().flatten();
                matches!((read(*a), read(*b)), (Some(pa), Some(pb))
                    if pa.merged_into.is_none() && pb.merged_into.is_none()
                        && duplicate_patients(&pa, &pb).is_some())
            })
            .copied()
            .collect();
        let Some(&[survivor, duplicate]) = self.work_rng.pick(&flagged) else {
            return false;
        };
        self.ledger.merges_asked.push([survivor, duplicate]);
        self.faults.admin_merges += 1;
        self.enqueue(
            node,
            Job::Merge {
                survivor,
                duplicate,
            },
        );
        true
    }

    /// Settles one phone conflict open at `node` and not yet settled, choosing one of the
    /// two values.
    fn admin_resolve(&mut self, node: usize) -> bool {
        let replica = self.nodes[node].replica();
        let open: Vec<usize> = (0..self.ledger.phone_edits.len())
            .filter(|&i| !self.ledger.resolutions_asked.contains(&i))
            .filter(|&i| phone_in_conflict(replica, self.ledger.phone_edits[i].id))
            .collect();
        let Some(&edit) = self.work_rng.pick(&open) else {
            return false;
        };
        let side = self.work_rng.index(2);
        let e = &self.ledger.phone_edits[edit];
        let job = Job::Resolve {
            id: e.id,
            phone: e.phones[side].clone(),
            edit,
        };
        self.ledger.resolutions_asked.push(edit);
        self.faults.admin_resolutions += 1;
        self.enqueue(node, job);
        true
    }
}

/// Whether this replica's review flags a conflict on the patient's phone.
pub(crate) fn phone_in_conflict<R: Backing>(replica: &R, id: RecordId) -> bool {
    replica
        .with_doc(id, |doc| {
            let header = Header::of(doc).ok()?;
            field_conflict(doc, &header, "phone")
        })
        .flatten()
        .is_some_and(|c| c.kind == ConflictKind::FieldConflict)
}
