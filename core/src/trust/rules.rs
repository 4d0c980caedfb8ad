//! The rules every replica applies to a record's new changes before it keeps them, the same
//! on every node (the store and the in-memory test replica both call [`Judge::judge`]), and
//! the same on a node's own writes before it saves them ([`Authorship::Own`]):
//!
//! 1. **Who wrote each change**: the node whose certified key signed its hash
//!    ([`super::Signatures`]), and that node must be the one its Automerge actor id names.
//! 2. **What that node may write**: the record's kind by its certificate (catalogs and
//!    receipts only central; the standby everything else; a window its desks' kinds and its
//!    own episodes and range requests).
//! 3. **Which fields**: the header only in the change that creates the record, by the node it
//!    names as origin; `central_ack` only by central; a lease's range only by a lessor
//!    (central or the standby), within the size limit, in the lessor's half of the numbers,
//!    overlapping no range this node knows (a grant that lost a concurrent write to the range
//!    this node holds grants nothing and is not judged), its spoiled numbers only by its
//!    holder; the number on a visit or an invoice only by its creating change (or a
//!    server's HIS pull); an episode's entry for a node only by that node,
//!    its close only by a server or an administering node (or once every node has left), its
//!    merge only into an earlier episode this node knows.
//! 4. **Statuses only forward**: no state is ever removed from a record's status log.
//! 5. **Whole and valid**: the record, with the changes, reads as its kind (every field of the
//!    right type, every enum value known, a status this version knows, names without control
//!    or bidirectional-override characters).
//!
//! Each broken rule is one [`Breach`]. Nothing here touches storage: what the rules need to
//! know of other records comes through [`Knowledge`].

use std::borrow::Cow;
use std::collections::BTreeSet;

use automerge::{ActorId, Automerge, Change, ChangeHash};

pub use super::breach::{Breach, LeaseProblem};
use super::paths::{Field, SoleChange, touched};
use super::roster::{Member, Roster};
use super::signed::{CommitId, Held, Signatures};
use super::validate::validate_reading;
use crate::clock::UnixMs;
use crate::id::{EpisodeId, NodeName, RecordId};
use crate::numbers::{MAX_LEASE, STANDBY_LESSOR_BASE, Series};
use crate::record::{Episode, Header, Lease, LeasedRange, RecordKind, Snapshot};
use crate::roles::NodeRole;
use crate::status::StatusLog;

/// A granted number range, as a question to [`Knowledge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub series: Series,
    pub start: u64,
    pub end: u64,
}

/// What [`Knowledge`] answers: a thing it found, none, or that it could not read.
pub type Answer<T> = Result<Option<T>, Unknowable>;

/// What the rules need to know of the other records this node holds.
pub trait Knowledge {
    /// A lease record other than `except` whose granted range overlaps `grant`.
    fn overlapping_range(&self, grant: Grant, except: RecordId) -> Answer<RecordId>;

    /// When the episode `id` was opened, if this node holds it.
    fn episode_opened_ms(&self, id: &EpisodeId) -> Answer<UnixMs>;
}

/// This node could not read what a rule needs (a storage error, logged where it happened).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this node could not read {what}")]
pub struct Unknowable {
    pub what: &'static str,
}

/// How the authors of changes are known.
pub enum Authorship<'a> {
    /// From the signatures that came with the changes: the only way nodes work.
    Signed {
        signatures: &'a mut Signatures,
        /// Whether this node keeps a signed commit already (verified when kept).
        held: &'a Held<'a>,
    },
    /// From the Automerge actor ids, unchecked: no node runs so; only the replication
    /// benchmark (signatures' cost) and the fuzz targets (the rules behind them) do.
    UncheckedActorIds,
    /// This node's own changes, made in the commit being written (signed when it commits):
    /// their author is this member by construction; what it may write is still judged, so that
    /// a desk never hears "saved" for a change every other node would refuse.
    Own(&'a Member),
}

