//! Durations as written in the config: a decimal number and a unit, e.g.
//! `"30s"`, `"500ms"`, `"2m"`, `"1h"`, `"1.5s"`.
//!
//! Hand-written (a dozen lines) rather than a dependency; the fraction is
//! computed in integers so `"0.1s"` is exactly 100 ms, not a float's rounding.

use std::{fmt, time::Duration};

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// What a duration looks like, for error messages.
pub const EXPECTED: &str = r#"a duration like "30s", "500ms", "2m", "1h" or "1.5s""#;

/// The longest duration accepted anywhere (config, CLI, API, state file):
/// 30 days. Longer is a typo, and bounding it here means no inner code ever
/// meets a duration that overflows a clock or a float conversion.
pub const MAX_DURATION: Duration = Duration::from_hours(720);

/// Units, longest suffix first so `ms` is not read as `m`.
const UNITS: [(&str, u128); 4] = [
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a duration; the error says what is wrong with `text`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("expected {EXPECTED}, got {text:?}");
    let (number, unit_nanos) = UNITS
        .iter()
        .find_map(|(suffix, nanos)| text.strip_suffix(suffix).map(|n| (n, *nanos)))
        .ok_or_else(bad)?;
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (number.contains('.') && frac.is_empty())
    {
        return Err(bad());
    }
    let too_long = || format!("duration {text:?} is too long");
    let int: u128 = int.parse().map_err(|_| too_long())?;
    let mut nanos = int.checked_mul(unit_nanos).ok_or_else(too_long)?;
    // Each fractional digit is worth a tenth of the previous one; digits
    // below a nanosecond are dropped.
    let mut place = unit_nanos;
    for d in frac.bytes() {
        place /= 10;
        nanos = nanos
            .checked_add(u128::from(d - b'0') * place)
            .ok_or_else(too_long)?;
    }
    if nanos > MAX_DURATION.as_nanos() {
        return Err(format!(
            "duration {text:?} is too long (at most {}h)",
            MAX_DURATION.as_secs() / 3600
        ));
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_long())?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// A duration in a serde-read struct; the string's span locates its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurVisitor;
        impl Visitor<'_> for DurVisitor {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_duration(v).map(Dur).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(DurVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Duration {
        parse_duration(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn units() {
        assert_eq!(ok("30s"), Duration::from_secs(30));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("2m"), Duration::from_mins(2));
        assert_eq!(ok("1h"), Duration::from_hours(1));
        assert_eq!(ok("0s"), Duration::ZERO);
        assert_eq!(ok("120s"), Duration::from_mins(2));
    }

    #[test]
    fn fractions_are_exact() {
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("0.1s"), Duration::from_millis(100));
        assert_eq!(ok("0.25m"), Duration::from_secs(15));
        assert_eq!(ok("1.5ms"), Duration::from_micros(1500));
        assert_eq!(ok("0.000000001s"), Duration::from_nanos(1));
        assert_eq!(ok("0.0000000019s"), Duration::from_nanos(1));
        assert_eq!(ok("2.5h"), Duration::from_mins(150));
    }

    #[test]
    fn rejects() {
        for bad in [
            "", "s", "30", "30 s", " 30s", "30S", "-1s", "+1s", "1.s", ".5s", "1..5s", "1.5.5s",
            "30sec", "1d", "1e3ms", "1_000ms", "1m30s", "∞s",
        ] {
            let err = parse_duration(bad).expect_err(bad);
            assert!(err.contains("expected a duration like"), "{bad}: {err}");
        }
        for long in [
            "99999999999999999999999h",
            "18446744073709551615s",
            "721h",
            "2592000.001s",
        ] {
            let err = parse_duration(long).unwrap_err();
            assert!(err.contains("too long"), "{long}: {err}");
        }
        assert_eq!(ok("720h"), MAX_DURATION);
    }
}
