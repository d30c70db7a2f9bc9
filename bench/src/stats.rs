//! Small statistics over rounds and calls.

use serde::{Deserialize, Serialize};

/// The median of `xs` (mean of the two middle values for an even count).
pub fn median(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        f64::midpoint(v[n / 2 - 1], v[n / 2])
    }
}

/// Median and range of per-round values.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(xs: &[f64]) -> Self {
        Self {
            median: median(xs),
            min: xs.iter().copied().fold(f64::INFINITY, f64::min),
            max: xs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }

    /// [`Summary::of`], each figure rounded to `digits` decimals.
    pub fn rounded(xs: &[f64], digits: i32) -> Self {
        let s = Self::of(xs);
        Self {
            median: round(s.median, digits),
            min: round(s.min, digits),
            max: round(s.max, digits),
        }
    }
}

/// Rounds `x` to `digits` decimals, so the JSON does not carry noise digits.
pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // Small halves and whole numbers: every expected value is exact.
    #[allow(clippy::float_cmp)]
    fn medians_ranges_and_rounding() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let s = Summary::of(&[2.0, 5.0, 1.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 5.0));
        assert_eq!(round(1.23456, 2), 1.23);
    }
}