impl std::fmt::Debug for Authorship<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Authorship::Signed { signatures, .. } => write!(f, "Signed({signatures:?})"),
            Authorship::UncheckedActorIds => f.write_str("UncheckedActorIds"),
            Authorship::Own(member) => write!(f, "Own({})", member.name),
        }
    }
}

/// A record whose new changes passed every rule: its header, and the signed commit of each
/// new change, to keep beside it.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub header: Header,
    pub signed_by: Vec<(ChangeHash, CommitId)>,
    /// The record as the rules read it, when it is a patient (the store's indexes read its
    /// identifying fields).
    pub patient: Option<Box<crate::record::Patient>>,
}

/// The rules, with what they judge by.
pub struct Judge<'a> {
    pub roster: &'a Roster,
    pub authorship: Authorship<'a>,
    pub knowledge: &'a dyn Knowledge,
}

impl std::fmt::Debug for Judge<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Judge")
            .field("members", &self.roster.len())
            .field("authorship", &self.authorship)
            .finish_non_exhaustive()
    }
}

/// A record's new changes, as the rules see them.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The record's header, as `after` says it.
    pub header: &'a Header,
    /// Our copy before the changes, if we have one.
    pub before: Option<&'a Automerge>,
    /// The record with the changes, read through a snapshot (the merge read its header
    /// through the same one).
    pub after: &'a Snapshot<'a>,
    /// The changes `after` has that `before` has not.
    pub changes: &'a NewChanges,
}

/// The changes a record's document has that our copy has not, as the rules read them.
#[derive(Debug)]
pub enum NewChanges {
    /// Each change whole (Automerge's `get_changes`): the fields it writes are found by
    /// decoding its operations.
    Built(Vec<Change>),
    /// A new record's only change, read off its document ([`SoleChange::of`]).
    Sole(SoleChange),
}

impl NewChanges {
    /// The changes of `view`'s document after `old_heads` (none for a new record): a new
    /// record made by one change (nearly every record a new node receives, and every record
    /// a desk creates) read off its document, any other change rebuilt.
    pub fn since(view: &Snapshot<'_>, old_heads: &[ChangeHash]) -> NewChanges {
        let sole = old_heads.is_empty().then(|| SoleChange::of(view)).flatten();
        match sole {
            Some(sole) => NewChanges::Sole(sole),
            None => NewChanges::Built(view.doc().get_changes(old_heads)),
        }
    }
}

/// One new change as the rules read it.
struct Seen<'c> {
    hash: ChangeHash,
    actor: &'c ActorId,
    /// It depends on no other change.
    first: bool,
    writes: Writes<'c>,
}

/// Where the fields a change writes are read.
enum Writes<'c> {
    Decoded(&'c Change),
    Known(&'c BTreeSet<Field>),
}

impl<'c> Seen<'c> {
    fn all(changes: &'c NewChanges) -> Vec<Seen<'c>> {
        match changes {
            NewChanges::Built(changes) => changes
                .iter()
                .map(|change| Seen {
                    hash: change.hash(),
                    actor: change.actor_id(),
                    first: change.deps().is_empty(),
                    writes: Writes::Decoded(change),
                })
                .collect(),
            NewChanges::Sole(sole) => vec![Seen {
                hash: sole.hash,
                actor: &sole.actor,
                first: true,
                writes: Writes::Known(&sole.fields),
            }],
        }
    }

    fn fields(&self, after: &Automerge) -> Result<Cow<'c, BTreeSet<Field>>, Breach> {
        match self.writes {
            Writes::Decoded(change) => touched(after, change)
                .map(Cow::Owned)
                .map_err(|e| Breach::Unreadable(e.into())),
            Writes::Known(fields) => Ok(Cow::Borrowed(fields)),
        }
    }
}

/// One new change, with who signed it.
struct Authored<'c> {
    change: Seen<'c>,
    author: Member,
    commit: Option<CommitId>,
}

