//! What a send carries goes with its signatures, even when a desk writes the record between
//! the signing and the reading of the record (`Store::outgoing`).

use std::cell::RefCell;

use crate::store::{IncomingDoc, RemoteChanges};
use crate::test_support::{copy_all, new_patient, registrar, temp_store};
use crate::{NodeRole, Store};

thread_local! {
    /// What happens on this thread between a send's signing and its reading of the records.
    static AFTER_SIGNING: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
}

/// Called by [`Store::outgoing`] right after it signed what waited.
pub(super) fn after_signing() {
    if let Some(hook) = AFTER_SIGNING.with(|h| h.borrow_mut().take()) {
        hook();
    }
}

/// A record central holds at W01's heads, then changed at W01 twice: once before a send to
/// central, and once while the send runs, after its signing (as a desk's write lands under
/// load). Central must take both changes: before, the second went without its signature and
/// central refused the record as unsigned (the chaos runs' rare note).
#[test]
fn a_write_between_the_signing_and_the_reading_goes_with_its_signature() {
    let (_w, w01, _) = temp_store("W01", NodeRole::Window);
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    let reg = registrar();
    let id = w01
        .create_patient(&reg, new_patient("签"))
        .expect("patient")
        .value
        .header
        .id;
    copy_all(&w01, &central);
    // Central says it holds the patient at its heads: W01 learns so.
    let export = central.export(&[id]).expect("export");
    let held = IncomingDoc {
        id,
        bytes: export.changes[0].bytes.clone(),
        sender_heads: central.doc(id).expect("read").expect("doc").get_heads(),
        seq: 0,
    };
    w01.apply_batch(central.node(), vec![held], export.signatures, None)
        .expect("apply");
    let edit = |store: &Store, phone: &str| {
        let (store, reg, phone) = (store.clone(), reg.clone(), phone.to_owned());
        move || {
            store
                .update_patient(
                    &reg,
                    id,
                    crate::desk::PatientEdit {
                        phone: Some(phone),
                        ..Default::default()
                    },
                )
                .expect("edit");
        }
    };
    edit(&w01, "13900000001")();
    AFTER_SIGNING.with(|h| *h.borrow_mut() = Some(Box::new(edit(&w01, "13900000002"))));
    let out = w01.outgoing(central.node(), &[id]).expect("outgoing");
    assert_eq!(out.len(), 1, "{out:?}");
    let signatures = out[0].signatures.iter().map(|c| c.bytes.to_vec()).collect();
    let item = RemoteChanges {
        id,
        bytes: out[0].bytes.clone(),
    };
    let applied = central
        .apply_remote(w01.node(), vec![item], signatures)
        .expect("apply");
    assert!(applied.rejected.is_empty(), "{applied:?}");
    let patient: crate::record::Patient = central.get(id).expect("read").expect("patient");
    assert_eq!(patient.phone, "13900000002");
}
