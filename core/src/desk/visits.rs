//! Registration and triage: visits and the triage queue.
//!
//! A visit registered during an emergency episode takes its registration number from the
//! node's leased emergency range ("YJ" + number), enters triage paused and keeps its mark.
//! The triage nurse sees normal registrations first and orders the paused ones by hand,
//! resuming each into the queue.
//!
//! Registering a visit makes its registration fee a charge, in the same commit: the fee is
//! owed from the moment the slip is printed, and the cashier (or the registration desk, which
//! takes the fee at many windows) settles it like any other charge.

use serde::{Deserialize, Serialize};

use super::billing::{LinkedCharge, default_payment};
use super::paper::PaperTime;
use super::{Saved, Warning, permit};
use crate::WriteError;
use crate::clock::{Age, Date, UnixMs};
use crate::id::RecordId;
use crate::numbers::{Series, emergency_registration_no};
use crate::record::{
    CatalogKind, ChargeLine, ChargeSource, Department, Header, InsuranceType, PaymentMethod,
    RecordKind, Visit, catalog_id,
};
use crate::roles::Operator;
use crate::rules::{RuleError, check_text};
use crate::status::{Status, StatusLog, VisitStatus};
use crate::store::{Counter, put_stamp};
use crate::store::{ReadError, RecordDamage, Store};

/// A registration, as entered at the registration desk.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVisit {
    pub patient: RecordId,
    /// A department code from the service catalog (e.g. `PED-GEN`).
    pub department: String,
    #[serde(default)]
    pub doctor: Option<String>,
    /// An expert registration (the department's expert fee).
    #[serde(default)]
    pub expert: bool,
    /// How the fee is to be paid; by default as the patient's insurance says.
    #[serde(default)]
    pub payment: Option<PaymentMethod>,
    /// Typed in later from a paper form: the time written on it (hospital time).
    #[serde(default)]
    pub occurred_at: Option<PaperTime>,
}

/// One line of the triage queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueEntry {
    pub visit: RecordId,
    pub registration_no: String,
    pub patient: RecordId,
    pub patient_name: String,
    /// The patient's age today (`2岁6个月`).
    pub patient_age: Option<Age>,
    pub department: String,
    pub status: VisitStatus,
    /// Registered during an emergency episode ("YJ").
    pub emergency: bool,
    pub created_ms: UnixMs,
}

impl Store {
    pub fn register_visit(
        &self,
        who: &Operator,
        new: NewVisit,
    ) -> Result<Saved<Visit>, WriteError> {
        permit(who, RecordKind::Visit, "register visits")?;
        permit(
            who,
            RecordKind::Charge,
            "register visits (they charge the fee)",
        )?;
        check_text("department", &new.department, true)?;
        if let Some(doctor) = &new.doctor {
            check_text("doctor", doctor, false)?;
        }
        let who = who.clone();
        self.write(move |tx| {
            // Only whether the patient was merged away is read, not the whole record: this
            // runs for every registration.
            if let Some(into) = tx.patient_merged_into(new.patient)? {
                return Err(RuleError::PatientMerged {
                    id: new.patient,
                    into,
                }
                .into());
            }
            // Only the department is read, not the whole catalog: this runs for every
            // registration.
            let (dept, catalog_version): (Department, u64) = {
                let doc = tx
                    .doc(catalog_id(CatalogKind::Service))?
                    .ok_or(RuleError::CatalogMissing { catalog: "service" })?;
                let version =
                    autosurgeon::hydrate_prop::<_, u64, _, _>(doc, automerge::ROOT, "version")
                        .unwrap_or(0);
                let path = [
                    autosurgeon::Prop::Key("departments".into()),
                    autosurgeon::Prop::Key(new.department.as_str().into()),
                ];
                let dept = autosurgeon::hydrate_path(doc, &automerge::ROOT, path)
                    .ok()
                    .flatten()
                    .ok_or_else(|| RuleError::UnknownCode {
                        catalog: "department",
                        code: new.department.clone(),
                    })?;
                (dept, version)
            };
            let fee = if new.expert {
                dept.expert_fee
            } else {
                dept.registration_fee
            };
            let header = tx.header_for(RecordKind::Visit, &who, new.occurred_at)?;
            let charge_header = Header {
                id: tx.new_record_id(),
                kind: RecordKind::Charge,
                ..header.clone()
            };
            let payment = match new.payment {
                Some(p) => p,
                // Only the patient's insurance is read, not the whole record.
                None => {
                    let insurance = tx
                        .doc(new.patient)?
                        .map(|doc| autosurgeon::hydrate_prop(doc, automerge::ROOT, "insurance"))
                        .transpose()
                        .map_err(|e| ReadError::corrupt(new.patient, RecordDamage::Contents(e)))?
                        .unwrap_or(InsuranceType::SelfPay);
                    default_payment(insurance)
                }
            };
            let mut warnings = Vec::new();
            let emergency = header.episode.is_some();
            let registration_no = if emergency {
                let issued = tx.issue_number(Series::EmergencyRegistration, header.id, &who)?;
                warnings.extend(Warning::from_issued(&issued));
                emergency_registration_no(issued.number)
            } else {
                let n = tx.next_counter(Counter::Registration)?;
                format!("{}-R{n:06}", tx.node())
            };
            let mut log = StatusLog::starting(VisitStatus::Registered, tx.stamp(&who));
            let next = if emergency {
                VisitStatus::Paused
            } else {
                VisitStatus::Queued
            };
            log.0.insert(next.name().to_owned(), tx.stamp(&who));
            let fee_line = ChargeLine {
                catalog: CatalogKind::Department,
                code: new.department.clone(),
                name: format!("{} 挂号费", dept.name_zh),
                quantity: 1,
                unit_price: fee,
                amount: fee,
                catalog_version,
            };
            let visit = Visit {
                header,
                patient: new.patient,
                department: new.department,
                doctor: new.doctor,
                fee,
                registration_no,
                fee_charge: Some(charge_header.id),
                status_log: log,
                his_id: None,
            };
            tx.create(&visit, &who, "visit.register")?;
            tx.create_linked_charge(
                &who,
                &visit,
                LinkedCharge {
                    header: charge_header,
                    source: ChargeSource::Registration,
                    prescription: None,
                    lines: vec![fee_line],
                    payment,
                },
            )?;
            Ok(Saved {
                value: visit,
                warnings,
            })
        })
    }