impl Judge<'_> {
    /// A signed commit that came with the changes judged, by id, to keep beside them.
    pub fn commit(&self, id: &CommitId) -> Option<&super::SignedCommit> {
        match &self.authorship {
            Authorship::Signed { signatures, .. } => signatures.commit(id),
            Authorship::UncheckedActorIds | Authorship::Own(_) => None,
        }
    }

    /// Judges a record's new changes. Never panics on a peer's changes: a failure inside is
    /// a breach.
    pub fn judge(&mut self, incoming: &Incoming<'_>) -> Result<Verdict, Breach> {
        crate::error::contained(|| self.judge_inner(incoming)).unwrap_or(Err(Breach::CheckPanicked))
    }

    fn judge_inner(&mut self, incoming: &Incoming<'_>) -> Result<Verdict, Breach> {
        let Incoming {
            header,
            before,
            after,
            changes,
        } = *incoming;
        let view = after;
        let after = view.doc();
        let old_header = before.and_then(|d| Header::of(d).ok());
        if let Some(old) = &old_header
            && old != header
        {
            return Err(Breach::HeaderRewritten);
        }
        let seen = Seen::all(changes);
        let mut authored = Vec::with_capacity(seen.len());
        for change in seen {
            authored.push(self.author_of(change)?);
        }
        let mut range_authors = Vec::new();
        for a in &authored {
            check_kind(&a.author, header.kind)?;
            // A catalog has a fixed id: a central rebuilt from nothing creates it again, and
            // its header is the same (`HeaderRewritten` above); only central writes catalogs.
            let creation = (old_header.is_none() || header.kind.is_catalog()) && a.change.first;
            let fields = a.change.fields(after)?;
            for field in fields.iter() {
                self.check_field(header, after, a, creation, field)?;
                if header.kind == RecordKind::Lease && field.top == "range" {
                    range_authors.push(a.author.clone());
                }
            }
        }
        if let Some(before) = before {
            check_status_forward(before, view)?;
        }
        let patient = validate_reading(header.kind, view).map_err(|source| Breach::Invalid {
            kind: header.kind,
            source,
        })?;
        if !range_authors.is_empty() && !shows_held_range(before, after) {
            self.check_granted_range(header, after, &range_authors)?;
        }
        Ok(Verdict {
            header: header.clone(),
            signed_by: authored
                .iter()
                .filter_map(|a| a.commit.map(|c| (a.change.hash, c)))
                .collect(),
            patient: patient.map(Box::new),
        })
    }

    /// The member who wrote a change: its signer, who must be the node its actor id names.
    fn author_of<'c>(&mut self, change: Seen<'c>) -> Result<Authored<'c>, Breach> {
        let claimed = super::actor_node(change.actor).unwrap_or("?").to_owned();
        match &mut self.authorship {
            Authorship::Signed { signatures, held } => {
                let signer =
                    signatures
                        .signer(&change.hash, self.roster, held)
                        .map_err(|problem| Breach::Signature {
                            change: change.hash.to_string(),
                            claimed: claimed.clone(),
                            problem: Box::new(problem),
                        })?;
                if signer.author.as_str() != claimed {
                    return Err(Breach::ForgedAuthor {
                        change: change.hash.to_string(),
                        claimed,
                        signer: signer.author,
                    });
                }
                let author = self
                    .roster
                    .member(&signer.key)
                    .cloned()
                    .ok_or(Breach::UnknownAuthor { author: claimed })?;
                Ok(Authored {
                    change,
                    author,
                    commit: Some(signer.commit),
                })
            }
            Authorship::UncheckedActorIds => {
                let author = self
                    .roster
                    .member_named(&claimed)
                    .cloned()
                    .ok_or(Breach::UnknownAuthor { author: claimed })?;
                Ok(Authored {
                    change,
                    author,
                    commit: None,
                })
            }
            Authorship::Own(member) => Ok(Authored {
                change,
                author: (*member).clone(),
                commit: None,
            }),
        }
    }

    fn check_field(
        &self,
        header: &Header,
        after: &Automerge,
        a: &Authored<'_>,
        creation: bool,
        field: &Field,
    ) -> Result<(), Breach> {
        let author = &a.author.name;
        let refuse = || Breach::FieldNotAllowed {
            field: match &field.inner {
                Some(inner) => format!("{}.{inner}", field.top),
                None => field.top.clone(),
            },
            author: author.clone(),
            kind: header.kind,
        };
        let role = a.author.role;
        let server = matches!(role, NodeRole::Central | NodeRole::Standby);
        match (header.kind, field.top.as_str()) {
            (_, "header") => {
                if !creation {
                    return Err(Breach::HeaderAfterCreation {
                        author: author.clone(),
                    });
                }
                if *author != header.origin {
                    return Err(Breach::OriginForged {
                        origin: header.origin.clone(),
                        author: author.clone(),
                    });
                }
            }
            (_, crate::record::CENTRAL_ACK_KEY) if role != NodeRole::Central => {
                return Err(refuse());
            }
            // The request itself says `range: null`; only a lessor fills it in.
            (RecordKind::Lease, "range") if !server && !creation => return Err(refuse()),
            (RecordKind::Lease, "series" | "holder" | "size") if !creation => {
                return Err(refuse());
            }
            // A number printed on a record is the writer's, from its own range: after the
            // record's creation only a server's HIS pull rewrites it (the HIS's own number).
            (RecordKind::Visit, "registration_no")
            | (RecordKind::Invoice, "number" | "series" | "range_id" | "code")
                if !creation && !server =>
            {
                return Err(refuse());
            }
            // Only its holder spoils a lease's numbers: the range reports count them, and the
            // holder's ledger takes them when its own lease comes back (`desk::returning`).
            (RecordKind::Lease, "spoiled") if !creation && !holds_lease(after, author) => {
                return Err(refuse());
            }
            (
                RecordKind::Episode,
                "episode_id" | "reason" | "reason_code" | "automatic" | "opened_ms",
            ) if !creation => {
                return Err(refuse());
            }
            (RecordKind::Episode, "nodes") => {
                let own = field.inner.as_deref() == Some(author.as_str());
                if !own && (!creation || field.inner.is_some()) {
                    return Err(refuse());
                }
            }
            (RecordKind::Episode, "closed_ms" | "closed_by")
                if !creation
                    && !a.author.rights().administers()
                    && !super::episodes::all_over(after)
                    && !super::episodes::all_over_as_written(after, &a.change.hash) =>
            {
                return Err(refuse());
            }
            (RecordKind::Episode, "merged_into") if !server && !self.merges_earlier(after)? => {
                return Err(refuse());
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether an episode's merge points at an earlier episode this node holds.
    fn merges_earlier(&self, after: &Automerge) -> Result<bool, Breach> {
        let Ok(episode) = crate::record::hydrate::<Episode>(after) else {
            return Ok(false);
        };
        let Some(into) = &episode.merged_into else {
            return Ok(true);
        };
        let opened = self
            .knowledge
            .episode_opened_ms(into)
            .map_err(Breach::Unknowable)?;
        Ok(match opened {
            Some(ms) => ms <= episode.opened_ms,
            // Not held here yet (the merge came first: `lifeline-sim --store`): judged by the
            // minute its id names, which orders openings as their times do.
            None => super::episodes::named_no_later(into, &episode.episode_id),
        })
    }

    fn check_granted_range(
        &self,
        header: &Header,
        after: &Automerge,
        authors: &[Member],
    ) -> Result<(), Breach> {
        let bad = |p| Err(Breach::Lease(p));
        let Ok(lease) = crate::record::hydrate::<Lease>(after) else {
            // `validate` already refused a lease that does not read.
            return Ok(());
        };
        let Some(range) = &lease.range else {
            return Ok(());
        };
        // A request is its holder's own; a lease made by hand is its lessor's (checked below
        // as the range's author).
        if lease.holder != header.origin && range.leased_by != header.origin {
            return bad(LeaseProblem::NotItsHolder {
                holder: lease.holder.clone(),
                origin: header.origin.clone(),
            });
        }
        let Some(series) = Series::parse(&lease.series) else {
            return bad(LeaseProblem::UnknownSeries {
                series: lease.series.clone(),
            });
        };
        if range.start == 0 || range.end < range.start {
            return bad(LeaseProblem::Empty {
                start: range.start,
                end: range.end,
            });
        }
        let asked = lease.size.clamp(1, MAX_LEASE);
        let len = (range.end - range.start).saturating_add(1);
        if len != asked {
            return bad(LeaseProblem::WrongSize {
                len,
                asked: lease.size,
                max: MAX_LEASE,
            });
        }
        let Some(lessor) = authors.iter().find(|m| m.name == range.leased_by) else {
            let mut names: Vec<&str> = authors.iter().map(|m| m.name.as_str()).collect();
            names.dedup();
            return bad(LeaseProblem::NotItsLessor {
                leased_by: range.leased_by.clone(),
                authors: names.join(", "),
            });
        };
        let in_half = match lessor.role {
            NodeRole::Central => range.end < STANDBY_LESSOR_BASE,
            NodeRole::Standby => range.start >= STANDBY_LESSOR_BASE,
            NodeRole::Window => false,
        };
        if !in_half {
            return bad(LeaseProblem::OutsideHalf {
                leased_by: lessor.name.clone(),
                role: lessor.role,
                start: range.start,
                end: range.end,
            });
        }
        let grant = Grant {
            series,
            start: range.start,
            end: range.end,
        };
        let overlapping = self
            .knowledge
            .overlapping_range(grant, header.id)
            .map_err(Breach::Unknowable)?;
        if let Some(other) = overlapping {
            return bad(LeaseProblem::Overlaps { other });
        }
        Ok(())
    }
}

/// The record's kind must be one its author's certificate lets it write.
/// Whether `author` holds the lease `after` is (one that does not read holds for no one).
fn holds_lease(after: &Automerge, author: &NodeName) -> bool {
    crate::record::hydrate::<Lease>(after).is_ok_and(|lease| lease.holder == *author)
}

fn check_kind(author: &Member, kind: RecordKind) -> Result<(), Breach> {
    if author.rights().may_write(kind) {
        return Ok(());
    }
    if kind.is_catalog() {
        return Err(Breach::CatalogNotFromCentral {
            author: author.name.clone(),
        });
    }
    Err(Breach::KindNotAllowed {
        author: author.name.clone(),
        role: author.role,
        kind,
    })
}

/// Whether a lease still shows the range this node already held for it: the changes wrote a
/// range concurrently with that one and lost to it (central and the standby both filled the
/// request while they did not hear each other), so they grant nothing. The range that shows
/// was judged when it was kept; a later change that makes another range show is judged then.
fn shows_held_range(before: Option<&Automerge>, after: &Automerge) -> bool {
    let range = |doc: &Automerge| {
        autosurgeon::hydrate_prop::<_, Option<LeasedRange>, _, _>(doc, automerge::ROOT, "range")
            .ok()
            .flatten()
    };
    before
        .and_then(range)
        .is_some_and(|held| Some(held) == range(after))
}

/// No state of `before`'s status log may be missing from `after`'s.
fn check_status_forward(before: &Automerge, after: &Snapshot<'_>) -> Result<(), Breach> {
    fn log(doc: &impl autosurgeon::ReadDoc) -> Option<StatusLog> {
        autosurgeon::hydrate_prop::<_, StatusLog, _, _>(doc, automerge::ROOT, "status_log").ok()
    }
    let (Some(old), new) = (log(&Snapshot::new(before)), log(after)) else {
        return Ok(());
    };
    let new = new.unwrap_or_default();
    match old.0.keys().find(|state| !new.0.contains_key(*state)) {
        Some(state) => Err(Breach::StatusRemoved {
            state: state.clone(),
        }),
        None => Ok(()),
    }
}
