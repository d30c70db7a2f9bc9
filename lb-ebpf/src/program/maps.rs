//! The program's maps, and only them (what reads them lives with its
//! concern: vip.rs, flow.rs, ...). Sizes here are placeholders: user space
//! sets the real ones at load time (`EbpfLoader::map_max_entries`), from
//! the config.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray},
};
use lb_common::{
    backend::Backend,
    flow::{FlowInfo, FlowKey, FlowKey4, HANDSHAKE_SLOTS, Handshake},
    iface::OwnMac,
    maps::VIP_PORTS_ENTRIES,
    nat::{NatConfig, NatForward, NatReply, NatReplyKey},
    stats::Counters,
    vip::{VIP_ADDR_SLOTS, VipAddrSlot, VipInfo, VipKey},
};

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
