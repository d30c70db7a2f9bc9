//! The `VIPS` map: which (address, port, protocol) the balancer owns.

use crate::addr::Addr16;

/// IANA protocol numbers used in keys.
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

/// Key of `VIPS`.
///
/// A key with `port == 0` is an *address marker*: user space inserts one per
/// (VIP address, protocol) so that the program can tell a truncated or
/// fragmented packet to a VIP (dropped and counted) from one to any other
/// address (passed untouched) without knowing its port. Port 0 is never a real
/// VIP port: the config rejects it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VipKey {
    pub addr: Addr16,
    /// Network byte order.
    pub port_be: u16,
    pub proto: u8,
    pub _pad: u8,
}
const _: () = assert!(core::mem::size_of::<VipKey>() == 20);

impl VipKey {
    /// A key from a host-order port.
    pub const fn new(addr: Addr16, port: u16, proto: u8) -> Self {
        Self {
            addr,
            port_be: port.to_be(),
            proto,
            _pad: 0,
        }
    }

    /// The address marker for this key's address and protocol.
    pub const fn address_marker(&self) -> Self {
        Self::new(self.addr, 0, self.proto)
    }

    /// The port in host byte order.
    pub const fn port(&self) -> u16 {
        u16::from_be(self.port_be)
    }
}

/// Value of `VIPS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VipInfo {
    /// Index into `MAGLEV`, `MAGLEV_LIVE_HALF` and `VIP_STATS`; `< max_vips`.
    pub vip_id: u32,
    /// `VIP_F_*` bits.
    pub flags: u32,
}
const _: () = assert!(core::mem::size_of::<VipInfo>() == 8);

/// Set on address markers (see [`VipKey`]).
pub const VIP_F_ADDRESS_MARKER: u32 = 1;
