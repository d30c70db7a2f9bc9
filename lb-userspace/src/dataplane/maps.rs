//! Typed handles on the program's maps, and the few writes user space makes.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap as StdHashMap},
    os::fd::{AsFd as _, AsRawFd as _},
    path::Path,
};

use aya::{
    Ebpf,
    maps::{Array, HashMap, IterableMap as _, MapData, MapError, PerCpuArray},
};
use lb_common::{
    addr::Addr16,
    backend::Backend,
    flow::{FlowKey, Handshake},
    iface::OwnMac,
    maglev::slot_index,
    maps as names,
    stats::Counters,
    vip::{VipAddrSlot, VipInfo, VipKey, vip_addr_slot},
};

pub use super::map_source::MapsError;
use super::{
    flows::FlowTables,
    map_source::{PinnedMaps, Source, ctx},
};

/// Every map of the program, typed.
pub struct Maps {
    pub vips: HashMap<MapData, VipKey, VipInfo>,
    pub vip_ports: Array<MapData, u32>,
    pub vip_addrs: Array<MapData, VipAddrSlot>,
    pub backends: Array<MapData, Backend>,
    pub own_mac: Array<MapData, OwnMac>,
    /// `FLOWS4` and `FLOWS`, read and written as one table.
    pub flows: FlowTables,
    pub handshakes: Array<MapData, Handshake>,
    pub drain_flows: HashMap<MapData, FlowKey, u32>,
    pub maglev: Array<MapData, u32>,
    pub live_half: Array<MapData, u32>,
    pub vip_stats: PerCpuArray<MapData, Counters>,
    pub backend_stats: PerCpuArray<MapData, Counters>,
    pub global_stats: PerCpuArray<MapData, Counters>,
    /// Slots per Maglev half.
    pub maglev_size: u32,
    /// `NAT_CONFIG` and `NAT_FWD`; opened by `Dataplane` from the pins
    /// (None for a bare `Maps::take`, as the kernel tests use).
    pub nat: Option<super::nat::NatMaps>,
    /// What this process last wrote into each (VIP, half) of `MAGLEV`, so a new
    /// table costs one write per slot that changed rather than one per slot:
    /// a drain moves about 1/N of them, and is that much faster to take effect.
    written: StdHashMap<(u32, u32), Vec<u32>>,
}

impl Maps {
    /// Takes the maps out of a freshly loaded program.
    pub fn take(ebpf: &mut Ebpf, maglev_size: u32) -> Result<Self, MapsError> {
        Self::from_source(ebpf, maglev_size)
    }

    /// Opens maps pinned under `dir` (one file per map name).
    pub fn from_pins(dir: &Path, maglev_size: u32) -> Result<Self, MapsError> {
        Self::from_source(&mut PinnedMaps(dir), maglev_size)
    }

    fn from_source(src: &mut impl Source, maglev_size: u32) -> Result<Self, MapsError> {
        Ok(Self {
            vips: HashMap::try_from(src.map(names::VIPS)?).map_err(ctx(names::VIPS))?,
            vip_ports: Array::try_from(src.map(names::VIP_PORTS)?)
                .map_err(ctx(names::VIP_PORTS))?,
            vip_addrs: Array::try_from(src.map(names::VIP_ADDRS)?)
                .map_err(ctx(names::VIP_ADDRS))?,
            backends: Array::try_from(src.map(names::BACKENDS)?).map_err(ctx(names::BACKENDS))?,
            own_mac: Array::try_from(src.map(names::OWN_MAC)?).map_err(ctx(names::OWN_MAC))?,
            flows: FlowTables::from_source(src)?,
            handshakes: Array::try_from(src.map(names::HANDSHAKES)?)
                .map_err(ctx(names::HANDSHAKES))?,
            drain_flows: HashMap::try_from(src.map(names::DRAIN_FLOWS)?)
                .map_err(ctx(names::DRAIN_FLOWS))?,
            maglev: Array::try_from(src.map(names::MAGLEV)?).map_err(ctx(names::MAGLEV))?,
            live_half: Array::try_from(src.map(names::MAGLEV_LIVE_HALF)?)
                .map_err(ctx(names::MAGLEV_LIVE_HALF))?,
            vip_stats: PerCpuArray::try_from(src.map(names::VIP_STATS)?)
                .map_err(ctx(names::VIP_STATS))?,
            backend_stats: PerCpuArray::try_from(src.map(names::BACKEND_STATS)?)
                .map_err(ctx(names::BACKEND_STATS))?,
            global_stats: PerCpuArray::try_from(src.map(names::GLOBAL_STATS)?)
                .map_err(ctx(names::GLOBAL_STATS))?,
            maglev_size,
            nat: None,
            written: StdHashMap::new(),
        })
    }

    /// The half of VIP `vip_id`'s table packets read now.
    pub fn live_half(&self, vip_id: u32) -> Result<u32, MapsError> {
        Ok(self
            .live_half
            .get(&vip_id, 0)
            .map_err(ctx(names::MAGLEV_LIVE_HALF))?
            & 1)
    }

    /// Writes `table` into the idle half of VIP `vip_id` and then flips the live
    /// index to it, so packets go from the whole old table to the whole new one.
    pub fn publish_table(&mut self, vip_id: u32, table: &[u32]) -> Result<(), MapsError> {
        let idle = self.live_half(vip_id)? ^ 1;
        self.write_half(vip_id, idle, table)?;
        self.live_half
            .set(vip_id, idle, 0)
            .map_err(ctx(names::MAGLEV_LIVE_HALF))
    }

