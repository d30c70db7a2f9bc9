//! Is a packet addressed to a VIP, and to which: the cheap exact tests that
//! turn other traffic away before any hash lookup, the `VIPS` lookup, and
//! the verdict of a packet the parser refused.

use lb_common::{
    maps::{VIP_PORT_TCP, VIP_PORT_UDP},
    vip::{AddrMatch, PROTO_TCP, PROTO_UDP, VipAddrSlot, VipInfo, VipKey, vip_addr_slot_of_words},
};

use crate::program::{
    bounds::{dst_words, set_words, words_at},
    error::{DropReason, Error},
    maps::{VIP_ADDRS, VIP_PORTS, VIPS},
    packet::{PROTO_UNKNOWN, Packet, ParseError, ParseErrorKind},
};

/// `Pass` unless the packet's destination is a VIP address: one array read
/// (inlined by the verifier) and a compare of four words, so traffic to any
/// other address, whatever its port, is turned away before any hash
/// lookup. Exact: only when two VIP addresses share a slot does an address
/// other than the slot's own ask `VIPS` (its address markers).
#[inline(always)]
pub fn try_vip_address(packet: &Packet) -> Result<(), Error> {
    if is_vip_address(dst_words(&packet.key), packet.key.proto) {
        Ok(())
    } else {
        Err(Error::Pass)
    }
}

/// `Pass` unless some VIP uses the packet's port and protocol (one array read).
#[inline(always)]
pub fn try_vip_port(packet: &Packet) -> Result<(), Error> {
    let bit = if packet.key.proto == PROTO_TCP {
        VIP_PORT_TCP
    } else {
        VIP_PORT_UDP
    };
    match VIP_PORTS.get(u32::from(u16::from_be(packet.key.dport_be))) {
        Some(bits) if bits & bit != 0 => Ok(()),
        _ => Err(Error::Pass),
    }
}

/// What the `VIP_ADDRS` slot of `dst` says about it.
#[inline(always)]
fn slot_match(dst: [u32; 4]) -> AddrMatch {
    match VIP_ADDRS.get(vip_addr_slot_of_words(dst)) {
        // SAFETY: `addr` sits at offset 0 of the 4-aligned `VipAddrSlot`.
        Some(slot) => VipAddrSlot::lookup_words(slot.flags, unsafe { words_at(&slot.addr) }, dst),
        None => AddrMatch::NotVip,
    }
}

/// True when `dst` is the address of a VIP of protocol `proto`, or of any
/// protocol when the slot alone answers.
#[inline(always)]
fn is_vip_address(dst: [u32; 4], proto: u8) -> bool {
    match slot_match(dst) {
        AddrMatch::Vip => true,
        AddrMatch::Ask => vip_marker(dst, proto).is_some(),
        AddrMatch::NotVip => false,
    }
}

/// The VIP a well-formed packet is addressed to, or `Pass`.
#[inline(always)]
pub fn try_vip(packet: &Packet) -> Result<VipInfo, Error> {
    let key = vip_key(
        dst_words(&packet.key),
        packet.key.dport_be,
        packet.key.proto,
    );
    // SAFETY: VIPS values are plain data copied out at once; a concurrent update
    // from user space can at worst give the old or the new value.
    match unsafe { VIPS.get(&key) } {
        Some(vip) => Ok(*vip),
        None => Err(Error::Pass),
    }
}

/// A `VIPS` key from the address as words.
#[inline(always)]
fn vip_key(addr: [u32; 4], port_be: u16, proto: u8) -> VipKey {
    let mut key = VipKey {
        addr: [0; 16],
        port_be,
        proto,
        _pad: 0,
    };
    // SAFETY: `VipKey` is 4-aligned and `addr` sits at offset 0.
    unsafe { set_words(&mut key.addr, addr) };
    key
}

/// The VIP id of the address marker for (`dst`, `proto`), if `dst` is a VIP address.
#[inline(always)]
fn vip_of_address(dst: [u32; 4], proto: u8) -> Option<u32> {
    // Most addresses are turned away by the slot, without a hash lookup.
    if slot_match(dst) == AddrMatch::NotVip {
        return None;
    }
    vip_marker(dst, proto)
}

#[inline(always)]
fn vip_marker(dst: [u32; 4], proto: u8) -> Option<u32> {
    let key = vip_key(dst, 0, proto);
    // SAFETY: as in `try_vip`.
    unsafe { VIPS.get(&key) }.map(|v| v.vip_id)
}

/// The verdict of a packet the parser refused: one to a VIP address is
/// dropped and counted on that VIP; any other is passed untouched.
#[inline(always)]
pub fn parse_error(e: ParseError) -> Error {
    let reason = match e.kind {
        ParseErrorKind::NotOurs => return Error::Pass,
        ParseErrorKind::Unparsable => return Error::PassMalformed,
        ParseErrorKind::Malformed => DropReason::Malformed,
        ParseErrorKind::Fragment => DropReason::Fragment,
    };
    let malformed = e.kind == ParseErrorKind::Malformed;
    let vip = match e.proto {
        PROTO_TCP | PROTO_UDP => vip_of_address(e.dst, e.proto),
        // The cut hid the transport protocol: a VIP address of either counts.
        PROTO_UNKNOWN if malformed => {
            vip_of_address(e.dst, PROTO_TCP).or_else(|| vip_of_address(e.dst, PROTO_UDP))
        }
        _ => return Error::Pass,
    };
    match vip {
        Some(vip_id) => Error::Drop { vip_id, reason },
        None if malformed => Error::PassMalformed,
        None => Error::Pass,
    }
}
