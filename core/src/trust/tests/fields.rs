//! Which fields an author may write: central's acknowledgement, a lessor's range, another
//! node's episode entry, a record's header, and its statuses (only forward).

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};

use super::*;
use crate::WriteError;
use crate::desk::{LeaveScope, NewPrescription, NewPrescriptionItem};
use crate::id::EpisodeId;
use crate::numbers::Series;
use crate::record::{CENTRAL_ACK_KEY, Header, Lease, Receipt, RecordKind};
use crate::rules::RuleError;
use crate::test_support::{catalogs, new_patient, paediatrics};

fn system() -> Operator {
    op("lifeline-system", DeskRole::Admin)
}

/// Puts a stamp map at the root key `key`, as a desk writes one.
fn put_stamp(tx: &mut Transaction<'_>, key: &str, node: &str) -> Result<(), AutomergeError> {
    let stamp = tx.put_object(ROOT, key, ObjType::Map)?;
    tx.put(&stamp, "at_ms", 1_i64)?;
    tx.put(&stamp, "node", node)?;
    tx.put(&stamp, "operator", "forger")
}

/// Hole 3: `central_ack` was trusted from any author, so a window could lift the hold on
/// emergency prescriptions and mark records reconciled that central never saw. Central now
/// acknowledges with receipts: a window's receipt is refused as well as its stamp.
#[test]
fn only_central_acknowledges() {
    let (central, w01, w02) =
        hospital(&[DeskRole::Registration, DeskRole::Doctor, DeskRole::Pharmacy]);
    central
        .store
        .import_catalog(&op("info1", DeskRole::Admin), catalogs())
        .expect("import");
    replicate(&central, &w01);
    let range = central
        .store
        .lease_range(
            &op("info1", DeskRole::Admin),
            Series::EmergencyRegistration,
            w01.name().clone(),
            10,
        )
        .expect("lease")
        .value;
    w01.store.accept_lease(&system(), range).expect("accept");
    w01.store
        .start_episode(&system(), EpisodeId::new("YJ-1").expect("valid"), "outage")
        .expect("start");
    let reg = op("reg1", DeskRole::Registration);
    let p = w01
        .store
        .create_patient(&reg, new_patient("急"))
        .expect("patient")
        .value;
    let v = w01
        .store
        .register_visit(&reg, paediatrics(p.header.id))
        .expect("visit")
        .value;
    let rx = w01
        .store
        .create_prescription(
            &op("dr1", DeskRole::Doctor),
            NewPrescription {
                visit: v.header.id,
                items: vec![NewPrescriptionItem {
                    drug_code: "DRG-0001".into(),
                    quantity: 1,
                    dosage: "tid".into(),
                }],
                payment: None,
                occurred_at: None,
            },
        )
        .expect("rx")
        .value
        .header
        .id;
    replicate(&w01, &w02);
    let doc = w02.store.doc(rx).expect("read").expect("the prescription");
    let (bytes, hashes) = forge(&doc, actor_of("W02"), |tx| {
        put_stamp(tx, CENTRAL_ACK_KEY, "central")
    });
    let before = heads(&w01.store, rx);
    let out = send(&w01.store, w02.name(), rx, bytes, signed(w02.key(), hashes));
    assert_eq!(
        refused_as(&out, &w01.store, rx, before),
        "field_not_allowed"
    );
    assert!(out.rejected[0].reason.detail().contains("central_ack"));
    // A receipt of W02's own, signed by W02, naming the prescription.
    let receipt = Receipt {
        header: Header {
            id: RecordId::generate(),
            kind: RecordKind::Receipt,
            origin: w02.name().clone(),
            operator: OperatorName::new("forger").expect("valid"),
            created_ms: 1,
            episode: None,
            paper: None,
        },
        records: vec![rx],
    };
    let (bytes, hashes) = forge(&Automerge::new(), actor_of("W02"), |tx| {
        autosurgeon::reconcile(tx, &receipt).expect("the receipt's fields");
        Ok(())
    });
    let id = receipt.header.id;
    let out = send(&w01.store, w02.name(), id, bytes, signed(w02.key(), hashes));
    assert_eq!(refused_as(&out, &w01.store, id, None), "kind_not_allowed");
    // The hold stays, and the record is still waiting for central.
    let pharmacy = op("ph1", DeskRole::Pharmacy);
    let err = w01.store.dispense_prescription(&pharmacy, rx).unwrap_err();
    assert!(
        matches!(
            err,
            WriteError::Rule(RuleError::EmergencyDispenseOnHold { .. })
        ),
        "{err:?}"
    );
    assert!(w01.store.unreconciled().expect("index").contains(&rx));
    // Central's own acknowledgement is taken.
    replicate(&w01, &central);
    central
        .store
        .acknowledge_emergency_records(&system())
        .expect("ack");
    replicate(&central, &w01);
    assert!(w01.store.central_acked(rx).expect("read"));
}

