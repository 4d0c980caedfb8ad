//! The outage report as a document: the episode's summary (grade, times, what to report and
//! reconcile), its nodes and the reference data they worked from, records created per kind,
//! invoices per range, the conflicts touching it, and the recovery worklist's progress.

use super::super::conflicts::kind_title;
use super::super::doc::{
    Block, BlockKind, Column, Doc, Fact, Header, Inline, Row, Show, Table, opt, text,
};
use super::super::outage::OutageReport;

/// Lays the outage report out. Its times are already in the hospital's offset, which
/// `timezone` names.
pub fn doc(r: &OutageReport) -> Doc {
    let kind = if r.drill {
        "Drill report"
    } else {
        "Outage report"
    };
    let header = Header {
        heading: format!("{kind} {}", r.episode),
        meta: Some(vec![
            Inline::Text("Read on node ".into()),
            Inline::Strong(r.node.clone()),
            Inline::Text(format!(
                " · generated {} ({})",
                r.generated_local, r.timezone
            )),
        ]),
        terminal: format!(
            "{}  {}  (read on {}, generated {} {})\n",
            kind.to_uppercase(),
            r.episode,
            r.node,
            r.generated_local,
            r.timezone
        ),
    };
    let c = &r.conflicts;
    let section = |heading: &str, terminal: Option<String>, blocks| {
        Block::new(BlockKind::Section {
            heading: heading.into(),
            terminal_heading: terminal,
            class: None,
            blocks,
        })
    };
    let mut records_heading = format!("Records created during the episode: {}", r.records.total);
    if r.records.awaiting_central > 0 {
        records_heading.push_str(&format!(
            " ({} not yet acknowledged by central)",
            r.records.awaiting_central
        ));
    }
    Doc {
        title: format!("Lifeline — {} {}", kind.to_lowercase(), r.episode),
        header,
        blocks: vec![
            section(
                "Summary",
                None,
                vec![Block::new(BlockKind::Facts(summary(r)))],
            ),
            section("Timeline", Some("Timeline".into()), vec![timeline(r)]),
            section(
                "Money collected during the episode",
                Some("Money collected during the episode".into()),
                money(r),
            ),
            section("Nodes", Some("Nodes".into()), vec![nodes(r)]),
            section(
                "Records created per kind",
                Some(records_heading),
                records(r),
            ),
            section(
                "Invoices issued per range",
                Some("Invoices issued per range".into()),
                invoices(r),
            ),
            section(
                "Conflicts touching the episode",
                Some(format!(
                    "Conflicts touching the episode: {} ({} open, {} resolved); open in the \
                     hospital: {}",
                    c.touching, c.open, c.resolved, c.open_in_hospital
                )),
                conflicts(r),
            ),
            section(
                "Recovery worklist",
                Some("Recovery worklist".into()),
                worklist(r),
            ),
        ],
    }
}

/// The document shown when a node knows no episode.
pub fn none() -> Doc {
    Doc {
        title: "Lifeline — outage report".into(),
        header: Header {
            heading: "Outage report".into(),
            meta: None,
            terminal: "no emergency episode on record\n".into(),
        },
        blocks: vec![Block::para(
            Show::Page,
            text("No emergency episode on record."),
            Some("none"),
        )],
    }
}

fn summary(r: &OutageReport) -> Vec<Fact> {
    let zone = &r.timezone;
    let opened_how = if r.automatic {
        format!(
            "automatically by {} (central unreachable)",
            r.opened_by_node
        )
    } else {
        format!(
            "declared by {} on {}",
            r.opened_by_operator, r.opened_by_node
        )
    };
    let closed = match (&r.closed_local, &r.closed_by) {
        (Some(at), Some(by)) => text(format!("{at} ({zone}) by {by}")),
        (Some(at), None) => text(format!("{at} ({zone})")),
        _ => vec![Inline::Strong("still open".into())],
    };
    let duration = if r.open {
        format!("{} so far", r.duration)
    } else {
        r.duration.clone()
    };
    let mut facts = vec![
        Fact::new("Episode", text(&r.episode)).shown(Show::Page),
        Fact::new(
            "Grade",
            vec![
                Inline::Strong(r.grade.clone()),
                Inline::Text(format!(" — {}", r.grade_meaning)),
            ],
        ),
        Fact::new("Reason", text(&r.reason)),
        Fact::new(
            "Cause",
            text(r.cause.as_deref().unwrap_or("not recorded yet")),
        ),
        Fact::new(
            "Opened",
            text(format!("{} ({zone}), {opened_how}", r.opened_local)),
        ),
        Fact::new("Closed", closed),
        Fact::new("Duration", text(duration)),
    ];
    if r.drill {
        facts.insert(
            0,
            Fact::new(
                "Drill",
                text("a drill, not an outage: graded apart, kept out of outage statistics"),
            ),
        );
    }
    if let Some(expected) = &r.expected_grade {
        facts.push(Fact::new(
            "Expected grade",
            text(format!("{expected} (from the latest estimate)")),
        ));
    }
    if let Some(due) = &r.written_report_due_local {
        facts.push(Fact::new(
            "written report due",
            text(format!(
                "{due} ({zone}): 2 days after the outage ended, to the leadership (故障排除后2天内)"
            )),
        ));
    }
    if !r.merged_episodes.is_empty() {
        facts.push(Fact::new(
            "Merged into it",
            text(r.merged_episodes.join(", ")),
        ));
    }
    if r.report_to_leadership {
        facts.push(
            Fact::new(
                "Leadership",
                text("grade III or above: report to leadership"),
            )
            .shown(Show::Terminal),
        );
    }
    let leadership = if r.report_to_leadership {
        vec![
            Inline::Strong("yes".into()),
            Inline::Text(" (grade III or above)".into()),
        ]
    } else {
        text("no")
    };
    facts.push(Fact::new("Report to leadership", leadership).shown(Show::Page));
    if let Some(same) = r.ended_same_day {
        let slips = if same {
            "ended the same day: reconcile re-entered dispensing against the paper slips"
        } else {
            "ended after midnight: that day's slips go to billing for entry"
        };
        facts.push(Fact::new("Pharmacy", text(slips)).shown(Show::Terminal));
        facts.push(Fact::new("Pharmacy slips", text(slips)).shown(Show::Page));
    }
    facts.push(Fact::new("Records created", text(r.records.total.to_string())).shown(Show::Page));
    let c = &r.conflicts;
    facts.push(
        Fact::new(
            "Conflicts",
            text(format!(
                "{} touching the episode ({} open, {} resolved); {} open in the hospital",
                c.touching, c.open, c.resolved, c.open_in_hospital
            )),
        )
        .shown(Show::Page),
    );
    facts
}

