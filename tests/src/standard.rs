//! The standard map state the fixture tests start from, and its addresses.
//!
//! | VIP id | address:port        | proto | live table |
//! |--------|---------------------|-------|------------|
//! | 0      | 198.51.100.10:80    | TCP   | [1, 2, 3]  |
//! | 1      | 198.51.100.10:53    | UDP   | [1, 2]     |
//! | 2      | [2001:db8::10]:443  | TCP   | [3, 4]     |
//! | 3      | [2001:db8::10]:53   | UDP   | [4]        |
//! | 4      | 198.51.100.20:80    | TCP   | none (every slot `NO_BACKEND`) |
//!
//! Backends 1 to 4 are ACTIVE with MAC `02:00:00:00:bb:0N`; other ids are empty.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::Result;
use lb_common::{
    backend::STATE_ACTIVE,
    vip::{PROTO_TCP, PROTO_UDP},
};

use crate::dataplane::Dataplane;

pub const CLIENT4: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
pub const VIP4: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10));
/// A VIP address with no backend in its table.
pub const VIP4_EMPTY: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 20));
/// Not a VIP.
pub const OTHER4: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 99));
pub const CLIENT6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xc, 0, 0, 0, 0, 1));
pub const VIP6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10));
/// Not a VIP.
pub const OTHER6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x99));

pub const VIP_TCP4: u32 = 0;
pub const VIP_UDP4: u32 = 1;
pub const VIP_TCP6: u32 = 2;
pub const VIP_UDP6: u32 = 3;
pub const VIP_EMPTY: u32 = 4;

/// The live table of each VIP in the standard state.
pub const TABLES: [(u32, &[u32]); 5] = [
    (VIP_TCP4, &[1, 2, 3]),
    (VIP_UDP4, &[1, 2]),
    (VIP_TCP6, &[3, 4]),
    (VIP_UDP6, &[4]),
    (VIP_EMPTY, &[]),
];

/// A small data plane in the standard state (see the module doc).
pub fn dataplane() -> Result<Dataplane> {
    let mut dp = Dataplane::new()?;
    dp.add_vip(VIP_TCP4, VIP4, 80, PROTO_TCP)?;
    dp.add_vip(VIP_UDP4, VIP4, 53, PROTO_UDP)?;
    dp.add_vip(VIP_TCP6, VIP6, 443, PROTO_TCP)?;
    dp.add_vip(VIP_UDP6, VIP6, 53, PROTO_UDP)?;
    dp.add_vip(VIP_EMPTY, VIP4_EMPTY, 80, PROTO_TCP)?;
    for id in 1..=4 {
        dp.set_backend(id, STATE_ACTIVE)?;
    }
    for (vip, ids) in TABLES {
        dp.publish(vip, ids)?;
    }
    Ok(dp)
}

/// Client ports for fixture rows, each used once, so rows never share a
/// 5-tuple by accident.
pub struct Ports(u16);

impl Default for Ports {
    fn default() -> Self {
        Self(40000)
    }
}

impl Ports {
    /// The next unused port for which `pred` holds: lets a row pick a 5-tuple
    /// whose hash lands where the row needs it.
    pub fn take(&mut self, pred: impl Fn(u16) -> bool) -> u16 {
        let p = (self.0..=u16::MAX)
            .find(|&p| pred(p))
            .expect("some port satisfies the predicate");
        self.0 = p + 1;
        p
    }

    pub fn any(&mut self) -> u16 {
        self.take(|_| true)
    }
}
