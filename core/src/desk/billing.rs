//! The cashier: charges and their settlement by payment channel.
//!
//! Charges come from three places: a visit's registration fee (made with the visit), a
//! prescription's drugs at the catalog prices it was written with (made with the
//! prescription), and lines entered at the cashier. Settling records how the money came in,
//! by channel (cash, bank card, WeChat, Alipay, the insurance fund, the personal account),
//! once: what happens to the money later is a refund or a re-settlement record
//! ([`super::refunds`]), never an edit of the payment.
//!
//! When only the insurance settlement link fails, the patient pays as self-pay and the charge
//! must be re-settled within 7 working days of the fault being cleared: of the day the
//! episode it was settled in ended, or, outside an episode (only the insurance link failed,
//! and Lifeline cannot see when it is mended), of the settlement day.

use serde::Deserialize;

use super::{Saved, permit, set_field};
use crate::clock::Date;
use crate::desk::catalog::Priced;
use crate::id::RecordId;
use crate::money::Fen;
use crate::record::{
    CatalogKind, Charge, ChargeLine, ChargeSource, Header, InsuranceType, PaymentChannel,
    PaymentMethod, PaymentPart, RecordKind, Visit,
};
use crate::roles::Operator;
use crate::rules::RuleError;
use crate::status::{ChargeStatus, Status, StatusLog};
use crate::store::{Store, Tx, put_stamp};
use crate::{ReadError, WriteError};

use super::paper::PaperTime;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChargeLine {
    pub catalog: CatalogKind,
    pub code: String,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCharge {
    pub visit: RecordId,
    pub lines: Vec<NewChargeLine>,
    pub payment: PaymentMethod,
    /// Typed in later from a paper form: the time written on it (hospital time).
    #[serde(default)]
    pub occurred_at: Option<PaperTime>,
}

/// How a settlement went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Settlement {
    /// Paid as requested.
    Paid,
    /// The insurance link failed: paid as self-pay, to be re-settled within 7 working days.
    InsuranceFailed,
}

/// A settlement as the cashier enters it: how it went and, optionally, how the money came in
/// by channel (a split). Without `payments`, the whole amount comes from the insurance fund
/// (insurance, paid) or in cash (self-pay, or the insurance link failed).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettleRequest {
    pub outcome: Settlement,
    #[serde(default)]
    pub payments: Option<Vec<PaymentPart>>,
}

impl From<Settlement> for SettleRequest {
    fn from(outcome: Settlement) -> Self {
        SettleRequest {
            outcome,
            payments: None,
        }
    }
}

/// Working days within which a failed insurance settlement must be re-settled.
pub const RESETTLE_WORKING_DAYS: u32 = 7;

/// Most lines on one charge.
pub const MAX_LINES: usize = 100;

/// Checks a split of `amount` by channel: one to six parts, each above zero, each channel
/// once, summing to `amount`, and no insurance channel where `insurance` is refused.
pub(crate) fn check_parts(
    field: &str,
    parts: &[PaymentPart],
    amount: Fen,
    insurance: InsuranceUse,
) -> Result<(), RuleError> {
    if parts.is_empty() || parts.len() > PaymentChannel::ALL.len() {
        return Err(RuleError::invalid(
            field,
            "give 1 to 6 parts, one per channel",
        ));
    }
    let mut total = Fen::ZERO;
    for (i, p) in parts.iter().enumerate() {
        if p.amount <= Fen::ZERO {
            return Err(RuleError::invalid(
                format!("{field}[{i}].amount"),
                "must be above zero",
            ));
        }
        if parts[..i].iter().any(|q| q.channel == p.channel) {
            return Err(RuleError::invalid(
                format!("{field}[{i}].channel"),
                format!("{} is listed twice", p.channel),
            ));
        }
        if p.channel.is_insurance() && insurance == InsuranceUse::Refused {
            return Err(RuleError::invalid(
                format!("{field}[{i}].channel"),
                format!(
                    "{} goes through the insurance settlement, which this payment does not use",
                    p.channel
                ),
            ));
        }
        total = total
            .checked_add(p.amount)
            .ok_or_else(|| RuleError::invalid(field, "amounts too large"))?;
    }
    if total != amount {
        return Err(RuleError::invalid(
            field,
            format!("the parts add up to {total} yuan, not {amount}"),
        ));
    }
    Ok(())
}

