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
