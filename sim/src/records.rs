//! The records the desks create: a header and a status stamp of the writing node's clock, and
//! a new record of each kind, linked to records the node already holds.

use lifeline_core::money::Fen;
use lifeline_core::record::{
    Charge, ChargeSource, Dispense, Header, InsuranceType, Patient, PaymentMethod, Prescription,
    PrescriptionItem, Sex, Visit,
};
use lifeline_core::status::{
    ChargeStatus, DispenseStatus, InvoiceStatus, PrescriptionStatus, Stamp, Status, StatusLog,
    VisitStatus,
};
use lifeline_core::{Date, RecordId};

use crate::backing::Backing;
use crate::sim::Sim;
use crate::work::{Job, Kind, New, operator};

impl<R: Backing> Sim<R> {
    pub(crate) fn header(&mut self, node: usize, kind: Kind) -> Header {
        let created_ms = self.wall_ms(node);
        let mut bytes = self.work_rng.bytes16();
        let ms = u64::try_from(created_ms).unwrap_or(0).to_be_bytes();
        bytes[..6].copy_from_slice(&ms[2..]);
        Header {
            id: RecordId::from_bytes(bytes),
            kind: kind.core(),
            origin: self.nodes[node].name.clone(),
            operator: operator(kind),
            created_ms,
            episode: None,
            paper: None,
        }
    }

    pub(crate) fn stamp(&self, node: usize, kind: Kind) -> Stamp {
        Stamp {
            at_ms: self.wall_ms(node),
            node: self.nodes[node].name.clone(),
            operator: operator(kind),
        }
    }

    pub(crate) fn new_patient(&mut self, node: usize) -> Job {
        self.ledger.serial += 1;
        let serial = self.ledger.serial;
        let phone = self.phone();
        let patient = Patient {
            header: self.header(node, Kind::Patient),
            patient_no: format!("{}-{serial}", self.name(node)),
            name: format!("patient {serial}"),
            sex: if serial.is_multiple_of(2) {
                Sex::Female
            } else {
                Sex::Male
            },
            birth_date: Date::new(1950 + (serial % 70) as i32, 1 + (serial % 12) as u8, 1)
                .expect("the first of a month is a date"),
            phone,
            national_id: None,
            insurance: InsuranceType::SelfPay,
            merged_into: None,
            his_id: None,
            guardian: None,
            his_deleted: false,
            his_changed: None,
        };
        Job::Create(New::Patient(Box::new(patient)))
    }

    pub(crate) fn new_visit(&mut self, node: usize) -> Option<Job> {
        let patient: Patient = self.held(node, Kind::Patient)?;
        self.ledger.serial += 1;
        let visit = Visit {
            header: self.header(node, Kind::Visit),
            patient: patient.header.id,
            department: "internal medicine".into(),
            doctor: None,
            fee: Fen(500),
            registration_no: format!("{}-R{}", self.name(node), self.ledger.serial),
            fee_charge: None,
            status_log: StatusLog::starting(VisitStatus::Registered, self.stamp(node, Kind::Visit)),
            his_id: None,
        };
        Some(Job::Create(New::Visit(Box::new(visit))))
    }

    pub(crate) fn new_prescription(&mut self, node: usize) -> Option<Job> {
        let visit: Visit = self.held(node, Kind::Visit)?;
        let quantity = u32::try_from(self.work_rng.range(1, 6)).unwrap_or(1);
        let item = PrescriptionItem {
            drug_code: "D0001".into(),
            drug_name: "amoxicillin 250 mg".into(),
            quantity,
            dosage: "three times a day".into(),
            unit_price: Fen(1280),
            catalog_version: 1,
        };
        let stamp = self.stamp(node, Kind::Prescription);
        let prescription = Prescription {
            header: self.header(node, Kind::Prescription),
            visit: visit.header.id,
            patient: visit.patient,
            items: vec![item],
            charge: None,
            status_log: StatusLog::starting(PrescriptionStatus::Issued, stamp),
            his_id: None,
        };
        Some(Job::Create(New::Prescription(Box::new(prescription))))
    }

