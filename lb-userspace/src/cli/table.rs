//! Aligned text tables and the short number formats the CLI prints.

use std::fmt::Write as _;

/// Output lines are cut to this width, so a long detail cannot wrap a table.
pub const WIDTH: usize = 100;

/// Columns sized to their widest cell; a row may carry note lines, printed
/// under it and indented to its second column.
pub struct Table {
    headers: Vec<&'static str>,
    /// Right-aligned columns (numbers).
    right: Vec<bool>,
    rows: Vec<(Vec<String>, Vec<String>)>,
}

impl Table {
    /// `headers` starting with '>' are right-aligned (the '>' is not shown).
    pub fn new(headers: &[&'static str]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.trim_start_matches('>')).collect(),
            right: headers.iter().map(|h| h.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>, notes: Vec<String>) {
        self.rows.push((cells, notes));
    }

    /// The table, each line prefixed by `indent`.
    pub fn render(&self, indent: &str) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for (cells, _) in &self.rows {
            for (w, cell) in widths.iter_mut().zip(cells) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let headers: Vec<String> = self
            .headers
            .iter()
            .map(std::string::ToString::to_string)
            .collect();
        let mut out = String::new();
        self.line(&mut out, indent, &widths, &headers);
        let note_indent = format!("{indent}{}", " ".repeat(widths[0] + 2));
        for (cells, notes) in &self.rows {
            self.line(&mut out, indent, &widths, cells);
            for note in notes {
                out.push_str(&cut(&format!("{note_indent}{note}")));
                out.push('\n');
            }
        }
        out
    }

    fn line(&self, out: &mut String, indent: &str, widths: &[usize], cells: &[String]) {
        let mut line = indent.to_owned();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let last = i + 1 == cells.len();
            match (self.right[i], last) {
                (true, _) => {
                    let _ = write!(line, "{cell:>w$}");
                }
                // No trailing spaces after the last column.
                (false, true) => line.push_str(cell),
                (false, false) => {
                    let _ = write!(line, "{cell:<w$}");
                }
            }
            if !last {
                line.push_str("  ");
            }
        }
        out.push_str(&cut(line.trim_end()));
        out.push('\n');
    }
}

/// `text` cut to [`WIDTH`] characters, ending in '…' if it was longer.
pub fn cut(text: &str) -> String {
    if text.chars().count() <= WIDTH {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(WIDTH - 1).collect();
    short.push('…');
    short
}

/// A rate in at most five characters: 0, 7.5, 340, 1.2k, 45.0M.
pub fn rate(v: f64) -> String {
    match v {
        v if v <= 0.0 || !v.is_finite() => "0".to_owned(),
        v if v < 10.0 && v.fract() != 0.0 => format!("{v:.1}"),
        v if v < 1_000.0 => format!("{v:.0}"),
        v if v < 1_000_000.0 => format!("{:.1}k", v / 1e3),
        v if v < 1_000_000_000.0 => format!("{:.1}M", v / 1e6),
        v => format!("{:.1}G", v / 1e9),
    }
}

/// Seconds as people read them: 0.5s, 12s, 4m05s, 3h12m.
pub fn secs(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "-".to_owned();
    }
    if s < 10.0 && s.fract() != 0.0 {
        return format!("{s:.1}s");
    }
    // Finite and not negative (checked above): the cast keeps the value.
    #[allow(clippy::cast_sign_loss)]
    let whole = s.round() as u64;
    match whole {
        w if w < 60 => format!("{w}s"),
        w if w < 3600 => format!("{}m{:02}s", w / 60, w % 60),
        w => format!("{}h{:02}m", w / 3600, w % 3600 / 60),
    }
}

/// `address:port`, with brackets around an IPv6 address.
pub fn endpoint(address: &str, port: u16) -> String {
    if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_notes_indent() {
        let mut t = Table::new(&["NAME", ">LIVE", "ADDRESS"]);
        t.row(
            vec!["web-1".into(), "3".into(), "203.0.113.11".into()],
            vec![],
        );
        t.row(
            vec!["w".into(), "120".into(), "x".into()],
            vec!["note".into()],
        );
        assert_eq!(
            t.render("  "),
            "  NAME   LIVE  ADDRESS\n  web-1     3  203.0.113.11\n  w       120  x\n         note\n"
        );
    }

    #[test]
    fn numbers_stay_short() {
        let rates: Vec<String> = [0.0, 7.5, 7.0, 340.4, 1234.5, 45e6].map(rate).into();
        assert_eq!(rates, ["0", "7.5", "7", "340", "1.2k", "45.0M"]);
        let times: Vec<String> = [0.5, 12.0, 245.0, 11_520.0].map(secs).into();
        assert_eq!(times, ["0.5s", "12s", "4m05s", "3h12m"]);
        assert_eq!(endpoint("2001:db8::1", 80), "[2001:db8::1]:80");
        assert_eq!(cut(&"x".repeat(120)).chars().count(), WIDTH);
    }
}