/// A lease request W01 made, as every node holds it.
fn lease_request(w01: &Node, others: &[&Node]) -> RecordId {
    let id = w01
        .store
        .request_lease(&system(), Series::Invoice, 100)
        .expect("request")
        .value
        .expect("a new request");
    for other in others {
        replicate(w01, other);
    }
    id
}

/// A lease request's `range`, as lessor `by` writes it.
fn grant(
    by: &str,
    start: u64,
    end: u64,
) -> impl FnOnce(&mut Transaction<'_>) -> Result<(), AutomergeError> {
    let by = by.to_owned();
    move |tx| {
        let range = tx.put_object(ROOT, "range", ObjType::Map)?;
        tx.put(&range, "start", start)?;
        tx.put(&range, "end", end)?;
        tx.put(&range, "leased_by", by.as_str())?;
        tx.put(&range, "leased_ms", 1_i64)
    }
}

/// Hole 2: lease grants were accepted from any author, of any size, and a grant ending at
/// `u64::MAX` overflowed.
#[test]
fn only_a_lessor_grants_ranges_within_the_limits() {
    let (central, w01, w02) = hospital(&[DeskRole::Cashier]);
    let request = lease_request(&w01, &[&central, &w02]);
    let doc = w02.store.doc(request).expect("read").expect("the request");
    let refuse = |by: &Node, start: u64, end: u64, code: &str| {
        let (bytes, hashes) = forge(
            &doc,
            actor_of(by.name().as_str()),
            grant(by.name().as_str(), start, end),
        );
        let before = heads(&w01.store, request);
        let out = send(
            &w01.store,
            w02.name(),
            request,
            bytes,
            signed(by.key(), hashes),
        );
        assert_eq!(
            refused_as(&out, &w01.store, request, before),
            code,
            "{start}..={end} by {}",
            by.name()
        );
    };
    // A window grants W01 a range: two windows would print the same invoice numbers.
    refuse(&w02, 1, 100, "field_not_allowed");
    // Central, but more than asked (and more than any lease may hold).
    refuse(&central, 1, 2_000_000, "bad_lease");
    // Central, ending at u64::MAX: outside its half, and once an overflow.
    refuse(&central, u64::MAX - 99, u64::MAX, "bad_lease");
    // Nothing was taken into W01's ledger.
    assert_eq!(
        w01.store.accept_granted_leases(&system()).expect("accept"),
        0
    );
    assert!(w01.store.ranges().expect("ranges").is_empty());

    // Central's real grant is taken; a second grant overlapping it is refused.
    central.store.fill_lease_requests(&system()).expect("fill");
    replicate(&central, &w01);
    assert_eq!(
        w01.store.accept_granted_leases(&system()).expect("accept"),
        1
    );
    let held = w01.store.ranges().expect("ranges");
    assert_eq!((held[0].range.start, held[0].range.end), (1, 100));
    let second = lease_request(&w01, &[&central, &w02]);
    let doc = central
        .store
        .doc(second)
        .expect("read")
        .expect("the request");
    let (bytes, hashes) = forge(&doc, actor_of("central"), grant("central", 51, 150));
    let before = heads(&w01.store, second);
    let out = send(
        &w01.store,
        central.name(),
        second,
        bytes,
        signed(central.key(), hashes),
    );
    assert_eq!(refused_as(&out, &w01.store, second, before), "bad_lease");
    assert!(
        out.rejected[0].reason.detail().contains("overlaps"),
        "{out:?}"
    );
    let lease: Lease = w01.store.get(second).expect("read").expect("the request");
    assert!(lease.range.is_none());
}