    /// Writes `interface`'s MAC (in this network namespace) into `OWN_MAC`:
    /// forwarded frames leave from it, and unicast frames to other MACs pass.
    /// Left unset (frames forwarded from the MAC they came to) if the
    /// interface has no link-layer address.
    pub fn write_own_mac(&mut self, interface: &str) -> Result<(), MapsError> {
        let mac = nix::ifaddrs::getifaddrs().ok().and_then(|mut addrs| {
            addrs.find_map(|a| {
                (a.interface_name == interface)
                    .then(|| a.address?.as_link_addr()?.addr())
                    .flatten()
            })
        });
        if let Some(mac) = mac {
            self.own_mac
                .set(0, OwnMac::new(mac), 0)
                .map_err(ctx(names::OWN_MAC))
        } else {
            tracing::warn!(
                interface,
                "no MAC address found; forwarded frames keep the MAC they were sent to as source"
            );
            Ok(())
        }
    }

    /// Adds `addr` to the VIP addresses (`VIP_ADDRS`), keeping the others.
    pub fn add_vip_address(&mut self, addr: Addr16) -> Result<(), MapsError> {
        let index = vip_addr_slot(&addr);
        let slot = self
            .vip_addrs
            .get(&index, 0)
            .map_err(ctx(names::VIP_ADDRS))?;
        self.vip_addrs
            .set(index, slot.with(addr), 0)
            .map_err(ctx(names::VIP_ADDRS))
    }

    /// Makes `VIP_ADDRS` hold exactly `new`, given that it holds `old`: only
    /// the slots either set hashes to are written.
    pub fn write_vip_addresses(
        &mut self,
        old: &BTreeSet<Addr16>,
        new: &BTreeSet<Addr16>,
    ) -> Result<(), MapsError> {
        let wanted = vip_address_slots(new);
        let touched: BTreeSet<u32> = old.iter().chain(new).map(vip_addr_slot).collect();
        for index in touched {
            let slot = wanted.get(&index).copied().unwrap_or_default();
            self.vip_addrs
                .set(index, slot, 0)
                .map_err(ctx(names::VIP_ADDRS))?;
        }
        Ok(())
    }

    /// Records `keys` as connections of draining backend `backend_id`, out of
    /// reach of LRU eviction. Returns how many fitted (the table has a size).
    pub fn record_drain_flows(&mut self, keys: &[FlowKey], backend_id: u32) -> usize {
        let mut recorded = 0;
        for key in keys {
            match self.drain_flows.insert(key, backend_id, 0) {
                Ok(()) => recorded += 1,
                Err(e) => {
                    tracing::warn!(error = %e, "DRAIN_FLOWS is full: further connections of the draining backend rely on the flow table alone");
                    break;
                }
            }
        }
        recorded
    }

    /// Forgets draining-backend connections that ended.
    pub fn forget_drain_flows<'a>(&mut self, keys: impl IntoIterator<Item = &'a FlowKey>) {
        for key in keys {
            let _ = self.drain_flows.remove(key);
        }
    }

    fn write_half(&mut self, vip_id: u32, half: u32, table: &[u32]) -> Result<(), MapsError> {
        let m = self.maglev_size;
        if table.len() != m as usize {
            return Err(MapsError::TableSize {
                vip_id,
                got: table.len(),
                want: m,
            });
        }
        let known = self.written.remove(&(vip_id, half));
        let (indices, ids): (Vec<u32>, Vec<u32>) = (0u32..)
            .zip(table)
            .filter(|(slot, id)| known.as_ref().is_none_or(|k| k[*slot as usize] != **id))
            .map(|(slot, id)| (slot_index(vip_id, half, m, slot), *id))
            .unzip();
        // One system call for the whole table: the flip that follows is what
        // takes a drained backend out, so it must not wait on 65,537 calls.
        // On failure the half is partly written: it is forgotten (`known` was
        // removed), so the next write rewrites every slot.
        let fd = self.maglev.map().fd().as_fd().as_raw_fd();
        // SAFETY: MAGLEV is an array of u32 keyed by u32 index.
        unsafe { super::batch::update(fd, &indices, &ids) }.map_err(|e| MapsError::Batch {
            name: names::MAGLEV,
            source: e,
        })?;
        self.written.insert((vip_id, half), table.to_vec());
        Ok(())
    }

    /// Sums a per-CPU counter slot.
    pub fn sum(map: &PerCpuArray<MapData, Counters>, index: u32) -> Result<Counters, MapError> {
        let mut total = Counters::default();
        for c in map.get(&index, 0)?.iter() {
            total += *c;
        }
        Ok(total)
    }
}

/// The `VIP_ADDRS` slots that hold `addrs` (the others are empty).
pub fn vip_address_slots(addrs: &BTreeSet<Addr16>) -> BTreeMap<u32, VipAddrSlot> {
    let mut slots: BTreeMap<u32, VipAddrSlot> = BTreeMap::new();
    for addr in addrs {
        let slot = slots.entry(vip_addr_slot(addr)).or_default();
        *slot = slot.with(*addr);
    }
    slots
}
