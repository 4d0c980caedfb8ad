//! The conflict review report as a document: a summary per kind, then every conflict with its
//! competing values (or, for duplicate patients, the records side by side), the automatic
//! decision, a reviewer's decision if any, and the exact commands a reviewer runs.

use super::super::conflicts::{
    ActionView, ConflictReport, ConflictView, DuplicateView, PatientView, action_command,
    kind_title,
};
use super::super::doc::{
    Block, BlockKind, Cell, Column, Doc, Fact, Header, Inline, Rich, Row, Show, Table, opt, text,
};
use super::super::words::display_value;
use crate::report::RenderOptions;

/// Lays the conflict review report out.
pub fn doc(r: &ConflictReport, opts: &RenderOptions) -> Doc {
    let zone = opts.utc_offset.label();
    let generated = opts.utc_offset.local(r.generated_ms);
    let header = Header {
        heading: "Conflict review report".into(),
        meta: Some(vec![
            Inline::Text("Node ".into()),
            Inline::Strong(r.node.clone()),
            Inline::Text(format!(" · generated {generated} ({zone}) · ")),
            Inline::Strong(r.open.to_string()),
            Inline::Text(" open, ".into()),
            Inline::Strong(r.resolved.to_string()),
            Inline::Text(" resolved".into()),
        ]),
        terminal: format!(
            "CONFLICT REVIEW REPORT  node {}  generated {generated} ({zone})\n{} open, {} resolved\n",
            r.node, r.open, r.resolved
        ),
    };
    let mut blocks = vec![Block::on_page(BlockKind::Section {
        heading: "Summary".into(),
        terminal_heading: None,
        class: Some("summary"),
        blocks: vec![summary(r)],
    })];
    if r.conflicts.is_empty() {
        blocks.push(Block::para(
            Show::Terminal,
            text("no conflicts: nothing to review"),
            None,
        ));
    } else {
        blocks.push(Block::on_page(BlockKind::Contents(
            r.conflicts
                .iter()
                .enumerate()
                .map(|(i, c)| (i + 1, c.title(), c.status.clone()))
                .collect(),
        )));
    }
    for (i, c) in r.conflicts.iter().enumerate() {
        blocks.push(Block::new(BlockKind::Item {
            kind: "conflict",
            number: i + 1,
            id: c.id.clone(),
            status: c.status.clone(),
            open: c.is_open(),
            title: c.title(),
            blocks: conflict(c, opts),
        }));
    }
    Doc {
        title: format!("Lifeline — conflict review — {}", r.node),
        header,
        blocks,
    }
}

/// Open and resolved conflicts per kind, with totals.
fn summary(r: &ConflictReport) -> Block {
    let mut kinds: Vec<&str> = Vec::new();
    for c in &r.conflicts {
        if !kinds.contains(&c.kind.as_str()) {
            kinds.push(&c.kind);
        }
    }
    if kinds.is_empty() {
        return Block::para(
            Show::Everywhere,
            text("No conflicts: nothing to review."),
            Some("none"),
        );
    }
    let rows = kinds
        .iter()
        .map(|k| {
            let of = |open: bool| {
                r.conflicts
                    .iter()
                    .filter(|c| c.kind == *k && c.is_open() == open)
                    .count()
                    .to_string()
            };
            Row::new(vec![
                kind_title(k).into(),
                of(true).into(),
                of(false).into(),
            ])
        })
        .collect();
    let mut table = Table::new(
        vec![
            Column::new("Kind"),
            Column::new("Open").right(),
            Column::new("Resolved").right(),
        ],
        rows,
    )
    .class("summary narrow");
    table.foot = Some(Row::new(vec![
        "Total".into(),
        r.open.to_string().into(),
        r.resolved.to_string().into(),
    ]));
    Block::new(BlockKind::Table(table))
}