fn timeline(r: &OutageReport) -> Block {
    let zone = &r.timezone;
    let rows = r
        .timeline
        .iter()
        .map(|t| {
            Row::new(vec![
                t.at_local.as_str().into(),
                t.event.as_str().into(),
                t.what.as_str().into(),
            ])
        })
        .collect();
    Block::new(BlockKind::Table(Table::new(
        vec![
            Column::new(&format!("Time ({zone})")).class("t"),
            Column::new("Event"),
            Column::new("What"),
        ],
        rows,
    )))
}

fn money(r: &OutageReport) -> Vec<Block> {
    let m = &r.money;
    let mut rows: Vec<Row> = m
        .collected
        .iter()
        .map(|c| Row::new(vec![c.channel.name().into(), c.amount.to_string().into()]))
        .collect();
    if rows.is_empty() {
        rows.push(Row::new(vec!["(nothing settled)".into(), "0.00".into()]));
    }
    let mut table = Table::new(
        vec![Column::new("Channel"), Column::new("Yuan").right()],
        rows,
    )
    .class("narrow");
    table.foot = Some(Row::new(vec![
        format!("Total ({} charges)", m.charges_settled).into(),
        m.collected_total.to_string().into(),
    ]));
    vec![
        Block::new(BlockKind::Table(table)),
        Block::para(
            Show::Everywhere,
            text(format!(
                "Awaiting re-settlement (insurance failed, paid as self-pay): {} charge(s), {} yuan",
                m.awaiting_resettlement_charges, m.awaiting_resettlement
            )),
            None,
        ),
    ]
}

fn nodes(r: &OutageReport) -> Block {
    let zone = &r.timezone;
    let columns = vec![
        Column::new("Node"),
        Column::new(&format!("Joined ({zone})")).class("t"),
        Column::new(&format!("Left ({zone})")).class("t"),
        Column::new("Reference data").shown(Show::Terminal),
        Column::new("Drug catalog").right().shown(Show::Page),
        Column::new("Service catalog").right().shown(Show::Page),
        Column::new("Reference data changed")
            .class("t")
            .shown(Show::Page),
        Column::new("Data age at join"),
        Column::new("Records").right(),
    ];
    let rows = r
        .nodes
        .iter()
        .map(|n| {
            Row::new(vec![
                n.node.as_str().into(),
                n.joined_local.as_str().into(),
                opt(n.left_local.as_deref()).into(),
                format!(
                    "drugs v{} / services v{}",
                    n.drug_catalog_version, n.service_catalog_version
                )
                .into(),
                format!("v{}", n.drug_catalog_version).into(),
                format!("v{}", n.service_catalog_version).into(),
                opt(n.catalog_changed_local.as_deref()).into(),
                opt(n.reference_age.as_deref()).into(),
                n.records_created.to_string().into(),
            ])
        })
        .collect();
    Block::new(BlockKind::Table(Table::new(columns, rows)))
}

