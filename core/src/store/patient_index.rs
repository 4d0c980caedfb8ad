//! The patient search keys: number, national id, the guardian's phone with the child's birth
//! date, the HIS patient id, and the (name, birth date, phone) triple that finds duplicate
//! patients and, read by its prefix, answers searches by name and by name with birth date
//! (stores written before this kept those two as keys of their own: they are left to go with
//! each patient's next change, and read by nothing). Kept by the writer for every patient
//! change; queried by desks looking a patient up and by the duplicate review. The same table
//! holds the HIS keys of the other records pulled from the HIS (`his.visit`,
//! `his.prescription`, `his.charge`, `his.invoice`), so that the bridge finds the record of
//! an HIS row without a scan.

use redb::ReadableTable;

use super::error::{ReadError, StorageContext};
use super::tables::{self, Id};
use super::{Store, Tx};
use crate::clock::Date;
use crate::id::RecordId;
use crate::record::{Patient, RecordKind};

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
    /// A name (exactly, after normalizing) and a birth date.
    NameBorn {
        name: String,
        birth_date: Date,
    },
    /// The patient's id in the HIS patient master.
    HisId(String),
}

/// The index key kind of the HIS key of a record of `kind` pulled from the HIS.
pub(crate) fn his_key_kind(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Patient => "his",
        RecordKind::Visit => "his.visit",
        RecordKind::Prescription => "his.prescription",
        RecordKind::Charge => "his.charge",
        RecordKind::Invoice => "his.invoice",
        _ => "his.other",
    }
}

/// The search keys indexed for a patient, as (key kind, value).
/// A patient deleted in the HIS keeps only its HIS key: desks no longer find it, the bridge
/// still does.
pub(crate) fn patient_keys(p: &Patient) -> Vec<(String, String)> {
    let mut keys = Vec::new();
    if let Some(his) = &p.his_id {
        keys.push((his_key_kind(RecordKind::Patient).to_owned(), his.clone()));
    }
    if p.his_deleted {
        return keys;
    }
    keys.extend([
        ("no".to_owned(), p.patient_no.clone()),
        ("person".to_owned(), person_key(p)),
    ]);
    if let Some(nid) = &p.national_id {
        keys.push(("nid".to_owned(), nid.to_ascii_uppercase()));
    }
    if let Some(phone) = p.guardian.as_ref().and_then(|g| g.phone.as_deref()) {
        keys.push(("guardian".to_owned(), guardian_key(phone, p.birth_date)));
    }
    keys
}