fn conflict(c: &ConflictView, opts: &RenderOptions) -> Vec<Block> {
    let mut blocks = vec![
        Block::in_terminal(BlockKind::Note {
            label: "id".into(),
            body: text(&c.id),
            class: None,
        }),
        Block::on_page(BlockKind::Facts(identity(c))),
    ];
    if let Some(d) = &c.duplicate {
        blocks.extend(evidence(d, opts));
    } else if !c.values.is_empty() {
        blocks.push(Block::on_page(BlockKind::Subheading(
            "Competing values".into(),
        )));
        blocks.push(Block::new(BlockKind::Table(values(c, opts))));
    }
    let automatic = "Automatic decision".to_owned();
    blocks.push(match &c.automatic_decision {
        Some(a) => Block::new(BlockKind::Note {
            label: automatic,
            body: text(a),
            class: None,
        }),
        None => Block::on_page(BlockKind::Note {
            label: automatic,
            body: text("None: the rules leave this to a person."),
            class: Some("none"),
        }),
    });
    if let Some(d) = &c.decision {
        let label = if c.is_open() {
            "Earlier decision (reopened by new values)"
        } else {
            "Decision"
        };
        let at = opts.utc_offset.local(d.at_ms);
        blocks.push(Block::in_terminal(BlockKind::Note {
            label: label.into(),
            body: text(format!(
                "{} by {} on {} at {at}",
                d.decision, d.operator, d.node
            )),
            class: None,
        }));
        blocks.push(Block::on_page(BlockKind::Note {
            label: label.into(),
            body: vec![
                Inline::Text(format!("{} — by ", d.decision)),
                Inline::Strong(d.operator.clone()),
                Inline::Text(format!(
                    " on {} at {at} ({})",
                    d.node,
                    opts.utc_offset.label()
                )),
            ],
            class: Some("decision"),
        }));
    }
    let commands: Vec<(String, String)> = c
        .actions
        .iter()
        .filter(|a| **a != ActionView::Other)
        .map(|a| action_command(c, a, opts))
        .collect();
    if !commands.is_empty() {
        blocks.push(Block::new(BlockKind::Commands {
            label: "What a reviewer can do".into(),
            commands,
        }));
    }
    blocks
}

/// What the conflict is: its id, records, who they are about, the field.
fn identity(c: &ConflictView) -> Vec<Fact> {
    let mut records: Rich = Vec::new();
    for (i, r) in c.records.iter().enumerate() {
        if i > 0 {
            records.push(Inline::Text(", ".into()));
        }
        records.push(Inline::Code(r.clone()));
        records.push(Inline::Text(format!(" ({})", c.record_kind)));
    }
    let plural = if c.records.len() > 1 { "s" } else { "" };
    let mut facts = vec![
        Fact::new("Conflict id", vec![Inline::Code(c.id.clone())]),
        Fact::new(&format!("Record{plural}"), records),
    ];
    if let Some(subject) = &c.subject {
        facts.push(Fact::new("About", text(subject)));
    }
    if let Some(field) = &c.field {
        facts.push(Fact::new("Field", vec![Inline::Code(field.clone())]));
    }
    facts
}

/// The competing values and who wrote them.
fn values(c: &ConflictView, opts: &RenderOptions) -> Table {
    let columns = vec![
        Column::new("#").right(),
        Column::new("Value").class("value"),
        Column::new("Node"),
        Column::new("Operator"),
        Column::new("Desk").shown(Show::Page),
        Column::new("Operation").shown(Show::Page),
        Column::new(&format!("Written ({})", opts.utc_offset.label())).class("t"),
        Column::new("").shown(Show::Terminal),
        Column::new("Shown now").shown(Show::Page),
    ];
    let rows = c
        .values
        .iter()
        .map(|v| {
            let written = v.at_ms.map(|t| opts.utc_offset.local(t));
            Row {
                cells: vec![
                    v.index.to_string().into(),
                    display_value(&v.value).into(),
                    opt(v.node.as_deref()).into(),
                    opt(v.operator.as_deref()).into(),
                    opt(v.desk.as_deref()).into(),
                    opt(v.action.as_deref()).into(),
                    opt(written.as_deref()).into(),
                    if v.shown { "shown" } else { "" }.into(),
                    if v.shown { "yes" } else { "" }.into(),
                ],
                class: v.shown.then_some("shown"),
            }
        })
        .collect();
    Table::new(columns, rows).class("values")
}