    pub(crate) fn new_charge(&mut self, node: usize) -> Option<Job> {
        let visit: Visit = self.held(node, Kind::Visit)?;
        let stamp = self.stamp(node, Kind::Charge);
        let header = self.header(node, Kind::Charge);
        // Half the charges are to be paid by the insurance (those a failed link leaves to
        // re-settle, `cashier`), chosen by the id's random bits: no draw of its own.
        let [.., amount_bits, payment_bits] = header.id.to_bytes();
        let requested_payment = if payment_bits.is_multiple_of(2) {
            PaymentMethod::Insurance
        } else {
            PaymentMethod::SelfPay
        };
        let charge = Charge {
            header,
            visit: visit.header.id,
            patient: visit.patient,
            lines: Vec::new(),
            amount: Fen(500 + 10 * i64::from(amount_bits)),
            requested_payment,
            payment: None,
            payments: Vec::new(),
            resettle_due: None,
            resettle_after: None,
            resettled: None,
            source: ChargeSource::Desk,
            prescription: None,
            invoice: None,
            refund: None,
            status_log: StatusLog::starting(ChargeStatus::Pending, stamp),
            his_id: None,
        };
        Some(Job::Create(New::Charge(Box::new(charge))))
    }

    pub(crate) fn new_dispense(&mut self, node: usize) -> Option<Job> {
        let prescription: Prescription = self.held(node, Kind::Prescription)?;
        let stamp = self.stamp(node, Kind::Dispense);
        let dispense = Dispense {
            header: self.header(node, Kind::Dispense),
            prescription: prescription.header.id,
            patient: prescription.patient,
            status_log: StatusLog::starting(DispenseStatus::OnHold, stamp),
        };
        Some(Job::Create(New::Dispense(Box::new(dispense))))
    }

    pub(crate) fn phone(&mut self) -> String {
        format!("13{:09}", self.work_rng.range(0, 999_999_999))
    }

    pub(crate) fn phone_job(&mut self, id: RecordId) -> Job {
        Job::Phone {
            id,
            phone: self.phone(),
        }
    }
}

/// A record's status log as this replica holds it, if it holds the record.
pub(crate) fn status_log<R: Backing>(replica: &R, id: RecordId) -> Option<StatusLog> {
    replica
        .with_doc(id, |doc| {
            lifeline_core::record::hydrate_field(doc, "status_log").ok()
        })
        .flatten()
}

/// A state the desk may move to from the current one, at random.
pub(crate) fn next_state<S: Status>(
    log: &StatusLog,
    rng: &mut crate::rng::Rng,
) -> Option<&'static str> {
    let current = log.current::<S>().ok()?;
    let next: Vec<S> = S::ALL
        .iter()
        .copied()
        .filter(|s| *s > current && s.may_follow(current))
        .collect();
    rng.pick(&next).map(|s| s.name())
}

/// Whether `state` is in the record's status log here and the status is at least there.
pub(crate) fn reached<R: Backing>(
    replica: &R,
    id: RecordId,
    kind: Kind,
    state: &str,
) -> Result<(), String> {
    match kind {
        Kind::Visit => reached_in::<VisitStatus, R>(replica, id, state),
        Kind::Prescription => reached_in::<PrescriptionStatus, R>(replica, id, state),
        Kind::Charge => reached_in::<ChargeStatus, R>(replica, id, state),
        Kind::Dispense => reached_in::<DispenseStatus, R>(replica, id, state),
        Kind::Invoice => reached_in::<InvoiceStatus, R>(replica, id, state),
        Kind::Patient => Err("a patient has no status".into()),
    }
}

fn reached_in<S: Status, R: Backing>(replica: &R, id: RecordId, state: &str) -> Result<(), String> {
    let log = status_log(replica, id).ok_or("not held, or no status log")?;
    let wanted = S::parse(state).ok_or("unknown state")?;
    if !log.0.contains_key(state) {
        return Err(format!("{state} is not in its status log"));
    }
    let current: S = log.current().map_err(|e| e.to_string())?;
    if current < wanted {
        return Err(format!("its status is {current:?}, behind {state}"));
    }
    Ok(())
}
