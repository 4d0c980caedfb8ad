//! The conflict review report as a document: a summary per kind, then every conflict with its
//! competing values (or, for duplicate patients, the records side by side: [`super::evidence`]),
//! the automatic decision, a reviewer's decision if any, and the exact commands a reviewer
//! runs. Every word comes from the catalogs, in the language of the options.

use super::super::actions::action_command;
use super::super::conflicts::{
    ActionView, ConflictReport, ConflictView, kind_title, record_kind, subject_words,
};
use super::super::doc::{
    Block, BlockKind, Column, Doc, Fact, Header, Inline, Rich, Row, Show, Table, opt, text,
};
use super::super::words::{decision, display_value};
use super::evidence::evidence;
use crate::i18n::{Lang, t, tr};
use crate::report::RenderOptions;

/// Lays the conflict review report out.
pub fn doc(r: &ConflictReport, opts: &RenderOptions) -> Doc {
    let l = opts.lang;
    let zone = opts.utc_offset.label();
    let generated = opts.utc_offset.local(r.generated_ms);
    let counts = tr(
        l,
        "report-conflicts-counts",
        &[("open", r.open.into()), ("resolved", r.resolved.into())],
    );
    let when = [
        ("node", r.node.as_str().into()),
        ("generated", generated.as_str().into()),
        ("zone", zone.as_str().into()),
    ];
    let header = Header {
        heading: t(l, "report-conflicts-heading"),
        meta: Some(text(format!(
            "{} · {counts}",
            tr(l, "report-conflicts-meta", &when)
        ))),
        terminal: format!("{}\n{counts}\n", tr(l, "report-conflicts-terminal", &when)),
    };
    let mut blocks = vec![Block::on_page(BlockKind::Section {
        heading: t(l, "report-summary"),
        terminal_heading: None,
        class: Some("summary"),
        blocks: vec![summary(l, r)],
    })];
    if r.conflicts.is_empty() {
        blocks.push(Block::para(
            Show::Terminal,
            text(t(l, "report-conflicts-none-terminal")),
            None,
        ));
    } else {
        blocks.push(Block::on_page(BlockKind::Contents(
            r.conflicts
                .iter()
                .enumerate()
                .map(|(i, c)| (i + 1, c.title(l), c.status_words(l)))
                .collect(),
        )));
    }
    for (i, c) in r.conflicts.iter().enumerate() {
        blocks.push(Block::new(BlockKind::Item {
            kind: "conflict",
            number: i + 1,
            id: c.id.clone(),
            status: c.status_words(l),
            open: c.is_open(),
            title: c.title(l),
            blocks: conflict(c, opts),
        }));
    }
    Doc {
        lang: l,
        title: tr(
            l,
            "report-conflicts-title",
            &[("node", r.node.as_str().into())],
        ),
        header,
        blocks,
    }
}

/// Open and resolved conflicts per kind, with totals.
fn summary(l: Lang, r: &ConflictReport) -> Block {
    let mut kinds: Vec<&str> = Vec::new();
    for c in &r.conflicts {
        if !kinds.contains(&c.kind.as_str()) {
            kinds.push(&c.kind);
        }
    }
    if kinds.is_empty() {
        return Block::para(
            Show::Everywhere,
            text(t(l, "report-conflicts-none")),
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
                kind_title(l, k).into(),
                of(true).into(),
                of(false).into(),
            ])
        })
        .collect();
    let mut table = Table::new(
        vec![
            Column::new(&t(l, "report-col-kind")),
            Column::new(&t(l, "report-col-open")).right(),
            Column::new(&t(l, "report-col-resolved")).right(),
        ],
        rows,
    )
    .class("summary narrow");
    table.foot = Some(Row::new(vec![
        t(l, "report-total").into(),
        r.open.to_string().into(),
        r.resolved.to_string().into(),
    ]));
    Block::new(BlockKind::Table(table))
}

/// What the rules did meanwhile, in `l`: said again from the conflict's kind (and, for a
/// field, the value shown now), or as the node wrote it for a kind this version does not know.
fn automatic(l: Lang, c: &ConflictView, stored: &str) -> String {
    match c.kind.as_str() {
        "field_conflict" => match c.values.iter().find(|v| v.shown) {
            Some(v) => tr(
                l,
                "report-automatic-field_conflict",
                &[
                    ("index", v.index.into()),
                    ("value", display_value(l, &v.value).into()),
                ],
            ),
            None => stored.to_owned(),
        },
        kind @ ("double_dispense"
        | "dispensed_and_cancelled"
        | "double_settlement"
        | "double_invoice") => t(l, &format!("report-automatic-{kind}")),
        _ => stored.to_owned(),
    }
}

