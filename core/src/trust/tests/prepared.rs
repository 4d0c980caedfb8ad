//! A batch merged and judged ahead of its commit ([`Store::prepare_batch`]) comes to exactly
//! what the writer would have made of it alone: the writer takes a prepared merge only while
//! the record and the roster are as they were when it was prepared.

use super::*;
use crate::desk::PatientEdit;
use crate::record::Patient;
use crate::store::IncomingDoc;
use crate::test_support::new_patient;

/// W01's records as a batch for another node: its changes and their signatures.
fn batch(w01: &Node, ids: &[RecordId]) -> (Vec<IncomingDoc>, Vec<Vec<u8>>) {
    let export = w01.store.export(ids).expect("export");
    let items = export.changes.into_iter().map(IncomingDoc::from).collect();
    (items, export.signatures)
}

fn create(w01: &Node, name: &str) -> RecordId {
    let reg = op("reg1", DeskRole::Registration);
    w01.store
        .create_patient(&reg, new_patient(name))
        .expect("create")
        .value
        .header
        .id
}

/// The prepared merges are the ones applied: every record prepared is taken by the writer,
/// and the receiver ends with the sender's heads, for a short batch and a long one (prepared
/// in two halves at once, `PREPARE_IN_TWO_FROM`).
#[test]
fn a_prepared_batch_is_applied_from_its_prepared_merges() {
    for n in [3, 70] {
        prepared_and_applied(n);
    }
}

fn prepared_and_applied(n: usize) {
    let (central, w01, _w02) = hospital(&[DeskRole::Registration]);
    let ids: Vec<RecordId> = (0..n).map(|i| create(&w01, &format!("患者{i}"))).collect();
    let (items, signatures) = batch(&w01, &ids);
    let prepared = central
        .store
        .prepare_batch(items.clone(), &signatures)
        .expect("prepare");
    assert_eq!(prepared, n);
    assert_eq!(central.store.prepared_len(), n);
    let out = central
        .store
        .apply_batch(w01.name(), items, signatures, None)
        .expect("apply");
    assert_eq!(out.applied.len(), n, "{out:?}");
    assert_eq!(central.store.prepared_len(), 0, "the writer took them all");
    assert_eq!(
        central.store.prepared_used(),
        n as u64,
        "and used every one"
    );
    for id in ids {
        assert_eq!(
            central.store.doc(id).expect("read").map(|d| d.get_heads()),
            w01.store.doc(id).expect("read").map(|d| d.get_heads())
        );
    }
}

/// A desk write to the record between the batch's preparing and its commit: the prepared
/// merge was made on the record before that write and is not used; the writer merges the
/// peer's change onto the record as it is, and both changes are kept.
#[test]
fn a_record_changed_after_its_batch_was_prepared_keeps_both_changes() {
    let (_central, w01, w02) = hospital(&[DeskRole::Registration]);
    let p = create(&w01, "丁");
    replicate(&w01, &w02);
    let reg = op("reg1", DeskRole::Registration);
    let edit = |phone: Option<&str>, name: Option<&str>| PatientEdit {
        phone: phone.map(Into::into),
        name: name.map(Into::into),
        ..PatientEdit::default()
    };
    w01.store
        .update_patient(&reg, p, edit(Some("13911112222"), None))
        .expect("edit at W01");
    let (items, signatures) = batch(&w01, &[p]);
    assert_eq!(
        w02.store
            .prepare_batch(items.clone(), &signatures)
            .expect("prepare"),
        1
    );
    w02.store
        .update_patient(&reg, p, edit(None, Some("丁一")))
        .expect("edit at W02");
    let out = w02
        .store
        .apply_batch(w01.name(), items, signatures, None)
        .expect("apply");
    assert_eq!(out.applied, vec![p], "{out:?}");
    let got: Patient = w02.store.get(p).expect("read").expect("present");
    assert_eq!(got.phone, "13911112222", "W01's change");
    assert_eq!(got.name, "丁一", "W02's own change");
}

