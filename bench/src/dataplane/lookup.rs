//! The report's figures by `Figure` or `Ratio`, formatted for the prose of
//! the rendered sections ("n/a" for a figure the run did not produce).

use super::{
    figure::{Figure, Ratio},
    report::Report,
};
use crate::report::f;

/// What `ratio`'s numerator adds to its denominator `base`, in ns: (median
/// per-round ratio − 1) × the median of `base`.
pub fn over(r: &Report, ratio: Ratio, base: Figure) -> f64 {
    let q = r.ratios.get(&ratio).map_or(f64::NAN, |s| s.median);
    let b = r.ns.get(&base).map_or(f64::NAN, |s| s.median);
    (q - 1.0) * b
}

pub fn ratio(r: &Report, name: Ratio) -> String {
    r.ratios.get(&name).map_or("n/a".into(), |s| f(s.median, 2))
}

pub fn med(r: &Report, case: Figure) -> String {
    r.ns.get(&case).map_or("n/a".into(), |s| f(s.median, 1))
}

pub fn stat(r: &Report, case: Figure) -> String {
    r.stats_ns
        .get(&case)
        .map_or("n/a".into(), |s| f(s.median, 1))
}

pub fn slow(r: &Report, case: Figure) -> String {
    r.slow_calls.get(&case).map_or("n/a".into(), |s| {
        format!("{:.2}% × {} µs", 100.0 * s.share, f(s.mean_us, 1))
    })
}

pub fn p50(r: &Report, case: Figure) -> String {
    r.p50_ns.get(&case).map_or("n/a".into(), |s| f(s.median, 1))
}
