//! A document as aligned text for a terminal. Columns are padded by display width, so Chinese
//! names (two columns per character) line up with the rest; labels start in lower case; what
//! only a page shows is left out.

use super::doc::{Align, Block, BlockKind, Doc, Fact, Inline, Rich, Table};
use crate::i18n::width::width;
use crate::i18n::{Lang, t};

/// Indentation of a section's content, and of an item's.
const SECTION_INDENT: &str = "  ";
const ITEM_INDENT: &str = "   ";

/// Control characters (a value may hold anything) shown as `?`, so a report cannot move the
/// terminal's cursor.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Rich text as plain text.
fn plain(rich: &Rich) -> String {
    let mut out = String::new();
    for inline in rich {
        match inline {
            Inline::Text(s)
            | Inline::Strong(s)
            | Inline::Code(s)
            | Inline::Muted(s)
            | Inline::Badge { text: s, .. } => out.push_str(s),
            Inline::Missing => out.push('-'),
            Inline::Bar(pct) => out.push_str(&format!("{pct}%")),
        }
    }
    clean(&out)
}

/// A label as a terminal shows it: starting in lower case, unless it starts with an
/// abbreviation (`HIS patient`).
fn label(s: &str) -> String {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(_), Some(second)) if second.is_uppercase() => s.to_owned(),
        (Some(first), _) => first.to_lowercase().chain(s.chars().skip(1)).collect(),
        (None, _) => String::new(),
    }
}

/// Renders a document for a terminal.
pub(crate) fn render(doc: &Doc) -> String {
    let mut out = doc.header.terminal.clone();
    for b in doc.blocks.iter().filter(|b| b.show.in_terminal()) {
        let s = block(doc.lang, b, "");
        if !s.is_empty() {
            out.push('\n');
            out.push_str(&s);
        }
    }
    out
}

fn blocks(l: Lang, blocks: &[Block], indent: &str) -> String {
    blocks
        .iter()
        .filter(|b| b.show.in_terminal())
        .map(|b| block(l, b, indent))
        .collect()
}

fn block(l: Lang, b: &Block, indent: &str) -> String {
    // Between a label and what it labels: `: `, or Chinese `：`.
    let colon = t(l, "report-colon");
    match &b.kind {
        BlockKind::Section {
            terminal_heading,
            blocks: inner,
            ..
        } => {
            let content = blocks(l, inner, SECTION_INDENT);
            match terminal_heading {
                Some(h) => format!("{h}\n{content}"),
                None => content,
            }
        }
        BlockKind::Item {
            number,
            status,
            title,
            blocks: inner,
            ..
        } => format!(
            "{number}. [{}] {}\n{}",
            status.to_uppercase(),
            clean(title),
            blocks(l, inner, ITEM_INDENT)
        ),
        BlockKind::Subheading(_) | BlockKind::Contents(_) => String::new(),
        BlockKind::Facts(facts) => pairs(indent, facts),
        BlockKind::Table(t) => table(indent, t),
        BlockKind::Note {
            label: name, body, ..
        } => {
            format!("{indent}{}{colon}{}\n", label(name), plain(body))
        }
        BlockKind::Para { body, .. } => format!("{indent}{}\n", plain(body)),
        BlockKind::Commands {
            label: name,
            commands,
        } => {
            let mut out = format!("{indent}{}{}\n", label(name), colon.trim_end());
            for (cmd, what) in commands {
                out.push_str(&format!(
                    "{indent}  {}\n{indent}      ({})\n",
                    clean(cmd),
                    clean(what)
                ));
            }
            out
        }
        BlockKind::Entries(entries) => {
            let mut out = String::new();
            for (head, lines) in entries {
                out.push_str(&format!("{indent}{}\n", clean(head)));
                for line in lines {
                    out.push_str(&format!("{indent}  {}\n", clean(line)));
                }
            }
            out
        }
    }
}

/// `key   value` lines, keys padded to the widest.
fn pairs(indent: &str, facts: &[Fact]) -> String {
    let shown: Vec<(String, String)> = facts
        .iter()
        .filter(|f| f.show.in_terminal())
        .map(|f| (label(&f.label), plain(&f.value)))
        .collect();
    let w = shown.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    shown
        .iter()
        .map(|(k, v)| format!("{indent}{k}{}  {v}\n", " ".repeat(w - width(k))))
        .collect()
}

/// A table: a header row, a rule and the rows, each column padded to its widest cell; numbers
/// aligned right.
fn table(indent: &str, t: &Table) -> String {
    let shown: Vec<usize> = (0..t.columns.len())
        .filter(|&i| t.columns[i].show.in_terminal())
        .collect();
    let header: Vec<String> = shown
        .iter()
        .map(|&i| label(&plain(&t.columns[i].label)))
        .collect();
    let right: Vec<bool> = shown
        .iter()
        .map(|&i| t.columns[i].align == Align::Right)
        .collect();
    let rows: Vec<Vec<String>> = t
        .rows
        .iter()
        .map(|row| {
            shown
                .iter()
                .map(|&i| {
                    let cell = row
                        .cells
                        .get(i)
                        .map(|c| plain(&c.value))
                        .unwrap_or_default();
                    if t.row_labels && i == 0 {
                        label(&cell)
                    } else {
                        cell
                    }
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let line = |cells: &[String]| {
        let mut s = indent.to_owned();
        for (i, cell) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[i].saturating_sub(width(cell)));
            if right[i] {
                s.push_str(&pad);
                s.push_str(cell);
                s.push_str("  ");
            } else {
                s.push_str(cell);
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
    let mut out = line(&header);
    out.push_str(&line(
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    ));
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::doc::{Column, Row};
    use super::*;

    #[test]
    fn wide_characters_count_twice() {
        assert_eq!(width("林小雨"), 6);
        assert_eq!(width("W01"), 3);
        let t = Table::new(
            vec![Column::new("Name"), Column::new("N").right()],
            vec![Row::new(vec!["林小雨".into(), "1".into()])],
        );
        let text = table("", &t);
        let lines: Vec<&str> = text.lines().collect();
        // "name" column is 6 wide (the name), then two spaces.
        assert_eq!(lines[2], "林小雨  1");
        assert_eq!(lines[0], "name    n");
    }

    #[test]
    fn labels_start_in_lower_case_but_abbreviations_stay() {
        assert_eq!(label("Patient no"), "patient no");
        assert_eq!(label("HIS patient"), "HIS patient");
        assert_eq!(label("患者编号"), "患者编号");
        assert_eq!(label(""), "");
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let t = Table::new(
            vec![Column::new("Value")],
            vec![Row::new(vec!["a\u{1b}[2Jb".into()])],
        );
        assert!(table("", &t).contains("a?[2Jb"));
    }
}
