//! The money records: charges (what is owed and how it was paid), invoices (numbered from a
//! cashier's range), refunds and re-settlements. A payment, once settled, is never edited:
//! money given back is a refund record, an insurance settlement redone later is a
//! re-settlement record with its own invoice, so a day's cashier summary never changes after
//! the day.

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use super::{CatalogKind, Header, Record, RecordKind};
use crate::clock::Date;
use crate::id::{EpisodeId, RecordId};
use crate::money::Fen;
use crate::status::{Stamp, StatusLog};

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
pub struct ChargeLine {
    pub catalog: CatalogKind,
    pub code: String,
    pub name: String,
    pub quantity: u32,
    pub unit_price: Fen,
    pub amount: Fen,
    pub catalog_version: u64,
}

/// How the patient asked to pay: through the medical insurance or themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    #[autosurgeon(rename = "insurance")]
    Insurance,
    #[autosurgeon(rename = "self_pay")]
    SelfPay,
}

/// Where money comes from (or goes back to).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Hydrate,
    Reconcile,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PaymentChannel {
    /// 现金
    #[autosurgeon(rename = "cash")]
    Cash,
    /// 银行卡
    #[autosurgeon(rename = "bank_card")]
    BankCard,
    /// 微信支付
    #[autosurgeon(rename = "wechat")]
    Wechat,
    /// 支付宝
    #[autosurgeon(rename = "alipay")]
    Alipay,
    /// 医保统筹基金: the insurance fund's share.
    #[autosurgeon(rename = "insurance_fund")]
    InsuranceFund,
    /// 医保个人账户: the patient's insurance personal account.
    #[autosurgeon(rename = "personal_account")]
    PersonalAccount,
}

impl PaymentChannel {
    pub const ALL: [PaymentChannel; 6] = [
        PaymentChannel::Cash,
        PaymentChannel::BankCard,
        PaymentChannel::Wechat,
        PaymentChannel::Alipay,
        PaymentChannel::InsuranceFund,
        PaymentChannel::PersonalAccount,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PaymentChannel::Cash => "cash",
            PaymentChannel::BankCard => "bank_card",
            PaymentChannel::Wechat => "wechat",
            PaymentChannel::Alipay => "alipay",
            PaymentChannel::InsuranceFund => "insurance_fund",
            PaymentChannel::PersonalAccount => "personal_account",
        }
    }

    /// Paid through the medical insurance settlement link (which can fail on its own).
    pub fn is_insurance(self) -> bool {
        matches!(
            self,
            PaymentChannel::InsuranceFund | PaymentChannel::PersonalAccount
        )
    }
}

impl std::fmt::Display for PaymentChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One channel's share of a payment, a refund or a re-settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentPart {
    pub channel: PaymentChannel,
    pub amount: Fen,
}

/// What made a charge.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ChargeSource {
    /// Entered at the cashier (or by a doctor) line by line.
    #[default]
    #[autosurgeon(rename = "desk")]
    Desk,
    /// A visit's registration fee, made when the visit was registered.
    #[autosurgeon(rename = "registration")]
    Registration,
    /// A prescription's drugs at the catalog prices it was written with.
    #[autosurgeon(rename = "prescription")]
    Prescription,
}

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Charge {
    pub header: Header,
    pub visit: RecordId,
    pub patient: RecordId,
    pub lines: Vec<ChargeLine>,
    pub amount: Fen,
    /// What the patient asked to pay with.
    pub requested_payment: PaymentMethod,
    /// What was actually used; self-pay when the insurance settlement failed. Never changed
    /// after settlement.
    pub payment: Option<PaymentMethod>,
    /// How it was paid, by channel, summing to `amount`; set once at settlement.
    #[autosurgeon(missing = "Default::default")]
    pub payments: Vec<PaymentPart>,
    /// When the insurance settlement failed outside an episode: the date by which it must be
    /// re-settled (7 working days later).
    pub resettle_due: Option<Date>,
    /// When the insurance settlement failed during an episode: it must be re-settled within 7
    /// working days of the day that episode ended (the fault was cleared).
    #[autosurgeon(missing = "Default::default")]
    pub resettle_after: Option<EpisodeId>,
    /// When the failed insurance settlement was finally made (the re-settlement record names
    /// this charge).
    pub resettled: Option<Stamp>,
    /// What made the charge.
    #[autosurgeon(missing = "Default::default")]
    pub source: ChargeSource,
    /// The prescription whose drugs it charges (`source` prescription).
    #[autosurgeon(missing = "Default::default")]
    pub prescription: Option<RecordId>,
    /// The invoice that covers it now; cleared when that invoice is voided with a reason,
    /// so that the charge can go on a new invoice.
    #[autosurgeon(missing = "Default::default")]
    pub invoice: Option<RecordId>,
    /// The refund record, once the money was given back.
    #[autosurgeon(missing = "Default::default")]
    pub refund: Option<RecordId>,
    pub status_log: StatusLog,
}

impl Charge {
    /// Paid as self-pay because the insurance link failed, and not re-settled yet.
    pub fn awaits_resettlement(&self) -> bool {
        self.requested_payment == PaymentMethod::Insurance
            && self.payment == Some(PaymentMethod::SelfPay)
            && self.resettled.is_none()
            && self.refund.is_none()
            && (self.resettle_due.is_some() || self.resettle_after.is_some())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Invoice {
    pub header: Header,
    /// The printed number, from a cashier's leased range.
    pub number: u64,
    pub series: String,
    pub range_id: String,
    /// The invoice code of the paper or e-invoice stock the number belongs to, as the cashier
    /// confirmed it at the start of the shift.
    #[autosurgeon(missing = "Default::default")]
    pub code: Option<String>,
    pub charges: Vec<RecordId>,
    pub total: Fen,
    /// Set on the invoice of a re-settlement: the re-settlement it is for.
    #[autosurgeon(missing = "Default::default")]
    pub resettlement: Option<RecordId>,
    pub void_reason: Option<String>,
    pub status_log: StatusLog,
}

/// Money given back for a charge (退费): its own record, the payment it undoes untouched.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Refund {
    pub header: Header,
    pub charge: RecordId,
    pub visit: RecordId,
    pub patient: RecordId,
    pub amount: Fen,
    /// Where the money goes back to, by channel.
    pub parts: Vec<PaymentPart>,
    pub reason: String,
}

/// A failed insurance settlement redone (重新划卡结算): the insurance now pays, what the
/// patient paid as self-pay is given back, and it gets an invoice of its own. The charge's
/// original payment is kept as it was.
#[derive(Debug, Clone, PartialEq, Eq, Hydrate, Reconcile, Serialize)]
pub struct Resettlement {
    pub header: Header,
    pub charge: RecordId,
    pub patient: RecordId,
    pub amount: Fen,
    /// What pays now (the insurance fund, the personal account).
    pub parts: Vec<PaymentPart>,
    /// What goes back to the patient from the self-pay payment.
    pub returned: Vec<PaymentPart>,
    /// Its own invoice.
    pub invoice: RecordId,
}

macro_rules! money_record {
    ($ty:ident) => {
        impl Record for $ty {
            const KIND: RecordKind = RecordKind::$ty;
            fn header(&self) -> &Header {
                &self.header
            }
        }
    };
}
money_record!(Charge);
money_record!(Invoice);
money_record!(Refund);
money_record!(Resettlement);
