//! The outage report as a document: the episode's summary (grade, times, what to report and
//! reconcile) and its timeline here; its money, nodes and the reference data they worked
//! from, records created per kind, invoices per range, the conflicts touching it, and the
//! recovery worklist's progress in [`super::tallies`]. Every word comes from the catalogs.

use super::super::doc::{
    Block, BlockKind, Column, Doc, Fact, Header, Inline, Row, Show, Table, text,
};
use super::super::outage::{OutageReport, TimelineEntry};
use super::super::words::{duration_in, grade_words};
use super::tallies;
use crate::i18n::{Lang, t, tr};

/// Lays the outage report out. Its times are already in the hospital's offset, which
/// `timezone` names.
pub fn doc(r: &OutageReport, l: Lang) -> Doc {
    let kind = if r.drill {
        t(l, "report-drill-kind")
    } else {
        t(l, "report-outage-kind")
    };
    let when = [
        ("node", r.node.as_str().into()),
        ("generated", r.generated_local.as_str().into()),
        ("zone", r.timezone.as_str().into()),
    ];
    let header = Header {
        heading: tr(
            l,
            "report-outage-heading",
            &[
                ("kind", kind.as_str().into()),
                ("episode", r.episode.as_str().into()),
            ],
        ),
        meta: Some(text(tr(l, "report-outage-meta", &when))),
        terminal: format!(
            "{}\n",
            tr(
                l,
                "report-outage-terminal",
                &[
                    ("kind", kind.to_uppercase().into()),
                    ("episode", r.episode.as_str().into()),
                    ("node", r.node.as_str().into()),
                    ("generated", r.generated_local.as_str().into()),
                    ("zone", r.timezone.as_str().into()),
                ],
            )
        ),
    };
    let c = &r.conflicts;
    let section = |key: &str, terminal: Option<String>, blocks| {
        Block::new(BlockKind::Section {
            heading: t(l, key),
            terminal_heading: terminal,
            class: None,
            blocks,
        })
    };
    let same = |key: &str| Some(t(l, key));
    let records_heading = if r.records.awaiting_central > 0 {
        tr(
            l,
            "report-records-terminal-awaiting",
            &[
                ("total", r.records.total.into()),
                ("awaiting", r.records.awaiting_central.into()),
            ],
        )
    } else {
        tr(
            l,
            "report-records-terminal",
            &[("total", r.records.total.into())],
        )
    };
    Doc {
        lang: l,
        title: tr(
            l,
            "report-outage-title",
            &[
                ("kind", kind.as_str().into()),
                ("episode", r.episode.as_str().into()),
            ],
        ),
        header,
        blocks: vec![
            section(
                "report-summary",
                None,
                vec![Block::new(BlockKind::Facts(summary(r, l)))],
            ),
            section(
                "report-timeline",
                same("report-timeline"),
                vec![timeline(r, l)],
            ),
            section("report-money", same("report-money"), tallies::money(r, l)),
            section(
                "report-nodes",
                same("report-nodes"),
                vec![tallies::nodes(r, l)],
            ),
            section(
                "report-records",
                Some(records_heading),
                tallies::records(r, l),
            ),
            section(
                "report-invoices",
                same("report-invoices"),
                tallies::invoices(r, l),
            ),
            section(
                "report-episode-conflicts",
                Some(tr(
                    l,
                    "report-episode-conflicts-terminal",
                    &[
                        ("touching", c.touching.into()),
                        ("open", c.open.into()),
                        ("resolved", c.resolved.into()),
                        ("hospital", c.open_in_hospital.into()),
                    ],
                )),
                tallies::conflicts(r, l),
            ),
            section(
                "report-worklist",
                same("report-worklist"),
                tallies::worklist(r, l),
            ),
        ],
    }
}

/// The document shown when a node knows no episode.
pub fn none(l: Lang) -> Doc {
    Doc {
        lang: l,
        title: t(l, "report-outage-none-title"),
        header: Header {
            heading: t(l, "report-outage-none-heading"),
            meta: None,
            terminal: format!("{}\n", t(l, "report-outage-none-terminal")),
        },
        blocks: vec![Block::para(
            Show::Page,
            text(t(l, "report-outage-none")),
            Some("none"),
        )],
    }
}

