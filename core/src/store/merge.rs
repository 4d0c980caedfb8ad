//! Merging one record's changes from a peer into our copy, under the checks every replica
//! applies, in one order and with the same [`Refusal`]s: changes that do not decode, fall
//! short of the sender's heads or lack dependencies, a missing or foreign header, then every
//! rule of [`crate::trust::rules`] (signatures, authors' rights, fields, statuses, a record
//! that reads as its kind). Pure (no storage): the store's apply path and the in-memory test
//! replica in lifeline-sync both call it and keep what it returns.

use automerge::sync::{self, SyncDoc};
use automerge::{ActorId, Automerge, ChangeHash, ReadDoc};

use super::chunks::{is_packed, unpack_received};
use super::refusal::{DecodeError, Refusal};
use crate::error::{Chain, contained};
use crate::id::RecordId;
use crate::record::{Header, Snapshot};
use crate::trust::{Breach, Incoming, Judge, NewChanges, Verdict};

/// Changes for one record, as sent by a peer: one or more concatenated Automerge change
/// chunks (the output of `save_after`, or raw changes).
#[derive(Debug, Clone)]
pub struct RemoteChanges {
    pub id: RecordId,
    pub bytes: Vec<u8>,
}

/// [`RemoteChanges`] as replication sends them, with the sender's heads for the record after
/// these changes: once applied, we know the sender has them, so we never send its own changes
/// back to it.
#[derive(Debug, Clone)]
pub struct IncomingDoc {
    pub id: RecordId,
    pub bytes: Vec<u8>,
    pub sender_heads: Vec<ChangeHash>,
    /// The sender's feed sequence of this record's latest change (0 if not from the feed).
    pub seq: u64,
}

impl From<RemoteChanges> for IncomingDoc {
    fn from(changes: RemoteChanges) -> Self {
        IncomingDoc {
            id: changes.id,
            bytes: changes.bytes,
            sender_heads: Vec::new(),
            seq: 0,
        }
    }
}

/// What merging a record's incoming changes comes to.
#[derive(Debug)]
pub enum Merge {
    /// The record changed: keep this document, and the signatures of its new changes.
    /// `complete` is false when changes it depends on are still missing (it is kept anyway
    /// and continues with the sync protocol). `as_sent` says the document is a new record
    /// loaded whole from a packed chunk the sender stores ([`super::chunks::is_packed`]):
    /// the incoming bytes are then kept as its stored chunk, as they are.
    Changed {
        doc: Box<Automerge>,
        complete: bool,
        verdict: Verdict,
        as_sent: bool,
    },
    /// We already had all of it.
    Unchanged,
    /// Nothing could be applied yet: changes it depends on are missing.
    MissingDeps,
    /// Refused; nothing of the record changes.
    Refused(Refusal),
}