/// A window spoiling another's numbers on its lease: refused. (Its holder's ledger takes the
/// numbers spoiled on its own lease when that lease comes back from a peer, `desk::returning`:
/// a forged spoil of the range's last number would have used the whole range up.)
#[test]
fn only_its_holder_spoils_a_lease_s_numbers() {
    let (central, w01, w02) = hospital(&[DeskRole::Registration]);
    let series = Series::EmergencyRegistration;
    let request = w01
        .store
        .request_lease(&system(), series, 100)
        .expect("request")
        .value
        .expect("a new request");
    replicate(&w01, &central);
    central.store.fill_lease_requests(&system()).expect("fill");
    replicate(&central, &w01);
    replicate(&central, &w02);
    w01.store.accept_granted_leases(&system()).expect("accept");
    let doc = w02.store.doc(request).expect("read").expect("the lease");
    let (bytes, hashes) = forge(&doc, actor_of("W02"), |tx| {
        let (_, spoiled) = tx.get(ROOT, "spoiled")?.expect("the spoiled map");
        let entry = tx.put_object(&spoiled, "100", ObjType::Map)?;
        tx.put(&entry, "reason", "forged")?;
        tx.put(&entry, "operator", "forger")?;
        tx.put(&entry, "at_ms", 1_i64)
    });
    for to in [&w01, &central] {
        let before = heads(&to.store, request);
        let out = send(
            &to.store,
            w02.name(),
            request,
            bytes.clone(),
            signed(w02.key(), hashes.clone()),
        );
        assert_eq!(
            refused_as(&out, &to.store, request, before),
            "field_not_allowed"
        );
    }
    assert_eq!(w01.store.ranges().expect("ranges")[0].next, 1);
    // Its holder spoils one: every node takes it.
    w01.store
        .void_next_number(&system(), series, "printer jam")
        .expect("spoil");
    replicate(&w01, &central);
    let lease: Lease = central.store.get(request).expect("read").expect("lease");
    assert_eq!(lease.spoiled.keys().collect::<Vec<_>>(), ["1"]);
}

/// Central and the standby both filled one request while they did not hear each other (the
/// standby acting as primary through a short silence): each holds its own grant, and each
/// takes the other's concurrent one, whichever shows, so the two converge. The grant that
/// loses the concurrent write grants nothing, so it is not judged as if it did.
#[test]
fn concurrent_grants_by_both_lessors_converge() {
    let (central, w01, _w02) = hospital(&[DeskRole::Cashier]);
    let standby = node("standby", NodeRole::Standby, &[]);
    for a in [&central, &w01, &standby] {
        for b in [&central, &w01, &standby] {
            a.store
                .admit_member(b.credentials.member().clone())
                .expect("admit");
        }
    }
    let request = lease_request(&w01, &[&central, &standby]);
    central.store.fill_lease_requests(&system()).expect("fill");
    standby.store.fill_lease_requests(&system()).expect("fill");
    // Each lessor takes the other's grant: nothing refused (copy_all asserts it).
    replicate(&central, &standby);
    replicate(&standby, &central);
    assert_eq!(
        heads(&central.store, request),
        heads(&standby.store, request)
    );
    let shown = |n: &Node| {
        let lease: Lease = n.store.get(request).expect("read").expect("the lease");
        lease.range.expect("granted")
    };
    assert_eq!(shown(&central), shown(&standby));
    // The window takes them in either order: one lessor's grant first, then the other's.
    replicate(&central, &w01);
    replicate(&standby, &w01);
    assert_eq!(heads(&w01.store, request), heads(&central.store, request));
    assert_eq!(shown(&w01), shown(&central));
}