fn summary(r: &OutageReport, l: Lang) -> Vec<Fact> {
    let zone = r.timezone.as_str();
    let opened_how = if r.automatic {
        tr(
            l,
            "report-opened-automatically",
            &[("node", r.opened_by_node.as_str().into())],
        )
    } else {
        tr(
            l,
            "report-opened-declared",
            &[
                ("operator", r.opened_by_operator.as_str().into()),
                ("node", r.opened_by_node.as_str().into()),
            ],
        )
    };
    let closed = match (&r.closed_local, &r.closed_by) {
        (Some(at), Some(by)) => text(tr(
            l,
            "report-closed-at-by",
            &[("at", at.into()), ("zone", zone.into()), ("by", by.into())],
        )),
        (Some(at), None) => text(tr(
            l,
            "report-closed-at",
            &[("at", at.into()), ("zone", zone.into())],
        )),
        _ => vec![Inline::Strong(t(l, "report-still-open"))],
    };
    let length = duration_in(l, r.duration_ms);
    let duration = if r.open {
        tr(l, "report-duration-so-far", &[("duration", length.into())])
    } else {
        length
    };
    let f = |key: &str, value| Fact::new(&t(l, key), value);
    let mut facts = vec![
        f("report-f-episode", text(&r.episode)).shown(Show::Page),
        f(
            "report-f-grade",
            vec![
                Inline::Strong(r.grade.clone()),
                Inline::Text(tr(
                    l,
                    "report-grade-meaning",
                    &[("meaning", grade_words(l, &r.grade).into())],
                )),
            ],
        ),
        f("report-f-reason", text(reason(r, l))),
        f(
            "report-f-cause",
            text(match &r.cause {
                Some(cause) => cause.clone(),
                None => t(l, "report-cause-none"),
            }),
        ),
        f(
            "report-f-opened",
            text(tr(
                l,
                "report-opened-value",
                &[
                    ("at", r.opened_local.as_str().into()),
                    ("zone", zone.into()),
                    ("how", opened_how.into()),
                ],
            )),
        ),
        f("report-f-closed", closed),
        f("report-f-duration", text(duration)),
    ];
    if r.drill {
        facts.insert(0, f("report-f-drill", text(t(l, "report-drill-note"))));
    }
    if let Some(expected) = &r.expected_grade {
        facts.push(f(
            "report-f-expected-grade",
            text(tr(
                l,
                "report-expected-grade-value",
                &[("grade", expected.into())],
            )),
        ));
    }
    if let Some(due) = &r.written_report_due_local {
        facts.push(f(
            "report-f-written-report-due",
            text(tr(
                l,
                "report-written-report-due-value",
                &[("due", due.into()), ("zone", zone.into())],
            )),
        ));
    }
    if !r.merged_episodes.is_empty() {
        facts.push(f(
            "report-f-merged",
            text(r.merged_episodes.join(&t(l, "report-list-separator"))),
        ));
    }
    if r.report_to_leadership {
        facts.push(
            f("report-f-leadership", text(t(l, "report-leadership-note"))).shown(Show::Terminal),
        );
    }
    let leadership = if r.report_to_leadership {
        vec![
            Inline::Strong(t(l, "report-yes")),
            Inline::Text(t(l, "report-grade-iii-or-above")),
        ]
    } else {
        text(t(l, "report-no"))
    };
    facts.push(f("report-f-report-to-leadership", leadership).shown(Show::Page));
    if let Some(same) = r.ended_same_day {
        let slips = if same {
            t(l, "report-slips-same-day")
        } else {
            t(l, "report-slips-next-day")
        };
        facts.push(f("report-f-pharmacy", text(&slips)).shown(Show::Terminal));
        facts.push(f("report-f-pharmacy-slips", text(slips)).shown(Show::Page));
    }
    facts.push(
        f(
            "report-f-records-created",
            text(r.records.total.to_string()),
        )
        .shown(Show::Page),
    );
    let c = &r.conflicts;
    facts.push(
        f(
            "report-f-conflicts",
            text(tr(
                l,
                "report-conflicts-fact",
                &[
                    ("touching", c.touching.into()),
                    ("open", c.open.into()),
                    ("resolved", c.resolved.into()),
                    ("hospital", c.open_in_hospital.into()),
                ],
            )),
        )
        .shown(Show::Page),
    );
    facts
}

