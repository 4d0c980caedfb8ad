//! A document as one self-contained HTML file: inline CSS, no scripts, nothing fetched (no
//! fonts, images or links outside the page), so the file can be mailed, archived and printed
//! as it is. Every value is escaped: names and values come from the desks.

use std::fmt::Write as _;

use super::doc::{Align, Block, BlockKind, Doc, Fact, Inline, Rich, Row, Table};
use crate::i18n::{Lang, t};

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

/// Renders a document as a page.
pub(crate) fn render(doc: &Doc) -> String {
    let mut b = format!("<header><h1>{}</h1>", esc(&doc.header.heading));
    if let Some(meta) = &doc.header.meta {
        let _ = write!(b, "\n<p class=\"meta\">{}</p>", rich(meta));
    }
    b.push_str("</header>\n");
    blocks(&mut b, doc.lang, &doc.blocks);
    format!(
        "<!DOCTYPE html>\n<html lang=\"{}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{b}\
         <footer>{}</footer>\n</body>\n</html>\n",
        doc.lang.tag(),
        esc(&doc.title),
        esc(&t(doc.lang, "report-footer"))
    )
}

fn rich(r: &Rich) -> String {
    let mut out = String::new();
    for inline in r {
        match inline {
            Inline::Text(s) => out.push_str(&esc(s)),
            Inline::Strong(s) => {
                let _ = write!(out, "<strong>{}</strong>", esc(s));
            }
            Inline::Code(s) => {
                let _ = write!(out, "<code>{}</code>", esc(s));
            }
            Inline::Missing => out.push_str("<span class=\"none\">—</span>"),
            Inline::Muted(s) => {
                let _ = write!(out, "<span class=\"none\">{}</span>", esc(s));
            }
            Inline::Badge { text, open } => {
                let _ = write!(
                    out,
                    "<span class=\"badge {}\">{}</span>",
                    state(*open),
                    esc(text)
                );
            }
            Inline::Bar(pct) => {
                let _ = write!(
                    out,
                    "<div class=\"bar\" title=\"{pct}%\"><span style=\"width:{pct}%\"></span></div>"
                );
            }
        }
    }
    out
}

fn state(open: bool) -> &'static str {
    if open { "open" } else { "resolved" }
}

fn class_attr(class: Option<&str>) -> String {
    class.map_or_else(String::new, |c| format!(" class=\"{c}\""))
}

fn blocks(b: &mut String, l: Lang, blocks: &[Block]) {
    for block in blocks.iter().filter(|x| x.show.on_page()) {
        one(b, l, &block.kind);
    }
}

fn one(b: &mut String, l: Lang, kind: &BlockKind) {
    match kind {
        BlockKind::Section {
            heading,
            class,
            blocks: inner,
            ..
        } => {
            let _ = write!(
                b,
                "<section{}>\n<h2>{}</h2>\n",
                class_attr(*class),
                esc(heading)
            );
            blocks(b, l, inner);
            b.push_str("</section>\n");
        }
        BlockKind::Item {
            kind,
            number: n,
            id,
            status,
            open,
            title,
            blocks: inner,
        } => {
            let state = state(*open);
            let _ = write!(
                b,
                "<section class=\"{kind} {state}\" id=\"c{n}\" data-{kind}=\"{}\">\n\
                 <h2><span class=\"badge {state}\">{}</span>{n}. {}</h2>\n",
                esc(id),
                esc(status),
                esc(title)
            );
            blocks(b, l, inner);
            b.push_str("</section>\n");
        }
        BlockKind::Subheading(s) => {
            let _ = writeln!(b, "<h3>{}</h3>", esc(s));
        }
        BlockKind::Contents(items) => {
            let _ = write!(
                b,
                "<nav class=\"toc\">\n<h2>{}</h2>\n<ol>\n",
                esc(&t(l, "report-contents"))
            );
            for (n, title, status) in items {
                let _ = writeln!(
                    b,
                    "<li><a href=\"#c{n}\">{}</a> — {}</li>",
                    esc(title),
                    esc(status)
                );
            }
            b.push_str("</ol>\n</nav>\n");
        }
        BlockKind::Facts(facts) => self::facts(b, facts),
        BlockKind::Table(t) => table(b, t),
        BlockKind::Note { label, body, class } => {
            let _ = write!(
                b,
                "<h3>{}</h3>\n<p{}>{}</p>\n",
                esc(label),
                class_attr(*class),
                rich(body)
            );
        }
        BlockKind::Para { body, class } => {
            let _ = writeln!(b, "<p{}>{}</p>", class_attr(*class), rich(body));
        }
        BlockKind::Commands { label, commands } => {
            let _ = write!(b, "<h3>{}</h3>\n<ol class=\"actions\">\n", esc(label));
            for (cmd, what) in commands {
                let _ = writeln!(
                    b,
                    "<li><code class=\"cmd\">{}</code><span class=\"what\">{}</span></li>",
                    esc(cmd),
                    esc(what)
                );
            }
            b.push_str("</ol>\n");
        }
        BlockKind::Entries(_) => {}
    }
}