/// A lessor may lease by hand (a lease record it creates for another node, range filled in);
/// a window may not, for another node, whoever it says granted the range.
#[test]
fn only_a_lessor_leases_by_hand_to_another_node() {
    use crate::desk::LeaseOrder;
    use crate::record::{Header, LeasedRange};

    let (central, w01, w02) = hospital(&[DeskRole::Cashier]);
    central
        .store
        .lease_range_for(
            &op("info1", DeskRole::Admin),
            LeaseOrder {
                series: Series::Invoice,
                holder: w01.name().clone(),
                size: 50,
                operator: None,
                code: None,
                start: None,
            },
        )
        .expect("central leases by hand");
    replicate(&central, &w01);
    assert_eq!(
        w01.store.accept_granted_leases(&system()).expect("accept"),
        1
    );

    let forged = |leased_by: &str, start: u64| {
        let now = w02.store.now_ms();
        let lease = Lease {
            header: Header {
                id: RecordId::generate_at(now),
                kind: RecordKind::Lease,
                origin: w02.name().clone(),
                operator: OperatorName::new("info2").expect("valid"),
                created_ms: now,
                episode: None,
                paper: None,
            },
            series: Series::Invoice.name().to_owned(),
            holder: w01.name().clone(),
            size: 50,
            range: Some(LeasedRange {
                start,
                end: start + 49,
                leased_by: NodeName::new(leased_by).expect("valid"),
                leased_ms: now,
            }),
            operator: None,
            code: None,
            spoiled: Default::default(),
        };
        let mut doc = Automerge::new().with_actor(actor_of("W02"));
        doc.transact(|tx| autosurgeon::reconcile(tx, &lease))
            .expect("build");
        let hashes = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
        let out = send(
            &w01.store,
            w02.name(),
            lease.header.id,
            doc.save(),
            signed(w02.key(), hashes),
        );
        (refused_as(&out, &w01.store, lease.header.id, None), out)
    };
    // W02 leases to W01 "from central": neither the holder nor the lessor made it.
    let (code, out) = forged("central", 1_000);
    assert_eq!(code, "bad_lease");
    assert!(
        out.rejected[0].reason.detail().contains("neither"),
        "{out:?}"
    );
    // W02 leases to W01 as its own lessor: a window grants nothing.
    let (code, _) = forged("W02", 2_000);
    assert_eq!(code, "bad_lease");
    assert_eq!(
        w01.store.accept_granted_leases(&system()).expect("accept"),
        0
    );
    assert_eq!(w01.store.ranges().expect("ranges").len(), 1);
}

/// Header fields never change after creation, and a record's origin is its creator.
#[test]
fn headers_are_their_creator_s() {
    let (central, w01, w02) = hospital(&[DeskRole::Registration]);
    let reg = op("reg1", DeskRole::Registration);
    let p = w01
        .store
        .create_patient(&reg, new_patient("甲"))
        .expect("patient")
        .value;
    replicate(&w01, &w02);
    replicate(&w01, &central);
    let doc = w02
        .store
        .doc(p.header.id)
        .expect("read")
        .expect("the patient");
    let (bytes, hashes) = forge(&doc, actor_of("W02"), |tx| {
        let (_, header) = tx.get(ROOT, "header")?.expect("header");
        tx.put(&header, "created_ms", 5_i64)
    });
    let id = p.header.id;
    let before = heads(&central.store, id);
    let out = send(
        &central.store,
        w02.name(),
        id,
        bytes,
        signed(w02.key(), hashes),
    );
    assert_eq!(
        refused_as(&out, &central.store, id, before),
        "header_rewritten"
    );

    // W02 creates a patient that says W01 made it.
    let mut forged = p.clone();
    forged.header.id = RecordId::generate();
    forged.patient_no = "W01-999999".into();
    let mut doc = Automerge::new().with_actor(actor_of("W02"));
    doc.transact(|tx| autosurgeon::reconcile(tx, &forged))
        .expect("build");
    let hashes = doc.get_changes(&[]).iter().map(|c| c.hash()).collect();
    let out = send(
        &central.store,
        w02.name(),
        forged.header.id,
        doc.save(),
        signed(w02.key(), hashes),
    );
    assert_eq!(
        refused_as(&out, &central.store, forged.header.id, None),
        "header_rewritten"
    );
    assert!(
        out.rejected[0].reason.detail().contains("created it"),
        "{out:?}"
    );
}

