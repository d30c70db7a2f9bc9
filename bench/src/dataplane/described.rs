//! The prose tables part 1 documents its cases and ratios with, kept as
//! Markdown under bench/templates/.

use super::figure::Ratio;

/// Each case: its program, its frame and the path it is proved to take (the
/// whole table).
pub const CASES: &str = include_str!("../../templates/dataplane_cases.md");

/// What each ratio compares: rows `| `names` | what |`, where `names` may
/// list several ratios separated by ", ".
const RATIOS: &str = include_str!("../../templates/dataplane_ratios.md");

/// What `ratio` compares ("" for a ratio the table does not describe).
pub fn compares(ratio: Ratio) -> &'static str {
    let name = ratio.to_string();
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
        assert_eq!(compares(Ratio::NonvipVsFloor), "nonvip / floor");
        for (ratio, ..) in super::super::figure::RATIOS {
            assert!(!compares(ratio).is_empty(), "{ratio} is not described");
        }
        assert!(CASES.starts_with("| case | program | frame, path and proof |"));
    }
}
