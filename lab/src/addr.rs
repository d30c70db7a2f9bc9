//! The lab's address plan (documentation ranges only: RFC 5737, RFC 3849).
//!
//! One L2 segment, 198.51.100.0/24 and 2001:db8:100::/64: client .1 / ::1,
//! LB .2 / ::2, VIP .10 / ::10, backend i at .(10+i) / ::(10+i) written with
//! the same digits (web-1 is 198.51.100.11 and 2001:db8:100::11), MACs
//! `02:00:00:00:00:<same digits>`, so every table reads alike.

use std::net::{Ipv4Addr, Ipv6Addr};

pub const PREFIX_LEN_V4: u8 = 24;
pub const PREFIX_LEN_V6: u8 = 64;
pub const MAX_BACKENDS: usize = 8;

/// The host part shared by the v4 address, v6 address and MAC of a role:
/// client 1, LB 2, VIP 10, backend i 10 + i.
pub const CLIENT_HOST: u8 = 1;
pub const LB_HOST: u8 = 2;
pub const VIP_HOST: u8 = 10;
/// The NAT VIP of a lab with both kinds of backends (the demo); a lab whose
/// backends are all NAT backends uses [`VIP_HOST`] for its NAT VIP.
pub const NAT_VIP_HOST: u8 = 20;
/// The port a NAT backend's Gunicorn binds (and nothing else): what people
/// run behind Nginx today.
pub const NAT_BACKEND_PORT: u16 = 8000;

pub fn backend_host(i: usize) -> u8 {
    assert!(
        (1..=MAX_BACKENDS).contains(&i),
        "backend index {i} out of 1..={MAX_BACKENDS}"
    );
    10 + i as u8
}

pub fn v4(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, host)
}

/// `2001:db8:100::<host as decimal digits>`, e.g. host 11 -> `2001:db8:100::11`.
pub fn v6(host: u8) -> Ipv6Addr {
    let group = u16::from_str_radix(&host.to_string(), 16).expect("decimal digits are hex digits");
    Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, group)
}

/// `02:00:00:00:00:<host as decimal digits>` (locally administered, unicast).
pub fn mac(host: u8) -> String {
    format!("02:00:00:00:00:{host:02}")
}

/// The DNAT lab's backend subnet (203.0.113.0/24 and 2001:db8:203::/64),
/// behind the LB: role `host` there, e.g. backend 1 is 203.0.113.11 and the
/// LB, the backends' gateway, 203.0.113.2.
pub fn routed_v4(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, host)
}

/// `2001:db8:203::<host as decimal digits>`.
pub fn routed_v6(host: u8) -> Ipv6Addr {
    let group = u16::from_str_radix(&host.to_string(), 16).expect("decimal digits are hex digits");
    Ipv6Addr::new(0x2001, 0xdb8, 0x203, 0, 0, 0, 0, group)
}

pub fn vip() -> Ipv4Addr {
    v4(VIP_HOST)
}

pub fn vip6() -> Ipv6Addr {
    v6(VIP_HOST)
}

pub fn nat_vip() -> Ipv4Addr {
    v4(NAT_VIP_HOST)
}

pub fn nat_vip6() -> Ipv6Addr {
    v6(NAT_VIP_HOST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_reads_alike() {
        assert_eq!(v4(backend_host(1)).to_string(), "198.51.100.11");
        assert_eq!(v6(backend_host(1)).to_string(), "2001:db8:100::11");
        assert_eq!(v6(backend_host(8)).to_string(), "2001:db8:100::18");
        assert_eq!(vip6().to_string(), "2001:db8:100::10");
        assert_eq!(mac(backend_host(3)), "02:00:00:00:00:13");
        assert_eq!(mac(LB_HOST), "02:00:00:00:00:02");
        assert_eq!(routed_v4(backend_host(1)).to_string(), "203.0.113.11");
        assert_eq!(routed_v6(LB_HOST).to_string(), "2001:db8:203::2");
    }
}