    /// Triage: call a queued patient.
    pub fn call_visit(&self, who: &Operator, id: RecordId) -> Result<Saved<Visit>, WriteError> {
        self.move_visit(who, id, VisitStatus::Called, "visit.call")
    }

    /// Triage: move a paused emergency registration into the queue.
    pub fn resume_visit(&self, who: &Operator, id: RecordId) -> Result<Saved<Visit>, WriteError> {
        self.move_visit(who, id, VisitStatus::Queued, "visit.resume")
    }

    /// Doctor or triage: the patient has been seen.
    pub fn see_visit(&self, who: &Operator, id: RecordId) -> Result<Saved<Visit>, WriteError> {
        self.move_visit(who, id, VisitStatus::Seen, "visit.seen")
    }

    pub fn cancel_visit(&self, who: &Operator, id: RecordId) -> Result<Saved<Visit>, WriteError> {
        self.move_visit(who, id, VisitStatus::Cancelled, "visit.cancel")
    }

    fn move_visit(
        &self,
        who: &Operator,
        id: RecordId,
        to: VisitStatus,
        action: &'static str,
    ) -> Result<Saved<Visit>, WriteError> {
        permit(who, RecordKind::Visit, "move visits")?;
        let who = who.clone();
        self.write(move |tx| {
            let visit: Visit = tx.read(id)?;
            crate::import::check_writable(tx, RecordKind::Visit, id, visit.his_id.as_ref())?;
            visit.status_log.check_move(to).map_err(RuleError::from)?;
            let stamp = tx.stamp(&who);
            tx.edit(id, &who, action, |t| put_stamp(t, to.name(), &stamp))?;
            Ok(Saved::new(tx.read(id)?))
        })
    }

    /// Today's triage queue: visits waiting, called or paused. Normal registrations come
    /// first, in registration order; emergency ones ("YJ") follow, for the nurse to order.
    /// Reads the queue's rows (the `queues` index) and each waiting patient's name and birth
    /// date, not every visit of the day. A registration both servers pulled from the HIS is
    /// listed once (`store::twins`).
    pub fn triage_queue(&self) -> Result<Vec<QueueEntry>, ReadError> {
        let today = self.today_start_ms();
        let mut out = Vec::new();
        let rows = self.queued_since(RecordKind::Visit, Some(today))?;
        for (id, row) in self.one_per_his_row(RecordKind::Visit, rows, |(id, row)| {
            (*id, row.his_id.as_deref())
        })? {
            let Some(status) = VisitStatus::parse(&row.status) else {
                continue;
            };
            let (patient_name, patient_age) = self.name_and_age(row.patient);
            out.push(QueueEntry {
                visit: id,
                registration_no: row.registration_no,
                patient: row.patient,
                patient_name: patient_name.unwrap_or_default(),
                patient_age,
                department: row.department,
                status,
                emergency: row.emergency,
                created_ms: row.created_ms,
            });
        }
        out.sort_by_key(|e| (e.emergency, e.created_ms));
        Ok(out)
    }

    /// Midnight today in the hospital's time zone.
    pub(crate) fn today_start_ms(&self) -> UnixMs {
        let offset = self.options().utc_offset_min;
        Date::at(self.now_ms(), offset).start_ms(offset)
    }
}
