//! Money beside the charges and invoices (in the parent module): the payment channels a
//! payment is split by, what made a charge, and the records of money after the payment.
//! A payment, once settled, is never edited: money given back is a refund record, an
//! insurance settlement redone later is a re-settlement record with its own invoice, so a
//! day's cashier summary never changes after the day.

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use super::{Charge, Header, PaymentMethod, Record, RecordKind};
use crate::id::RecordId;
use crate::money::Fen;

/// Where money comes from (or goes back to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hydrate, Reconcile, Serialize, Deserialize)]
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

    /// Its place in [`PaymentChannel::ALL`].
    pub fn index(self) -> usize {
        self as usize
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

impl Charge {
    /// Paid as self-pay because the insurance link failed, and not re-settled yet.
    pub fn awaits_resettlement(&self) -> bool {
        awaits_resettlement(
            self.requested_payment,
            self.payment,
            self.resettled.is_some() || self.refund.is_some(),
            || {
                Ok::<_, std::convert::Infallible>(
                    self.resettle_due.is_some() || self.resettle_after.is_some(),
                )
            },
        )
        .unwrap_or(false)
    }

    /// [`Charge::awaits_resettlement`] of a charge's document, reading only the fields it
    /// depends on (not the lines, header and status log a whole charge would hydrate): the
    /// store asks it of every charge it writes or receives. An error where one of those
    /// fields does not read as its type, as hydrating the whole charge would give.
    pub fn awaits_resettlement_in(
        doc: &impl autosurgeon::ReadDoc,
    ) -> Result<bool, autosurgeon::HydrateError> {
        fn prop<T: Hydrate>(
            doc: &impl autosurgeon::ReadDoc,
            name: &str,
        ) -> Result<T, autosurgeon::HydrateError> {
            autosurgeon::hydrate_prop(doc, automerge::ROOT, name)
        }
        awaits_resettlement(
            prop(doc, "requested_payment")?,
            prop(doc, "payment")?,
            prop::<Option<super::Stamp>>(doc, "resettled")?.is_some()
                || prop::<Option<RecordId>>(doc, "refund")?.is_some(),
            || {
                Ok(
                    prop::<Option<crate::clock::Date>>(doc, "resettle_due")?.is_some()
                        || prop::<Option<crate::id::EpisodeId>>(doc, "resettle_after")?.is_some(),
                )
            },
        )
    }
}

/// The rule behind [`Charge::awaits_resettlement`]: insurance was asked for, self-pay was
/// taken, nothing re-settled or refunded it, and a due date or the episode to wait for is
/// set (`dated`, asked only when the rest holds).
fn awaits_resettlement<E>(
    requested: PaymentMethod,
    paid: Option<PaymentMethod>,
    settled_since: bool,
    dated: impl FnOnce() -> Result<bool, E>,
) -> Result<bool, E> {
    if requested != PaymentMethod::Insurance
        || paid != Some(PaymentMethod::SelfPay)
        || settled_since
    {
        return Ok(false);
    }
    dated()
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
money_record!(Refund);
money_record!(Resettlement);