/// A node writes only its own entry of an episode, and closes it only once everyone left
/// (or as the information department).
#[test]
fn an_episode_entry_is_its_node_s() {
    let (central, w01, w02) = hospital(&[DeskRole::Registration]);
    let episode = w01
        .store
        .open_episode(
            &system(),
            "central unreachable",
            crate::desk::Opening::Automatic,
        )
        .expect("open")
        .value;
    replicate(&w01, &w02);
    replicate(&w01, &central);
    let id = w02
        .store
        .episodes()
        .expect("episodes")
        .into_iter()
        .find(|e| e.episode.episode_id == episode)
        .expect("the episode")
        .record;
    let doc = w02.store.doc(id).expect("read").expect("the episode");
    // W01 "leaves", written by W02.
    let (bytes, hashes) = forge(&doc, actor_of("W02"), |tx| {
        let (_, nodes) = tx.get(ROOT, "nodes")?.expect("nodes");
        let (_, entry) = tx.get(&nodes, "W01")?.expect("W01's entry");
        tx.put(&entry, "left_ms", 1_i64)
    });
    let before = heads(&central.store, id);
    let out = send(
        &central.store,
        w02.name(),
        id,
        bytes,
        signed(w02.key(), hashes),
    );
    assert_eq!(
        refused_as(&out, &central.store, id, before),
        "field_not_allowed"
    );
    assert!(
        out.rejected[0].reason.detail().contains("nodes.W01"),
        "{out:?}"
    );
    // W02 closes it for everyone while W01 is in. W02's certificate names the admin desk
    // here, so try as a window without it: a registration-only W03.
    let w03 = node("W03", NodeRole::Window, &[DeskRole::Registration]);
    for n in [&central, &w01, &w02] {
        n.store
            .admit_member(w03.credentials.member().clone())
            .expect("admit");
        w03.store
            .admit_member(n.credentials.member().clone())
            .expect("admit");
    }
    replicate(&w01, &w03);
    let doc = w03.store.doc(id).expect("read").expect("the episode");
    let (bytes, hashes) = forge(&doc, actor_of("W03"), |tx| tx.put(ROOT, "closed_ms", 1_i64));
    let before = heads(&central.store, id);
    let out = send(
        &central.store,
        w03.name(),
        id,
        bytes,
        signed(w03.key(), hashes),
    );
    assert_eq!(
        refused_as(&out, &central.store, id, before),
        "field_not_allowed"
    );
    // Honest leaving and closing still go through.
    w01.store
        .leave_episode(&system(), LeaveScope::ThisNode)
        .expect("leave");
    replicate(&w01, &central);
    assert!(
        central
            .store
            .peer_state(w01.name())
            .expect("state")
            .refused
            .is_empty()
    );
}

/// An automatic episode's reason code is written with the episode and replicates with it;
/// no node may rewrite it afterwards, as no node may rewrite the reason.
#[test]
fn an_episode_s_reason_code_is_fixed_at_its_opening() {
    let (central, w01, _w02) = hospital(&[DeskRole::Registration]);
    let code = crate::record::ReasonCode {
        code: crate::record::ReasonCode::CENTRAL_UNREACHABLE.into(),
        seconds: Some(45),
    };
    let episode = w01
        .store
        .open_episode_because(
            &system(),
            "central unreachable for 45 s",
            Some(code.clone()),
            crate::desk::Opening::Automatic,
        )
        .expect("open")
        .value;
    replicate(&w01, &central);
    let found = central
        .store
        .episodes()
        .expect("episodes")
        .into_iter()
        .find(|e| e.episode.episode_id == episode)
        .expect("the episode");
    assert_eq!(found.episode.reason_code, Some(code));
    let id = found.record;
    let doc = w01.store.doc(id).expect("read").expect("the episode");
    let (bytes, hashes) = forge(&doc, actor_of("W01"), |tx| {
        let (_, code) = tx.get(ROOT, "reason_code")?.expect("the code");
        tx.put(&code, "seconds", 3600_i64)
    });
    let before = heads(&central.store, id);
    let out = send(
        &central.store,
        w01.name(),
        id,
        bytes,
        signed(w01.key(), hashes),
    );
    assert_eq!(
        refused_as(&out, &central.store, id, before),
        "field_not_allowed"
    );
}

/// Statuses only move forward: no change may remove a state from a status log.
#[test]
fn a_status_never_goes_back() {
    let (central, w01, w02) = hospital(&[DeskRole::Registration, DeskRole::Triage]);
    central
        .store
        .import_catalog(&op("info1", DeskRole::Admin), catalogs())
        .expect("import");
    replicate(&central, &w01);
    let reg = op("reg1", DeskRole::Registration);
    let p = w01
        .store
        .create_patient(&reg, new_patient("乙"))
        .expect("patient")
        .value;
    let v = w01
        .store
        .register_visit(&reg, paediatrics(p.header.id))
        .expect("visit")
        .value;
    w01.store
        .see_visit(&op("dr1", DeskRole::Triage), v.header.id)
        .ok();
    replicate(&w01, &central);
    replicate(&w01, &w02);
    let id = v.header.id;
    let doc = w02.store.doc(id).expect("read").expect("the visit");
    let (bytes, hashes) = forge(&doc, actor_of("W02"), |tx| {
        let (_, log) = tx.get(ROOT, "status_log")?.expect("status log");
        let last = tx.keys(&log).last().expect("a state");
        tx.delete(&log, last.as_str())
    });
    let before = heads(&central.store, id);
    let out = send(
        &central.store,
        w02.name(),
        id,
        bytes,
        signed(w02.key(), hashes),
    );
    assert_eq!(
        refused_as(&out, &central.store, id, before),
        "status_backwards"
    );
    let _ = RecordKind::Visit;
}