/// The timeline's events this version says in words of its own.
pub const EVENTS: [&str; 7] = [
    "opened",
    "estimate",
    "assess",
    "escalate_6h",
    "escalate_24h",
    "recovered",
    "closed",
];

/// Why the episode opened, in `l` (from its code, else as stored).
fn reason(r: &OutageReport, l: Lang) -> String {
    crate::i18n::codes::episode_reason(l, &r.reason, r.reason_code.as_ref())
}

/// What happened at a moment of the timeline, in `l`: from the entry's parts (and the
/// report's, for the opening), or its English words when it lacks them.
fn what(r: &OutageReport, e: &TimelineEntry, l: Lang) -> String {
    match (e.event.as_str(), &e.node, &e.operator) {
        ("opened", _, _) => tr(
            l,
            "report-what-opened",
            &[
                ("operator", r.opened_by_operator.as_str().into()),
                ("node", r.opened_by_node.as_str().into()),
                ("reason", reason(r, l).into()),
            ],
        ),
        ("estimate", Some(node), Some(operator)) => match (e.hours, &e.expected_back_local) {
            (Some(hours), Some(back)) => tr(
                l,
                "report-what-estimate",
                &[
                    ("operator", operator.into()),
                    ("node", node.into()),
                    ("hours", hours.into()),
                    ("back", back.into()),
                ],
            ),
            _ => e.what.clone(),
        },
        ("recovered", Some(node), _) => tr(l, "report-what-recovered", &[("node", node.into())]),
        (step @ ("assess" | "escalate_6h" | "escalate_24h"), _, _) => {
            t(l, &format!("report-step-{step}"))
        }
        ("closed", _, _) => t(l, "report-what-closed"),
        _ => e.what.clone(),
    }
}

fn timeline(r: &OutageReport, l: Lang) -> Block {
    let rows = r
        .timeline
        .iter()
        .map(|e| {
            let event = if EVENTS.contains(&e.event.as_str()) {
                t(l, &format!("report-event-{}", e.event))
            } else {
                e.event.clone()
            };
            Row::new(vec![
                e.at_local.as_str().into(),
                event.into(),
                what(r, e, l).into(),
            ])
        })
        .collect();
    Block::new(BlockKind::Table(Table::new(
        vec![
            Column::new(&tr(
                l,
                "report-col-time",
                &[("zone", r.timezone.as_str().into())],
            ))
            .class("t"),
            Column::new(&t(l, "report-col-event")),
            Column::new(&t(l, "report-col-what")),
        ],
        rows,
    )))
}

#[cfg(test)]
mod tests {
    use super::super::super::outage::tests::sample;
    use super::super::super::{html, text};
    use super::*;

    #[test]
    fn the_terminal_report_has_every_part() {
        let text = text::render(&doc(&sample(), Lang::En));
        for part in [
            "OUTAGE REPORT  YJ-20261125-0900-W01",
            "IV — general",
            "core switch failed",
            "written report due",
            "Timeline",
            "opened by system on W01: central unreachable <since> 09:00",
            "li.na on W01 estimated the system back in 1 h",
            "the outage ended",
            "cash",
            "¥30.00",
            "Awaiting re-settlement (insurance failed, paid as self-pay): 1 charge, ¥10.00",
            "Nodes",
            "drugs v1 / services v1",
            "6m 40s",
            "Invoices issued per range",
            "1 (1001)",
            "Conflicts touching the episode: 1",
            "[open] Field conflict — 王小明 & <i> (5岁), patient W01-7",
            "Paused triage entries to restore",
            "1 item still to do",
        ] {
            assert!(text.contains(part), "{part} missing from\n{text}");
        }
    }