/// Whether a payment may use the insurance channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InsuranceUse {
    Allowed,
    Refused,
}

/// The payment method a patient of `insurance` asks for by default: what a registration or
/// a prescription asks for unless told, and what a desk's charge asks for on the patient's
/// behalf.
pub fn default_payment(insurance: InsuranceType) -> PaymentMethod {
    match insurance {
        InsuranceType::SelfPay => PaymentMethod::SelfPay,
        InsuranceType::Employee | InsuranceType::Resident => PaymentMethod::Insurance,
    }
}

/// A charge a record brings with it: its header (with the episode and paper time of the
/// record it belongs to), what made it, and its lines already priced.
pub(crate) struct LinkedCharge {
    pub(crate) header: Header,
    pub(crate) source: ChargeSource,
    pub(crate) prescription: Option<RecordId>,
    pub(crate) lines: Vec<ChargeLine>,
    pub(crate) payment: PaymentMethod,
}

impl Tx<'_, '_> {
    /// Creates the pending charge of a visit that a registration, a prescription or the
    /// cashier brings.
    pub(crate) fn create_linked_charge(
        &mut self,
        who: &Operator,
        visit: &Visit,
        new: LinkedCharge,
    ) -> Result<Charge, WriteError> {
        let mut amount = Fen::ZERO;
        for line in &new.lines {
            amount = amount
                .checked_add(line.amount)
                .ok_or_else(|| RuleError::invalid("lines", "amount too large"))?;
        }
        let charge = Charge {
            status_log: StatusLog::starting(ChargeStatus::Pending, self.stamp(who)),
            header: new.header,
            visit: visit.header.id,
            patient: visit.patient,
            lines: new.lines,
            amount,
            requested_payment: new.payment,
            payment: None,
            payments: Vec::new(),
            resettle_due: None,
            resettle_after: None,
            resettled: None,
            source: new.source,
            prescription: new.prescription,
            invoice: None,
            refund: None,
            his_id: None,
        };
        self.create(&charge, who, "charge.create")?;
        Ok(charge)
    }
}

impl Store {
    pub fn create_charge(
        &self,
        who: &Operator,
        new: NewCharge,
    ) -> Result<Saved<Charge>, WriteError> {
        permit(who, RecordKind::Charge, "create charges")?;
        if new.lines.is_empty() || new.lines.len() > MAX_LINES {
            return Err(RuleError::invalid("lines", "a charge holds 1 to 100 lines").into());
        }
        for (i, line) in new.lines.iter().enumerate() {
            if line.quantity == 0 || line.quantity > 1000 {
                return Err(RuleError::invalid(
                    format!("lines[{i}].quantity"),
                    "must be 1 to 1000",
                )
                .into());
            }
            if line.catalog == CatalogKind::Department {
                return Err(RuleError::invalid(
                    format!("lines[{i}].catalog"),
                    "registration fees are charged when the visit is registered",
                )
                .into());
            }
        }
        let who = who.clone();
        self.write(move |tx| {
            let visit: Visit = tx.read(new.visit)?;
            let mut lines = Vec::with_capacity(new.lines.len());
            for (i, line) in new.lines.iter().enumerate() {
                let Priced {
                    name,
                    price,
                    catalog_version: version,
                } = tx.priced(line.catalog, &line.code)?;
                let overflow = || RuleError::invalid(format!("lines[{i}]"), "amount too large");
                let line_amount = price.times(line.quantity).ok_or_else(overflow)?;
                lines.push(ChargeLine {
                    catalog: line.catalog,
                    code: line.code.clone(),
                    name,
                    quantity: line.quantity,
                    unit_price: price,
                    amount: line_amount,
                    catalog_version: version,
                });
            }
            let header = tx.header_for(RecordKind::Charge, &who, new.occurred_at)?;
            let charge = tx.create_linked_charge(
                &who,
                &visit,
                LinkedCharge {
                    header,
                    source: ChargeSource::Desk,
                    prescription: None,
                    lines,
                    payment: new.payment,
                },
            )?;
            Ok(Saved::new(charge))
        })
    }

