//! MAC addresses as `ip` prints them and the lab's configs take them
//! (`"02:00:00:00:00:11"`), and as frames and maps hold them (six octets).

use anyhow::{Context as _, Result};

pub type Mac = [u8; 6];

/// `"02:00:00:00:00:11"` as octets.
pub fn parse(text: &str) -> Result<Mac> {
    let octets: Vec<u8> = text
        .split(':')
        .map(|h| u8::from_str_radix(h, 16))
        .collect::<Result<_, _>>()
        .with_context(|| format!("bad MAC {text:?}"))?;
    octets
        .try_into()
        .ok()
        .with_context(|| format!("bad MAC {text:?}: not 6 octets"))
}

/// Octets as `"02:00:00:00:00:11"`.
pub fn format(mac: Mac) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::{format, parse};

    #[test]
    fn round_trips_and_refuses_short_or_bad_text() {
        let mac = [0x02, 0, 0, 0, 0xab, 0x11];
        assert_eq!(format(mac), "02:00:00:00:ab:11");
        assert_eq!(parse("02:00:00:00:ab:11").unwrap(), mac);
        assert!(parse("02:00:00:00:ab").is_err());
        assert!(parse("02:00:00:00:ab:zz").is_err());
    }
}
