//! Distinct client endpoints, so every flow the benchmark makes has its own
//! 5-tuple: client `i` is `192.0.2.(1 + i / 60000)` (or `2001:db8:c::` plus
//! the same number) at port `1024 + i % 60000`. Documentation addresses only.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Ports per client address.
const PORTS: u32 = 60_000;
/// Clients there are addresses for (192.0.2.1 to 192.0.2.254).
pub const MAX: u32 = 254 * PORTS;

/// IPv4 client `i`.
pub fn v4(i: u32) -> (IpAddr, u16) {
    assert!(i < MAX, "client {i} out of range");
    let host = 1 + (i / PORTS) as u8;
    (
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, host)),
        1024 + (i % PORTS) as u16,
    )
}

/// IPv6 client `i`.
pub fn v6(i: u32) -> (IpAddr, u16) {
    assert!(i < MAX, "client {i} out of range");
    let host = (1 + i / PORTS) as u16;
    (
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, host)),
        1024 + (i % PORTS) as u16,
    )
}

/// Hands out clients nobody used yet, from `start` on.
pub struct Fresh(u32);

impl Fresh {
    pub const fn from(start: u32) -> Self {
        Self(start)
    }

    pub fn next(&mut self) -> u32 {
        let i = self.0;
        self.0 += 1;
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_and_in_range() {
        assert_ne!(v4(0), v4(1));
        assert_ne!(v4(0), v4(PORTS));
        assert_eq!(v4(MAX - 1).0, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254)));
        assert_eq!(v4(59_999).1, 1024 + 59_999);
    }
}
