//! Catalogs: only central writes them, and each import bumps the version.

use super::*;

#[test]
fn only_central_writes_catalogs_and_imports_bump_the_version() {
    let (_d, window, _) = window();
    assert!(matches!(
        rule(window.import_catalog(&admin(), catalogs()).unwrap_err()),
        RuleError::CentralOnly { .. }
    ));
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    assert_eq!(
        central
            .import_catalog(&admin(), catalogs())
            .expect("import")
            .value,
        (1, 1)
    );
    assert_eq!(
        central
            .import_catalog(&admin(), catalogs())
            .expect("same again")
            .value,
        (1, 1)
    );
    let mut changed = catalogs();
    if let Some(drugs) = changed.drugs.as_mut() {
        drugs.get_mut("DRG-0001").expect("present").price = Fen(1300);
    }
    assert_eq!(
        central
            .import_catalog(&admin(), changed)
            .expect("import")
            .value,
        (2, 1)
    );
}

/// A catalog of `n` drugs priced from their number.
fn many_drugs(
    n: usize,
    price_base: i64,
) -> std::collections::BTreeMap<String, crate::record::Drug> {
    (0..n)
        .map(|i| {
            (
                format!("D{i:05}"),
                crate::record::Drug {
                    name_zh: format!("药品{i}"),
                    name_en: format!("Drug {i}"),
                    spec: "10mg".into(),
                    form: "tablet".into(),
                    unit: "box".into(),
                    price: Fen(price_base + i as i64),
                    insurance_class: "A".into(),
                },
            )
        })
        .collect()
}

#[test]
fn each_drug_is_an_item_imports_write_only_what_changed_and_left_out_codes_are_withdrawn() {
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    let mut import = catalogs();
    import.drugs = Some(many_drugs(300, 100));
    assert_eq!(
        central
            .import_catalog(&admin(), import.clone())
            .expect("import")
            .value,
        (1, 1)
    );
    assert_eq!(
        central
            .count_of_kind(crate::record::RecordKind::DrugItem)
            .expect("count"),
        300
    );
    let audit_before = central.stats().expect("stats").audit_entries;
    // One price changed and one drug left out: two items written, nothing else.
    let mut drugs = many_drugs(300, 100);
    drugs.get_mut("D00007").expect("present").price = Fen(9);
    drugs.remove("D00008");
    import.drugs = Some(drugs);
    assert_eq!(
        central
            .import_catalog(&admin(), import)
            .expect("import")
            .value,
        (2, 1)
    );
    let written = central.stats().expect("stats").audit_entries - audit_before;
    assert_eq!(written, 3, "two items and the catalog's version");
    let list = central.drug_list().expect("read").expect("present");
    assert_eq!(list.version, 2);
    assert_eq!(list.drugs.len(), 299);
    assert_eq!(list.drugs["D00007"].price, Fen(9));
    assert!(!list.drugs.contains_key("D00008"));
    assert!(central.check_kept().expect("check").is_empty());
}

#[test]
fn a_change_names_only_its_items_and_leaves_the_rest_unread() {
    let (_d, window, _) = window();
    assert!(matches!(
        rule(
            window
                .change_catalog(&admin(), CatalogChanges::default())
                .unwrap_err()
        ),
        RuleError::CentralOnly { .. }
    ));
    let (_c, central, _) = temp_store("central", NodeRole::Central);
    let mut import = catalogs();
    import.drugs = Some(many_drugs(300, 100));
    central.import_catalog(&admin(), import).expect("import");
    assert_eq!(central.catalog_versions().expect("versions"), (1, 1));
    let audit_before = central.stats().expect("stats").audit_entries;

    // One price changed, one new drug, one withdrawn, one withdrawn that is not there.
    let changes = CatalogChanges {
        drugs: many_drugs(302, 100)
            .into_iter()
            .filter(|(code, _)| code == "D00301")
            .chain([("D00007".to_owned(), {
                let mut d = many_drugs(8, 100)["D00007"].clone();
                d.price = Fen(9);
                d
            })])
            .collect(),
        withdrawn_drugs: ["D00008".to_owned(), "NO-SUCH".to_owned()].into(),
        ..CatalogChanges::default()
    };
    let changed = central
        .change_catalog(&admin(), changes.clone())
        .expect("change")
        .value;
    assert_eq!(changed.before, (1, 1));
    assert_eq!(changed.versions, (2, 1), "the services did not change");
    assert_eq!(
        (
            changed.items.added,
            changed.items.changed,
            changed.items.withdrawn
        ),
        (1, 1, 1)
    );
    let written = central.stats().expect("stats").audit_entries - audit_before;
    assert_eq!(written, 4, "three items and the catalog's version");
    let list = central.drug_list().expect("read").expect("present");
    assert_eq!(list.drugs.len(), 300);
    assert_eq!(list.drugs["D00007"].price, Fen(9));
    assert!(list.drugs.contains_key("D00301"));
    assert!(!list.drugs.contains_key("D00008"));
    assert_eq!(
        list.drugs["D00009"],
        many_drugs(10, 100)["D00009"],
        "the rest as it was"
    );

    // The same again changes nothing and keeps the version.
    let again = central
        .change_catalog(&admin(), changes)
        .expect("again")
        .value;
    assert_eq!(again.versions, (2, 1));
    assert_eq!(again.items, ItemCounts::default());
    assert!(central.check_kept().expect("check").is_empty());
}

#[test]
fn a_prescription_prices_from_its_items_and_refuses_an_unknown_drug() {
    let (_d, window, _) = window();
    let (_p, visit) = registered(&window);
    let doctor = op("doc1", DeskRole::Doctor);
    let rx = window
        .create_prescription(
            &doctor,
            NewPrescription {
                visit: visit.header.id,
                items: vec![NewPrescriptionItem {
                    drug_code: "DRG-0001".into(),
                    quantity: 2,
                    dosage: "tid".into(),
                }],
                payment: None,
                occurred_at: None,
            },
        )
        .expect("prescribed")
        .value;
    assert_eq!(rx.items[0].unit_price, Fen(1280));
    assert_eq!(rx.items[0].catalog_version, 1);
    let unknown = window
        .create_prescription(
            &doctor,
            NewPrescription {
                visit: visit.header.id,
                items: vec![NewPrescriptionItem {
                    drug_code: "NO-SUCH".into(),
                    quantity: 1,
                    dosage: "tid".into(),
                }],
                payment: None,
                occurred_at: None,
            },
        )
        .unwrap_err();
    assert!(matches!(rule(unknown), RuleError::UnknownCode { .. }));
}