/// Merges `item` into `existing` (our document, if any) under `judge`'s rules; the result
/// carries `actor`.
pub fn merge(
    existing: Option<&Automerge>,
    item: &IncomingDoc,
    actor: &ActorId,
    judge: &mut Judge<'_>,
) -> Merge {
    // Our heads include all of the sender's (its changes are all ancestors of its heads): we
    // hold everything it sent, with nothing to decode or judge. The usual case when several
    // peers relay the same record. (Only our heads are looked at: finding an older change
    // costs Automerge a walk of the whole history, which the general path below may take.)
    if let Some(doc) = existing
        && sent_from_heads_held(&item.sender_heads, &doc.get_heads())
    {
        return Merge::Unchanged;
    }
    let bytes = match unpack_received(&item.bytes) {
        Ok(bytes) => bytes,
        Err(e) => return Merge::Refused(Refusal::undecodable(e)),
    };
    // A new record sent packed that loads whole, every chunk of it (not only those Automerge
    // would keep of a damaged tail), can be stored as it came.
    let whole = match existing {
        None if is_packed(&item.bytes) => load_whole(&bytes),
        _ => None,
    };
    let as_sent = whole.is_some();
    let mut candidate = match (whole, existing) {
        (Some(doc), _) => doc.with_actor(actor.clone()),
        (None, Some(doc)) => doc.clone(),
        (None, None) => Automerge::new().with_actor(actor.clone()),
    };
    let old_heads = existing.map(Automerge::get_heads).unwrap_or_default();
    // Automerge's decoder can panic on some malformed input instead of returning an error
    // (found by fuzzing): a peer's bytes must never panic the node, so a panic here is a
    // refusal of that record, like any undecodable change.
    if !as_sent {
        match contained(|| candidate.load_incremental(&bytes)) {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Merge::Refused(Refusal::undecodable(e)),
            None => return Merge::Refused(Refusal::undecodable(DecodeError::Panicked)),
        }
    }
    // Automerge skips a damaged chunk silently; the sender's heads tell us whether we really
    // got everything it sent. Anything short goes on through the sync protocol.
    let short_of_sender = !holds_all(&candidate, &item.sender_heads);
    let waiting = !candidate.get_missing_deps(&[]).is_empty();
    let missing = short_of_sender || waiting;
    if waiting {
        candidate = without_orphans(&candidate);
    }
    if candidate.get_heads() == old_heads {
        return if missing {
            Merge::MissingDeps
        } else {
            Merge::Unchanged
        };
    }
    let verdict = match admit(existing, &candidate, &old_heads, item, missing, judge) {
        Ok(verdict) => verdict,
        Err(outcome) => return *outcome,
    };
    candidate.set_actor(actor.clone());
    Merge::Changed {
        doc: Box::new(candidate),
        complete: !missing,
        verdict,
        as_sent: as_sent && !missing,
    }
}

/// `bytes` loaded as a document if every chunk of them loads (Automerge's own load checks
/// each chunk's checksum and each change's hash); `None` otherwise, or if the decoder
/// panicked: the caller then merges them as any peer's changes, refusing what does not load.
fn load_whole(bytes: &[u8]) -> Option<Automerge> {
    let options = automerge::LoadOptions::new()
        .on_partial_load(automerge::OnPartialLoad::Error)
        .verification_mode(automerge::VerificationMode::Check);
    contained(|| Automerge::load_with_options(bytes, options))?.ok()
}

/// `doc` without the changes Automerge holds back until their dependencies arrive. Those would
/// come out later through whatever brings the dependencies (a sync message, a later batch),
/// judged then without their signatures, which came with this batch and are kept only for
/// the changes applied now: an honest node's change refused as unsigned (found by the
/// simulator, seed 7502470 of a full run). Left out, they come again with the dependencies,
/// signed (the sync protocol asks for everything our heads lack).
fn without_orphans(doc: &Automerge) -> Automerge {
    let applied = doc.save_with_options(automerge::SaveOptions {
        deflate: false,
        retain_orphans: false,
    });
    // A document saved this moment loads; were it not to, keeping the orphans is the old
    // behaviour, not a loss.
    Automerge::load(&applied).unwrap_or_else(|_| doc.clone())
}

/// The header checks and the rules on a changed candidate; `Err` is the merge's outcome
/// (boxed: a refusal is the rare path).
fn admit(
    existing: Option<&Automerge>,
    candidate: &Automerge,
    old_heads: &[ChangeHash],
    item: &IncomingDoc,
    missing: bool,
    judge: &mut Judge<'_>,
) -> Result<Verdict, Box<Merge>> {
    let view = Snapshot::new(candidate);
    let header = match Header::in_view(&view) {
        Ok(h) => h,
        Err(e) if missing => {
            tracing::debug!(id = %item.id, error = %Chain(&e), "partial document; waiting for dependencies");
            return Err(Box::new(Merge::MissingDeps));
        }
        Err(e) => {
            return Err(Box::new(Merge::Refused(Refusal::NoHeader {
                source: e.into(),
            })));
        }
    };
    if header.id != item.id {
        return Err(Box::new(Merge::Refused(Refusal::WrongId {
            claimed: header.id,
        })));
    }
    // Reading the new changes is part of judging them: a panic in Automerge on a peer's
    // document is a refusal, as one inside the rules is.
    let Some(changes) = contained(|| NewChanges::since(&view, old_heads)) else {
        return Err(Box::new(Merge::Refused(Breach::CheckPanicked.into())));
    };
    let incoming = Incoming {
        header: &header,
        before: existing,
        after: &view,
        changes: &changes,
    };
    judge
        .judge(&incoming)
        .map_err(|breach| Box::new(Merge::Refused(breach.into())))
}

