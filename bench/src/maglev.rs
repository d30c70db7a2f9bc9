//! Part 2: Maglev tables as `lb` builds them (`lb_userspace::maglev`): build
//! time, how evenly the slots are shared, and how many slots move when one
//! backend leaves (ideal: only the leaving backend's own, 1/N of the table).

use std::{collections::BTreeMap, time::Instant};

use anyhow::Result;
use lb_common::maglev::{DEFAULT_MAGLEV_SIZE, NO_BACKEND};
use lb_userspace::maglev::{MaglevBackend, build_table};
use serde::{Deserialize, Serialize};

use crate::{
    Ctx,
    plot::{self, Scale, Series},
    report::{Md, RunInfo, f, median_range},
    stats::{Summary, round},
    template::fill,
};

/// Backend counts measured.
pub const SIZES: [u32; 3] = [10, 100, 1000];
/// Builds timed per size (interleaved over sizes).
pub const ROUNDS: usize = 7;
/// Backends removed, one at a time, to measure the moved share (evenly spread).
pub const REMOVALS: u32 = 10;
/// The weighted tables' weights: 1, 2, 3, 4, 1, 2, ...
pub const WEIGHT_CYCLE: u32 = 4;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub run: RunInfo,
    /// Slots per table.
    pub m: u32,
    pub rounds: u32,
    pub unweighted: BySize<Case>,
    pub weighted: BySize<Case>,
    #[serde(default)]
    pub plots: Vec<String>,
}

/// One figure per table size of [`SIZES`], under `n<backends>` in the JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BySize<T> {
    pub n10: T,
    pub n100: T,
    pub n1000: T,
}

impl<T> BySize<T> {
    fn from_fn(f: impl FnMut(u32) -> T) -> Self {
        let [n10, n100, n1000] = SIZES.map(f);
        Self { n10, n100, n1000 }
    }

