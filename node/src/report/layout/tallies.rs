//! The outage report's tallies as blocks: money collected by channel, the nodes and the
//! reference data they worked from, records created per kind, invoices per range, the
//! conflicts touching the episode, and the recovery worklist's progress.

use lifeline_core::numbers::Series;
use lifeline_core::review::WorkCategory;

use super::super::conflicts::{kind_title, record_kind, status_words, subject_words};
use super::super::doc::{Block, BlockKind, Column, Inline, Row, Show, Table, opt, text};
use super::super::outage::{ConflictLine, OutageReport};
use super::super::words::{decision, duration_in};
use crate::i18n::{Lang, money as yuan, t, tr};

pub(super) fn money(r: &OutageReport, l: Lang) -> Vec<Block> {
    let m = &r.money;
    let mut rows: Vec<Row> = m
        .collected
        .iter()
        .map(|c| {
            Row::new(vec![
                t(l, &format!("channel-{}", c.channel.name())).into(),
                yuan(c.amount).into(),
            ])
        })
        .collect();
    if rows.is_empty() {
        rows.push(Row::new(vec![
            t(l, "report-nothing-settled").into(),
            yuan(lifeline_core::Fen(0)).into(),
        ]));
    }
    let mut table = Table::new(
        vec![
            Column::new(&t(l, "report-col-channel")),
            Column::new(&t(l, "report-col-amount")).right(),
        ],
        rows,
    )
    .class("narrow");
    table.foot = Some(Row::new(vec![
        tr(
            l,
            "report-money-total",
            &[("charges", m.charges_settled.into())],
        )
        .into(),
        yuan(m.collected_total).into(),
    ]));
    vec![
        Block::new(BlockKind::Table(table)),
        Block::para(
            Show::Everywhere,
            text(tr(
                l,
                "report-awaiting-resettlement",
                &[
                    ("charges", m.awaiting_resettlement_charges.into()),
                    ("amount", yuan(m.awaiting_resettlement).into()),
                ],
            )),
            None,
        ),
    ]
}

pub(super) fn nodes(r: &OutageReport, l: Lang) -> Block {
    let zone = [("zone", r.timezone.as_str().into())];
    let columns = vec![
        Column::new(&t(l, "report-col-node")),
        Column::new(&tr(l, "report-col-joined", &zone)).class("t"),
        Column::new(&tr(l, "report-col-left", &zone)).class("t"),
        Column::new(&t(l, "report-col-reference")).shown(Show::Terminal),
        Column::new(&t(l, "report-col-drug-catalog"))
            .right()
            .shown(Show::Page),
        Column::new(&t(l, "report-col-service-catalog"))
            .right()
            .shown(Show::Page),
        Column::new(&t(l, "report-col-reference-changed"))
            .class("t")
            .shown(Show::Page),
        Column::new(&t(l, "report-col-data-age")),
        Column::new(&t(l, "report-col-records")).right(),
    ];
    let rows = r
        .nodes
        .iter()
        .map(|n| {
            let age = match n.reference_age_ms {
                Some(ms) => Some(duration_in(l, ms)),
                None => n.reference_age.clone(),
            };
            Row::new(vec![
                n.node.as_str().into(),
                n.joined_local.as_str().into(),
                opt(n.left_local.as_deref()).into(),
                tr(
                    l,
                    "report-reference-versions",
                    &[
                        ("drugs", n.drug_catalog_version.into()),
                        ("services", n.service_catalog_version.into()),
                    ],
                )
                .into(),
                format!("v{}", n.drug_catalog_version).into(),
                format!("v{}", n.service_catalog_version).into(),
                opt(n.catalog_changed_local.as_deref()).into(),
                opt(age.as_deref()).into(),
                n.records_created.to_string().into(),
            ])
        })
        .collect();
    Block::new(BlockKind::Table(Table::new(columns, rows)))
}

pub(super) fn records(r: &OutageReport, l: Lang) -> Vec<Block> {
    let rows = r
        .records
        .by_kind
        .iter()
        .map(|k| {
            Row::new(vec![
                record_kind(l, &k.kind, 1).into(),
                k.count.to_string().into(),
            ])
        })
        .collect();
    let mut table = Table::new(
        vec![
            Column::new(&t(l, "report-col-kind")),
            Column::new(&t(l, "report-col-count")).right(),
        ],
        rows,
    )
    .class("narrow");
    table.foot = Some(Row::new(vec![
        t(l, "report-total").into(),
        r.records.total.to_string().into(),
    ]));
    let mut blocks = vec![Block::new(BlockKind::Table(table))];
    if r.records.awaiting_central > 0 {
        blocks.push(Block::para(
            Show::Page,
            text(tr(
                l,
                "report-records-awaiting",
                &[("n", r.records.awaiting_central.into())],
            )),
            None,
        ));
    }
    blocks
}

/// A number series (`invoice`) in `l`; an unknown one as it is.
fn series_words(l: Lang, series: &str) -> String {
    match Series::parse(series) {
        Some(s) => t(l, &format!("report-series-{}", s.name())),
        None => series.to_owned(),
    }
}