    /// Chinese by default: the same report in the catalog's Chinese words.
    #[test]
    fn the_report_reads_in_chinese_by_default() {
        let text = text::render(&doc(&sample(), Lang::default()));
        for part in [
            "故障报告  YJ-20261125-0900-W01",
            "等级",
            "IV（一般：2小时以内）",
            "书面报告截止",
            "时间线",
            "由 system 在 W01 开启：central unreachable <since> 09:00",
            "li.na 在 W01 估计系统将在 1 小时后恢复",
            "故障结束",
            "现金",
            "¥30.00",
            "待医保重新结算（医保结算失败、按自费收取）：1 笔，¥10.00",
            "药品 v1 / 收费项目 v1",
            "6分40秒",
            "按号段统计的发票",
            "涉及本次事件的冲突：1 条",
            "[待处理] 字段冲突 — 王小明 & <i>（5岁），患者 W01-7",
            "待恢复排队的暂缓挂号",
            "还有 1 项待办",
        ] {
            assert!(text.contains(part), "{part} missing from\n{text}");
        }
        for english in ["Timeline", "Recovery worklist", "OUTAGE", "charge"] {
            assert!(!text.contains(english), "{english} in\n{text}");
        }
        let page = html::render(&doc(&sample(), Lang::Zh));
        assert!(page.contains("<html lang=\"zh-CN\">"), "{page}");
        assert!(page.contains("恢复工作清单"), "{page}");
        assert!(page.contains("合计（2 笔）"), "{page}");
        let page = html::render(&doc(&sample(), Lang::En));
        assert!(page.contains("<html lang=\"en\">"), "{page}");
        assert!(page.contains("Total (2 charges)"), "{page}");
    }

    /// An automatic opening's reason is said from its code; the stored English words only
    /// when there is no code (a record of an older version).
    #[test]
    fn an_automatic_reason_reads_in_the_readers_language() {
        let mut r = sample();
        r.reason = "central unreachable for 612 s".into();
        r.reason_code = Some(lifeline_core::record::ReasonCode {
            code: lifeline_core::record::ReasonCode::CENTRAL_UNREACHABLE.into(),
            seconds: Some(612),
        });
        let zh = text::render(&doc(&r, Lang::Zh));
        assert!(zh.contains("中心服务器连续 612 秒无法连接"), "{zh}");
        assert!(!zh.contains("central unreachable"), "{zh}");
        let en = text::render(&doc(&r, Lang::En));
        assert!(en.contains("central unreachable for 612 s"), "{en}");
    }

    #[test]
    fn the_page_is_self_contained_and_escaped() {
        for l in Lang::ALL {
            let page = html::render(&doc(&sample(), l));
            html::assert_self_contained(&page);
            assert!(page.contains("王小明 &amp; &lt;i&gt;"));
            assert!(page.contains("central unreachable &lt;since&gt; 09:00"));
            html::assert_self_contained(&html::render(&none(l)));
        }
        let page = html::render(&doc(&sample(), Lang::En));
        assert!(page.contains("Recovery worklist"));
    }

    #[test]
    fn the_zone_named_by_the_report_heads_its_times() {
        let mut r = sample();
        r.timezone = "UTC+5:30".into();
        for l in Lang::ALL {
            for rendered in [text::render(&doc(&r, l)), html::render(&doc(&r, l))] {
                assert!(rendered.contains("UTC+5:30"), "{rendered}");
                assert!(!rendered.contains("UTC+8"), "{rendered}");
            }
        }
    }

    /// A report from a node that sends no parts for its timeline says its English words.
    #[test]
    fn older_timelines_keep_their_words() {
        let mut r = sample();
        for e in &mut r.timeline {
            e.node = None;
            e.operator = None;
        }
        let text = text::render(&doc(&r, Lang::Zh));
        assert!(
            text.contains("li.na on W01 estimated the system back in 1 h"),
            "{text}"
        );
    }
}
