//! The store under test, set up as a registration window is in service: a window store that
//! received the catalogs from central through the merge API (as replication delivers them),
//! and one patient to register visits for; or new patients, each with a visit.

use std::path::Path;

use anyhow::{Context, ensure};
use lifeline_core::desk::{
    CatalogImport, NewPatient, NewVisit, parse_departments, parse_drugs, parse_services,
};
use lifeline_core::record::{InsuranceType, Sex, Visit};
use lifeline_core::store::Credentials;
use lifeline_core::{
    Date, DeskRole, NodeName, NodeRole, Operator, OperatorName, RecordId, Store, StoreOptions,
};

/// The department every benchmark registration is for.
const DEPARTMENT: &str = "PED-GEN";

/// A window store ready to register visits.
#[derive(Debug)]
pub struct Window {
    pub store: Store,
    pub registrar: Operator,
    pub patient: RecordId,
}

impl Window {
    /// One registration, as the registration desk makes it: returns once it is durable.
    pub fn register(&self) -> anyhow::Result<RecordId> {
        Ok(self.register_visit()?.header.id)
    }

    /// [`Window::register`], returning the visit as the store made it.
    pub fn register_visit(&self) -> anyhow::Result<Visit> {
        let saved = self
            .store
            .register_visit(
                &self.registrar,
                NewVisit {
                    patient: self.patient,
                    department: DEPARTMENT.to_owned(),
                    doctor: None,
                    expert: false,
                    payment: None,
                    occurred_at: None,
                },
            )
            .context("register_visit failed")?;
        Ok(saved.value)
    }

    /// A new patient and a visit for them, as a desk registers a first-time patient: two
    /// records, each durable when its call returns. `n` varies the patient's details.
    pub fn register_new_patient(&self, n: u64) -> anyhow::Result<(RecordId, RecordId)> {
        let patient = self
            .store
            .create_patient(
                &self.registrar,
                NewPatient {
                    patient_no: None,
                    name: format!("患者{n}"),
                    sex: if n.is_multiple_of(2) {
                        Sex::Female
                    } else {
                        Sex::Male
                    },
                    birth_date: Date::new(
                        2010 + (n % 15) as i32,
                        (n % 12) as u8 + 1,
                        (n % 28) as u8 + 1,
                    )
                    .context("a day between the 1st and the 28th is a date")?,
                    phone: format!("138{:08}", n % 100_000_000),
                    national_id: None,
                    insurance: InsuranceType::Resident,
                    guardian: None,
                },
            )
            .context("create_patient failed")?
            .value
            .header
            .id;
        let visit = self
            .store
            .register_visit(
                &self.registrar,
                NewVisit {
                    patient,
                    department: DEPARTMENT.to_owned(),
                    doctor: None,
                    expert: false,
                    payment: None,
                    occurred_at: None,
                },
            )
            .context("register_visit failed")?
            .value
            .header
            .id;
        Ok((patient, visit))
    }
}

/// The hospital's catalogs as shipped in `data/`.
pub fn catalogs() -> anyhow::Result<CatalogImport> {
    Ok(CatalogImport {
        drugs: Some(parse_drugs(include_str!("../../data/drugs.csv"))?),
        services: Some(parse_services(include_str!("../../data/services.csv"))?),
        departments: Some(parse_departments(include_str!(
            "../../data/departments.csv"
        ))?),
        doctors: None,
    })
}

/// Creates, in `dir`, a central store that imports the catalogs and a window store `W01`
/// that receives them from it, then registers a patient on the window.
pub fn window(dir: &Path) -> anyhow::Result<Window> {
    pair(dir).map(|(_central, window)| window)
}

/// Like [`window`], and keeps the central store (`central.redb`): it holds the catalogs and
/// nothing else. Both sign with keys of their own that no certificate proves.
pub fn pair(dir: &Path) -> anyhow::Result<(Store, Window)> {
    let central = NodeName::new("central")?;
    let window = NodeName::new("W01")?;
    let mut c = StoreOptions::new(central.clone(), NodeRole::Central);
    c.credentials = Some(Credentials::uncertified(central, NodeRole::Central, &[])?);
    let mut w = StoreOptions::new(window.clone(), NodeRole::Window);
    w.credentials = Some(Credentials::uncertified(
        window,
        NodeRole::Window,
        &[DeskRole::Registration],
    )?);
    pair_with(dir, c, w)
}

/// [`pair`] with the stores opened with these options (their certified keys, for the
/// replication benchmark).
pub fn pair_with(
    dir: &Path,
    central: StoreOptions,
    window: StoreOptions,
) -> anyhow::Result<(Store, Window)> {
    let admin = Operator::new(OperatorName::new("info1")?, DeskRole::Admin);
    let registrar = Operator::new(OperatorName::new("reg1")?, DeskRole::Registration);
    let central = Store::open(dir.join("central.redb"), central)?;
    central
        .import_catalog(&admin, catalogs()?)
        .context("cannot import the catalogs on central")?;
    let store = Store::open(dir.join("window.redb"), window)?;
    copy_all(&central, &store)?;
    let patient = store
        .create_patient(
            &registrar,
            NewPatient {
                patient_no: None,
                name: "王小明".to_owned(),
                sex: Sex::Female,
                birth_date: Date::new(2019, 5, 4).context("2019-05-04 is a date")?,
                phone: "13800138000".to_owned(),
                national_id: None,
                insurance: InsuranceType::Resident,
                guardian: None,
            },
        )
        .context("cannot create the patient")?
        .value
        .header
        .id;
    Ok((
        central,
        Window {
            store,
            registrar,
            patient,
        },
    ))
}

/// Copies every record of `from` into `to` through the merge API with their signatures, in
/// one commit ([`Store::merge_from`]).
pub(crate) fn copy_all(from: &Store, to: &Store) -> anyhow::Result<()> {
    let outcome = to
        .merge_from(from)
        .context("cannot copy the catalogs to the window")?;
    ensure!(
        outcome.rejected.is_empty() && outcome.missing_deps.is_empty(),
        "the window did not take every catalog record: {outcome:?}"
    );
    Ok(())
}