/// A peer's Automerge sync message, received against our copy of a record.
#[derive(Debug)]
pub struct SyncReceived {
    /// The sync state after the message: keep it per peer and record, so an exchange cut by
    /// a disconnect resumes from what both sides were known to share.
    pub state: sync::State,
    /// The changes the message brought that we did not have, to merge like a batch's (under
    /// the same checks); `None` when the record did not change.
    pub changes: Option<IncomingDoc>,
}

/// Receives a sync message for record `id` against `existing` (our document, if any). A
/// message that does not decode or apply is refused; the caller's state is then unchanged.
pub fn receive_sync(
    id: RecordId,
    existing: Option<&Automerge>,
    state: &sync::State,
    message: &[u8],
) -> Result<SyncReceived, Refusal> {
    receive_sync_decoded_by(id, existing, state, message, sync::Message::decode)
}

/// [`receive_sync`] with the message's decoder given, so that a test can make it panic (no
/// input known today panics Automerge's own).
fn receive_sync_decoded_by(
    id: RecordId,
    existing: Option<&Automerge>,
    state: &sync::State,
    message: &[u8],
    decode: impl FnOnce(&[u8]) -> Result<sync::Message, sync::ReadMessageError>,
) -> Result<SyncReceived, Refusal> {
    // As with batches, a decoder panic on a peer's bytes is a refusal, not a crash: decoding
    // the message as much as applying it.
    let msg = match contained(|| decode(message)) {
        Some(decoded) => decoded.map_err(Refusal::bad_sync_message)?,
        None => return Err(Refusal::bad_sync_message(DecodeError::Panicked)),
    };
    let mut candidate = existing.cloned().unwrap_or_default();
    let old_heads = candidate.get_heads();
    let mut state = state.clone();
    let brought = !msg.changes.is_empty();
    match contained(|| candidate.receive_sync_message(&mut state, msg)) {
        Some(Ok(())) => {}
        Some(Err(e)) => return Err(Refusal::bad_sync_message(e)),
        None => return Err(Refusal::bad_sync_message(DecodeError::Panicked)),
    }
    // Changes that came before changes they depend on are not kept (the merge leaves them
    // out, `without_orphans`), so Automerge's next message would not ask for what they
    // wait on: it asks only for the peer's heads, and the peer, counting everything it sent
    // as held, sends nothing more. The exchange went on for ever when the peer sent a change
    // without one it depends on (simulator seed 31250, in memory: W01 asked for the peer's
    // head 20,000 times). Ask for what they wait on as well, and have the peer forget what it
    // sent (Automerge's sync reset), so that both come again together.
    let waiting = candidate.get_missing_deps(&[]);
    if brought && !waiting.is_empty() {
        let mut heads = state.their_heads.take().unwrap_or_default();
        heads.extend(waiting);
        heads.sort();
        heads.dedup();
        state.their_heads = Some(heads);
        state.needs_reset = true;
    }
    let changes = (candidate.get_heads() != old_heads).then(|| {
        let bytes = candidate
            .get_changes(&old_heads)
            .iter()
            .flat_map(|c| c.raw_bytes().iter().copied())
            .collect();
        IncomingDoc::from(RemoteChanges { id, bytes })
    });
    Ok(SyncReceived { state, changes })
}

