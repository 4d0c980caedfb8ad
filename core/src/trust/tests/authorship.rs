//! Who wrote a change: the signer of its hash, who must be the node its actor id names.

use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};

use super::*;
use crate::desk::PatientEdit;
use crate::money::Fen;
use crate::record::{CatalogKind, DrugItem, Patient};
use crate::test_support::{catalogs, new_patient};

fn drug_id(store: &Store) -> RecordId {
    store
        .catalog_item_id(CatalogKind::Drug, "DRG-0001")
        .expect("read")
        .expect("the drug's record")
}

fn drug_price(store: &Store) -> Fen {
    let item: DrugItem = store.get(drug_id(store)).expect("read").expect("the drug");
    item.drug.price
}

/// Hole 1: authorship was the node name in the actor id, which the sender chooses; a window
/// authoring a catalog change as `central` rewrote prices everywhere.
#[test]
fn a_window_cannot_change_prices_as_central() {
    let (central, w01, w02) = hospital(&[DeskRole::Registration]);
    central
        .store
        .import_catalog(&op("info1", DeskRole::Admin), catalogs())
        .expect("import");
    replicate(&central, &w01);
    replicate(&central, &w02);
    let id = drug_id(&w02.store);
    let doc = w02.store.doc(id).expect("read").expect("the drug");
    let cut_price = |tx: &mut Transaction<'_>| -> Result<(), AutomergeError> {
        let (_, drug) = tx.get(ROOT, "drug")?.expect("the drug's fields");
        tx.put(&drug, "price", 2_i64)
    };
    let (as_central, hashes) = forge(&doc, actor_of("central"), cut_price);
    for to in [&central.store, &w01.store] {
        let before = heads(to, id);
        // Unsigned, as before signatures existed.
        let out = send(to, w02.name(), id, as_central.clone(), Vec::new());
        assert_eq!(refused_as(&out, to, id, before.clone()), "unsigned");
        // Signed with W02's key, which is W02's: the signer is not the author claimed.
        let out = send(
            to,
            w02.name(),
            id,
            as_central.clone(),
            signed(w02.key(), hashes.clone()),
        );
        assert_eq!(refused_as(&out, to, id, before.clone()), "forged_author");
        // A signature that names central, made with W02's key.
        let mut claim = SignedCommit::sign(w02.key(), hashes.clone()).expect("sign");
        claim.author = central.name().clone();
        claim.signature = w02.key().sign(&claim.message()).expect("sign");
        let out = send(to, w02.name(), id, as_central.clone(), vec![claim.encode()]);
        assert_eq!(refused_as(&out, to, id, before.clone()), "bad_signature");
        let reason = out.rejected[0].reason.detail();
        assert!(reason.contains("belongs to W02"), "{reason}");
        assert_eq!(drug_price(to), Fen(1280));
    }
    // As itself, honestly signed: a window never writes catalogs.
    let (as_w02, hashes) = forge(&doc, actor_of("W02"), cut_price);
    let before = heads(&central.store, id);
    let out = send(
        &central.store,
        w02.name(),
        id,
        as_w02,
        signed(w02.key(), hashes),
    );
    assert_eq!(
        refused_as(&out, &central.store, id, before),
        "catalog_not_from_central"
    );
    assert_eq!(drug_price(&central.store), Fen(1280));
    // Refusals are counted per peer, by reason.
    let state = central.store.peer_state(w02.name()).expect("state");
    assert_eq!(state.refused.get("unsigned"), Some(&1));
    assert_eq!(state.refused.get("forged_author"), Some(&1));
    assert_eq!(state.refused.get("catalog_not_from_central"), Some(&1));
}