pub(super) fn invoices(r: &OutageReport, l: Lang) -> Vec<Block> {
    if r.invoices.is_empty() {
        return vec![
            Block::para(Show::Terminal, text(t(l, "report-none-short")), None),
            Block::para(Show::Page, text(t(l, "report-invoices-none")), Some("none")),
        ];
    }
    let columns = vec![
        Column::new(&t(l, "report-col-range")),
        Column::new(&t(l, "report-col-series")).shown(Show::Page),
        Column::new(&t(l, "report-col-node")),
        Column::new(&t(l, "report-col-issued")).right(),
        Column::new(&t(l, "report-col-first")).right(),
        Column::new(&t(l, "report-col-last")).right(),
        Column::new(&t(l, "report-col-voided")),
    ];
    let rows = r
        .invoices
        .iter()
        .map(|i| {
            let voided = if i.voided_numbers.is_empty() {
                "0".to_owned()
            } else {
                let numbers: Vec<String> =
                    i.voided_numbers.iter().map(ToString::to_string).collect();
                format!("{} ({})", i.voided, numbers.join(", "))
            };
            Row::new(vec![
                vec![Inline::Code(i.range_id.clone())].into(),
                series_words(l, &i.series).into(),
                i.node.as_str().into(),
                i.issued.to_string().into(),
                i.first.to_string().into(),
                i.last.to_string().into(),
                voided.into(),
            ])
        })
        .collect();
    vec![Block::new(BlockKind::Table(Table::new(columns, rows)))]
}

/// A conflict's review decision in `l`: from its parts, or as the node wrote it.
fn decided(line: &ConflictLine, l: Lang) -> Option<String> {
    match &line.review {
        Some(r) => Some(tr(
            l,
            "report-decision-by",
            &[
                ("decision", decision(l, &r.decision).into()),
                ("operator", r.operator.as_str().into()),
                ("node", r.node.as_str().into()),
                ("at", r.at_local.as_str().into()),
            ],
        )),
        None => line.decision.clone(),
    }
}

pub(super) fn conflicts(r: &OutageReport, l: Lang) -> Vec<Block> {
    let list = &r.conflicts.list;
    let entries = list
        .iter()
        .map(|line| {
            let status = status_words(l, &line.status);
            let kind = kind_title(l, &line.kind);
            let head = match subject_words(l, line.about.as_ref(), line.subject.as_deref()) {
                Some(s) => tr(
                    l,
                    "report-conflict-entry-about",
                    &[
                        ("status", status.into()),
                        ("kind", kind.into()),
                        ("subject", s.into()),
                    ],
                ),
                None => tr(
                    l,
                    "report-conflict-entry",
                    &[("status", status.into()), ("kind", kind.into())],
                ),
            };
            let mut lines = vec![line.id.clone()];
            lines.extend(decided(line, l).map(|d| {
                tr(
                    l,
                    "report-conflict-entry-decision",
                    &[("decision", d.into())],
                )
            }));
            (head, lines)
        })
        .collect();
    let page = if list.is_empty() {
        Block::para(Show::Page, text(t(l, "report-none")), Some("none"))
    } else {
        let columns = vec![
            Column::new(&t(l, "report-col-status")),
            Column::new(&t(l, "report-col-kind")),
            Column::new(&t(l, "report-col-about")),
            Column::new(&t(l, "report-col-conflict-id")),
            Column::new(&t(l, "report-col-decision")),
        ];
        let rows = list
            .iter()
            .map(|line| {
                let about = subject_words(l, line.about.as_ref(), line.subject.as_deref());
                Row::new(vec![
                    vec![Inline::Badge {
                        text: status_words(l, &line.status),
                        open: line.status == "open",
                    }]
                    .into(),
                    kind_title(l, &line.kind).into(),
                    opt(about.as_deref()).into(),
                    vec![Inline::Code(line.id.clone())].into(),
                    opt(decided(line, l).as_deref()).into(),
                ])
            })
            .collect();
        Block::on_page(BlockKind::Table(Table::new(columns, rows)))
    };
    vec![Block::in_terminal(BlockKind::Entries(entries)), page]
}

/// A worklist category's title in `l`; an unknown one as the node titled it.
fn category_words(l: Lang, category: &str, title: &str) -> String {
    if WorkCategory::ALL.iter().any(|c| c.name() == category) {
        t(l, &format!("report-work-{category}"))
    } else {
        title.to_owned()
    }
}

pub(super) fn worklist(r: &OutageReport, l: Lang) -> Vec<Block> {
    let columns = vec![
        Column::new(&t(l, "report-col-category")),
        Column::new(&t(l, "report-col-open")).right(),
        Column::new(&t(l, "report-col-done")).right(),
        Column::new(&t(l, "report-col-total")).right(),
        Column::new(&t(l, "report-col-progress")).shown(Show::Page),
    ];
    let rows = r
        .worklist
        .iter()
        .map(|w| {
            let progress = match (w.done * 100).checked_div(w.total) {
                Some(pct) => Inline::Bar(pct),
                None => Inline::Muted(t(l, "report-nothing-to-do")),
            };
            Row::new(vec![
                category_words(l, &w.category, &w.title).into(),
                w.open.to_string().into(),
                w.done.to_string().into(),
                w.total.to_string().into(),
                vec![progress].into(),
            ])
        })
        .collect();
    let open: usize = r.worklist.iter().map(|w| w.open).sum();
    let mut blocks = vec![
        Block::new(BlockKind::Table(Table::new(columns, rows))),
        Block::para(
            Show::Terminal,
            text(if open == 0 {
                t(l, "report-recovery-complete")
            } else {
                tr(l, "report-items-to-do", &[("n", open.into())])
            }),
            None,
        ),
    ];
    if r.conflicts.open > 0 {
        blocks.push(Block::para(
            Show::Terminal,
            text(t(l, "report-see-conflicts")),
            None,
        ));
    }
    blocks
}