/// The start of the `person` keys of a name and birth date.
fn born_prefix(name: &str, birth_date: Date) -> String {
    format!("{}|{birth_date}|", normalize(name))
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

impl Tx<'_, '_> {
    /// Replaces a patient's search keys with those of its current contents. Returns the keys
    /// it had before.
    pub(super) fn index_patient(
        &mut self,
        p: &Patient,
    ) -> Result<Vec<(String, String)>, ReadError> {
        self.index_keys(p.header.id, patient_keys(p))
    }

    /// Replaces the keys indexed for a record with `new_keys`. Returns the keys it had before.
    pub(super) fn index_keys(
        &mut self,
        id: RecordId,
        new_keys: Vec<(String, String)>,
    ) -> Result<Vec<(String, String)>, ReadError> {
        let key = id.to_bytes();
        let w = self.w();
        let mut keys = w.open_table(tables::PATIENT_KEYS).ctx("indexing")?;
        let mut keys_of = w.open_table(tables::PATIENT_KEYS_OF).ctx("indexing")?;
        let old: Vec<(String, String)> = keys_of
            .get(key)
            .ctx("indexing")?
            .map(|v| decode_keys(v.value()))
            .unwrap_or_default();
        for (kind, value) in &old {
            keys.remove((kind.as_str(), value.as_str(), key))
                .ctx("indexing")?;
        }
        for (kind, value) in &new_keys {
            keys.insert((kind.as_str(), value.as_str(), key), ())
                .ctx("indexing")?;
        }
        if new_keys.is_empty() {
            keys_of.remove(key).ctx("indexing")?;
        } else {
            keys_of
                .insert(key, encode_keys(&new_keys).as_slice())
                .ctx("indexing")?;
        }
        Ok(old)
    }

    /// Removes every key indexed for a record: a pruned record pulled from the HIS is found
    /// by its HIS key no more (no index outlives its record).
    pub(super) fn unindex_keys(&mut self, id: RecordId) -> Result<(), ReadError> {
        self.index_keys(id, Vec::new()).map(drop)
    }

    /// Every record of `kind` pulled from the HIS under `his_id`, as of this batch, in id
    /// order: one, or more when the row was pulled by two bridges at once.
    pub(crate) fn his_records(
        &self,
        kind: RecordKind,
        his_id: &str,
    ) -> Result<Vec<RecordId>, ReadError> {
        let t = self
            .r()
            .open_table(tables::PATIENT_KEYS)
            .ctx("reading an index")?;
        indexed_under(&*t, his_key_kind(kind), his_id, usize::MAX)
    }

    /// The record of `kind` pulled from the HIS under `his_id`, as of this batch. One HIS row
    /// pulled twice (by central and by the standby, while they could not see each other) is
    /// two records until the information department merges the duplicate patients: then the
    /// one not merged away is the row's, so that the next pull updates the patient desks see.
    pub(crate) fn find_his(
        &mut self,
        kind: RecordKind,
        his_id: &str,
    ) -> Result<Option<RecordId>, ReadError> {
        let ids = self.his_records(kind, his_id)?;
        the_rows_record(ids, kind, |id| Ok(self.doc(id)?.is_some_and(merged_away)))
    }
}

/// The kinds of key `patient_keys_of` names by their place in this list (format 2). Never
/// reordered: a kind added goes at the end.
const KEY_KINDS: [&str; 10] = [
    "no",
    "person",
    "guardian",
    "nid",
    "his",
    "his.visit",
    "his.prescription",
    "his.charge",
    "his.invoice",
    "his.other",
];

/// A record's keys as `patient_keys_of` holds them: after a format byte, postcard of each
/// key's kind as its place in [`KEY_KINDS`] and its value (2); of each kind's name and value
/// when a kind is not listed there (1); or the JSON of stores written before both (`[`).
fn encode_keys(keys: &[(String, String)]) -> Vec<u8> {
    let coded: Option<Vec<(u8, &str)>> = keys
        .iter()
        .map(|(kind, value)| {
            let code = KEY_KINDS.iter().position(|k| k == kind)?;
            Some((code as u8, value.as_str()))
        })
        .collect();
    let encoded = match coded {
        Some(coded) => postcard::to_extend(&coded, vec![2]),
        None => postcard::to_extend(keys, vec![1]),
    };
    encoded.unwrap_or_else(|_| serde_json::to_vec(keys).unwrap_or_default())
}

/// A record's keys as stored, in any form; none when they do not decode (as before: the
/// write goes on, and the rows of the keys it lost stay).
fn decode_keys(bytes: &[u8]) -> Vec<(String, String)> {
    match bytes.split_first() {
        Some((2, rest)) => postcard::from_bytes::<Vec<(u8, String)>>(rest)
            .ok()
            .and_then(|coded| {
                coded
                    .into_iter()
                    .map(|(code, value)| {
                        let kind = KEY_KINDS.get(usize::from(code))?;
                        Some(((*kind).to_owned(), value))
                    })
                    .collect()
            }),
        Some((1, rest)) => postcard::from_bytes(rest).ok(),
        Some((b'[', _)) => serde_json::from_slice(bytes).ok(),
        _ => None,
    }
    .unwrap_or_default()
}

/// The records indexed under exactly (`kind`, `value`), in id order, at most `limit`.
pub(super) fn indexed_under(
    t: &impl ReadableTable<(&'static str, &'static str, Id), ()>,
    kind: &str,
    value: &str,
    limit: usize,
) -> Result<Vec<RecordId>, ReadError> {
    let range = t
        .range((kind, value, [0u8; 16])..=(kind, value, [0xffu8; 16]))
        .ctx("reading an index")?;
    let mut out = Vec::new();
    for entry in range.take(limit) {
        out.push(RecordId::from_bytes(
            entry.ctx("reading an index")?.0.value().2,
        ));
    }
    Ok(out)
}

/// Of the records indexed under one HIS id (in id order), the HIS row's: the first, or of a
/// patient pulled twice the first that `merged` does not say was merged away.
fn the_rows_record(
    ids: Vec<RecordId>,
    kind: RecordKind,
    mut merged: impl FnMut(RecordId) -> Result<bool, ReadError>,
) -> Result<Option<RecordId>, ReadError> {
    if ids.len() > 1 && kind == RecordKind::Patient {
        for &id in &ids {
            if !merged(id)? {
                return Ok(Some(id));
            }
        }
    }
    Ok(ids.first().copied())
}

/// Whether a patient's document says it was merged into another.
fn merged_away(doc: &automerge::Automerge) -> bool {
    autosurgeon::hydrate_prop::<_, Option<RecordId>, _, _>(doc, automerge::ROOT, "merged_into")
        .ok()
        .flatten()
        .is_some()
}

/// The first `limit` patients matching a query in the index's order (for a name, by name and
/// birth date), returned in id order: the read stops there, so a one-character surname at
/// two million patients costs what is shown.
fn find_in(
    t: &impl ReadableTable<(&'static str, &'static str, Id), ()>,
    query: &PatientQuery,
    limit: usize,
) -> Result<Vec<RecordId>, ReadError> {
    let (kind, value, prefix) = match query {
        PatientQuery::Number(n) => ("no", n.trim().to_owned(), false),
        PatientQuery::Name(n) => ("person", normalize(n), true),
        PatientQuery::NationalId(n) => ("nid", n.trim().to_ascii_uppercase(), false),
        PatientQuery::NameBorn { name, birth_date } => {
            ("person", born_prefix(name, *birth_date), true)
        }
        PatientQuery::HisId(n) => ("his", n.trim().to_owned(), false),
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
        if k_kind != kind || !matches || out.len() >= limit {
            break;
        }
        out.push(RecordId::from_bytes(id));
    }
    // A prefix of `person` keys finds them in (name, birth date, phone) order.
    out.sort();
    out.dedup();
    Ok(out)
}

impl Tx<'_, '_> {
    /// Patients matching a query as of this batch (so a check and the write it guards share
    /// one transaction).
    pub(crate) fn find_patients(&self, query: &PatientQuery) -> Result<Vec<RecordId>, ReadError> {
        let t = self
            .r()
            .open_table(tables::PATIENT_KEYS)
            .ctx("reading an index")?;
        find_in(&*t, query, usize::MAX)
    }
}

impl Store {
    /// Patients matching a query, in id order. Name queries match by prefix.
    pub fn find_patients(&self, query: &PatientQuery) -> Result<Vec<RecordId>, ReadError> {
        find_in(&self.table(tables::PATIENT_KEYS)?, query, usize::MAX)
    }

    /// The same, reading no more than `limit` matches (for a name, the first by name and
    /// birth date), in id order: a desk's search asks for one more than it shows, to know
    /// whether there are more.
    pub fn find_patients_first(
        &self,
        query: &PatientQuery,
        limit: usize,
    ) -> Result<Vec<RecordId>, ReadError> {
        find_in(&self.table(tables::PATIENT_KEYS)?, query, limit)
    }

    /// The record of `kind` pulled from the HIS under `his_id` (of a patient pulled twice, the
    /// one not merged away, as the pull finds it).
    pub fn find_his(&self, kind: RecordKind, his_id: &str) -> Result<Option<RecordId>, ReadError> {
        let t = self.table(tables::PATIENT_KEYS)?;
        let ids = indexed_under(&t, his_key_kind(kind), his_id, usize::MAX)?;
        the_rows_record(ids, kind, |id| {
            Ok(self.doc(id)?.is_some_and(|d| merged_away(&d)))
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableDatabase;

    use crate::desk::PatientEdit;
    use crate::roles::NodeRole;
    use crate::test_support::{new_patient, registrar, temp_store};

    /// Names, and names with a birth date, are found through the `person` keys: by prefix,
    /// in id order, each patient once, and a longer name or another birth date is not taken
    /// for the one asked.
    #[test]
    fn names_are_searched_through_the_person_keys() {
        let (_d, store, _) = temp_store("W01", NodeRole::Window);
        let add = |name: &str, born: &str, phone: &str| {
            let mut p = new_patient(name);
            p.birth_date = born.parse().expect("date");
            p.phone = phone.into();
            store
                .create_patient(&registrar(), p)
                .expect("create")
                .value
                .header
                .id
        };
        let a = add("王小明", "2020-01-01", "13900000002");
        let b = add("王小明", "2020-01-01", "13900000001");
        let c = add("王小明明", "2020-01-01", "13900000003");
        let d = add("王小明", "2021-05-05", "13900000004");
        let e = add("李 Lei", "2020-01-01", "13900000005");
        let sorted = |mut v: Vec<RecordId>| {
            v.sort();
            v
        };
        let find = |q| store.find_patients(&q).expect("search");
        assert_eq!(
            find(PatientQuery::Name("王小明".into())),
            sorted(vec![a, b, c, d])
        );
        // Read no further than asked: the first by name, birth date and phone.
        assert_eq!(
            store
                .find_patients_first(&PatientQuery::Name("王小明".into()), 2)
                .expect("search"),
            sorted(vec![a, b])
        );
        assert_eq!(
            find(PatientQuery::NameBorn {
                name: " 王小明 ".into(),
                birth_date: "2020-01-01".parse().expect("date"),
            }),
            sorted(vec![a, b])
        );
        assert_eq!(find(PatientQuery::Name("李  LEI".into())), vec![e]);
        // A new name is found under it, and no more under the old one.
        let edit = PatientEdit {
            name: Some("赵小明".into()),
            ..Default::default()
        };
        store.update_patient(&registrar(), d, edit).expect("edit");
        assert_eq!(find(PatientQuery::Name("赵".into())), vec![d]);
        assert_eq!(
            find(PatientQuery::Name("王小明".into())),
            sorted(vec![a, b, c])
        );
    }

    /// Keys list their kinds by number, in about two thirds of the bytes of their names; a
    /// kind not in the list keeps its name; every form written before reads back.
    #[test]
    fn a_patients_keys_are_listed_by_kind_number_and_every_older_form_reads() {
        let keys: Vec<(String, String)> = [
            ("no", "P000000123"),
            ("person", "王子涵123|2015-03-04|13000000123"),
            ("guardian", "13000000123|2015-03-04"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let coded = encode_keys(&keys);
        assert_eq!(coded[0], 2);
        assert_eq!(decode_keys(&coded), keys);
        let named = postcard::to_extend(&keys, vec![1]).expect("encodes");
        assert!(
            coded.len() + 12 <= named.len(),
            "{} against {}",
            coded.len(),
            named.len()
        );
        assert_eq!(decode_keys(&named), keys);
        assert_eq!(decode_keys(&serde_json::to_vec(&keys).expect("json")), keys);
        let unlisted = vec![("name".to_owned(), "王子涵".to_owned())];
        let stored = encode_keys(&unlisted);
        assert_eq!((stored[0], decode_keys(&stored)), (1, unlisted));
        // A kind number past the list (a damaged row) reads as no keys, as any damage does.
        assert!(decode_keys(&[2, 1, 99, 1, b'x']).is_empty());
    }

    /// A store written before kept a name key and a name-with-birth-date key per patient, and
    /// listed a patient's keys in JSON: its next change removes both, as it removes any key
    /// the patient no longer has, and lists the new keys in the compact form.
    #[test]
    fn an_older_stores_keys_go_with_the_patients_next_change() {
        let (_d, store, _) = temp_store("W01", NodeRole::Window);
        let id = store
            .create_patient(&registrar(), new_patient("王小明"))
            .expect("create")
            .value
            .header
            .id;
        let old_keys = [("name", "王小明"), ("born", "王小明|2018-01-02")];
        {
            let w = store.shared.db.begin_write().expect("write");
            {
                let mut keys = w.open_table(tables::PATIENT_KEYS).expect("keys");
                let mut keys_of = w.open_table(tables::PATIENT_KEYS_OF).expect("keys of");
                let mut listed = decode_keys(
                    keys_of
                        .get(id.to_bytes())
                        .expect("get")
                        .expect("listed")
                        .value(),
                );
                for (kind, value) in old_keys {
                    keys.insert((kind, value, id.to_bytes()), ())
                        .expect("insert");
                    listed.push((kind.to_owned(), value.to_owned()));
                }
                let json = serde_json::to_vec(&listed).expect("json");
                keys_of
                    .insert(id.to_bytes(), json.as_slice())
                    .expect("insert");
            }
            w.commit().expect("commit");
        }
        let edit = PatientEdit {
            phone: Some("13911112222".into()),
            ..Default::default()
        };
        store.update_patient(&registrar(), id, edit).expect("edit");
        let r = store.shared.db.begin_read().expect("read");
        let keys = r.open_table(tables::PATIENT_KEYS).expect("keys");
        for (kind, value) in old_keys {
            assert!(
                keys.get((kind, value, id.to_bytes()))
                    .expect("get")
                    .is_none(),
                "{kind}"
            );
        }
        let listed = r.open_table(tables::PATIENT_KEYS_OF).expect("keys of");
        let listed = listed.get(id.to_bytes()).expect("get").expect("listed");
        assert_eq!(listed.value().first(), Some(&2), "the compact form");
        assert!(decode_keys(listed.value()).contains(&(
            "person".to_owned(),
            "王小明|2018-01-02|13911112222".to_owned()
        )));
        assert_eq!(
            store
                .find_patients(&PatientQuery::Name("王小明".into()))
                .expect("search"),
            vec![id]
        );
    }
}
