//! The reports as aligned text for a terminal. Columns are padded by display width, so
//! Chinese names (two columns per character) line up with the rest.

use super::conflicts::{ActionView, ConflictReport, ConflictView, action_command, kind_title};
use super::episode::EpisodeReport;
use super::{RenderOptions, display_value, local};

/// Terminal columns a character takes: two for East Asian wide characters, else one.
fn char_width(c: char) -> usize {
    let c = u32::from(c);
    let wide = matches!(c,
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD);
    if wide { 2 } else { 1 }
}

pub(crate) fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// Control characters (a value may hold anything) shown as `?`, so a report cannot move the
/// terminal's cursor.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A table: a header row and rows, each column padded to its widest cell; the columns in
/// `right` (numbers) aligned right.
fn table(indent: &str, header: &[&str], right: &[usize], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(width(cell));
        }
    }
    let line = |cells: Vec<String>| {
        let mut s = indent.to_owned();
        for (i, cell) in cells.iter().enumerate() {
            let cell = clean(cell);
            let pad = " ".repeat(
                widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(width(&cell)),
            );
            if right.contains(&i) {
                s.push_str(&pad);
                s.push_str(&cell);
                s.push_str("  ");
            } else {
                s.push_str(&cell);
                if i + 1 < cells.len() {
                    s.push_str(&pad);
                    s.push_str("  ");
                }
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(header.iter().map(|h| (*h).to_owned()).collect());
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// `key   value` lines, keys padded to the widest.
fn pairs(indent: &str, items: &[(&str, String)]) -> String {
    let w = items.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    items
        .iter()
        .map(|(k, v)| format!("{indent}{k}{}  {}\n", " ".repeat(w - width(k)), clean(v)))
        .collect()
}

fn opt(v: Option<&str>) -> String {
    v.unwrap_or("-").to_owned()
}

pub(crate) fn conflicts(r: &ConflictReport, opts: &RenderOptions) -> String {
    let mut out = format!(
        "CONFLICT REVIEW REPORT  node {}  generated {} (UTC+8)\n",
        r.node,
        local(r.generated_ms)
    );
    out.push_str(&format!("{} open, {} resolved\n", r.open, r.resolved));
    if r.conflicts.is_empty() {
        out.push_str("\nno conflicts: nothing to review\n");
        return out;
    }
    for (n, c) in r.conflicts.iter().enumerate() {
        out.push('\n');
        out.push_str(&conflict(n + 1, c, opts));
    }
    out
}

fn conflict(n: usize, c: &ConflictView, opts: &RenderOptions) -> String {
    let mut out = format!("{n}. [{}] {}\n", c.status.to_uppercase(), clean(&c.title()));
    out.push_str(&format!("   id: {}\n", c.id));
    if let Some(d) = &c.duplicate {
        out.push_str("   evidence: ");
        let keys: Vec<String> = d
            .matched
            .iter()
            .map(|m| format!("same {} ({})", m.key.replace('_', " "), clean(&m.value)))
            .collect();
        out.push_str(&keys.join("; "));
        out.push('\n');
        let mut rows = Vec::new();
        let field = |name: &str, f: &dyn Fn(&super::conflicts::PatientView) -> String| {
            let mut row = vec![name.to_owned()];
            row.extend(d.patients.iter().map(f));
            row
        };
        rows.push(field("record", &|p| p.header.id.clone()));
        rows.push(field("patient no", &|p| p.patient_no.clone()));
        rows.push(field("name", &|p| p.name.clone()));
        rows.push(field("sex", &|p| p.sex.clone()));
        rows.push(field("birth date", &|p| p.birth_date.clone()));
        rows.push(field("phone", &|p| p.phone.clone()));
        rows.push(field("national id", &|p| opt(p.national_id.as_deref())));
        rows.push(field("insurance", &|p| p.insurance.clone()));
        rows.push(field("created on", &|p| p.header.origin.clone()));
        rows.push(field("by", &|p| p.header.operator.clone()));
        rows.push(field("at (UTC+8)", &|p| local(p.header.created_ms)));
        rows.push(field("episode", &|p| opt(p.header.episode.as_deref())));
        let mut header = vec!["field".to_owned()];
        header.extend((0..d.patients.len()).map(|i| format!("record {}", i + 1)));
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        out.push_str(&table("   ", &header, &[], &rows));
    } else if !c.values.is_empty() {
        let rows: Vec<Vec<String>> = c
            .values
            .iter()
            .map(|v| {
                vec![
                    v.index.to_string(),
                    display_value(&v.value),
                    opt(v.node.as_deref()),
                    opt(v.operator.as_deref()),
                    v.at_ms.map_or_else(|| "-".into(), local),
                    if v.shown {
                        "shown".into()
                    } else {
                        String::new()
                    },
                ]
            })
            .collect();
        out.push_str(&table(
            "   ",
            &["#", "value", "node", "operator", "written (UTC+8)", ""],
            &[0],
            &rows,
        ));
    }
    if let Some(auto) = &c.automatic_decision {
        out.push_str(&format!("   automatic decision: {}\n", clean(auto)));
    }
    if let Some(d) = &c.decision {
        let label = if c.is_open() {
            "earlier decision (reopened by new values)"
        } else {
            "decision"
        };
        out.push_str(&format!(
            "   {label}: {} by {} on {} at {}\n",
            clean(&d.decision),
            d.operator,
            d.node,
            local(d.at_ms)
        ));
    }
    let actions: Vec<&ActionView> = c
        .actions
        .iter()
        .filter(|a| **a != ActionView::Other)
        .collect();
    if !actions.is_empty() {
        out.push_str("   what a reviewer can do:\n");
        for a in actions {
            let (cmd, what) = action_command(c, a, opts);
            out.push_str(&format!("     {}\n         ({})\n", cmd, clean(&what)));
        }
    }
    out
}

pub(crate) fn episode(r: &EpisodeReport, _opts: &RenderOptions) -> String {
    let mut out = format!(
        "OUTAGE REPORT  {}  (read on {}, generated {} UTC+8)\n\n",
        r.episode, r.node, r.generated_local
    );
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
    let mut items = vec![
        ("grade", format!("{} — {}", r.grade, r.grade_meaning)),
        ("reason", r.reason.clone()),
        (
            "opened",
            format!("{} (UTC+8), {opened_how}", r.opened_local),
        ),
        (
            "closed",
            match (&r.closed_local, &r.closed_by) {
                (Some(at), Some(by)) => format!("{at} (UTC+8) by {by}"),
                (Some(at), None) => format!("{at} (UTC+8)"),
                _ => "still open".into(),
            },
        ),
        (
            "duration",
            if r.open {
                format!("{} so far", r.duration)
            } else {
                r.duration.clone()
            },
        ),
    ];
    if !r.merged_episodes.is_empty() {
        items.push(("merged into it", r.merged_episodes.join(", ")));
    }
    if r.report_to_leadership {
        items.push((
            "leadership",
            "grade III or above: report to leadership".into(),
        ));
    }
    if let Some(same) = r.ended_same_day {
        items.push((
            "pharmacy",
            if same {
                "ended the same day: reconcile re-entered dispensing against the paper slips".into()
            } else {
                "ended after midnight: that day's slips go to billing for entry".into()
            },
        ));
    }
    out.push_str(&pairs("  ", &items));

    out.push_str("\nNodes\n");
    let rows: Vec<Vec<String>> = r
        .nodes
        .iter()
        .map(|n| {
            vec![
                n.node.clone(),
                n.joined_local.clone(),
                opt(n.left_local.as_deref()),
                format!(
                    "drugs v{} / services v{}",
                    n.drug_catalog_version, n.service_catalog_version
                ),
                opt(n.reference_age.as_deref()),
                n.records_created.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(
        "  ",
        &[
            "node",
            "joined (UTC+8)",
            "left (UTC+8)",
            "reference data",
            "data age at join",
            "records",
        ],
        &[5],
        &rows,
    ));

    out.push_str(&format!(
        "\nRecords created during the episode: {}",
        r.records.total
    ));
    if r.records.awaiting_central > 0 {
        out.push_str(&format!(
            " ({} not yet acknowledged by central)",
            r.records.awaiting_central
        ));
    }
    out.push('\n');
    let rows: Vec<Vec<String>> = r
        .records
        .by_kind
        .iter()
        .map(|k| vec![k.kind.clone(), k.count.to_string()])
        .collect();
    out.push_str(&table("  ", &["kind", "count"], &[1], &rows));

    out.push_str("\nInvoices issued per range\n");
    if r.invoices.is_empty() {
        out.push_str("  none\n");
    } else {
        let rows: Vec<Vec<String>> = r
            .invoices
            .iter()
            .map(|i| {
                vec![
                    i.range_id.clone(),
                    i.node.clone(),
                    i.issued.to_string(),
                    i.first.to_string(),
                    i.last.to_string(),
                    if i.voided_numbers.is_empty() {
                        "0".into()
                    } else {
                        format!(
                            "{} ({})",
                            i.voided,
                            i.voided_numbers
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    },
                ]
            })
            .collect();
        out.push_str(&table(
            "  ",
            &["range", "node", "issued", "first", "last", "voided"],
            &[2, 3, 4],
            &rows,
        ));
    }

    let c = &r.conflicts;
    out.push_str(&format!(
        "\nConflicts touching the episode: {} ({} open, {} resolved); open in the hospital: {}\n",
        c.touching, c.open, c.resolved, c.open_in_hospital
    ));
    for line in &c.list {
        out.push_str(&format!("  [{}] {}", line.status, kind_title(&line.kind)));
        if let Some(s) = &line.subject {
            out.push_str(&format!(" — {}", clean(s)));
        }
        out.push_str(&format!("\n    {}\n", line.id));
        if let Some(d) = &line.decision {
            out.push_str(&format!("    decision: {}\n", clean(d)));
        }
    }

    out.push_str("\nRecovery worklist\n");
    let rows: Vec<Vec<String>> = r
        .worklist
        .iter()
        .map(|w| {
            vec![
                w.title.clone(),
                w.open.to_string(),
                w.done.to_string(),
                w.total.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(
        "  ",
        &["category", "open", "done", "total"],
        &[1, 2, 3],
        &rows,
    ));
    let open: usize = r.worklist.iter().map(|w| w.open).sum();
    if open == 0 {
        out.push_str("  recovery complete: nothing left to do\n");
    } else {
        out.push_str(&format!("  {open} item(s) still to do\n"));
    }
    if c.open > 0 {
        out.push_str("  see `lifeline conflicts` for the conflicts to review\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_count_twice() {
        assert_eq!(width("林小雨"), 6);
        assert_eq!(width("W01"), 3);
        let t = table(
            "",
            &["name", "n"],
            &[1],
            &[vec!["林小雨".into(), "1".into()]],
        );
        let lines: Vec<&str> = t.lines().collect();
        // "name" column is 6 wide (the name), then two spaces.
        assert_eq!(lines[2], "林小雨  1");
        assert_eq!(lines[0], "name    n");
    }

    #[test]
    fn the_conflict_report_shows_values_nodes_and_commands() {
        let r = super::super::conflicts::tests::sample();
        let text = conflicts(&r, &RenderOptions::default());
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
    fn the_outage_report_has_every_part() {
        let r = super::super::episode::tests::sample();
        let text = episode(&r, &RenderOptions::default());
        for part in [
            "IV — general",
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
}