/// Nodes admitted between a batch's preparing and its commit (the windows connecting one
/// after another when central comes back from an outage): a node first seen leaves the
/// prepared merges in use; a second key of the batch's own author makes the writer judge
/// the batch again. Either way the records are applied.
#[test]
fn a_node_first_seen_after_a_batch_was_prepared_leaves_its_merges_in_use() {
    let (central, w01, _w02) = hospital(&[DeskRole::Registration]);
    let w03 = node("W03", NodeRole::Window, &[DeskRole::Registration]);
    let first = [create(&w01, "庚"), create(&w01, "辛")];
    assert_eq!(prepare_admit_apply(&central, &w01, &first, &w03), 2);
    assert_eq!(
        central.store.prepared_used(),
        2,
        "taken through W03's admission"
    );

    let another_key = node("W01", NodeRole::Window, &[DeskRole::Registration]);
    let second = [create(&w01, "壬")];
    assert_eq!(
        prepare_admit_apply(&central, &w01, &second, &another_key),
        1
    );
    assert_eq!(
        central.store.prepared_used(),
        2,
        "judged again after a second key of W01"
    );
}

/// Prepares W01's records at `to`, admits `admitted`'s member there, applies the batch;
/// returns how many records were applied.
fn prepare_admit_apply(to: &Node, w01: &Node, ids: &[RecordId], admitted: &Node) -> usize {
    let (items, signatures) = batch(w01, ids);
    let prepared = to
        .store
        .prepare_batch(items.clone(), &signatures)
        .expect("prepare");
    assert_eq!(prepared, ids.len());
    to.store
        .admit_member(admitted.credentials.member().clone())
        .expect("admit");
    let out = to
        .store
        .apply_batch(w01.name(), items, signatures, None)
        .expect("apply");
    out.applied.len()
}

/// A revocation between the batch's preparing and its commit: the batch was judged under
/// the roster before it, so the writer judges it again, and the revoked node's record is
/// refused.
#[test]
fn a_revocation_after_a_batch_was_prepared_still_refuses_it() {
    let (central, w01, _w02) = hospital(&[DeskRole::Registration]);
    let p = create(&w01, "戊");
    let (items, signatures) = batch(&w01, &[p]);
    central
        .store
        .prepare_batch(items.clone(), &signatures)
        .expect("prepare");
    central
        .store
        .revoke(crate::trust::Revocation {
            name: w01.name().clone(),
            key: w01.key().id(),
            revoked_ms: 0,
            reason: "window PC stolen".into(),
            proof: Vec::new(),
        })
        .expect("revoke");
    let out = central
        .store
        .apply_batch(w01.name(), items, signatures, None)
        .expect("apply");
    assert_eq!(out.rejected.len(), 1, "{out:?}");
    assert_eq!(out.rejected[0].reason.code(), "revoked");
    assert!(central.store.doc(p).expect("read").is_none());
}

/// The same changes again in a batch whose signatures do not verify (as a hostile peer may
/// relay a record another peer's batch brought): neither the merge prepared under the good
/// signatures nor their verification is taken for them; the record is refused.
#[test]
fn a_merge_prepared_under_good_signatures_is_not_taken_for_forged_ones() {
    let (central, w01, _w02) = hospital(&[DeskRole::Registration]);
    let p = create(&w01, "己");
    let (items, signatures) = batch(&w01, &[p]);
    assert_eq!(
        central
            .store
            .prepare_batch(items.clone(), &signatures)
            .expect("prepare"),
        1
    );
    let forged: Vec<Vec<u8>> = signatures
        .iter()
        .map(|s| {
            let mut s = s.clone();
            if let Some(last) = s.last_mut() {
                *last ^= 0x55;
            }
            s
        })
        .collect();
    let out = central
        .store
        .apply_batch(w01.name(), items.clone(), forged, None)
        .expect("apply");
    assert_eq!(out.rejected.len(), 1, "{out:?}");
    assert!(central.store.doc(p).expect("read").is_none());
    // The good signatures still verify, and the record lands.
    let out = central
        .store
        .apply_batch(w01.name(), items, signatures, None)
        .expect("apply");
    assert_eq!(out.applied, vec![p], "{out:?}");
}