fn facts(b: &mut String, facts: &[Fact]) {
    b.push_str("<table class=\"kv\">\n");
    for f in facts.iter().filter(|f| f.show.on_page()) {
        let _ = writeln!(
            b,
            "<tr><th>{}</th><td>{}</td></tr>",
            esc(&f.label),
            rich(&f.value)
        );
    }
    b.push_str("</table>\n");
}

fn table(b: &mut String, t: &Table) {
    let shown: Vec<usize> = (0..t.columns.len())
        .filter(|&i| t.columns[i].show.on_page())
        .collect();
    let num = |i: usize| t.columns[i].align == Align::Right;
    let _ = write!(b, "<table{}>\n<thead><tr>", class_attr(t.class));
    for &i in &shown {
        let class = num(i).then_some("num");
        let _ = write!(
            b,
            "<th{}>{}</th>",
            class_attr(class),
            rich(&t.columns[i].label)
        );
    }
    b.push_str("</tr></thead>\n<tbody>\n");
    let row = |b: &mut String, r: &Row, heads: bool| {
        let _ = write!(b, "<tr{}>", class_attr(r.class));
        for (n, &i) in shown.iter().enumerate() {
            let Some(cell) = r.cells.get(i) else { continue };
            let tag = if heads || (t.row_labels && n == 0) {
                "th"
            } else {
                "td"
            };
            let class = cell
                .class
                .or_else(|| num(i).then_some("num"))
                .or(if tag == "td" {
                    t.columns[i].class
                } else {
                    None
                });
            let _ = write!(
                b,
                "<{tag}{}>{}</{tag}>",
                class_attr(class),
                rich(&cell.value)
            );
        }
        b.push_str("</tr>");
    };
    for r in &t.rows {
        row(b, r, false);
        b.push('\n');
    }
    b.push_str("</tbody>\n");
    if let Some(foot) = &t.foot {
        b.push_str("<tfoot>");
        row(b, foot, true);
        b.push_str("</tfoot>\n");
    }
    b.push_str("</table>\n");
}

/// Fails unless `html` is one page that loads nothing and runs nothing, and prints well.
#[cfg(test)]
pub(crate) fn assert_self_contained(html: &str) {
    let lower = html.to_lowercase();
    for banned in [
        "<script", "<link", "<img", "<iframe", "src=", "@import", "url(", "http://", "https://",
    ] {
        assert!(!lower.contains(banned), "{banned} found in the page");
    }
    assert!(lower.starts_with("<!doctype html>"));
    assert!(lower.contains("@media print"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            rich(&vec![Inline::Code("<b>".into()), Inline::Muted("&".into())]),
            "<code>&lt;b&gt;</code><span class=\"none\">&amp;</span>"
        );
    }
}