fn records(r: &OutageReport) -> Vec<Block> {
    let rows = r
        .records
        .by_kind
        .iter()
        .map(|k| Row::new(vec![k.kind.as_str().into(), k.count.to_string().into()]))
        .collect();
    let mut table = Table::new(
        vec![Column::new("Kind"), Column::new("Count").right()],
        rows,
    )
    .class("narrow");
    table.foot = Some(Row::new(vec![
        "Total".into(),
        r.records.total.to_string().into(),
    ]));
    let mut blocks = vec![Block::new(BlockKind::Table(table))];
    if r.records.awaiting_central > 0 {
        blocks.push(Block::para(
            Show::Page,
            vec![
                Inline::Strong(r.records.awaiting_central.to_string()),
                Inline::Text(" of them not yet acknowledged by central.".into()),
            ],
            None,
        ));
    }
    blocks
}

fn invoices(r: &OutageReport) -> Vec<Block> {
    if r.invoices.is_empty() {
        return vec![
            Block::para(Show::Terminal, text("none"), None),
            Block::para(
                Show::Page,
                text("No invoices issued during the episode."),
                Some("none"),
            ),
        ];
    }
    let columns = vec![
        Column::new("Range"),
        Column::new("Series").shown(Show::Page),
        Column::new("Node"),
        Column::new("Issued").right(),
        Column::new("First").right(),
        Column::new("Last").right(),
        Column::new("Voided"),
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
                i.series.as_str().into(),
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

fn conflicts(r: &OutageReport) -> Vec<Block> {
    let list = &r.conflicts.list;
    let entries = list
        .iter()
        .map(|line| {
            let mut head = format!("[{}] {}", line.status, kind_title(&line.kind));
            if let Some(s) = &line.subject {
                head.push_str(&format!(" — {s}"));
            }
            let mut lines = vec![line.id.clone()];
            lines.extend(line.decision.iter().map(|d| format!("decision: {d}")));
            (head, lines)
        })
        .collect();
    let page = if list.is_empty() {
        Block::para(Show::Page, text("None."), Some("none"))
    } else {
        let columns = vec![
            Column::new("Status"),
            Column::new("Kind"),
            Column::new("About"),
            Column::new("Conflict id"),
            Column::new("Decision"),
        ];
        let rows = list
            .iter()
            .map(|line| {
                Row::new(vec![
                    vec![Inline::Badge {
                        text: line.status.clone(),
                        open: line.status == "open",
                    }]
                    .into(),
                    kind_title(&line.kind).into(),
                    opt(line.subject.as_deref()).into(),
                    vec![Inline::Code(line.id.clone())].into(),
                    opt(line.decision.as_deref()).into(),
                ])
            })
            .collect();
        Block::on_page(BlockKind::Table(Table::new(columns, rows)))
    };
    vec![Block::in_terminal(BlockKind::Entries(entries)), page]
}

fn worklist(r: &OutageReport) -> Vec<Block> {
    let columns = vec![
        Column::new("Category"),
        Column::new("Open").right(),
        Column::new("Done").right(),
        Column::new("Total").right(),
        Column::new("Progress").shown(Show::Page),
    ];
    let rows = r
        .worklist
        .iter()
        .map(|w| {
            let progress = match (w.done * 100).checked_div(w.total) {
                Some(pct) => Inline::Bar(pct),
                None => Inline::Muted("nothing to do".into()),
            };
            Row::new(vec![
                w.title.as_str().into(),
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
                "recovery complete: nothing left to do".to_owned()
            } else {
                format!("{open} item(s) still to do")
            }),
            None,
        ),
    ];
    if r.conflicts.open > 0 {
        blocks.push(Block::para(
            Show::Terminal,
            text("see `lifeline conflicts` for the conflicts to review"),
            None,
        ));
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::super::super::outage::tests::sample;
    use super::super::super::{html, text};
    use super::*;

    #[test]
    fn the_terminal_report_has_every_part() {
        let text = text::render(&doc(&sample()));
        for part in [
            "IV — general",
            "core switch failed",
            "written report due",
            "Timeline",
            "the outage ended",
            "cash",
            "30.00",
            "Awaiting re-settlement (insurance failed, paid as self-pay): 1 charge(s), 10.00 yuan",
            "Nodes",
            "drugs v1 / services v1",
            "Invoices issued per range",
            "1 (1001)",
            "Conflicts touching the episode: 1",
            "Paused triage entries to restore",
        ] {
            assert!(text.contains(part), "{part} missing from\n{text}");
        }
    }

    #[test]
    fn the_page_is_self_contained_and_escaped() {
        let page = html::render(&doc(&sample()));
        html::assert_self_contained(&page);
        assert!(page.contains("王小明 &amp; &lt;i&gt;"));
        assert!(page.contains("central unreachable &lt;since&gt; 09:00"));
        assert!(page.contains("Recovery worklist"));
        html::assert_self_contained(&html::render(&none()));
    }

    #[test]
    fn the_zone_named_by_the_report_heads_its_times() {
        let mut r = sample();
        r.timezone = "UTC+5:30".into();
        for rendered in [text::render(&doc(&r)), html::render(&doc(&r))] {
            assert!(rendered.contains("UTC+5:30"), "{rendered}");
            assert!(!rendered.contains("UTC+8"), "{rendered}");
        }
    }
}