/// Why two patient records look like one person, and the records side by side: compact in a
/// terminal; on a page with the matching keys highlighted and the fields that differ marked.
fn evidence(d: &DuplicateView, opts: &RenderOptions) -> Vec<Block> {
    let zone = opts.utc_offset.label();
    let created_at = |p: &PatientView| opts.utc_offset.local(p.header.created_ms);
    let keys: Vec<String> = d
        .matched
        .iter()
        .map(|m| format!("same {} ({})", m.key.replace('_', " "), m.value))
        .collect();
    let mut page_keys: Rich = Vec::new();
    for (i, m) in d.matched.iter().enumerate() {
        if i > 0 {
            page_keys.push(Inline::Text("; ".into()));
        }
        page_keys.push(Inline::Text("same ".into()));
        page_keys.push(Inline::Strong(m.key.replace('_', " ")));
        page_keys.push(Inline::Text(": ".into()));
        page_keys.push(Inline::Code(m.value.clone()));
    }

    let record_columns = |label: &dyn Fn(usize, &PatientView) -> Rich| {
        let mut columns = vec![Column::new("Field")];
        columns.extend(d.patients.iter().enumerate().map(|(i, p)| Column {
            label: label(i, p),
            ..Column::new("")
        }));
        columns
    };
    type Get<'a> = Box<dyn Fn(&PatientView) -> Option<String> + 'a>;
    let terminal_fields: [(String, Get); 13] = [
        ("Record".into(), Box::new(|p| Some(p.header.id.clone()))),
        (
            "Patient no".into(),
            Box::new(|p| Some(p.patient_no.clone())),
        ),
        ("HIS patient".into(), Box::new(|p| p.his_id.clone())),
        ("Name".into(), Box::new(|p| Some(p.name.clone()))),
        ("Sex".into(), Box::new(|p| Some(p.sex.clone()))),
        (
            "Birth date".into(),
            Box::new(|p| Some(p.birth_date.clone())),
        ),
        ("Phone".into(), Box::new(|p| Some(p.phone.clone()))),
        ("National id".into(), Box::new(|p| p.national_id.clone())),
        ("Insurance".into(), Box::new(|p| Some(p.insurance.clone()))),
        (
            "Created on".into(),
            Box::new(|p| Some(p.header.origin.clone())),
        ),
        ("By".into(), Box::new(|p| Some(p.header.operator.clone()))),
        (format!("At ({zone})"), Box::new(|p| Some(created_at(p)))),
        ("Episode".into(), Box::new(|p| p.header.episode.clone())),
    ];
    let terminal_rows = terminal_fields
        .iter()
        .map(|(label, get)| {
            let mut cells: Vec<Cell> = vec![label.as_str().into()];
            cells.extend(
                d.patients
                    .iter()
                    .map(|p| Cell::from(opt(get(p).as_deref()))),
            );
            Row::new(cells)
        })
        .collect();
    let mut terminal = Table::new(
        record_columns(&|i, _| text(format!("Record {}", i + 1))),
        terminal_rows,
    );
    terminal.row_labels = true;

    let matched = |key: &str| d.matched.iter().any(|m| m.key == key);
    let (by_id, by_person) = (matched("national_id"), matched("name_birth_date_phone"));
    let page_fields: [(String, Get, bool); 13] = [
        (
            "Patient no".into(),
            Box::new(|p| Some(p.patient_no.clone())),
            false,
        ),
        (
            "HIS patient (master)".into(),
            Box::new(|p| p.his_id.clone()),
            false,
        ),
        ("Name".into(), Box::new(|p| Some(p.name.clone())), by_person),
        ("Sex".into(), Box::new(|p| Some(p.sex.clone())), false),
        (
            "Birth date".into(),
            Box::new(|p| Some(p.birth_date.clone())),
            by_person,
        ),
        (
            "Phone".into(),
            Box::new(|p| Some(p.phone.clone())),
            by_person,
        ),
        (
            "National id".into(),
            Box::new(|p| p.national_id.clone()),
            by_id,
        ),
        (
            "Insurance".into(),
            Box::new(|p| Some(p.insurance.clone())),
            false,
        ),
        (
            "Created on node".into(),
            Box::new(|p| Some(p.header.origin.clone())),
            false,
        ),
        (
            "Created by".into(),
            Box::new(|p| Some(p.header.operator.clone())),
            false,
        ),
        (
            format!("Created at ({zone})"),
            Box::new(|p| Some(created_at(p))),
            false,
        ),
        (
            "Emergency episode".into(),
            Box::new(|p| p.header.episode.clone()),
            false,
        ),
        (
            "Merged into".into(),
            Box::new(|p| p.merged_into.clone()),
            false,
        ),
    ];
    let page_rows = page_fields
        .iter()
        .map(|(label, get, is_match)| {
            let values: Vec<String> = d
                .patients
                .iter()
                .map(|p| get(p).unwrap_or_default())
                .collect();
            // Who created a record and when always differ; they are not evidence.
            let differ = values.iter().any(|v| *v != values[0])
                && !label.starts_with("Created")
                && !label.starts_with("HIS patient")
                && label != "Patient no";
            let mut cells: Vec<Cell> = vec![label.as_str().into()];
            cells.extend(values.iter().map(|v| Cell {
                value: opt(Some(v.as_str()).filter(|v| !v.is_empty())),
                class: differ.then_some("differ"),
            }));
            Row {
                cells,
                class: is_match.then_some("match"),
            }
        })
        .collect();
    let mut page = Table::new(
        record_columns(&|i, p| {
            vec![
                Inline::Text(format!("Record {} ", i + 1)),
                Inline::Code(p.header.id.clone()),
            ]
        }),
        page_rows,
    )
    .class("evidence");
    page.row_labels = true;

    vec![
        Block::in_terminal(BlockKind::Note {
            label: "Evidence".into(),
            body: text(keys.join("; ")),
            class: None,
        }),
        Block::in_terminal(BlockKind::Table(terminal)),
        Block::on_page(BlockKind::Note {
            label: "Evidence".into(),
            body: page_keys,
            class: None,
        }),
        Block::on_page(BlockKind::Table(page)),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::super::conflicts::tests::sample;
    use super::super::super::{html, text};
    use super::*;
    use crate::time::UtcOffset;

    #[test]
    fn the_terminal_report_shows_values_nodes_and_commands() {
        let text = text::render(&doc(&sample(), &RenderOptions::default()));
        assert!(text.contains("2 open, 0 resolved"), "{text}");
        assert!(text.contains("13811112222"), "{text}");
        assert!(text.contains("registration-w02"), "{text}");
        assert!(
            text.contains("lifeline resolve -c node.toml field:01AAA:phone --choose 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "lifeline merge-patients -c node.toml --survivor 01BBB --duplicate 01CCC"
            ),
            "{text}"
        );
        assert!(
            text.contains("same national id (11010520210314003X)"),
            "{text}"
        );
    }

    #[test]
    fn every_value_is_escaped_on_the_page() {
        let page = html::render(&doc(&sample(), &RenderOptions::default()));
        html::assert_self_contained(&page);
        assert!(!page.contains("<script>x</script>"));
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(page.contains("林小雨 &lt;b&gt;&amp;amp;"));
        assert!(!page.contains("林小雨 <b>"));
    }

    #[test]
    fn the_page_has_a_section_per_conflict_with_values_and_commands() {
        let page = html::render(&doc(&sample(), &RenderOptions::default()));
        assert_eq!(page.matches("<section class=\"conflict open\"").count(), 2);
        assert!(page.contains("registration-w01"));
        assert!(page.contains("13811112222"));
        assert!(
            page.contains(
                "lifeline merge-patients -c node.toml --survivor 01BBB --duplicate 01CCC"
            )
        );
        assert!(page.contains("<tr class=\"match\"><th>National id</th>"));
    }

    #[test]
    fn the_hospital_offset_sets_every_time_shown() {
        let r = sample();
        let default = text::render(&doc(&r, &RenderOptions::default()));
        assert!(
            default.contains("generated 2026-11-25 09:01:40 (UTC+8)"),
            "{default}"
        );
        let opts = RenderOptions {
            utc_offset: "-05:00".parse::<UtcOffset>().expect("valid"),
            ..RenderOptions::default()
        };
        for rendered in [text::render(&doc(&r, &opts)), html::render(&doc(&r, &opts))] {
            assert!(
                rendered.contains("generated 2026-11-24 20:01:40 (UTC-5)"),
                "{rendered}"
            );
            assert!(rendered.contains("Written (UTC-5)") || rendered.contains("written (UTC-5)"));
            assert!(
                rendered.contains("2026-11-24 20:01:00"),
                "values' times: {rendered}"
            );
            assert!(!rendered.contains("UTC+8"), "{rendered}");
        }
    }
}
