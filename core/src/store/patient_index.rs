//! The patient search keys: number, normalized name, national id, the guardian's phone with
//! the child's birth date, and the (name, birth date, phone) triple that finds duplicate
//! patients. Kept by the writer for every patient change;
//! queried by desks looking a patient up and by the duplicate review.

use redb::ReadableTable;

use super::error::{ReadError, StorageContext};
use super::tables::{self, Id};
use super::{Store, Tx};
use crate::clock::Date;
use crate::id::RecordId;
use crate::record::Patient;

/// How to look a patient up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatientQuery {
    Number(String),
    /// A name or the start of one.
    Name(String),
    NationalId(String),
    /// A child by the guardian's phone and the child's birth date (an infant without an
    /// identity number).
    GuardianPhone {
        phone: String,
        birth_date: Date,
    },
}

/// The search keys indexed for a patient, as (key kind, value).
pub(crate) fn patient_keys(p: &Patient) -> Vec<(String, String)> {
    let mut keys = vec![
        ("no".to_owned(), p.patient_no.clone()),
        ("name".to_owned(), normalize(&p.name)),
        ("person".to_owned(), person_key(p)),
    ];
    if let Some(nid) = &p.national_id {
        keys.push(("nid".to_owned(), nid.to_ascii_uppercase()));
    }
    if let Some(phone) = p.guardian.as_ref().and_then(|g| g.phone.as_deref()) {
        keys.push(("guardian".to_owned(), guardian_key(phone, p.birth_date)));
    }
    keys
}

/// A guardian's phone (digits only) with the child's birth date.
fn guardian_key(phone: &str, birth_date: Date) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    format!("{digits}|{birth_date}")
}

/// The key two records of one person share: normalized name, birth date and phone digits.
pub(crate) fn person_key(p: &Patient) -> String {
    let digits: String = p.phone.chars().filter(char::is_ascii_digit).collect();
    format!("{}|{}|{digits}", normalize(&p.name), p.birth_date)
}

/// A name as the index holds it: single spaces, lower case.
pub(crate) fn normalize(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

impl Tx<'_> {
    /// Replaces a patient's search keys with those of its current contents. Returns the keys
    /// it had before.
    pub(super) fn index_patient(
        &mut self,
        p: &Patient,
    ) -> Result<Vec<(String, String)>, ReadError> {
        let key = p.header.id.to_bytes();
        let new_keys = patient_keys(p);
        let w = self.w();
        let mut keys = w.open_table(tables::PATIENT_KEYS).ctx("indexing")?;
        let mut keys_of = w.open_table(tables::PATIENT_KEYS_OF).ctx("indexing")?;
        let old: Vec<(String, String)> = keys_of
            .get(key)
            .ctx("indexing")?
            .and_then(|v| serde_json::from_slice(v.value()).ok())
            .unwrap_or_default();
        for (kind, value) in &old {
            keys.remove((kind.as_str(), value.as_str(), key))
                .ctx("indexing")?;
        }
        for (kind, value) in &new_keys {
            keys.insert((kind.as_str(), value.as_str(), key), ())
                .ctx("indexing")?;
        }
        let encoded = serde_json::to_vec(&new_keys).unwrap_or_default();
        keys_of.insert(key, encoded.as_slice()).ctx("indexing")?;
        Ok(old)
    }
}

/// Patients matching a query in a patient-keys table, in id order.
fn find_in(
    t: &impl ReadableTable<(&'static str, &'static str, Id), ()>,
    query: &PatientQuery,
) -> Result<Vec<RecordId>, ReadError> {
    let (kind, value, prefix) = match query {
        PatientQuery::Number(n) => ("no", n.trim().to_owned(), false),
        PatientQuery::Name(n) => ("name", normalize(n), true),
        PatientQuery::NationalId(n) => ("nid", n.trim().to_ascii_uppercase(), false),
        PatientQuery::GuardianPhone { phone, birth_date } => {
            ("guardian", guardian_key(phone, *birth_date), false)
        }
    };
    let mut out = Vec::new();
    for entry in t
        .range((kind, value.as_str(), [0u8; 16])..)
        .ctx("reading an index")?
    {
        let (k, _) = entry.ctx("reading an index")?;
        let (k_kind, k_value, id) = k.value();
        let matches = if prefix {
            k_value.starts_with(value.as_str())
        } else {
            k_value == value
        };
        if k_kind != kind || !matches {
            break;
        }
        out.push(RecordId::from_bytes(id));
    }
    Ok(out)
}

impl Tx<'_> {
    /// Patients matching a query as of this batch (so a check and the write it guards share
    /// one transaction).
    pub(crate) fn find_patients(&self, query: &PatientQuery) -> Result<Vec<RecordId>, ReadError> {
        let t = self
            .r()
            .open_table(tables::PATIENT_KEYS)
            .ctx("reading an index")?;
        find_in(&t, query)
    }
}

impl Store {
    /// Patients matching a query, in id order. Name queries match by prefix.
    pub fn find_patients(&self, query: &PatientQuery) -> Result<Vec<RecordId>, ReadError> {
        find_in(&self.table(tables::PATIENT_KEYS)?, query)
    }

    /// Groups of patients that share a search key of the given kind (`nid` or `person`):
    /// candidates for duplicate review.
    pub fn patients_sharing(
        &self,
        key_kind: &str,
    ) -> Result<Vec<(String, Vec<RecordId>)>, ReadError> {
        let t = self.table(tables::PATIENT_KEYS)?;
        let mut groups: Vec<(String, Vec<RecordId>)> = Vec::new();
        for entry in t
            .range((key_kind, "", [0u8; 16])..)
            .ctx("reading an index")?
        {
            let (k, _) = entry.ctx("reading an index")?;
            let (kind, value, id): (&str, &str, Id) = k.value();
            if kind != key_kind {
                break;
            }
            match groups.last_mut() {
                Some((v, ids)) if v == value => ids.push(RecordId::from_bytes(id)),
                _ => groups.push((value.to_owned(), vec![RecordId::from_bytes(id)])),
            }
        }
        groups.retain(|(_, ids)| ids.len() > 1);
        Ok(groups)
    }
}
