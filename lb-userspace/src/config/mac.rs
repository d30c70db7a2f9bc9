//! Backend MAC addresses: `"02:00:00:00:00:11"`.
//!
//! Forwarded frames get this as their destination, so a group (multicast or
//! broadcast) or all-zero address would send every flow of the backend to the
//! wrong place or nowhere: those are rejected here, before the kernel sees them.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// What a MAC looks like, for error messages.
pub const EXPECTED: &str = r#"a unicast MAC address like "02:00:00:00:00:11""#;

/// Parses six two-digit hex octets separated by `:` (or all by `-`).
pub fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let bad = |why: &str| format!("expected {EXPECTED}, got {text:?}{why}");
    let sep = if text.contains('-') { '-' } else { ':' };
    let mut mac = [0u8; 6];
    let mut parts = text.split(sep);
    for octet in &mut mac {
        let part = parts.next().ok_or_else(|| bad(""))?;
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(""));
        }
        *octet = u8::from_str_radix(part, 16).map_err(|_| bad(""))?;
    }
    if parts.next().is_some() {
        return Err(bad(""));
    }
    if mac[0] & 1 != 0 {
        return Err(bad(" (a group address)"));
    }
    if mac == [0; 6] {
        return Err(bad(" (all zero)"));
    }
    Ok(mac)
}

/// A MAC in a serde-read struct; the string's span locates its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mac(pub [u8; 6]);

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MacVisitor;
        impl Visitor<'_> for MacVisitor {
            type Value = Mac;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Mac, E> {
                parse_mac(v).map(Mac).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(MacVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse_mac("02:00:00:00:00:11"), Ok([0x02, 0, 0, 0, 0, 0x11]));
        assert_eq!(
            parse_mac("52:54:00:Ab:cD:eF"),
            Ok([0x52, 0x54, 0, 0xab, 0xcd, 0xef])
        );
        assert_eq!(parse_mac("02-00-00-00-00-11"), Ok([2, 0, 0, 0, 0, 0x11]));
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:11:22",
            "2:00:00:00:00:11",
            "002:00:00:00:00:11",
            "02:00:00:00:00:1g",
            "02:00-00:00:00:11",
            "0200.0000.0011",
            "02:00:00:00:00:11:",
            "+2:00:00:00:00:11",
        ] {
            let err = parse_mac(bad).expect_err(bad);
            assert!(err.starts_with("expected a unicast MAC"), "{bad}: {err}");
        }
        assert!(
            parse_mac("ff:ff:ff:ff:ff:ff")
                .unwrap_err()
                .contains("group")
        );
        assert!(
            parse_mac("01:00:5e:00:00:01")
                .unwrap_err()
                .contains("group")
        );
        assert!(
            parse_mac("00:00:00:00:00:00")
                .unwrap_err()
                .contains("all zero")
        );
    }
}