/// Hole 4: a change reusing another node's actor id with its next sequence number made every
/// receiver refuse that node's real change for ever.
#[test]
fn a_change_under_another_node_s_actor_is_refused_and_the_real_one_still_applies() {
    let (central, w01, w02) = hospital(&[DeskRole::Registration]);
    let reg = op("reg1", DeskRole::Registration);
    let p = w01
        .store
        .create_patient(&reg, new_patient("王小明"))
        .expect("create")
        .value
        .header
        .id;
    replicate(&w01, &central);
    replicate(&w01, &w02);
    let doc = w02.store.doc(p).expect("read").expect("the patient");
    let w01_actor = doc.get_changes(&[])[0].actor_id().clone();
    assert_eq!(crate::trust::actor_node(&w01_actor), Some("W01"));
    // W01's actor, its next sequence number, W02's signature (the only key it has).
    let (bytes, hashes) = forge(&doc, w01_actor, |tx| tx.put(ROOT, "phone", "13000000000"));
    let before = heads(&central.store, p);
    let out = send(
        &central.store,
        w02.name(),
        p,
        bytes,
        signed(w02.key(), hashes),
    );
    assert_eq!(refused_as(&out, &central.store, p, before), "forged_author");
    // W01's own next change, under the same actor and sequence number, still applies.
    w01.store
        .update_patient(
            &reg,
            p,
            PatientEdit {
                phone: Some("13911112222".into()),
                ..PatientEdit::default()
            },
        )
        .expect("edit");
    replicate(&w01, &central);
    let got: Patient = central.store.get(p).expect("read").expect("present");
    assert_eq!(got.phone, "13911112222");
    assert_eq!(
        central.store.doc(p).expect("read").map(|d| d.get_heads()),
        w01.store.doc(p).expect("read").map(|d| d.get_heads())
    );
}

/// The changes of a node whose key the CA revoked are refused where they are not held yet;
/// what a node held before the revocation stays.
#[test]
fn a_revoked_key_signs_nothing_new() {
    let (central, w01, _w02) = hospital(&[DeskRole::Registration]);
    let reg = op("reg1", DeskRole::Registration);
    let early = w01
        .store
        .create_patient(&reg, new_patient("早"))
        .expect("create")
        .value
        .header
        .id;
    replicate(&w01, &central);
    let late = w01
        .store
        .create_patient(&reg, new_patient("晚"))
        .expect("create")
        .value
        .header
        .id;
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
    let export = w01.store.export(&[early, late]).expect("export");
    let out = central
        .store
        .apply_remote(w01.name(), export.changes, export.signatures)
        .expect("apply");
    assert_eq!(out.unchanged, 1, "the record held before stays: {out:?}");
    assert_eq!(out.rejected.len(), 1, "{out:?}");
    assert_eq!(out.rejected[0].id, late);
    assert_eq!(out.rejected[0].reason.code(), "revoked");
    assert!(central.store.doc(late).expect("read").is_none());
    assert!(central.store.doc(early).expect("read").is_some());
}

/// Registration window W03, opened without its key (its changes wait unsigned), and the
/// credentials it gets later.
fn keyless_window() -> (tempfile::TempDir, Store, Credentials) {
    let dir = tempfile::tempdir().expect("dir");
    let name = NodeName::new("W03").expect("valid");
    let credentials =
        Credentials::uncertified(name.clone(), NodeRole::Window, &[DeskRole::Registration])
            .expect("a key");
    let mut opts = StoreOptions::new(name, NodeRole::Window);
    opts.desks = vec![DeskRole::Registration];
    let w03 = Store::open(dir.path().join("store.redb"), opts).expect("open");
    (dir, w03, credentials)
}

/// A record is sent whole with the signed commits its index names, without being loaded: the
/// index must name every commit of every change, whether the node signed them when it wrote
/// them, signed them later (written before it had its key), or kept them from a peer (relay).
#[test]
fn a_record_goes_whole_with_every_signature_of_its_changes() {
    let (central, w01, w02) = hospital(&[DeskRole::Registration]);
    let reg = op("reg1", DeskRole::Registration);
    // A window that writes before it has its key: its changes wait unsigned.
    let (_dir, w03, credentials) = keyless_window();
    let early = w03
        .create_patient(&reg, new_patient("早"))
        .expect("create")
        .value
        .header
        .id;
    assert_eq!(w03.unsigned_changes().expect("read"), 1);
    assert_eq!(w03.sign_as(credentials.clone()).expect("sign"), 1);
    let late = w03
        .create_patient(&reg, new_patient("晚"))
        .expect("create")
        .value
        .header
        .id;
    w03.update_patient(
        &reg,
        early,
        PatientEdit {
            phone: Some("13811112222".into()),
            ..PatientEdit::default()
        },
    )
    .expect("edit");
    for n in [&central, &w01, &w02] {
        n.store
            .admit_member(credentials.member().clone())
            .expect("admit");
    }
    // W03 → central: the later signature and the earlier one both go with `early`.
    let out = central.store.merge_from(&w03).expect("apply");
    assert!(out.rejected.is_empty(), "{out:?}");
    assert_eq!(heads(&central.store, early), heads_of(&w03, early));
    assert_eq!(heads(&central.store, late), heads_of(&w03, late));
    // central → W01, a relay: central kept W03's commits beside the changes it applied.
    replicate(&central, &w01);
    assert_eq!(heads(&w01.store, early), heads_of(&w03, early));
    for store in [&w03, &central.store, &w01.store] {
        assert_eq!(store.check_kept().expect("scan"), Vec::<String>::new());
    }
    drop(w02);
}

