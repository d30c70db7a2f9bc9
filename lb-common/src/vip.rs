//! The `VIPS` map: which (address, port, protocol) the balancer owns.

use crate::addr::{Addr16, words};

/// IANA protocol numbers used in keys.
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;

/// Key of `VIPS`.
///
/// A key with `port == 0` is an *address marker*: user space inserts one per
/// (VIP address, protocol) so that the program can tell a truncated or
/// fragmented packet to a VIP (dropped and counted) from one to any other
/// address (passed untouched) without knowing its port. Port 0 is never a real
/// VIP port: the config rejects it. 4-aligned (no padding) so that the
/// program writes its address as whole words.
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VipKey {
    pub addr: Addr16,
    /// Network byte order.
    pub port_be: u16,
    pub proto: u8,
    pub _pad: u8,
}
const _: () = assert!(core::mem::size_of::<VipKey>() == 20 && core::mem::align_of::<VipKey>() == 4);

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
/// The VIP forwards by NAT (`forward = "nat"`); see lb_common::nat.
pub const VIP_F_NAT: u32 = 2;
/// A backend of this VIP is DRAINING, so `DRAIN_FLOWS` may hold connections
/// to it: only then does a SYN that starts a connection pay the lookup that
/// drops a record left on its 5-tuple by an older connection (lb-ebpf
/// `flow.rs`). User space sets it before the backend turns DRAINING and
/// clears it only after the backend left DRAINING.
pub const VIP_F_DRAINING: u32 = 4;

/// Slots of `VIP_ADDRS` (a power of two).
pub const VIP_ADDR_SLOTS: u32 = 4096;

/// `VipAddrSlot::flags`: the slot holds a VIP address.
pub const VIP_ADDR_F_USED: u32 = 1;
/// `VipAddrSlot::flags`: another VIP address hashes to this slot too; an
/// address that is not `addr` is then looked up in `VIPS` (its markers).
pub const VIP_ADDR_F_SHARED: u32 = 2;

/// Value of `VIP_ADDRS`, an array indexed by [`vip_addr_slot`]: the VIP
/// address that hashes to the slot, so that "is this destination one of
/// ours" is one array read and a 16-byte compare, before any hash lookup.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct VipAddrSlot {
    pub addr: Addr16,
    /// `VIP_ADDR_F_*` bits; 0: no VIP address hashes here.
    pub flags: u32,
}
const _: () = assert!(core::mem::size_of::<VipAddrSlot>() == 20);

/// What a `VIP_ADDRS` slot says about an address that hashes to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrMatch {
    /// A VIP address.
    Vip,
    /// Not a VIP address.
    NotVip,
    /// Two VIP addresses share the slot and this is not the one it holds: ask `VIPS`.
    Ask,
}

impl VipAddrSlot {
    /// What this slot says about `addr` (which hashes to it).
    #[inline(always)]
    pub fn lookup(&self, addr: &Addr16) -> AddrMatch {
        Self::lookup_words(self.flags, words(&self.addr), words(addr))
    }

    /// [`lookup`](Self::lookup) on words: a slot's `flags` and address
    /// `own`, and the address `addr` (the program reads both as words).
    #[inline(always)]
    pub fn lookup_words(flags: u32, own: [u32; 4], addr: [u32; 4]) -> AddrMatch {
        if flags & VIP_ADDR_F_USED == 0 {
            AddrMatch::NotVip
        } else if own == addr {
            AddrMatch::Vip
        } else if flags & VIP_ADDR_F_SHARED != 0 {
            AddrMatch::Ask
        } else {
            AddrMatch::NotVip
        }
    }

    /// This slot with `addr` (which hashes to it) added.
    pub const fn with(self, addr: Addr16) -> Self {
        if self.flags & VIP_ADDR_F_USED == 0 {
            Self {
                addr,
                flags: VIP_ADDR_F_USED,
            }
        } else if eq16(&self.addr, &addr) {
            self
        } else {
            Self {
                addr: self.addr,
                flags: self.flags | VIP_ADDR_F_SHARED,
            }
        }
    }
}

const fn eq16(a: &Addr16, b: &Addr16) -> bool {
    let mut i = 0;
    while i < 16 {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The `VIP_ADDRS` slot of `addr`: its words folded, then a Fibonacci hash
/// (one multiply) keeping the top bits. Same function on both sides.
#[inline(always)]
pub const fn vip_addr_slot(addr: &Addr16) -> u32 {
    vip_addr_slot_of_words(words(addr))
}

/// [`vip_addr_slot`] of an address given as its words.
#[inline(always)]
pub const fn vip_addr_slot_of_words(w: [u32; 4]) -> u32 {
    let folded = w[0] ^ w[1] ^ w[2] ^ w[3];
    folded.wrapping_mul(0x9e37_79b1) >> (32 - VIP_ADDR_SLOTS.trailing_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::v4_mapped;

    #[test]
    fn a_slot_answers_exactly_for_the_addresses_it_was_given() {
        let a = v4_mapped([198, 51, 100, 10]);
        let b = v4_mapped([198, 51, 100, 11]);
        let slot = VipAddrSlot::default().with(a);
        assert_eq!(slot.lookup(&a), AddrMatch::Vip);
        assert_eq!(slot.lookup(&b), AddrMatch::NotVip);
        assert_eq!(slot.with(a), slot);
        let shared = slot.with(b);
        assert_eq!(shared.lookup(&a), AddrMatch::Vip);
        assert_eq!(shared.lookup(&b), AddrMatch::Ask);
        assert_eq!(VipAddrSlot::default().lookup(&[0; 16]), AddrMatch::NotVip);
    }

    #[test]
    fn slots_are_in_range_and_spread_neighbouring_addresses() {
        let mut seen = [false; VIP_ADDR_SLOTS as usize];
        for i in 0..=255u8 {
            let s = vip_addr_slot(&v4_mapped([198, 51, 100, i]));
            assert!(s < VIP_ADDR_SLOTS);
            assert!(!seen[s as usize], "198.51.100.{i} collides");
            seen[s as usize] = true;
        }
    }
}