/// Our next Automerge sync message for a record (`doc`, if we hold it) and the hashes of
/// the changes it may carry (to send their signatures with it); `None` when there is nothing
/// to say.
///
/// Those are every change sent in this exchange that the peer is not known to hold, not only
/// the ones this message adds: when a third of the document is to go, Automerge sends the
/// whole document, changes sent before included, and the peer may not have kept those (a
/// change that arrived before its dependencies). Without their signatures an honest node's
/// change was refused as unsigned (found by the simulator, seed 7502470 of a full run).
pub fn generate_sync(
    doc: Option<&Automerge>,
    state: &mut sync::State,
) -> Option<(Vec<u8>, Vec<ChangeHash>)> {
    let blank = Automerge::new();
    let doc = doc.unwrap_or(&blank);
    let message = doc.generate_sync_message(state)?;
    let sent = state.sent_hashes.iter().copied().collect();
    Some((message.encode(), sent))
}

/// The hashes among `heads` that `doc` holds: what we may record a peer as having (the
/// peer may know more than we do).
pub fn held_heads(doc: &Automerge, heads: &[ChangeHash]) -> Vec<ChangeHash> {
    if holds_all(doc, heads) {
        return heads.to_vec();
    }
    heads.iter().filter(|h| holds(doc, h)).copied().collect()
}

/// Whether `doc` holds the change `hash`: a lookup in its change graph. Asking Automerge for
/// the change itself (`get_change_by_hash`) rebuilds the change from the document's columns,
/// which cost a tenth of the simulator's time where only its presence was wanted.
pub fn holds(doc: &Automerge, hash: &ChangeHash) -> bool {
    // Automerge reports the missing dependencies of `hash` and of every change it has queued
    // (received before their dependencies). `hash` among them: not held. None at all: held.
    // Others only: `hash` is held or itself queued, which only the change's lookup tells.
    let missing = doc.get_missing_deps(std::slice::from_ref(hash));
    if missing.is_empty() {
        return true;
    }
    !missing.contains(hash) && doc.get_change_by_hash(hash).is_some()
}

/// Whether a peer's record at `sender_heads` brings nothing to ours at `ours`: it names its
/// heads, and every one is among ours (its changes are all ancestors of its heads).
pub(super) fn sent_from_heads_held(sender_heads: &[ChangeHash], ours: &[ChangeHash]) -> bool {
    !sender_heads.is_empty() && sender_heads.iter().all(|h| ours.contains(h))
}

