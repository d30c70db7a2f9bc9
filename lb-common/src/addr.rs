//! 16-byte addresses: IPv6 as is, IPv4 as IPv4-mapped IPv6.

use core::net::{IpAddr, Ipv6Addr};

/// An address as stored in every map key and value.
pub type Addr16 = [u8; 16];

/// `::ffff:a.b.c.d`, the form an IPv4 address takes in an [`Addr16`].
#[inline(always)]
pub const fn v4_mapped(v4: [u8; 4]) -> Addr16 {
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, v4[0], v4[1], v4[2], v4[3],
    ]
}

/// The four 32-bit words of an address (compared and hashed word by word,
/// not byte by byte: four loads instead of sixteen in the program).
#[inline(always)]
pub const fn words(a: &Addr16) -> [u32; 4] {
    [
        u32::from_ne_bytes([a[0], a[1], a[2], a[3]]),
        u32::from_ne_bytes([a[4], a[5], a[6], a[7]]),
        u32::from_ne_bytes([a[8], a[9], a[10], a[11]]),
        u32::from_ne_bytes([a[12], a[13], a[14], a[15]]),
    ]
}

/// The [`Addr16`] of an address of either family.
pub const fn from_ip(ip: IpAddr) -> Addr16 {
    match ip {
        IpAddr::V4(v4) => v4_mapped(v4.octets()),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The address an [`Addr16`] holds, IPv4 when it is IPv4-mapped.
pub fn to_ip(addr: Addr16) -> IpAddr {
    let v6 = Ipv6Addr::from(addr);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}
