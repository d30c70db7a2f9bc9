//! The program's maps. Sizes here are placeholders: user space sets the real
//! ones at load time (`EbpfLoader::map_max_entries`), from the config.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray},
};
use lb_common::{
    addr::Addr16,
    backend::Backend,
    flow::{FlowInfo, FlowKey, FlowKey4, HANDSHAKE_SLOTS, Handshake},
    iface::OwnMac,
    maps::{VIP_PORT_TCP, VIP_PORT_UDP, VIP_PORTS_ENTRIES},
    nat::{NatConfig, NatForward, NatReply, NatReplyKey},
    stats::Counters,
    vip::{AddrMatch, PROTO_TCP, VIP_ADDR_SLOTS, VipAddrSlot, VipInfo, VipKey, vip_addr_slot},
};

use crate::program::{error::Error, parse::Packet};

#[map]
pub static VIPS: HashMap<VipKey, VipInfo> = HashMap::with_max_entries(64, 0);

#[map]
pub static VIP_PORTS: Array<u32> = Array::with_max_entries(VIP_PORTS_ENTRIES, 0);

#[map]
pub static VIP_ADDRS: Array<VipAddrSlot> = Array::with_max_entries(VIP_ADDR_SLOTS, 0);

#[map]
pub static OWN_MAC: Array<OwnMac> = Array::with_max_entries(1, 0);

#[map]
pub static BACKENDS: Array<Backend> = Array::with_max_entries(1024, 0);

/// One LRU list shared by all CPUs: an entry stays as long as any CPU uses it,
/// and eviction picks the globally least recently used flow. IPv6 flows.
#[map]
pub static FLOWS: LruHashMap<FlowKey, FlowInfo> = LruHashMap::with_max_entries(1024, 0);

/// IPv4 flows, under the compact key; like `FLOWS` otherwise.
#[map]
pub static FLOWS4: LruHashMap<FlowKey4, FlowInfo> = LruHashMap::with_max_entries(1024, 0);

/// SYNs' picks waiting for their first ACK (see admit.rs).
#[map]
pub static HANDSHAKES: Array<Handshake> = Array::with_max_entries(HANDSHAKE_SLOTS, 0);

/// Flows of DRAINING backends, kept out of LRU eviction (see lb_common::maps::DRAIN_FLOWS).
#[map]
pub static DRAIN_FLOWS: HashMap<FlowKey, u32> = HashMap::with_max_entries(1024, 0);

#[map]
pub static MAGLEV: Array<u32> = Array::with_max_entries(2 * 65537, 0);

#[map]
pub static MAGLEV_LIVE_HALF: Array<u32> = Array::with_max_entries(64, 0);

#[map]
pub static VIP_STATS: PerCpuArray<Counters> = PerCpuArray::with_max_entries(64, 0);

#[map]
pub static BACKEND_STATS: PerCpuArray<Counters> = PerCpuArray::with_max_entries(1024, 0);

#[map]
pub static GLOBAL_STATS: PerCpuArray<Counters> = PerCpuArray::with_max_entries(1, 0);

/// Slots per Maglev half, `M`; set by user space at load time (`.rodata`).
#[unsafe(no_mangle)]
static MAGLEV_SIZE: u32 = lb_common::maglev::DEFAULT_MAGLEV_SIZE;

/// `M`, read so that the compiler cannot fold the placeholder in.
#[inline(always)]
pub fn maglev_size() -> u32 {
    // SAFETY: a plain read of a static; volatile keeps the load-time value.
    unsafe { core::ptr::read_volatile(&MAGLEV_SIZE) }
}

/// `Pass` unless some VIP uses the packet's port and protocol: one array read
/// turns away traffic to every other port before any hash lookup.
#[inline(always)]
pub fn try_vip_port(packet: &Packet) -> Result<(), Error> {
    let bit = if packet.proto == PROTO_TCP {
        VIP_PORT_TCP
    } else {
        VIP_PORT_UDP
    };
    match VIP_PORTS.get(u32::from(u16::from_be(packet.dport_be))) {
        Some(bits) if bits & bit != 0 => Ok(()),
        _ => Err(Error::Pass),
    }
}

/// `Pass` unless the packet's destination is a VIP address: one array read
/// (inlined by the verifier) and a compare, so traffic to a VIP's port on
/// any other address is turned away before any hash lookup. Exact: only when
/// two VIP addresses share a slot does an address other than the slot's
/// own ask `VIPS` (its address markers).
#[inline(always)]
pub fn try_vip_address(packet: &Packet) -> Result<(), Error> {
    if is_vip_address(&packet.dst, packet.proto) {
        Ok(())
    } else {
        Err(Error::Pass)
    }
}

/// True when `dst` is the address of a VIP of protocol `proto`, or of any
/// protocol when the slot alone answers.
#[inline(always)]
fn is_vip_address(dst: &Addr16, proto: u8) -> bool {
    match VIP_ADDRS
        .get(vip_addr_slot(dst))
        .map(|slot| slot.lookup(dst))
    {
        Some(AddrMatch::Vip) => true,
        Some(AddrMatch::Ask) => vip_marker(dst, proto).is_some(),
        Some(AddrMatch::NotVip) | None => false,
    }
}

/// The VIP a well-formed packet is addressed to, or `Pass`.
#[inline(always)]
pub fn try_vip(packet: &Packet) -> Result<VipInfo, Error> {
    let key = VipKey {
        addr: packet.dst,
        port_be: packet.dport_be,
        proto: packet.proto,
        _pad: 0,
    };
    // SAFETY: VIPS values are plain data copied out at once; a concurrent update
    // from user space can at worst give the old or the new value.
    match unsafe { VIPS.get(&key) } {
        Some(vip) => Ok(*vip),
        None => Err(Error::Pass),
    }
}

/// The VIP id of the address marker for (`dst`, `proto`), if `dst` is a VIP address.
#[inline(always)]
pub fn vip_of_address(dst: &Addr16, proto: u8) -> Option<u32> {
    // Most addresses are turned away by the slot, without a hash lookup.
    if VIP_ADDRS
        .get(vip_addr_slot(dst))
        .map(|slot| slot.lookup(dst))
        == Some(AddrMatch::NotVip)
    {
        return None;
    }
    vip_marker(dst, proto)
}

#[inline(always)]
fn vip_marker(dst: &Addr16, proto: u8) -> Option<u32> {
    let key = VipKey::new(*dst, 0, proto);
    // SAFETY: as in `try_vip`.
    unsafe { VIPS.get(&key) }.map(|v| v.vip_id)
}

/// NAT: source addresses and port range (see lb_common::nat::NatConfig).
#[map]
pub static NAT_CONFIG: Array<NatConfig> = Array::with_max_entries(1, 0);

/// NAT: client→VIP flow key to its translation (see lb_common::maps::NAT_FWD).
#[map]
pub static NAT_FWD: LruHashMap<FlowKey, NatForward> = LruHashMap::with_max_entries(1024, 0);

/// NAT: backend reply 5-tuple to the client it goes back to; also the record
/// of which source ports are taken (see lb_common::maps::NAT_REV).
#[map]
pub static NAT_REV: LruHashMap<NatReplyKey, NatReply> = LruHashMap::with_max_entries(1024, 0);