    /// A patient's charges, for the cashier: each HIS charge once, though both servers pulled
    /// it (`store::twins`: else the fee is taken twice). Reads the patient's records.
    pub fn patient_charges(&self, patient: RecordId) -> Result<Vec<Charge>, ReadError> {
        let mut charges = Vec::new();
        for id in self.ids_for_patient(patient)? {
            // Only charges are listed; the patient's other records read as another kind.
            if let Ok(Some(c)) = self.get::<Charge>(id) {
                charges.push(c);
            }
        }
        self.one_per_his_row(RecordKind::Charge, charges, |c| {
            (c.header.id, c.his_id.as_deref())
        })
    }

    /// Settles a charge as requested, the whole amount from the default channel.
    pub fn settle_charge(
        &self,
        who: &Operator,
        id: RecordId,
        outcome: Settlement,
    ) -> Result<Saved<Charge>, WriteError> {
        self.settle_charge_with(who, id, outcome.into())
    }

    /// Settles a charge: records how the money came in, by channel, once.
    pub fn settle_charge_with(
        &self,
        who: &Operator,
        id: RecordId,
        request: SettleRequest,
    ) -> Result<Saved<Charge>, WriteError> {
        permit(who, RecordKind::Charge, "settle charges")?;
        // Money is taken at the cashier's (and the registration desk takes its fee); a doctor
        // writes charges but never settles them.
        if who.desk == crate::roles::DeskRole::Doctor {
            return Err(super::not_permitted(who, RecordKind::Charge, "settle charges").into());
        }
        let who = who.clone();
        self.write(move |tx| {
            let charge: Charge = tx.read(id)?;
            crate::import::check_writable(tx, RecordKind::Charge, id, charge.his_id.as_ref())?;
            charge
                .status_log
                .check_move(ChargeStatus::Settled)
                .map_err(RuleError::from)?;
            let (payment, insurance, default_channel) =
                match (request.outcome, charge.requested_payment) {
                    (Settlement::Paid, PaymentMethod::Insurance) => (
                        PaymentMethod::Insurance,
                        InsuranceUse::Allowed,
                        PaymentChannel::InsuranceFund,
                    ),
                    (Settlement::Paid, PaymentMethod::SelfPay) => (
                        PaymentMethod::SelfPay,
                        InsuranceUse::Refused,
                        PaymentChannel::Cash,
                    ),
                    (Settlement::InsuranceFailed, PaymentMethod::Insurance) => (
                        PaymentMethod::SelfPay,
                        InsuranceUse::Refused,
                        PaymentChannel::Cash,
                    ),
                    (Settlement::InsuranceFailed, PaymentMethod::SelfPay) => {
                        return Err(RuleError::invalid(
                            "outcome",
                            "insurance_failed applies only to a charge paid by insurance",
                        )
                        .into());
                    }
                };
            let parts = request.payments.clone().unwrap_or_else(|| {
                vec![PaymentPart {
                    channel: default_channel,
                    amount: charge.amount,
                }]
            });
            if charge.amount > Fen::ZERO {
                check_parts("payments", &parts, charge.amount, insurance)?;
            }
            let parts: Vec<PaymentPart> = parts.into_iter().filter(|p| p.amount.0 > 0).collect();
            let failed = request.outcome == Settlement::InsuranceFailed;
            let episode = tx.episode()?;
            let due = match (failed, &episode) {
                (true, None) => {
                    let opts = tx.opts();
                    let today = Date::at(tx.now_ms(), opts.utc_offset_min);
                    Some(opts.calendar.add_working_days(today, RESETTLE_WORKING_DAYS))
                }
                _ => None,
            };
            let stamp = tx.stamp(&who);
            tx.edit(id, &who, "charge.settle", |t| {
                set_field(t, "payment", Some(payment))?;
                set_field(t, "payments", &parts)?;
                if due.is_some() {
                    set_field(t, "resettle_due", due)?;
                }
                if failed && let Some(e) = &episode {
                    set_field(t, "resettle_after", Some(e))?;
                }
                put_stamp(t, ChargeStatus::Settled.name(), &stamp)
            })?;
            Ok(Saved::new(tx.read(id)?))
        })
    }
}
