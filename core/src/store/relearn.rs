//! A lessor that lost history (restored from a backup, made anew, or its store copied back by
//! hand) may have granted number ranges it no longer knows of. Its earlier life's grants come
//! back from the members that hold them, and [`Tx::lessor_next`](crate::desk) counts them; but
//! a grant made before they are back may hand out their numbers again. A restore moves the
//! lessor's cursors on, which is not enough when two lives start from one backup (seed 6032
//! `--store`: the standby, restored from an empty backup and later from the same one again,
//! granted W01 the numbers its first restored life had granted W03).
//!
//! So a node that lost history relearns: it notes the loss (a restore writes the mark; a peer
//! that finds our feed restarted tells us with a rewind), and until it has caught up, within
//! one opening after the loss, with every member of its roster (held everything the member's
//! feed held when it greeted us), it leases nothing from its cursor. Any grant of an earlier
//! life that reached a member is then held here; one that reached no member was never used.
//!
//! A backup copied over the store by hand keeps the store's incarnation, so only a peer's
//! rewind would tell it, and only once that peer has connected: the lessor's first round may
//! fill requests before (simulator seed 14103 `--store`: the standby granted again numbers it
//! had granted before the copy). The mark beside the store tells it at its opening
//! (`store::mark`), which then stamps it as a restore does, relearning included.
//!
//! A whole data directory copied back (the store and the mark together) is told by nothing
//! on disk, and the first round after the opening came before any peer: central filled again,
//! from its cursor gone back, the requests it held unanswered in the copy, which it had
//! answered before (simulator seed 24068 `--store`: every window's range granted twice, as
//! two values of the same request's range). So a lessor answers a request only once it has
//! caught up, in this opening, with the request's holder ([`Tx::caught_up_with`]): the grant
//! of an earlier life that the holder took is back by then, and a holder that saw anything
//! of that life has rewound us first (relearning, above). A grant of an earlier life that
//! reached other members and not its holder, which then greets us first, is not covered: it
//! was never numbered from, and comes back as a second value of the request's range.

use super::error::{ReadError, StorageContext, WriteError};
use super::replication::decode_state;
use super::tables::{self, meta_keys};
use super::{Store, Tx};
use crate::id::NodeName;
use crate::roles::NodeRole;
use crate::trust::Roster;

/// The members not caught up with in `opening`, by name, of the `roster` as `me` sees it.
fn not_caught_up(
    roster: &Roster,
    me: &NodeName,
    opening: &str,
    caught_up_in: impl Fn(&NodeName) -> Result<Option<String>, ReadError>,
) -> Result<Vec<NodeName>, ReadError> {
    let mut names: Vec<&NodeName> = roster
        .members()
        .map(|m| &m.name)
        .filter(|name| *name != me && roster.member_named(name.as_str()).is_some())
        .collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        if caught_up_in(name)?.as_deref() != Some(opening) {
            out.push(name.clone());
        }
    }
    Ok(out)
}

/// The opening in which this node last caught up with `peer`, from the peer state table.
fn caught_up_in(
    peers: &impl redb::ReadableTable<&'static str, &'static [u8]>,
    peer: &NodeName,
) -> Result<Option<String>, ReadError> {
    let state = peers
        .get(peer.as_str())
        .ctx("reading peer state")?
        .map(|v| decode_state(v.value()));
    Ok(state.and_then(|s| s.caught_up_in))
}

impl Tx<'_, '_> {
    /// The members this node must still catch up with before it leases from its cursor again
    /// (empty when it lost no history, or has relearned it).
    pub(crate) fn leasing_held_for(&mut self) -> Result<Vec<NodeName>, ReadError> {
        let Some(opening) = self.meta(meta_keys::RELEARNING)? else {
            return Ok(Vec::new());
        };
        let (roster, me) = (self.roster(), self.node().clone());
        let peers = self
            .w()
            .open_table(tables::PEER_STATE)
            .ctx("reading peer state")?;
        not_caught_up(&roster, &me, &opening, |name| caught_up_in(&*peers, name))
    }

    /// Whether this node holds everything `peer`'s feed held when it greeted us in this
    /// opening (always, for this node itself).
    pub(crate) fn caught_up_with(&mut self, peer: &NodeName) -> Result<bool, ReadError> {
        if peer == self.node() {
            return Ok(true);
        }
        let opening = self.opening_id();
        let peers = self
            .w()
            .open_table(tables::PEER_STATE)
            .ctx("reading peer state")?;
        Ok(caught_up_in(&*peers, peer)?.as_deref() == Some(opening.as_str()))
    }