fn conflict(c: &ConflictView, opts: &RenderOptions) -> Vec<Block> {
    let l = opts.lang;
    let mut blocks = vec![
        Block::in_terminal(BlockKind::Note {
            label: t(l, "report-fact-id"),
            body: text(&c.id),
            class: None,
        }),
        Block::on_page(BlockKind::Facts(identity(l, c))),
    ];
    if let Some(d) = &c.duplicate {
        blocks.extend(evidence(d, opts));
    } else if !c.values.is_empty() {
        blocks.push(Block::on_page(BlockKind::Subheading(t(
            l,
            "report-competing-values",
        ))));
        blocks.push(Block::new(BlockKind::Table(values(c, opts))));
    }
    let label = t(l, "report-automatic-decision");
    blocks.push(match &c.automatic_decision {
        Some(a) => Block::new(BlockKind::Note {
            label,
            body: text(automatic(l, c, a)),
            class: None,
        }),
        None => Block::on_page(BlockKind::Note {
            label,
            body: text(t(l, "report-automatic-none")),
            class: Some("none"),
        }),
    });
    if let Some(d) = &c.decision {
        let label = if c.is_open() {
            t(l, "report-decision-reopened")
        } else {
            t(l, "report-decision")
        };
        let args = [
            ("decision", decision(l, &d.decision).into()),
            ("operator", d.operator.as_str().into()),
            ("node", d.node.as_str().into()),
            ("at", opts.utc_offset.local(d.at_ms).into()),
            ("zone", opts.utc_offset.label().into()),
        ];
        blocks.push(Block::in_terminal(BlockKind::Note {
            label: label.clone(),
            body: text(tr(l, "report-decision-by", &args)),
            class: None,
        }));
        blocks.push(Block::on_page(BlockKind::Note {
            label,
            body: text(tr(l, "report-decision-by-zone", &args)),
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
            label: t(l, "report-reviewer-can"),
            commands,
        }));
    }
    blocks
}

/// What the conflict is: its id, records, who they are about, the field.
fn identity(l: Lang, c: &ConflictView) -> Vec<Fact> {
    let mut records: Rich = Vec::new();
    for (i, r) in c.records.iter().enumerate() {
        if i > 0 {
            records.push(Inline::Text(t(l, "report-list-separator")));
        }
        records.push(Inline::Code(r.clone()));
        records.push(Inline::Text(tr(
            l,
            "report-record-kind-note",
            &[("kind", record_kind(l, &c.record_kind, 1).into())],
        )));
    }
    let mut facts = vec![
        Fact::new(
            &t(l, "report-fact-conflict-id"),
            vec![Inline::Code(c.id.clone())],
        ),
        Fact::new(
            &tr(
                l,
                "report-fact-records",
                &[("count", c.records.len().into())],
            ),
            records,
        ),
    ];
    if let Some(subject) = subject_words(l, c.about.as_ref(), c.subject.as_deref()) {
        facts.push(Fact::new(&t(l, "report-fact-about"), text(subject)));
    }
    if let Some(field) = &c.field {
        facts.push(Fact::new(
            &t(l, "report-fact-field"),
            vec![Inline::Code(field.clone())],
        ));
    }
    facts
}

/// A desk's name (`registration`) in `l`; an unknown one as it is.
pub(super) fn desk_words(l: Lang, desk: &str) -> String {
    match desk.parse::<lifeline_core::DeskRole>() {
        Ok(d) => crate::console::desk_name(l, d),
        Err(_) => desk.to_owned(),
    }
}

/// The competing values and who wrote them.
fn values(c: &ConflictView, opts: &RenderOptions) -> Table {
    let l = opts.lang;
    let columns = vec![
        Column::new("#").right(),
        Column::new(&t(l, "report-col-value")).class("value"),
        Column::new(&t(l, "report-col-node")),
        Column::new(&t(l, "report-col-operator")),
        Column::new(&t(l, "report-col-desk")).shown(Show::Page),
        Column::new(&t(l, "report-col-operation")).shown(Show::Page),
        Column::new(&tr(
            l,
            "report-col-written",
            &[("zone", opts.utc_offset.label().into())],
        ))
        .class("t"),
        Column::new("").shown(Show::Terminal),
        Column::new(&t(l, "report-col-shown-now")).shown(Show::Page),
    ];
    let rows = c
        .values
        .iter()
        .map(|v| {
            let written = v.at_ms.map(|t| opts.utc_offset.local(t));
            let desk = v.desk.as_deref().map(|d| desk_words(l, d));
            let (shown, yes) = if v.shown {
                (t(l, "report-value-shown"), t(l, "report-yes"))
            } else {
                (String::new(), String::new())
            };
            Row {
                cells: vec![
                    v.index.to_string().into(),
                    display_value(l, &v.value).into(),
                    opt(v.node.as_deref()).into(),
                    opt(v.operator.as_deref()).into(),
                    opt(desk.as_deref()).into(),
                    opt(v.action.as_deref()).into(),
                    opt(written.as_deref()).into(),
                    shown.into(),
                    yes.into(),
                ],
                class: v.shown.then_some("shown"),
            }
        })
        .collect();
    Table::new(columns, rows).class("values")
}

#[cfg(test)]
mod tests {
    use super::super::super::conflicts::tests::sample;
    use super::super::super::{html, text};
    use super::*;
    use crate::time::UtcOffset;

    fn english() -> RenderOptions {
        RenderOptions {
            lang: Lang::En,
            ..RenderOptions::default()
        }
    }

