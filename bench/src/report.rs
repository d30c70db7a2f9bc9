//! The results file (`docs/benchmarks.json`) and the report rendered from it
//! (`docs/benchmarks.md`).
//!
//! Each part owns one top-level key of the JSON (`dataplane`, `maglev`, `e2e`,
//! `drain`, `flowtable`). A run replaces only the parts it ran and keeps the
//! others as they were, and the whole Markdown file is rendered from the
//! merged JSON, so both files always agree.

use std::{fs, path::Path};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

use crate::{
    Part,
    keys::{self, Keys},
    machine::Machine,
    stats::Summary,
    template::fill,
};

/// When, how and where a part ran; every part's object has it under `run`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunInfo {
    /// UTC date, `YYYY-MM-DD`.
    pub date: String,
    /// The command that produced the figures.
    pub command: String,
    pub machine: Machine,
    /// Wall time the part took, in seconds.
    pub seconds: f64,
}

/// The merged results of every part that ever ran.
pub struct Results(Map<String, Value>);

impl Results {
    /// Reads `path`; a missing or unreadable file gives empty results (the
    /// parts run now are written, the others show as not measured).
    pub fn load(path: &Path) -> Self {
        let parsed = fs::read_to_string(path)
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(&s).ok());
        match parsed {
            Some(Value::Object(map)) => Self(map),
            _ => Self(Map::new()),
        }
    }

    pub fn set(&mut self, part: Part, value: Value) {
        self.0.insert(part.name().to_owned(), value);
    }

    /// The part's figures, if present and of the current shape.
    pub fn get<T: DeserializeOwned>(&self, part: Part) -> Option<T> {
        serde_json::from_value(self.0.get(part.name())?.clone()).ok()
    }

    /// Whether the part ran (its figures may be of an older shape).
    pub fn has(&self, part: Part) -> bool {
        self.0.contains_key(part.name())
    }

    /// When, how and where the part ran.
    pub fn run_info(&self, part: Part) -> Option<RunInfo> {
        /// The one field every part's figures have.
        #[derive(Deserialize)]
        struct Ran {
            run: RunInfo,
        }
        self.get::<Ran>(part).map(|r| r.run)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(&self.0)?;
        text.push('\n');
        write_atomic(path, text.as_bytes())
    }
}

/// Writes through a temporary file and a rename, so an interrupted run never
/// leaves half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))
}

/// Markdown helpers.
pub struct Md(pub String);

impl Md {
    pub fn line(&mut self, s: impl AsRef<str>) {
        self.0.push_str(s.as_ref());
        self.0.push('\n');
    }

    pub fn blank(&mut self) {
        self.0.push('\n');
    }

    /// A table with a header row.
    pub fn table<const N: usize>(&mut self, header: [&str; N], rows: &[[String; N]]) {
        self.line(format!("| {} |", header.join(" | ")));
        self.line(format!("|{}", "---|".repeat(N)));
        for row in rows {
            self.line(format!("| {} |", row.join(" | ")));
        }
        self.blank();
    }

    /// The table documenting a part's JSON keys.
    pub fn keys(&mut self, tables: &[Keys]) {
        self.line("| key | meaning |");
        self.line("|---|---|");
        for t in tables {
            self.0.push_str(t.rows());
        }
        self.blank();
    }

    /// The run line of a part.
    pub fn run(&mut self, run: &RunInfo) {
        self.line(run.line());
        self.blank();
    }

    /// A plot, if the part made one.
    pub fn image(&mut self, alt: &str, file: &str) {
        self.0.push_str(&images(alt, &[file.to_owned()]));
    }
}

impl RunInfo {
    /// The run line of a part.
    pub fn line(&self) -> String {
        format!(
            "Measured {} with `{}` in {} s on {}.",
            self.date,
            self.command,
            // A part under ten seconds (Maglev) would otherwise read "0 s".
            f(self.seconds, usize::from(self.seconds < 10.0)),
            self.machine.line()
        )
    }
}

/// A table with a header row, for a template (no blank line after it).
pub fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut md = Md(String::new());
    md.table(header, rows);
    md.0.trim_end().to_owned()
}

/// The part's plots, each a paragraph.
pub fn images(alt: &str, files: &[String]) -> String {
    files
        .iter()
        .map(|file| format!("![{alt}](bench/{file})\n\n"))
        .collect()
}

/// A number with `digits` decimals.
pub fn f(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "n/a".into()
    }
}

/// A summary as `median (min–max)`, each with `digits` decimals.
pub fn median_range(s: &Summary, digits: usize) -> String {
    let [median, min, max] = [s.median, s.min, s.max].map(|x| f(x, digits));
    format!("{median} ({min}–{max})")
}

