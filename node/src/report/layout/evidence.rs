//! A duplicate patient's evidence: why two patient records look like one person, and the
//! records side by side; compact in a terminal, on a page with the matching keys highlighted
//! and the fields that differ marked.

use super::super::conflicts::{DuplicateView, PatientView};
use super::super::doc::{Block, BlockKind, Cell, Column, Inline, Rich, Row, Table, opt, text};
use crate::i18n::{Lang, t, tr};
use crate::report::RenderOptions;

/// A matching key (`national_id`) in `l`; an unknown one with its underscores as spaces.
fn key_words(l: Lang, key: &str) -> String {
    match key {
        "his_id" | "national_id" | "name_birth_date_phone" => t(l, &format!("report-key-{key}")),
        other => other.replace('_', " "),
    }
}

/// A patient's sex or insurance, as the desks say it; a value this version does not know, as
/// it is.
fn patient_value(l: Lang, field: Field, value: &str) -> String {
    match (field, value) {
        (Field::Sex, "male" | "female" | "unknown") => t(l, &format!("sex-{value}")),
        (Field::Insurance, "self_pay") => t(l, "insurance-self-pay"),
        (Field::Insurance, "employee" | "resident") => t(l, &format!("insurance-{value}")),
        _ => value.to_owned(),
    }
}

/// The rows of the records side by side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Record,
    PatientNo,
    His,
    Name,
    Sex,
    BirthDate,
    Phone,
    NationalId,
    Insurance,
    Origin,
    Operator,
    CreatedAt,
    Episode,
    MergedInto,
}

impl Field {
    /// The terminal's rows, in order.
    const TERMINAL: [Field; 13] = [
        Field::Record,
        Field::PatientNo,
        Field::His,
        Field::Name,
        Field::Sex,
        Field::BirthDate,
        Field::Phone,
        Field::NationalId,
        Field::Insurance,
        Field::Origin,
        Field::Operator,
        Field::CreatedAt,
        Field::Episode,
    ];

    /// The page's rows, in order (the record ids head its columns).
    const PAGE: [Field; 13] = [
        Field::PatientNo,
        Field::His,
        Field::Name,
        Field::Sex,
        Field::BirthDate,
        Field::Phone,
        Field::NationalId,
        Field::Insurance,
        Field::Origin,
        Field::Operator,
        Field::CreatedAt,
        Field::Episode,
        Field::MergedInto,
    ];

    /// The row's label: the terminal's short one, or the page's.
    fn label(self, l: Lang, zone: &str, on_page: bool) -> String {
        let key = match (self, on_page) {
            (Field::Record, _) => "report-p-record",
            (Field::PatientNo, _) => "report-p-patient-no",
            (Field::His, false) => "report-p-his",
            (Field::His, true) => "report-p-his-master",
            (Field::Name, _) => "report-p-name",
            (Field::Sex, _) => "report-p-sex",
            (Field::BirthDate, _) => "report-p-birth-date",
            (Field::Phone, _) => "report-p-phone",
            (Field::NationalId, _) => "report-p-national-id",
            (Field::Insurance, _) => "report-p-insurance",
            (Field::Origin, false) => "report-p-created-on",
            (Field::Origin, true) => "report-p-created-on-node",
            (Field::Operator, false) => "report-p-by",
            (Field::Operator, true) => "report-p-created-by",
            (Field::CreatedAt, false) => "report-p-at",
            (Field::CreatedAt, true) => "report-p-created-at",
            (Field::Episode, false) => "report-p-episode",
            (Field::Episode, true) => "report-p-emergency-episode",
            (Field::MergedInto, _) => "report-p-merged-into",
        };
        tr(l, key, &[("zone", zone.into())])
    }

    fn of(self, l: Lang, p: &PatientView, opts: &RenderOptions) -> Option<String> {
        match self {
            Field::Record => Some(p.header.id.clone()),
            Field::PatientNo => Some(p.patient_no.clone()),
            Field::His => p.his_id.as_ref().map(|his| {
                if p.his_deleted {
                    tr(l, "report-p-his-deleted", &[("his", his.as_str().into())])
                } else {
                    his.clone()
                }
            }),
            Field::Name => Some(p.name.clone()),
            Field::Sex => Some(patient_value(l, self, &p.sex)),
            Field::BirthDate => Some(p.birth_date.clone()),
            Field::Phone => Some(p.phone.clone()),
            Field::NationalId => p.national_id.clone(),
            Field::Insurance => Some(patient_value(l, self, &p.insurance)),
            Field::Origin => Some(p.header.origin.clone()),
            Field::Operator => Some(p.header.operator.clone()),
            Field::CreatedAt => Some(opts.utc_offset.local(p.header.created_ms)),
            Field::Episode => p.header.episode.clone(),
            Field::MergedInto => p.merged_into.clone(),
        }
    }