/// A change a test makes to a record's document by hand.
type Forgery = fn(&mut Transaction<'_>) -> Result<(), AutomergeError>;

/// The same rules on this node's own writes: a write every other node would refuse is not
/// saved here either (the desk hears "not saved", nothing is stored or audited), and the
/// record stays as it was for the writes after it.
#[test]
fn a_node_does_not_save_what_every_other_node_would_refuse() {
    let (_central, w01, _w02) = hospital(&[DeskRole::Registration]);
    let reg = op("reg1", DeskRole::Registration);
    let id = w01
        .store
        .create_patient(&reg, new_patient("张小明"))
        .expect("create")
        .value
        .header
        .id;
    let before = heads(&w01.store, id);
    let audit_before = w01.store.audit_entries(0, usize::MAX).expect("audit").len();
    let attempts: [(&str, Forgery); 2] = [
        ("field_not_allowed", |tx| {
            put_stamp(tx, CENTRAL_ACK_KEY, "W01")
        }),
        ("header_rewritten", |tx| {
            let (_, header) = tx.get(ROOT, "header")?.expect("the header");
            tx.put(&header, "origin", "central")
        }),
    ];
    for (code, forge) in attempts {
        let who = reg.clone();
        let refused = w01
            .store
            .write(move |tx| {
                tx.edit(id, &who, "forge", |t| {
                    forge(t).map_err(|e| WriteError::document("forge", e))
                })
            })
            .expect_err("refused");
        let WriteError::Rule(RuleError::BreaksReplicaRule(breach)) = &refused else {
            panic!("{code}: not a replica rule: {refused:?}");
        };
        assert_eq!(breach.code(), code, "{refused}");
        assert_eq!(heads(&w01.store, id), before, "{code}: nothing saved");
        assert_eq!(
            w01.store.audit_entries(0, usize::MAX).expect("audit").len(),
            audit_before
        );
    }
    // The record takes honest edits afterwards.
    w01.store
        .update_patient(
            &reg,
            id,
            crate::desk::PatientEdit {
                phone: Some("13811112222".into()),
                ..crate::desk::PatientEdit::default()
            },
        )
        .expect("an honest edit");
    assert_ne!(heads(&w01.store, id), before);
}

/// The number printed on a visit is its writer's, from its own range: another window
/// rewriting it is refused (a forged number in a window's range, on a record of its that
/// comes back, would otherwise move that range's cursor on: `desk::returning`). A server's
/// HIS pull rewrites a pulled visit's number as the HIS changes it.
#[test]
fn only_its_writer_numbers_a_visit() {
    let (central, w01, w02) = hospital(&[DeskRole::Registration]);
    let admin = op("info1", DeskRole::Admin);
    central
        .store
        .import_catalog(&admin, catalogs())
        .expect("import");
    replicate(&central, &w01);
    let reg = op("reg1", DeskRole::Registration);
    let p = w01
        .store
        .create_patient(&reg, new_patient("号"))
        .expect("patient");
    let v = w01
        .store
        .register_visit(&reg, paediatrics(p.value.header.id))
        .expect("visit")
        .value;
    let id = v.header.id;
    replicate(&w01, &w02);
    replicate(&w01, &central);
    let renumber = |by: &Node| {
        let doc = by.store.doc(id).expect("read").expect("the visit");
        forge(&doc, actor_of(by.name().as_str()), |tx| {
            tx.put(ROOT, "registration_no", "YJ00000100")
        })
    };
    let (bytes, hashes) = renumber(&w02);
    let before = heads(&w01.store, id);
    let out = send(&w01.store, w02.name(), id, bytes, signed(w02.key(), hashes));
    assert_eq!(
        refused_as(&out, &w01.store, id, before),
        "field_not_allowed"
    );
    let (bytes, hashes) = renumber(&central);
    let out = send(
        &w01.store,
        central.name(),
        id,
        bytes,
        signed(central.key(), hashes),
    );
    assert!(out.rejected.is_empty(), "{out:?}");
    let visit: crate::record::Visit = w01.store.get(id).expect("read").expect("visit");
    assert_eq!(visit.registration_no, "YJ00000100");
}