    /// Ends the relearning once every member is caught up with.
    fn relearned_if_caught_up(&mut self) -> Result<(), ReadError> {
        if self.meta(meta_keys::RELEARNING)?.is_some() && self.leasing_held_for()?.is_empty() {
            tracing::info!(
                "caught up with every member since this node lost history: it leases from its cursor again"
            );
            self.set_meta(meta_keys::RELEARNING, None)?;
        }
        Ok(())
    }
}

impl Store {
    /// A peer found our feed restarted (it rewinds us): this node lost history it may have
    /// leased from, and relearns it in this opening.
    pub fn note_history_lost(&self) -> Result<(), WriteError> {
        self.write(|tx| {
            let opening = tx.opening_id();
            if tx.meta(meta_keys::RELEARNING)?.as_deref() != Some(opening.as_str()) {
                tracing::warn!("this node lost history: it leases nothing from its cursor until it has caught up with every member");
                tx.set_meta(meta_keys::RELEARNING, Some(&opening))?;
                // Catching up earlier in this opening counts: the loss came before it.
                tx.relearned_if_caught_up()?;
            }
            Ok(())
        })
    }

    /// We hold everything `peer`'s feed held when it greeted us in this opening.
    pub fn note_caught_up(&self, peer: &NodeName) -> Result<(), WriteError> {
        let peer = peer.clone();
        self.write(move |tx| {
            let opening = tx.opening_id();
            tx.update_peer_state(&peer, |s| s.caught_up_in = Some(opening))?;
            tx.relearned_if_caught_up()?;
            Ok(())
        })
    }

    /// At an opening, a relearning not finished carries on in this opening (what was caught
    /// up with in an earlier one is caught up with again).
    pub(super) fn relearn_in_this_opening(&self) -> Result<(), WriteError> {
        if self.meta_text(meta_keys::RELEARNING)?.is_none() {
            return Ok(());
        }
        self.write(|tx| {
            let opening = tx.opening_id();
            tx.set_meta(meta_keys::RELEARNING, Some(&opening))?;
            Ok(())
        })
    }

    /// The server this node waits to catch up with before it pulls from the HIS, while it
    /// relearns the history it lost: the other server (central's standby, the standby's
    /// central), which holds what this node pulled since its backup. A pull before would make
    /// second records of the HIS patients whose records are on their way back, and one of a
    /// patient the HIS merged meanwhile would stay live (simulator seed 8075 `--store`).
    /// `None`: it may pull.
    pub fn his_pull_waits_for(&self) -> Result<Option<NodeName>, ReadError> {
        let Some(opening) = self.meta_text(meta_keys::RELEARNING)? else {
            return Ok(None);
        };
        let roster = self.roster();
        let other = roster
            .members()
            .filter(|m| {
                &m.name != self.node()
                    && matches!(m.role, NodeRole::Central | NodeRole::Standby)
                    && roster.member_named(m.name.as_str()).is_some()
            })
            .map(|m| m.name.clone())
            .min();
        let Some(other) = other else {
            return Ok(None);
        };
        let caught_up = self.peer_state(&other)?.caught_up_in == Some(opening);
        Ok((!caught_up).then_some(other))
    }

    /// The holders of lease requests this lessor's last fill ([`Store::fill_lease_requests`],
    /// every housekeeping round) left unanswered because it had not caught up with them in
    /// this opening (see the module's documentation), by name. Kept in memory by the fill, so
    /// that `status` reads it without reading every lease.
    pub fn requests_wait_for(&self) -> Vec<NodeName> {
        self.shared
            .requests_waiting
            .lock()
            .map(|w| w.clone())
            .unwrap_or_default()
    }

    /// The members this node must catch up with before it leases from its cursor again: empty
    /// unless it lost history (see the module's documentation).
    pub fn leasing_held_for(&self) -> Result<Vec<NodeName>, ReadError> {
        let Some(opening) = self.meta_text(meta_keys::RELEARNING)? else {
            return Ok(Vec::new());
        };
        not_caught_up(&self.roster(), self.node(), &opening, |name| {
            Ok(self.peer_state(name)?.caught_up_in)
        })
    }
}