fn heads_of(store: &Store, id: RecordId) -> Option<Vec<ChangeHash>> {
    store.doc(id).expect("read").map(|d| d.get_heads())
}

/// Changes made before a node had its key are signed in small commits, in record order: a
/// record goes to a peer with the commits that sign it, and a commit of the whole history
/// (megabytes at a hospital's size) would ride with every batch.
#[test]
fn changes_signed_late_are_signed_in_small_commits() {
    let reg = op("reg1", DeskRole::Registration);
    let (_dir, w03, credentials) = keyless_window();
    let ids: Vec<RecordId> = (0..300)
        .map(|i| {
            w03.create_patient(&reg, new_patient(&format!("早{i}")))
                .expect("create")
                .value
                .header
                .id
        })
        .collect();
    let unsigned = w03.unsigned_changes().expect("read");
    assert!(unsigned >= 300, "{unsigned}");
    assert_eq!(w03.sign_as(credentials).expect("sign") as u64, unsigned);
    assert_eq!(
        w03.unsigned_changes().expect("read"),
        0,
        "every part left the list"
    );
    let mut commits = std::collections::BTreeSet::new();
    for id in &ids {
        let signed = w03.record_commits(*id).expect("read");
        assert_eq!(signed.len(), 1, "each record's changes in one commit here");
        for c in signed {
            let commit = SignedCommit::decode(&c.bytes).expect("a signed commit");
            assert!(commit.hashes.len() <= 256, "{}", commit.hashes.len());
            commits.insert(c.id);
        }
    }
    assert!(commits.len() >= 2, "the history is signed in parts");
}

/// A window's changes are signed when they first leave it: 300 registrations written one desk
/// write at a time while it is alone go out under two signed commits (parts of at most
/// `COMMIT_HASHES`), not 300, and central takes every one of them; a record written after
/// that send is signed at the next.
#[test]
fn writes_made_alone_are_signed_together_when_they_first_leave() {
    let (central, w01, _w02) = hospital(&[DeskRole::Registration]);
    let reg = op("reg1", DeskRole::Registration);
    let register = |name: &str| -> RecordId {
        let created = w01.store.create_patient(&reg, new_patient(name));
        created.expect("create").value.header.id
    };
    let ids: Vec<RecordId> = (0..300).map(|i| register(&format!("患者{i}"))).collect();
    assert_eq!(w01.store.unsigned_changes().expect("count"), 300);

    let export = w01.store.export(&ids).expect("export");
    assert_eq!(w01.store.unsigned_changes().expect("count"), 0);
    assert_eq!(export.signatures.len(), 2, "300 changes in parts of 256");
    let take = |export: crate::store::Export| {
        let out = central
            .store
            .apply_remote(w01.name(), export.changes, export.signatures)
            .expect("apply");
        assert!(out.rejected.is_empty(), "{:?}", out.rejected);
    };
    take(export);
    for id in &ids {
        assert!(central.store.doc(*id).expect("read").is_some());
    }

    let later = register("晚到");
    let export = w01.store.export(&[later]).expect("export");
    assert_eq!(export.signatures.len(), 1);
    take(export);
    assert_eq!(central.store.quarantine_len().expect("count"), 0);
}
