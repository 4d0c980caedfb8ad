//! The reports as one self-contained HTML file each: inline CSS, no scripts, nothing fetched
//! (no fonts, images or links outside the page), so the file can be mailed, archived and
//! printed as it is. Every value is escaped: names and values come from the desks.

use std::fmt::Write as _;

use super::conflicts::{
    ActionView, ConflictReport, ConflictView, DuplicateView, PatientView, action_command,
    kind_title,
};
use super::episode::EpisodeReport;
use super::{RenderOptions, display_value, local};

/// Escapes text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = r#"
:root{--ink:#1b1f24;--muted:#59616b;--line:#c9ced4;--soft:#f3f5f7;--open:#b3261e;--ok:#1e6b34;--match:#fff3cd}
*{box-sizing:border-box}
body{font-family:"Noto Sans CJK SC","Noto Sans SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:var(--ink);background:#fff;max-width:68rem;margin:2rem auto;padding:0 1.25rem;line-height:1.45;font-size:15px}
header{border-bottom:3px solid var(--ink);padding-bottom:.5rem;margin-bottom:1rem}
h1{font-size:1.7rem;margin:0 0 .2rem}
h2{font-size:1.2rem;margin:1.6rem 0 .5rem;padding-bottom:.2rem;border-bottom:1px solid var(--line)}
h3{font-size:.8rem;margin:1rem 0 .35rem;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.meta{color:var(--muted);margin:0}
table{border-collapse:collapse;width:100%;margin:.25rem 0 .75rem}
th,td{border:1px solid var(--line);padding:.3rem .55rem;text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.t{white-space:nowrap}
table.narrow{width:auto;min-width:22rem}
table.kv th{width:14rem}
code{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"Liberation Mono",monospace;font-size:.86em;overflow-wrap:anywhere}
code.cmd{display:block;background:var(--soft);border:1px solid var(--line);border-radius:3px;padding:.35rem .55rem;margin:.15rem 0}
section.conflict{border:1px solid var(--line);border-left:6px solid var(--open);border-radius:4px;padding:.2rem 1rem .8rem;margin:1.2rem 0}
section.conflict.resolved{border-left-color:var(--ok)}
section.conflict h2{border:0;margin:.6rem 0 .3rem}
.badge{display:inline-block;font-size:.72rem;font-weight:700;letter-spacing:.04em;text-transform:uppercase;padding:.1rem .45rem;border-radius:3px;color:#fff;background:var(--open);vertical-align:middle;margin-right:.4rem}
.badge.resolved{background:var(--ok)}
tr.shown td{font-weight:600}
tr.match td,tr.match th{background:var(--match)}
td.differ{color:var(--open);font-weight:600}
ol.actions{padding-left:1.3rem;margin:.2rem 0}
ol.actions li{margin:.35rem 0}
.what{color:var(--muted);font-size:.92em}
.decision{background:#eaf4ec;border:1px solid #b9d8c0;border-radius:3px;padding:.4rem .6rem}
.none{color:var(--muted);font-style:italic}
nav.toc ol{margin:.2rem 0;padding-left:1.3rem}
nav.toc a{color:inherit}
.bar{background:#e4e7ea;height:.6rem;border-radius:3px;overflow:hidden;min-width:7rem}
.bar span{display:block;height:100%;background:var(--ok)}
footer{margin-top:2rem;color:var(--muted);font-size:.82rem;border-top:1px solid var(--line);padding-top:.5rem}
@media print{
 @page{size:A4;margin:14mm}
 body{margin:0;max-width:none;font-size:10pt;color:#000}
 nav.toc{display:none}
 section.conflict{break-inside:avoid;page-break-inside:avoid}
 h2,h3{break-after:avoid;page-break-after:avoid}
 tr{break-inside:avoid;page-break-inside:avoid}
 thead{display:table-header-group}
 th,.badge,tr.match td,tr.match th,.bar span,.decision{-webkit-print-color-adjust:exact;print-color-adjust:exact}
 code.cmd{background:none}
 a{color:inherit;text-decoration:none}
}
"#;

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\
         <footer>Lifeline — hospital outpatient continuity. This file is self-contained: \
         it loads nothing and runs no scripts.</footer>\n</body>\n</html>\n",
        esc(title)
    )
}

fn opt(v: Option<&str>) -> String {
    v.map_or_else(|| "<span class=\"none\">—</span>".to_owned(), esc)
}

pub(crate) fn no_episode() -> String {
    page(
        "Lifeline — outage report",
        "<header><h1>Outage report</h1></header>\n<p class=\"none\">No emergency episode on \
         record.</p>\n",
    )
}

pub(crate) fn conflicts(r: &ConflictReport, opts: &RenderOptions) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<header><h1>Conflict review report</h1>\n<p class=\"meta\">Node <strong>{}</strong> · \
         generated {} (UTC+8) · <strong>{}</strong> open, <strong>{}</strong> resolved</p>\
         </header>\n",
        esc(&r.node),
        esc(&local(r.generated_ms)),
        r.open,
        r.resolved
    );
    b.push_str("<section class=\"summary\">\n<h2>Summary</h2>\n");
    let mut kinds: Vec<&str> = Vec::new();
    for c in &r.conflicts {
        if !kinds.contains(&c.kind.as_str()) {
            kinds.push(&c.kind);
        }
    }
    if kinds.is_empty() {
        b.push_str("<p class=\"none\">No conflicts: nothing to review.</p>\n");
    } else {
        b.push_str(
            "<table class=\"summary narrow\">\n<thead><tr><th>Kind</th><th class=\"num\">Open</th>\
             <th class=\"num\">Resolved</th></tr></thead>\n<tbody>\n",
        );
        for k in &kinds {
            let of = |open: bool| {
                r.conflicts
                    .iter()
                    .filter(|c| c.kind == *k && c.is_open() == open)
                    .count()
            };
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(kind_title(k)),
                of(true),
                of(false)
            );
        }
        let _ = writeln!(
            b,
            "</tbody>\n<tfoot><tr><th>Total</th><th class=\"num\">{}</th><th class=\"num\">{}\
             </th></tr></tfoot>\n</table>",
            r.open, r.resolved
        );
    }
    b.push_str("</section>\n");
    if !r.conflicts.is_empty() {
        b.push_str("<nav class=\"toc\">\n<h2>Contents</h2>\n<ol>\n");
        for (i, c) in r.conflicts.iter().enumerate() {
            let _ = writeln!(
                b,
                "<li><a href=\"#c{}\">{}</a> — {}</li>",
                i + 1,
                esc(&c.title()),
                esc(&c.status)
            );
        }
        b.push_str("</ol>\n</nav>\n");
    }
    for (i, c) in r.conflicts.iter().enumerate() {
        conflict(&mut b, i + 1, c, opts);
    }
    page(&format!("Lifeline — conflict review — {}", r.node), &b)
}

fn conflict(b: &mut String, n: usize, c: &ConflictView, opts: &RenderOptions) {
    let status = if c.is_open() { "open" } else { "resolved" };
    let _ = write!(
        b,
        "<section class=\"conflict {status}\" id=\"c{n}\" data-conflict=\"{}\">\n\
         <h2><span class=\"badge {status}\">{}</span>{n}. {}</h2>\n\
         <table class=\"kv\">\n<tr><th>Conflict id</th><td><code>{}</code></td></tr>\n\
         <tr><th>Record{}</th><td>{}</td></tr>\n",
        esc(&c.id),
        esc(&c.status),
        esc(&c.title()),
        esc(&c.id),
        if c.records.len() > 1 { "s" } else { "" },
        c.records
            .iter()
            .map(|r| format!("<code>{}</code> ({})", esc(r), esc(&c.record_kind)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(subject) = &c.subject {
        let _ = writeln!(b, "<tr><th>About</th><td>{}</td></tr>", esc(subject));
    }
    if let Some(field) = &c.field {
        let _ = writeln!(
            b,
            "<tr><th>Field</th><td><code>{}</code></td></tr>",
            esc(field)
        );
    }
    b.push_str("</table>\n");
    if let Some(d) = &c.duplicate {
        duplicate(b, d);
    } else if !c.values.is_empty() {
        b.push_str(
            "<h3>Competing values</h3>\n<table class=\"values\">\n<thead><tr><th class=\"num\">#\
             </th><th>Value</th><th>Node</th><th>Operator</th><th>Desk</th><th>Operation</th>\
             <th>Written (UTC+8)</th><th>Shown now</th></tr></thead>\n<tbody>\n",
        );
        for v in &c.values {
            let _ = writeln!(
                b,
                "<tr{}><td class=\"num\">{}</td><td class=\"value\">{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td class=\"t\">{}</td><td>{}</td></tr>",
                if v.shown { " class=\"shown\"" } else { "" },
                v.index,
                esc(&display_value(&v.value)),
                opt(v.node.as_deref()),
                opt(v.operator.as_deref()),
                opt(v.desk.as_deref()),
                opt(v.action.as_deref()),
                v.at_ms.map_or_else(|| opt(None), |t| esc(&local(t))),
                if v.shown { "yes" } else { "" }
            );
        }
        b.push_str("</tbody>\n</table>\n");
    }
    b.push_str("<h3>Automatic decision</h3>\n");
    match &c.automatic_decision {
        Some(a) => {
            let _ = writeln!(b, "<p>{}</p>", esc(a));
        }
        None => b.push_str("<p class=\"none\">None: the rules leave this to a person.</p>\n"),
    }
    if let Some(d) = &c.decision {
        let label = if c.is_open() {
            "Earlier decision (reopened by new values)"
        } else {
            "Decision"
        };
        let _ = writeln!(
            b,
            "<h3>{label}</h3>\n<p class=\"decision\">{} — by <strong>{}</strong> on {} at {} \
             (UTC+8)</p>",
            esc(&d.decision),
            esc(&d.operator),
            esc(&d.node),
            esc(&local(d.at_ms))
        );
    }
    let actions: Vec<&ActionView> = c
        .actions
        .iter()
        .filter(|a| **a != ActionView::Other)
        .collect();
    if !actions.is_empty() {
        b.push_str("<h3>What a reviewer can do</h3>\n<ol class=\"actions\">\n");
        for a in actions {
            let (cmd, what) = action_command(c, a, opts);
            let _ = writeln!(
                b,
                "<li><code class=\"cmd\">{}</code><span class=\"what\">{}</span></li>",
                esc(&cmd),
                esc(&what)
            );
        }
        b.push_str("</ol>\n");
    }
    b.push_str("</section>\n");
}

/// The two (or more) patient records side by side, the matching keys highlighted and the
/// fields that differ marked.
fn duplicate(b: &mut String, d: &DuplicateView) {
    b.push_str("<h3>Evidence</h3>\n<p>");
    let keys: Vec<String> = d
        .matched
        .iter()
        .map(|m| {
            format!(
                "same <strong>{}</strong>: <code>{}</code>",
                esc(&m.key.replace('_', " ")),
                esc(&m.value)
            )
        })
        .collect();
    b.push_str(&keys.join("; "));
    b.push_str("</p>\n<table class=\"evidence\">\n<thead><tr><th>Field</th>");
    for (i, p) in d.patients.iter().enumerate() {
        let _ = write!(
            b,
            "<th>Record {} <code>{}</code></th>",
            i + 1,
            esc(&p.header.id)
        );
    }
    b.push_str("</tr></thead>\n<tbody>\n");
    let matched = |key: &str| d.matched.iter().any(|m| m.key == key);
    let by_id = matched("national_id");
    let by_person = matched("name_birth_date_phone");
    type Get = fn(&PatientView) -> String;
    let rows: [(&str, Get, bool); 12] = [
        ("Patient no", |p| p.patient_no.clone(), false),
        ("Name", |p| p.name.clone(), by_person),
        ("Sex", |p| p.sex.clone(), false),
        ("Birth date", |p| p.birth_date.clone(), by_person),
        ("Phone", |p| p.phone.clone(), by_person),
        (
            "National id",
            |p| p.national_id.clone().unwrap_or_default(),
            by_id,
        ),
        ("Insurance", |p| p.insurance.clone(), false),
        ("Created on node", |p| p.header.origin.clone(), false),
        ("Created by", |p| p.header.operator.clone(), false),
        ("Created at (UTC+8)", |p| local(p.header.created_ms), false),
        (
            "Emergency episode",
            |p| p.header.episode.clone().unwrap_or_default(),
            false,
        ),
        (
            "Merged into",
            |p| p.merged_into.clone().unwrap_or_default(),
            false,
        ),
    ];
    for (label, get, is_match) in rows {
        let cells: Vec<String> = d.patients.iter().map(get).collect();
        let differ = cells.iter().any(|c| *c != cells[0]);
        let _ = write!(
            b,
            "<tr{}><th>{}</th>",
            if is_match { " class=\"match\"" } else { "" },
            esc(label)
        );
        for cell in &cells {
            let class = if differ && !label.starts_with("Created") && label != "Patient no" {
                " class=\"differ\""
            } else {
                ""
            };
            let shown = if cell.is_empty() {
                opt(None)
            } else {
                esc(cell)
            };
            let _ = write!(b, "<td{class}>{shown}</td>");
        }
        b.push_str("</tr>\n");
    }
    b.push_str("</tbody>\n</table>\n");
}

pub(crate) fn episode(r: &EpisodeReport, _opts: &RenderOptions) -> String {
    let mut b = String::new();
    let _ = write!(
        b,
        "<header><h1>Outage report {}</h1>\n<p class=\"meta\">Read on node <strong>{}</strong> \
         · generated {} (UTC+8)</p></header>\n",
        esc(&r.episode),
        esc(&r.node),
        esc(&r.generated_local)
    );
    b.push_str("<section>\n<h2>Summary</h2>\n<table class=\"kv\">\n");
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
    let mut rows: Vec<(&str, String)> = vec![
        ("Episode", esc(&r.episode)),
        (
            "Grade",
            format!(
                "<strong>{}</strong> — {}",
                esc(&r.grade),
                esc(&r.grade_meaning)
            ),
        ),
        ("Reason", esc(&r.reason)),
        (
            "Opened",
            format!("{} (UTC+8), {}", esc(&r.opened_local), esc(&opened_how)),
        ),
        (
            "Closed",
            match (&r.closed_local, &r.closed_by) {
                (Some(at), Some(by)) => format!("{} (UTC+8) by {}", esc(at), esc(by)),
                (Some(at), None) => format!("{} (UTC+8)", esc(at)),
                _ => "<strong>still open</strong>".into(),
            },
        ),
        (
            "Duration",
            if r.open {
                format!("{} so far", esc(&r.duration))
            } else {
                esc(&r.duration)
            },
        ),
    ];
    if !r.merged_episodes.is_empty() {
        rows.push(("Merged into it", esc(&r.merged_episodes.join(", "))));
    }
    rows.push((
        "Report to leadership",
        if r.report_to_leadership {
            "<strong>yes</strong> (grade III or above)".into()
        } else {
            "no".into()
        },
    ));
    if let Some(same) = r.ended_same_day {
        rows.push((
            "Pharmacy slips",
            if same {
                "ended the same day: reconcile re-entered dispensing against the paper slips".into()
            } else {
                "ended after midnight: that day's slips go to billing for entry".into()
            },
        ));
    }
    rows.push(("Records created", r.records.total.to_string()));
    rows.push((
        "Conflicts",
        format!(
            "{} touching the episode ({} open, {} resolved); {} open in the hospital",
            r.conflicts.touching,
            r.conflicts.open,
            r.conflicts.resolved,
            r.conflicts.open_in_hospital
        ),
    ));
    for (k, v) in rows {
        let _ = writeln!(b, "<tr><th>{}</th><td>{v}</td></tr>", esc(k));
    }
    b.push_str("</table>\n</section>\n");

    b.push_str(
        "<section>\n<h2>Nodes</h2>\n<table>\n<thead><tr><th>Node</th><th>Joined (UTC+8)</th>\
         <th>Left (UTC+8)</th><th class=\"num\">Drug catalog</th><th class=\"num\">Service \
         catalog</th><th>Reference data changed</th><th>Data age at join</th><th class=\"num\">\
         Records</th></tr></thead>\n<tbody>\n",
    );
    for n in &r.nodes {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td class=\"t\">{}</td><td class=\"t\">{}</td><td class=\"num\">v{}\
             </td><td class=\"num\">v{}</td><td class=\"t\">{}</td><td>{}</td>\
             <td class=\"num\">{}</td></tr>",
            esc(&n.node),
            esc(&n.joined_local),
            opt(n.left_local.as_deref()),
            n.drug_catalog_version,
            n.service_catalog_version,
            opt(n.catalog_changed_local.as_deref()),
            opt(n.reference_age.as_deref()),
            n.records_created
        );
    }
    b.push_str("</tbody>\n</table>\n</section>\n");

    b.push_str(
        "<section>\n<h2>Records created per kind</h2>\n<table class=\"narrow\">\n<thead><tr><th>Kind</th>\
         <th class=\"num\">Count</th></tr></thead>\n<tbody>\n",
    );
    for k in &r.records.by_kind {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td class=\"num\">{}</td></tr>",
            esc(&k.kind),
            k.count
        );
    }
    let _ = writeln!(
        b,
        "</tbody>\n<tfoot><tr><th>Total</th><th class=\"num\">{}</th></tr></tfoot>\n</table>",
        r.records.total
    );
    if r.records.awaiting_central > 0 {
        let _ = writeln!(
            b,
            "<p><strong>{}</strong> of them not yet acknowledged by central.</p>",
            r.records.awaiting_central
        );
    }
    b.push_str("</section>\n");

    b.push_str("<section>\n<h2>Invoices issued per range</h2>\n");
    if r.invoices.is_empty() {
        b.push_str("<p class=\"none\">No invoices issued during the episode.</p>\n");
    } else {
        b.push_str(
            "<table>\n<thead><tr><th>Range</th><th>Series</th><th>Node</th><th class=\"num\">\
             Issued</th><th class=\"num\">First</th><th class=\"num\">Last</th><th>Voided</th>\
             </tr></thead>\n<tbody>\n",
        );
        for i in &r.invoices {
            let voided = if i.voided_numbers.is_empty() {
                "0".to_owned()
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
            };
            let _ = writeln!(
                b,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                esc(&i.range_id),
                esc(&i.series),
                esc(&i.node),
                i.issued,
                i.first,
                i.last,
                esc(&voided)
            );
        }
        b.push_str("</tbody>\n</table>\n");
    }
    b.push_str("</section>\n");

    b.push_str("<section>\n<h2>Conflicts touching the episode</h2>\n");
    if r.conflicts.list.is_empty() {
        b.push_str("<p class=\"none\">None.</p>\n");
    } else {
        b.push_str(
            "<table>\n<thead><tr><th>Status</th><th>Kind</th><th>About</th><th>Conflict id</th>\
             <th>Decision</th></tr></thead>\n<tbody>\n",
        );
        for c in &r.conflicts.list {
            let status = if c.status == "open" {
                "open"
            } else {
                "resolved"
            };
            let _ = writeln!(
                b,
                "<tr><td><span class=\"badge {status}\">{}</span></td><td>{}</td><td>{}</td>\
                 <td><code>{}</code></td><td>{}</td></tr>",
                esc(&c.status),
                esc(kind_title(&c.kind)),
                opt(c.subject.as_deref()),
                esc(&c.id),
                opt(c.decision.as_deref())
            );
        }
        b.push_str("</tbody>\n</table>\n");
    }
    b.push_str("</section>\n");

    b.push_str(
        "<section>\n<h2>Recovery worklist</h2>\n<table>\n<thead><tr><th>Category</th>\
         <th class=\"num\">Open</th><th class=\"num\">Done</th><th class=\"num\">Total</th>\
         <th>Progress</th></tr></thead>\n<tbody>\n",
    );
    for w in &r.worklist {
        let progress = match (w.done * 100).checked_div(w.total) {
            Some(pct) => format!(
                "<div class=\"bar\" title=\"{pct}%\"><span style=\"width:{pct}%\"></span></div>"
            ),
            None => "<span class=\"none\">nothing to do</span>".to_owned(),
        };
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td>{progress}</td></tr>",
            esc(&w.title),
            w.open,
            w.done,
            w.total
        );
    }
    b.push_str("</tbody>\n</table>\n</section>\n");
    page(&format!("Lifeline — outage report {}", r.episode), &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_contained(html: &str) {
        let lower = html.to_lowercase();
        for banned in [
            "<script", "<link", "<img", "<iframe", "src=", "@import", "url(", "http://", "https://",
        ] {
            assert!(!lower.contains(banned), "{banned} found in the page");
        }
        assert!(lower.starts_with("<!doctype html>"));
        assert!(lower.contains("@media print"));
    }

    #[test]
    fn every_value_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        let r = super::super::conflicts::tests::sample();
        let html = conflicts(&r, &RenderOptions::default());
        self_contained(&html);
        assert!(!html.contains("<script>x</script>"));
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(html.contains("林小雨 &lt;b&gt;&amp;amp;"));
        assert!(!html.contains("林小雨 <b>"));
    }

    #[test]
    fn the_conflict_page_has_a_section_per_conflict_with_values_and_commands() {
        let r = super::super::conflicts::tests::sample();
        let html = conflicts(&r, &RenderOptions::default());
        assert_eq!(html.matches("<section class=\"conflict open\"").count(), 2);
        assert!(html.contains("registration-w01"));
        assert!(html.contains("13811112222"));
        assert!(
            html.contains(
                "lifeline merge-patients -c node.toml --survivor 01BBB --duplicate 01CCC"
            )
        );
        assert!(html.contains("<tr class=\"match\"><th>National id</th>"));
    }

    #[test]
    fn the_outage_page_is_self_contained_and_escaped() {
        let r = super::super::episode::tests::sample();
        let html = episode(&r, &RenderOptions::default());
        self_contained(&html);
        assert!(html.contains("王小明 &amp; &lt;i&gt;"));
        assert!(html.contains("central unreachable &lt;since&gt; 09:00"));
        assert!(html.contains("Recovery worklist"));
        self_contained(&no_episode());
    }
}