/// Renders the whole report from the merged results.
pub fn render(results: &Results) -> String {
    let mut machines: Vec<String> = Part::ALL
        .iter()
        .filter_map(|&p| results.run_info(p))
        .map(|run| run.machine.line())
        .collect();
    machines.dedup();
    let contents: String = Part::ALL
        .iter()
        .map(|&part| {
            let status = if results.has(part) {
                ""
            } else {
                " (not measured yet)"
            };
            format!("- [{}](#{}){status}\n", part.title(), anchor(part.title()))
        })
        .collect();
    let mut sections = Md(String::new());
    for part in Part::ALL {
        sections.line(format!("## {}", part.title()));
        sections.blank();
        if part.render(results, &mut sections) {
            sections.line("### Keys");
        } else {
            sections.0.push_str(&fill(
                include_str!("../templates/not_measured.md"),
                &[("part", part.name().to_owned())],
            ));
        }
        sections.blank();
        sections.keys(part.keys());
    }
    let mut run_keys = Md(String::new());
    run_keys.keys(&[keys::RUN]);
    fill(
        include_str!("../templates/benchmarks.md"),
        &[
            (
                "machines",
                if machines.is_empty() {
                    String::new()
                } else {
                    format!("Machine: {}.\n\n", machines.join("; "))
                },
            ),
            ("contents", contents),
            ("sections", sections.0),
            ("run_keys", run_keys.0.trim_end().to_owned()),
        ],
    )
}

/// GitHub's anchor of a heading.
fn anchor(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => Some(c),
            ' ' => Some('-'),
            _ => None,
        })
        .collect()
}

/// A run for the tests' sample reports.
#[cfg(test)]
pub fn sample_run() -> RunInfo {
    RunInfo {
        date: "2026-01-01".into(),
        command: "cargo xtask bench".into(),
        machine: Machine::probe(),
        seconds: 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::report::Figure;

    #[test]
    fn anchors() {
        assert_eq!(anchor("1. Data plane: cost"), "1-data-plane-cost");
    }

    /// The whole document from typed fixtures (made-up figures, not a
    /// measurement): two parts measured, the others not yet.
    #[test]
    fn renders_the_document_from_typed_fixtures() {
        let mut dataplane = crate::dataplane::report::tests::sample();
        let s = crate::stats::Summary {
            median: 7.5,
            min: 7.0,
            max: 8.0,
        };
        dataplane.ns.insert(Figure::NewFlowFullNet, s);
        let room = crate::stats::Summary { median: 5.3, ..s };
        dataplane.ns.insert(Figure::NewFlowNet, room);
        let mut results = Results(Map::new());
        results.set(Part::Dataplane, serde_json::to_value(&dataplane).unwrap());
        let flowtable = crate::flowtable::tests::fixture();
        results.set(Part::Flowtable, serde_json::to_value(&flowtable).unwrap());
        let md = render(&results);
        assert!(!md.contains("{{"), "a placeholder left:\n{md}");
        assert!(md.starts_with("# Benchmarks\n\nWritten by `cargo xtask bench [PART...]`"));
        assert!(md.contains(&format!("Machine: {}.\n", flowtable.run.machine.line())));
        for line in [
            "- [1. Data plane: cost per packet](#1-data-plane-cost-per-packet)\n",
            "- [3. End to end in the lab](#3-end-to-end-in-the-lab) (not measured yet)\n",
            "- [5. Flow table](#5-flow-table)\n",
            "Not measured yet: `cargo xtask bench e2e` fills this section.",
            "Measured 2026-01-01 with `cargo xtask bench` in 1.0 s on",
            // Part 1's case table, the fixture's figures in their row.
            "| `floor` | 2.0 | 1.0–3.0 |  | 2.0 |",
            "| `new_flow_full_net` | 7.5 | 7.0–8.0 |  | – |",
            // Part 5's rows, and part 1's insert cost in part 5's prose.
            "| `FLOWS` | LruHash | 4 | 40 + 24 | 0.00 | 128.0 |",
            "| total |  |  |  | 0.00 |  |",
            "costs 7.5 ns against 5.3 ns with room (run-time statistics: n/a ns)",
            "| `flowtable.memory.source` |",
            "## Keys common to every part\n\n| key | meaning |\n|---|---|\n| `<part>.run.date` |",
        ] {
            assert!(md.contains(line), "{line:?} missing from:\n{md}");
        }
        assert!(md.ends_with("wall time of the part, in seconds |\n"));
    }
}