    /// Whether the records differing here is evidence: who created a record and when always
    /// differ, and so do their numbers.
    fn is_evidence(self) -> bool {
        !matches!(
            self,
            Field::Record
                | Field::PatientNo
                | Field::His
                | Field::Origin
                | Field::Operator
                | Field::CreatedAt
        )
    }

    /// Whether the matching keys include this field.
    fn matched(self, d: &DuplicateView) -> bool {
        let matched = |key: &str| d.matched.iter().any(|m| m.key == key);
        match self {
            Field::NationalId => matched("national_id"),
            Field::His => matched("his_id"),
            Field::Name | Field::BirthDate | Field::Phone => matched("name_birth_date_phone"),
            _ => false,
        }
    }
}

/// The blocks of a duplicate's evidence.
pub(super) fn evidence(d: &DuplicateView, opts: &RenderOptions) -> Vec<Block> {
    let l = opts.lang;
    let zone = opts.utc_offset.label();
    let keys: Vec<String> = d
        .matched
        .iter()
        .map(|m| {
            tr(
                l,
                "report-same-key",
                &[
                    ("key", key_words(l, &m.key).into()),
                    ("value", m.value.as_str().into()),
                ],
            )
        })
        .collect();
    let mut page_keys: Rich = Vec::new();
    for (i, m) in d.matched.iter().enumerate() {
        if i > 0 {
            page_keys.push(Inline::Text(t(l, "report-clause-separator")));
        }
        page_keys.push(Inline::Text(tr(
            l,
            "report-same-key-page",
            &[("key", key_words(l, &m.key).into())],
        )));
        page_keys.push(Inline::Code(m.value.clone()));
    }

    let record_columns = |label: &dyn Fn(usize, &PatientView) -> Rich| {
        let mut columns = vec![Column::new(&t(l, "report-col-field"))];
        columns.extend(d.patients.iter().enumerate().map(|(i, p)| Column {
            label: label(i, p),
            ..Column::new("")
        }));
        columns
    };
    let record_label = |i: usize| tr(l, "report-col-record", &[("n", (i + 1).into())]);

    let terminal_rows = Field::TERMINAL
        .iter()
        .map(|f| {
            let mut cells: Vec<Cell> = vec![f.label(l, &zone, false).into()];
            cells.extend(
                d.patients
                    .iter()
                    .map(|p| Cell::from(opt(f.of(l, p, opts).as_deref()))),
            );
            Row::new(cells)
        })
        .collect();
    let mut terminal = Table::new(record_columns(&|i, _| text(record_label(i))), terminal_rows);
    terminal.row_labels = true;

    let page_rows = Field::PAGE
        .iter()
        .map(|f| {
            let values: Vec<String> = d
                .patients
                .iter()
                .map(|p| f.of(l, p, opts).unwrap_or_default())
                .collect();
            let differ = f.is_evidence() && values.iter().any(|v| *v != values[0]);
            let mut cells: Vec<Cell> = vec![f.label(l, &zone, true).into()];
            cells.extend(values.iter().map(|v| Cell {
                value: opt(Some(v.as_str()).filter(|v| !v.is_empty())),
                class: differ.then_some("differ"),
            }));
            Row {
                cells,
                class: f.matched(d).then_some("match"),
            }
        })
        .collect();
    let mut page = Table::new(
        record_columns(&|i, p| {
            vec![
                Inline::Text(format!("{} ", record_label(i))),
                Inline::Code(p.header.id.clone()),
            ]
        }),
        page_rows,
    )
    .class("evidence");
    page.row_labels = true;

    let label = t(l, "report-evidence");
    vec![
        Block::in_terminal(BlockKind::Note {
            label: label.clone(),
            body: text(keys.join(&t(l, "report-clause-separator"))),
            class: None,
        }),
        Block::in_terminal(BlockKind::Table(terminal)),
        Block::on_page(BlockKind::Note {
            label,
            body: page_keys,
            class: None,
        }),
        Block::on_page(BlockKind::Table(page)),
    ]
}