    /// Smallest table first.
    fn all(&self) -> [&T; 3] {
        [&self.n10, &self.n100, &self.n1000]
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Case {
    pub backends: u32,
    /// Milliseconds per table build.
    pub build_ms: Summary,
    /// Largest slot share over its expected share (M × weight / total weight).
    pub max_over_expected: f64,
    /// Smallest slot share over its expected share.
    pub min_over_expected: f64,
    /// Share of the slots that changed backend when one backend left (mean
    /// over the removals).
    pub moved: f64,
    /// The least that must move: the leaving backend's expected share (mean).
    pub moved_ideal: f64,
    pub moved_over_ideal: f64,
    /// Share of the slots that moved between backends that both stayed.
    pub moved_between_others: f64,
    pub removals: u32,
}

fn names(n: u32) -> Vec<String> {
    (0..n).map(|i| format!("backend-{i}")).collect()
}

fn weight(i: u32, weighted: bool) -> u32 {
    if weighted { 1 + i % WEIGHT_CYCLE } else { 1 }
}

fn members(names: &[String], weighted: bool, without: Option<u32>) -> Vec<MaglevBackend<'_>> {
    (0u32..)
        .zip(names)
        .filter(|(i, _)| Some(*i) != without)
        .map(|(id, name)| MaglevBackend {
            id,
            name,
            weight: weight(id, weighted),
        })
        .collect()
}

/// Slots per backend id.
fn shares(table: &[u32], n: u32) -> Vec<u64> {
    let mut s = vec![0u64; n as usize];
    for &id in table {
        if id != NO_BACKEND {
            s[id as usize] += 1;
        }
    }
    s
}

/// Per backend: its slots over its expected slots.
fn over_expected(table: &[u32], n: u32, weighted: bool) -> Vec<f64> {
    let total: u64 = (0..n).map(|i| u64::from(weight(i, weighted))).sum();
    let m = table.len() as f64;
    shares(table, n)
        .iter()
        .zip(0..n)
        .map(|(&s, i)| s as f64 / (m * f64::from(weight(i, weighted)) / total as f64))
        .collect()
}

fn measure(n: u32, weighted: bool, build_ms: &[f64], m: u32) -> Case {
    let names = names(n);
    let full = build_table(&members(&names, weighted, None), m);
    let ratios = over_expected(&full, n, weighted);
    let total: u64 = (0..n).map(|i| u64::from(weight(i, weighted))).sum();
    let step = (n / REMOVALS).max(1);
    let (mut moved, mut ideal, mut others, mut count) = (0.0, 0.0, 0.0, 0u32);
    // Evenly spread; offset so that the weighted tables lose every weight.
    let removed = (0..REMOVALS.min(n)).map(|j| {
        if n <= REMOVALS {
            j
        } else {
            (j * step + j % WEIGHT_CYCLE).min(n - 1)
        }
    });
    for k in removed {
        let t = build_table(&members(&names, weighted, Some(k)), m);
        let changed = full.iter().zip(&t).filter(|(a, b)| a != b).count();
        let between = full
            .iter()
            .zip(&t)
            .filter(|(a, b)| a != b && **a != k)
            .count();
        moved += changed as f64 / f64::from(m);
        others += between as f64 / f64::from(m);
        ideal += f64::from(weight(k, weighted)) / total as f64;
        count += 1;
    }
    let c = f64::from(count);
    Case {
        backends: n,
        build_ms: Summary::rounded(build_ms, 3),
        max_over_expected: round(ratios.iter().copied().fold(0.0, f64::max), 4),
        min_over_expected: round(ratios.iter().copied().fold(f64::INFINITY, f64::min), 4),
        moved: round(moved / c, 5),
        moved_ideal: round(ideal / c, 5),
        moved_over_ideal: round(moved / ideal, 3),
        moved_between_others: round(others / c, 5),
        removals: count,
    }
}

// Every part's `run` returns a Result, so main dispatches them alike.
#[allow(clippy::unnecessary_wraps)]
pub fn run(ctx: &Ctx) -> Result<Report> {
    let started = Instant::now();
    let m = DEFAULT_MAGLEV_SIZE;
    // Build times: every (size, weighted) once per round, interleaved.
    let mut times: BTreeMap<(u32, bool), Vec<f64>> = BTreeMap::new();
    let all_names: BTreeMap<u32, Vec<String>> = SIZES.iter().map(|&n| (n, names(n))).collect();
    for _ in 0..ROUNDS {
        for &n in &SIZES {
            for weighted in [false, true] {
                let members = members(&all_names[&n], weighted, None);
                let t = Instant::now();
                let table = build_table(&members, m);
                let ms = t.elapsed().as_secs_f64() * 1e3;
                std::hint::black_box(&table);
                times.entry((n, weighted)).or_default().push(ms);
            }
        }
    }
    let cases = |weighted| BySize::from_fn(|n| measure(n, weighted, &times[&(n, weighted)], m));
    let mut report = Report {
        run: ctx.run_info(0.0),
        m,
        rounds: ROUNDS as u32,
        unweighted: cases(false),
        weighted: cases(true),
        plots: Vec::new(),
    };
    report.plots = plots(&report, &ctx.plots);
    report.run.seconds = round(started.elapsed().as_secs_f64(), 1);
    Ok(report)
}

fn plots(r: &Report, dir: &std::path::Path) -> Vec<String> {
    let series = |cases: &BySize<Case>, f: fn(&Case) -> f64| -> Vec<(f64, f64)> {
        cases.all().map(|c| (f64::from(c.backends), f(c))).to_vec()
    };
    let moved = plot::make(dir, "maglev_moved.png", |path| {
        plot::xy(
            path,
            "Slots moved when one backend leaves (M = 65537)",
            ("backends", Scale::Log),
            ("share of the table", Scale::Log),
            &[
                Series {
                    name: "moved, weight 1".into(),
                    points: series(&r.unweighted, |c| c.moved),
                    color: 1,
                    marks: true,
                },
                Series {
                    name: "moved, weights 1-4".into(),
                    points: series(&r.weighted, |c| c.moved),
                    color: 2,
                    marks: true,
                },
                Series {
                    name: "ideal, weight 1: 1/N".into(),
                    points: series(&r.unweighted, |c| c.moved_ideal),
                    color: 0,
                    marks: false,
                },
            ],
            plotters::prelude::SeriesLabelPosition::UpperRight,
        )
    });
    moved.into_iter().collect()
}

pub fn render(r: &Report, md: &mut Md) {
    md.run(&r.run);
    md.line(format!(
        "`lb_userspace::maglev::build_table` at M = {} slots, backends named `backend-0`.. \
         (the permutation depends only on the name). Build time: median of {} builds per \
         size, interleaved over sizes, range in brackets. Shares: each backend's slots over \
         its expected slots (M × weight / total weight). Moved: {} backends removed one at a \
         time (evenly spread over the ids), the share of slots whose backend changed, \
         against the least possible (the leaving backend's own share; 1/N unweighted); \
         `between others` is what moved between two backends that both stayed. Weighted: \
         weights 1, 2, 3, 4 cycling.",
        r.m, r.rounds, REMOVALS
    ));
    md.blank();
    let mut rows: Vec<[String; 9]> = Vec::new();
    for (label, cases) in [("1", &r.unweighted), ("1–4", &r.weighted)] {
        for c in cases.all() {
            rows.push([
                c.backends.to_string(),
                label.to_owned(),
                median_range(&c.build_ms, 2),
                f(c.max_over_expected, 3),
                f(c.min_over_expected, 3),
                format!("{}%", f(100.0 * c.moved, 3)),
                format!("{}%", f(100.0 * c.moved_ideal, 3)),
                f(c.moved_over_ideal, 2),
                format!("{}%", f(100.0 * c.moved_between_others, 3)),
            ]);
        }
    }
    md.table(
        [
            "backends",
            "weights",
            "build ms",
            "max / expected",
            "min / expected",
            "moved",
            "ideal",
            "moved / ideal",
            "between others",
        ],
        &rows,
    );
    let worst = r
        .unweighted
        .all()
        .into_iter()
        .chain(r.weighted.all())
        .map(|c| (c.max_over_expected - 1.0).max(1.0 - c.min_over_expected))
        .fold(0.0, f64::max);
    let big = &r.unweighted.n1000;
    md.line(fill(
        include_str!("../templates/maglev_churn.md").trim_end(),
        &[
            ("worst", format!("{:.1}", 100.0 * worst)),
            ("backends", big.backends.to_string()),
            (
                "slots_each",
                format!("{:.0}", f64::from(r.m) / f64::from(big.backends)),
            ),
            (
                "moved_between_others",
                format!("{:.2}", 100.0 * big.moved_between_others),
            ),
            ("moved_over_ideal", format!("{:.1}", big.moved_over_ideal)),
        ],
    ));
    md.blank();
    for p in &r.plots {
        md.image("slots moved when one backend leaves", p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_tables_measure_sensibly_and_every_key_is_documented() {
        let c = measure(10, false, &[1.0, 2.0, 3.0], 251);
        assert_eq!(c.removals, 10);
        assert!((c.moved_ideal - 0.1).abs() < 1e-9);
        assert!(c.moved >= c.moved_ideal * 0.5 && c.moved < 0.5, "{c:?}");
        let w = measure(8, true, &[1.0], 251);
        assert!(w.max_over_expected >= 1.0 && w.min_over_expected <= 1.0);
        let r = Report {
            run: crate::report::sample_run(),
            m: 251,
            rounds: 1,
            unweighted: BySize::from_fn(|_| c.clone()),
            weighted: BySize::from_fn(|_| w.clone()),
            plots: vec!["maglev_moved.png".into()],
        };
        crate::keys::assert_documented(
            "maglev",
            &serde_json::to_value(&r).unwrap(),
            &[crate::keys::MAGLEV],
        );
        let mut md = Md(String::new());
        render(&r, &mut md);
        assert!(md.0.contains("| 10 | 1 |"), "{}", md.0);
    }
}
