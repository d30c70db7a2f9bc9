//! The prose tables part 1 documents its cases and ratios with, kept as
//! Markdown under bench/templates/.

/// Each case: its program, its frame and the path it is proved to take (the
/// whole table).
pub const CASES: &str = include_str!("../../templates/dataplane_cases.md");

/// What each ratio compares: rows `| `names` | what |`, where `names` may
/// list several ratios separated by ", ".
const RATIOS: &str = include_str!("../../templates/dataplane_ratios.md");

/// What ratio `name` compares ("" for a ratio the table does not describe).
pub fn compares(name: &str) -> &'static str {
    RATIOS
        .lines()
        .filter_map(|row| {
            row.strip_prefix("| `")?
                .strip_suffix(" |")?
                .split_once("` | ")
        })
        .find(|(names, _)| names.split(", ").any(|n| n == name))
        .map_or("", |(_, what)| what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ratio_row_parses() {
        assert_eq!(compares("nonvip_vs_floor"), "nonvip / floor");
        assert_eq!(compares("no_such_ratio"), "");
        for row in RATIOS.lines() {
            let names = row.strip_prefix("| `").and_then(|r| r.split_once('`'));
            let (names, _) = names.unwrap_or_else(|| panic!("bad row {row}"));
            let first = names.split(", ").next().unwrap();
            assert!(!compares(first).is_empty(), "{row}");
        }
        assert!(CASES.starts_with("| case | program | frame, path and proof |"));
    }
}