/// Whether `doc` holds every change of `hashes`. Looks among its heads first: a sender's
/// heads are most often exactly ours after its changes.
fn holds_all(doc: &Automerge, hashes: &[ChangeHash]) -> bool {
    let heads = doc.get_heads();
    hashes.iter().all(|h| heads.contains(h) || holds(doc, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A document with one change, and its hash.
    fn one_change(value: i64) -> (Automerge, ChangeHash) {
        use automerge::transaction::Transactable;
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "n", value).expect("put");
        let hash = tx.commit().0.expect("a change");
        (doc, hash)
    }

    /// The hashes `generate_sync` names cover every change its message carries, also when
    /// Automerge sends the whole document again with changes an earlier message carried.
    #[test]
    fn a_sync_message_names_every_change_it_carries() {
        use automerge::transaction::Transactable;
        let put = |doc: &mut Automerge, key: &str| {
            let mut tx = doc.transaction();
            tx.put(automerge::ROOT, key, 1).expect("put");
            tx.commit();
        };
        let (mut a, mut b) = (Automerge::new(), Automerge::new());
        put(&mut a, "a1");
        put(&mut b, "b1");
        let (mut sa, mut sb) = (sync::State::new(), sync::State::new());
        let exchange = |from: &Automerge, state: &mut sync::State| {
            from.generate_sync_message(state).expect("a message")
        };
        let m = exchange(&b, &mut sb);
        a.receive_sync_message(&mut sa, m).expect("A receives");
        // A's first message carries a1; it never arrives.
        let (_lost, _) = generate_sync(Some(&a), &mut sa).expect("A's first");
        for key in ["a2", "a3", "a4"] {
            put(&mut a, key);
        }
        // B starts again (its state lost) and asks once more.
        let mut sb = sync::State::new();
        let m = exchange(&b, &mut sb);
        a.receive_sync_message(&mut sa, m)
            .expect("A receives again");
        let (bytes, named) = generate_sync(Some(&a), &mut sa).expect("A's second");
        let message = sync::Message::decode(&bytes).expect("decodes");
        b.receive_sync_message(&mut sb, message)
            .expect("B receives");
        let carried: Vec<ChangeHash> = a.get_changes(&[]).iter().map(|c| c.hash()).collect();
        for hash in &carried {
            assert!(b.get_change_by_hash(hash).is_some(), "B got {hash}");
            assert!(named.contains(hash), "{hash} carried, not named");
        }
    }

    /// A change that arrived before its dependency is not kept: it comes again with it.
    #[test]
    fn a_document_kept_holds_no_change_waiting_for_its_dependencies() {
        use automerge::transaction::Transactable;
        let (mut a, c1) = one_change(1);
        let c2 = {
            let mut tx = a.transaction();
            tx.put(automerge::ROOT, "m", 2).expect("put");
            tx.commit().0.expect("a change")
        };
        let (mut b, b1) = one_change(7);
        let bytes = a.get_change_by_hash(&c2).expect("c2").raw_bytes().to_vec();
        b.load_incremental(&bytes).expect("queued");
        assert!(!b.get_missing_deps(&[]).is_empty(), "c2 waits for c1");
        let kept = without_orphans(&b);
        assert!(kept.get_missing_deps(&[]).is_empty());
        assert!(holds(&kept, &b1));
        assert!(!holds(&kept, &c2) && !holds(&kept, &c1));
        assert_eq!(kept.get_heads(), b.get_heads());
    }

    #[test]
    fn holds_finds_held_changes_and_not_missing_or_queued_ones() {
        use automerge::transaction::Transactable;
        let (mut doc, a) = one_change(1);
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "n", 2).expect("put");
        let b = tx.commit().0.expect("a change");
        assert!(holds(&doc, &a) && holds(&doc, &b));
        assert!(!holds(&doc, &ChangeHash([7; 32])));

        // Another document holds its own change `x`, and `b` queued: `a` is missing.
        let (mut other, x) = one_change(3);
        let change_b = doc.get_change_by_hash(&b).expect("b");
        other.apply_changes([change_b]).expect("queued");
        assert!(!holds(&other, &a), "the missing dependency");
        assert!(!holds(&other, &b), "queued is not held");
        assert!(holds(&other, &x), "held beside a queued change");
    }

    /// A sync message whose decoding panics is refused as a bad message, and the panic goes
    /// no further than this record (hole 6 of the trust issue: the decoder once ran outside
    /// the containment).
    #[test]
    fn a_sync_message_whose_decoding_panics_is_refused() {
        let id = RecordId::generate();
        let state = sync::State::new();
        let panicking = |_: &[u8]| -> Result<sync::Message, sync::ReadMessageError> {
            panic!("a decoder that panics, as a test")
        };
        let refused = receive_sync_decoded_by(id, None, &state, b"\x42", panicking)
            .expect_err("refused, not applied");
        assert!(
            matches!(&refused, Refusal::BadSyncMessage { source } if matches!(source.get(), DecodeError::Panicked)),
            "refused as a decoder that failed: {refused:?}"
        );
        // The real decoder refuses the same bytes with an error of its own.
        let real = receive_sync(id, None, &state, b"\x42").expect_err("not a message");
        assert!(
            matches!(&real, Refusal::BadSyncMessage { source } if matches!(source.get(), DecodeError::SyncMessage(_))),
            "{real:?}"
        );
    }
}
