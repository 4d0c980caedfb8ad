//! Text as wide as a terminal shows it: East Asian wide characters (Chinese) take two columns,
//! so tables and padded columns line up in both languages. `format!("{:<10}")` counts
//! characters, which misaligns every Chinese word; the CLI pads with [`pad`] and
//! [`pad_left`] instead.

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

/// The columns `s` takes in a terminal.
pub fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// `s` followed by spaces up to `columns` (left-aligned); as it is when already wider.
pub fn pad(s: &str, columns: usize) -> String {
    format!("{s}{}", " ".repeat(columns.saturating_sub(width(s))))
}

/// Spaces, then `s`, up to `columns` (right-aligned, for numbers).
pub fn pad_left(s: &str, columns: usize) -> String {
    format!("{}{s}", " ".repeat(columns.saturating_sub(width(s))))
}

/// One line of a text table: each cell padded to its column's width (`(width, right-aligned)`),
/// a space between, no trailing spaces.
pub fn table_row(cells: &[&str], columns: &[(usize, bool)]) -> String {
    let mut s: String = cells
        .iter()
        .zip(columns)
        .map(|(c, &(w, right))| {
            if right {
                format!("{} ", pad_left(c, w))
            } else {
                format!("{} ", pad(c, w))
            }
        })
        .collect();
    s.truncate(s.trim_end().len());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_characters_count_twice() {
        assert_eq!(width("林小雨"), 6);
        assert_eq!(width("W01"), 3);
        assert_eq!(pad("已连接", 8), "已连接  ");
        assert_eq!(pad("up", 4), "up  ");
        assert_eq!(pad_left("12", 4), "  12");
        assert_eq!(pad("too wide", 3), "too wide");
    }

    #[test]
    fn a_table_row_lines_up_and_ends_clean() {
        let cols = [(6, false), (4, true), (5, false)];
        assert_eq!(table_row(&["号段", "12", ""], &cols), "号段     12\n");
        assert_eq!(table_row(&["ab", "1", "x"], &cols), "ab        1 x\n");
    }
}