/// A record a second peer relays at heads this node holds: unchanged, whatever bytes came
/// with it (they can bring nothing those heads do not name), so nothing is decoded or
/// judged; and that peer is known to hold it from then on, so it is not sent back to it.
#[test]
fn a_relayed_record_at_heads_held_here_is_unchanged_and_not_sent_back() {
    let (central, w01, w02) = hospital(&[DeskRole::Registration]);
    let p = create(&w01, "庚");
    let (items, signatures) = batch(&w01, &[p]);
    let out = central
        .store
        .apply_batch(w01.name(), items, signatures, None)
        .expect("apply");
    assert_eq!(out.applied, vec![p], "{out:?}");
    let heads = central
        .store
        .doc(p)
        .expect("read")
        .expect("held")
        .get_heads();
    let to_w02 = |store: &Store| store.outgoing(w02.name(), &[p]).expect("outgoing").len();
    assert_eq!(to_w02(&central.store), 1, "W02 is not known to hold it yet");
    let relayed = IncomingDoc {
        id: p,
        bytes: b"not an automerge change".to_vec(),
        sender_heads: heads.clone(),
        seq: 0,
    };
    let out = central
        .store
        .apply_batch(w02.name(), vec![relayed], Vec::new(), None)
        .expect("apply");
    assert_eq!(out.unchanged, 1, "{out:?}");
    assert!(out.rejected.is_empty(), "{out:?}");
    assert_eq!(to_w02(&central.store), 0, "W02 holds it");
    assert_eq!(
        central.store.doc(p).expect("read").map(|d| d.get_heads()),
        Some(heads)
    );
}

/// A record relayed at heads this node holds as ancestors of its own (a later edit reached
/// it first; at central, its own stamp of an emergency record): unchanged and neither merged
/// nor prepared, read from the indexes of the record's changes; offered at those heads, it is
/// held; and the relaying peer is sent only the edit it lacks.
#[test]
fn a_record_relayed_at_heads_before_ours_is_held_without_a_merge() {
    let (central, w01, w02) = hospital(&[DeskRole::Registration]);
    let p = create(&w01, "辛");
    let (items, signatures) = batch(&w01, &[p]);
    central
        .store
        .apply_batch(w01.name(), items, signatures, None)
        .expect("apply");
    let old_heads = w01.store.doc(p).expect("read").expect("held").get_heads();
    replicate(&w01, &w02);
    let reg = op("reg1", DeskRole::Registration);
    let edit = PatientEdit {
        phone: Some("13922223333".into()),
        ..PatientEdit::default()
    };
    w02.store
        .update_patient(&reg, p, edit)
        .expect("edit at W02");
    let (items, signatures) = batch(&w02, &[p]);
    let out = central
        .store
        .apply_batch(w02.name(), items, signatures, None)
        .expect("apply");
    assert_eq!(out.applied, vec![p], "{out:?}");
    let heads = central
        .store
        .doc(p)
        .expect("read")
        .expect("held")
        .get_heads();
    assert_ne!(heads, old_heads);
    // Who wrote the record as it is: W02 (its edit is the head), not W01 nor central.
    for (node, wrote) in [(&w02, true), (&w01, true), (&central, false)] {
        assert_eq!(node.store.written_here(&[p]).expect("read"), vec![wrote]);
    }
    // W01 relays its copy, at the heads before the edit.
    let relayed = IncomingDoc {
        id: p,
        bytes: b"not an automerge change".to_vec(),
        sender_heads: old_heads.clone(),
        seq: 0,
    };
    let prepared = central
        .store
        .prepare_batch(vec![relayed.clone()], &[])
        .expect("prepare");
    assert_eq!(prepared, 0, "nothing to merge");
    let out = central
        .store
        .apply_batch(w01.name(), vec![relayed], Vec::new(), None)
        .expect("apply");
    assert_eq!(out.unchanged, 1, "{out:?}");
    assert!(out.rejected.is_empty(), "{out:?}");
    assert_eq!(
        central.store.doc(p).expect("read").map(|d| d.get_heads()),
        Some(heads.clone())
    );
    let to_w01 = central.store.outgoing(w01.name(), &[p]).expect("outgoing");
    assert_eq!(to_w01.len(), 1, "W01 lacks the edit");
    assert_eq!(to_w01[0].heads, heads);
    // Offered at the old heads, or at a change central never saw, by a node it knows nothing of.
    let lacking = central
        .store
        .peer_offers(
            &NodeName::new("W03").expect("valid"),
            vec![(p, old_heads), (p, vec![ChangeHash([5; 32])])],
        )
        .expect("offers");
    assert_eq!(
        lacking,
        vec![(p, crate::store::Ask::Now)],
        "only the change central lacks is asked for"
    );
}