    #[test]
    fn the_terminal_report_shows_values_nodes_and_commands() {
        let text = text::render(&doc(&sample(), &english()));
        for part in [
            "CONFLICT REVIEW REPORT  node central",
            "2 open, 0 resolved",
            "13811112222",
            "registration-w02",
            "lifeline resolve -c node.toml field:01AAA:phone --choose 1",
            "lifeline merge-patients -c node.toml --survivor 01BBB --duplicate 01CCC",
            "same national id (11010520210314003X)",
            "1. [OPEN] Field conflict: patient 01AAA (张三, patient W01-9), field phone",
            "2. [OPEN] Duplicate patient: patients 01BBB / 01CCC (林小雨 / 林小雨)",
            "currently shown: value 1 (<script>x</script>)",
            "keep value 0: 13811112222",
        ] {
            assert!(text.contains(part), "{part} missing from\n{text}");
        }
    }

    /// Chinese by default: headings, labels, kinds, decisions and what each command does.
    #[test]
    fn the_report_reads_in_chinese_by_default() {
        let r = sample();
        let text = text::render(&doc(&r, &RenderOptions::default()));
        for part in [
            "冲突审核报告  节点 central",
            "待处理 2 条，已解决 0 条",
            "1. [待处理] 字段冲突：患者 01AAA（张三，患者 W01-9），字段 phone",
            "2. [待处理] 疑似重复患者：患者 01BBB / 01CCC（林小雨 / 林小雨）",
            "系统自动处理：当前显示值 1（<script>x</script>）",
            "采用值 0：13811112222",
            "lifeline resolve -c node.toml field:01AAA:phone --choose 1",
            "判断依据：身份证号相同（11010520210314003X）",
            "审核人可执行的操作：",
            "女",
            "居民医保",
        ] {
            assert!(text.contains(part), "{part} missing from\n{text}");
        }
        for english in ["Field conflict", "open,", "same national id", "keep value"] {
            assert!(!text.contains(english), "{english} in\n{text}");
        }
        let page = html::render(&doc(&r, &RenderOptions::default()));
        assert!(page.contains("<html lang=\"zh-CN\">"), "{page}");
        assert!(page.contains("<h2>目录</h2>"), "{page}");
        assert!(
            page.contains("<tr class=\"match\"><th>身份证号</th>"),
            "{page}"
        );
        assert!(
            page.contains("登记") || page.contains("挂号"),
            "the desk: {page}"
        );
    }

    /// A record of a patient the HIS deleted says so beside its HIS id, in either language.
    #[test]
    fn a_patient_the_his_deleted_is_marked_beside_its_his_id() {
        let mut r = sample();
        let pair = r
            .conflicts
            .iter_mut()
            .find_map(|c| c.duplicate.as_mut())
            .expect("the sample has a duplicate");
        for p in &mut pair.patients {
            p.his_id = Some("H000042".into());
        }
        pair.patients[0].his_deleted = true;
        let zh = text::render(&doc(&r, &RenderOptions::default()));
        assert_eq!(zh.matches("H000042（HIS 已删除）").count(), 1, "{zh}");
        let en = text::render(&doc(&r, &english()));
        assert_eq!(
            en.matches("H000042 (deleted in the HIS)").count(),
            1,
            "{en}"
        );
        assert!(en.contains("H000042"), "{en}");
    }

    #[test]
    fn every_value_is_escaped_on_the_page() {
        for l in Lang::ALL {
            let opts = RenderOptions {
                lang: l,
                ..RenderOptions::default()
            };
            let page = html::render(&doc(&sample(), &opts));
            html::assert_self_contained(&page);
            assert!(!page.contains("<script>x</script>"));
            assert!(page.contains("&lt;script&gt;x&lt;/script&gt;"));
            assert!(page.contains("林小雨 &lt;b&gt;&amp;amp;"));
            assert!(!page.contains("林小雨 <b>"));
        }
    }

    #[test]
    fn the_page_has_a_section_per_conflict_with_values_and_commands() {
        let page = html::render(&doc(&sample(), &english()));
        assert_eq!(page.matches("<section class=\"conflict open\"").count(), 2);
        assert!(page.contains("registration-w01"));
        assert!(page.contains("13811112222"));
        assert!(
            page.contains(
                "lifeline merge-patients -c node.toml --survivor 01BBB --duplicate 01CCC"
            )
        );
        assert!(page.contains("<tr class=\"match\"><th>National id</th>"));
        assert!(page.contains("<html lang=\"en\">"));
    }

    #[test]
    fn the_hospital_offset_sets_every_time_shown() {
        let r = sample();
        let default = text::render(&doc(&r, &english()));
        assert!(
            default.contains("generated 2026-11-25 09:01:40 (UTC+8)"),
            "{default}"
        );
        let opts = RenderOptions {
            utc_offset: "-05:00".parse::<UtcOffset>().expect("valid"),
            ..english()
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
        let zh = RenderOptions {
            lang: Lang::Zh,
            ..opts
        };
        let rendered = text::render(&doc(&r, &zh));
        assert!(
            rendered.contains("生成于 2026-11-24 20:01:40（UTC-5）"),
            "{rendered}"
        );
    }
}
