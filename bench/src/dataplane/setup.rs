//! The programs under test, loaded and configured: `lb` exactly as the daemon
//! loads it (default sizes, real Maglev tables), and the reference programs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::{Context as _, Result};
use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, MapData},
    programs::Xdp,
};
use lb_common::{
    addr::from_ip,
    backend::{Backend, STATE_ACTIVE},
    flow::{FLOW_F_PAYLOAD, FlowInfo, FlowKey, FlowKey4, handshake_slot},
    maps::{NAT_CONFIG, PROGRAM, VIP_PORT_TCP, VIP_PORT_UDP},
    nat::NatConfig,
    stats::Counters,
    vip::{PROTO_TCP, PROTO_UDP, VIP_F_ADDRESS_MARKER, VipInfo, VipKey},
};
use lb_userspace::{
    config::NatHost,
    dataplane::{
        load::{Sizes, load},
        maps::Maps,
        nat::{MIN_REUSE_AFTER, nat_config},
    },
    maglev::{MaglevBackend, build_table},
};

use super::figure::Program;
use crate::packet::Mac;

/// The reference programs' object, built by build.rs from `lb-bench-ebpf`.
static REFS: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lb-bench-ebpf"));

pub type FlowMap = HashMap<MapData, FlowKey, FlowInfo>;

/// The VIPs: TCP and UDP on one IPv4 address, TCP on an IPv6 address.
pub const VIP4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
pub const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
pub const VIP_TCP4: u32 = 0;
pub const VIP_UDP4: u32 = 1;
pub const VIP_TCP6: u32 = 2;
pub const VIPS: [(u32, IpAddr, u16, u8); 3] = [
    (VIP_TCP4, IpAddr::V4(VIP4), 80, PROTO_TCP),
    (VIP_UDP4, IpAddr::V4(VIP4), 53, PROTO_UDP),
    (VIP_TCP6, IpAddr::V6(VIP6), 80, PROTO_TCP),
];
/// ACTIVE backends, ids `0..BACKENDS`.
pub const BACKENDS: u32 = 10;

/// Backend `id`'s MAC (locally administered).
pub const fn backend_mac(id: u32) -> Mac {
    [0x02, 0, 0, 0, 0xbb, id as u8]
}

/// The MAC `floor_flow` writes for a flow whose value holds `backend_id`
/// (lb-bench-ebpf's `mac_of`: `02:00` then the id, big-endian). Every output
/// frame is checked against it, so a drift between the two shows at once.
pub fn ref_mac(backend_id: u32) -> Mac {
    let b = backend_id.to_be_bytes();
    [0x02, 0, b[0], b[1], b[2], b[3]]
}

/// What `floor_flow` stores on a miss.
pub const REF_MISS_ID: u32 = u32::MAX;

/// `lb`, loaded with the daemon's default sizes and configured with [`VIPS`]
/// and [`BACKENDS`].
pub struct Lb {
    ebpf: Ebpf,
    pub maps: Maps,
    pub sizes: Sizes,
    /// The live Maglev table of every VIP (the same backends everywhere).
    pub table: Vec<u32>,
}

/// The lb object loaded as the daemon loads it, verified, with its typed
/// maps taken: the start of both of the bench's instances (DSR and NAT).
pub fn load_verified(sizes: &Sizes) -> Result<(Ebpf, Maps)> {
    let mut ebpf = load(sizes).context("loading the lb object")?;
    let prog: &mut Xdp = ebpf
        .program_mut(PROGRAM)
        .context("the lb object has no program `lb`")?
        .try_into()?;
    prog.load().context("the verifier rejected lb")?;
    let maps = Maps::take(&mut ebpf, sizes.maglev_size)?;
    Ok((ebpf, maps))
}

/// The Maglev table of the bench's `BACKENDS` backends, named
/// `<prefix>-1`, `<prefix>-2`, ... (ids from 0), each of weight 1.
pub fn maglev_table(prefix: &str, maglev_size: u32) -> Vec<u32> {
    let names: Vec<String> = (1..=BACKENDS).map(|i| format!("{prefix}-{i}")).collect();
    let members: Vec<MaglevBackend<'_>> = (0..BACKENDS)
        .zip(&names)
        .map(|(id, name)| MaglevBackend {
            id,
            name,
            weight: 1,
        })
        .collect();
    build_table(&members, maglev_size)
}

impl Lb {
    pub fn load() -> Result<Self> {
        let sizes = Sizes::default();
        let (mut ebpf, mut maps) = load_verified(&sizes)?;
        // NAT_CONFIG as the daemon writes it for a config with no NAT or
        // DNAT VIP: NAT off, no DNAT reply looked for.
        let mut nat: Array<MapData, NatConfig> = Array::try_from(
            ebpf.take_map(NAT_CONFIG)
                .context("the lb object has no map NAT_CONFIG")?,
        )?;
        nat.set(
            0,
            nat_config(&NatHost::default(), MIN_REUSE_AFTER, false),
            0,
        )?;
        let table = maglev_table("web", sizes.maglev_size);
        for id in 0..BACKENDS {
            let b = Backend {
                addr: from_ip(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10 + id as u8))),
                mac: backend_mac(id),
                state: STATE_ACTIVE,
                forward: lb_common::nat::FORWARD_DSR,
                weight: 1,
                port_be: 0,
                _pad: [0; 2],
            };
            maps.backends.set(id, b, 0)?;
        }
        for (vip_id, addr, port, proto) in VIPS {
            // As the daemon does: the VIP's key, its address marker, its port bit.
            let key = VipKey::new(from_ip(addr), port, proto);
            maps.vips.insert(key, VipInfo { vip_id, flags: 0 }, 0)?;
            let marker = VipInfo {
                vip_id,
                flags: VIP_F_ADDRESS_MARKER,
            };
            maps.vips.insert(key.address_marker(), marker, 0)?;
            maps.add_vip_address(key.addr)?;
            let bit = if proto == PROTO_TCP {
                VIP_PORT_TCP
            } else {
                VIP_PORT_UDP
            };
            let bits = maps.vip_ports.get(&u32::from(port), 0)?;
            maps.vip_ports.set(u32::from(port), bits | bit, 0)?;
            maps.publish_table(vip_id, &table)?;
        }
        Ok(Self {
            ebpf,
            maps,
            sizes,
            table,
        })
    }

    pub fn prog(&self) -> Result<&Xdp> {
        Ok(self
            .ebpf
            .program(PROGRAM)
            .context("program `lb` vanished")?
            .try_into()?)
    }

    /// The backend a new flow with `key` gets: its Maglev slot.
    pub fn pick(&self, key: &FlowKey) -> u32 {
        self.table[(key.hash() % self.sizes.maglev_size) as usize]
    }

    /// The pick a SYN of `key` left in `HANDSHAKES`.
    pub fn handshake(&self, key: &FlowKey) -> Result<FlowInfo, aya::maps::MapError> {
        let slot = self.maps.handshakes.get(&handshake_slot(key.hash()), 0)?;
        if slot.key == *key {
            Ok(slot.info)
        } else {
            Err(aya::maps::MapError::KeyNotFound)
        }
    }

    /// Every counter of the VIPs, the backends and the global slot.
    pub fn snapshot(&self) -> Result<Snapshot> {
        let mut all = Vec::new();
        for (vip_id, ..) in VIPS {
            all.push(Maps::sum(&self.maps.vip_stats, vip_id)?);
        }
        for id in 0..BACKENDS {
            all.push(Maps::sum(&self.maps.backend_stats, id)?);
        }
        all.push(Maps::sum(&self.maps.global_stats, 0)?);
        Ok(Snapshot(all))
    }
}

/// The counters [`Lb::snapshot`] reads, in a fixed order: VIPs, backends, global.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot(Vec<Counters>);

impl Snapshot {
    pub fn zero() -> Self {
        Self(vec![
            Counters::default();
            VIPS.len() + BACKENDS as usize + 1
        ])
    }

    pub fn vip(&mut self, vip_id: u32) -> &mut Counters {
        &mut self.0[vip_id as usize]
    }

    pub fn backend(&mut self, id: u32) -> &mut Counters {
        &mut self.0[VIPS.len() + id as usize]
    }

    pub fn global(&mut self) -> &mut Counters {
        self.0.last_mut().expect("never empty")
    }

    /// `self - earlier`, counter by counter.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        let mut d = self.clone();
        let now: &mut [u64] = bytemuck::cast_slice_mut(&mut d.0);
        let then: &[u64] = bytemuck::cast_slice(&earlier.0);
        for (n, t) in now.iter_mut().zip(then) {
            *n = n.wrapping_sub(*t);
        }
        d
    }

    /// Every counter multiplied by `n`.
    pub fn times(&self, n: u64) -> Snapshot {
        let mut d = self.clone();
        let v: &mut [u64] = bytemuck::cast_slice_mut(&mut d.0);
        for x in v {
            *x *= n;
        }
        d
    }

    /// Counter by counter sum.
    pub fn plus(&self, other: &Snapshot) -> Snapshot {
        let mut d = self.clone();
        let v: &mut [u64] = bytemuck::cast_slice_mut(&mut d.0);
        let o: &[u64] = bytemuck::cast_slice(&other.0);
        v.iter_mut().zip(o).for_each(|(x, y)| *x += y);
        d
    }

    /// Counts `n` packets of `len` bytes forwarded on `vip_id` to `backend`,
    /// `new` of them new flows.
    pub fn forwarded(&mut self, vip_id: u32, backend: u32, n: u64, len: usize, new: u64) {
        let add = |c: &mut Counters| {
            c.packets += n;
            c.bytes += n * len as u64;
            c.new_flows += new;
        };
        add(self.vip(vip_id));
        add(self.backend(backend));
    }
}

/// The reference programs and their flow tables.
pub struct Refs {
    ebpf: Ebpf,
    pub common: FlowMap,
    /// `floor_flow4`'s table, under the compact IPv4 key.
    pub common4: HashMap<MapData, FlowKey4, FlowInfo>,
    pub pcpu: FlowMap,
    /// `floor_flow_vip`'s VIPs, filled with [`VIPS`].
    _vips: HashMap<MapData, VipKey, VipInfo>,
}

impl Refs {
    /// Loads the references with both flow tables at `max_flows` entries.
    pub fn load(max_flows: u32) -> Result<Self> {
        let mut ebpf = EbpfLoader::new()
            .map_max_entries("FLOWS_COMMON", max_flows)
            .map_max_entries("FLOWS_COMMON4", max_flows)
            .map_max_entries("FLOWS_PCPU", max_flows)
            .load(REFS)
            .context("loading the reference programs")?;
        for name in Program::REFS.map(|p| p.to_string()) {
            let prog: &mut Xdp = ebpf
                .program_mut(&name)
                .with_context(|| format!("the reference object has no program {name}"))?
                .try_into()?;
            prog.load()
                .with_context(|| format!("the verifier rejected {name}"))?;
        }
        let mut take = |name: &str| -> Result<FlowMap> {
            let map = ebpf
                .take_map(name)
                .with_context(|| format!("the reference object has no map {name}"))?;
            Ok(HashMap::try_from(map)?)
        };
        let common = take("FLOWS_COMMON")?;
        let pcpu = take("FLOWS_PCPU")?;
        let common4 = HashMap::try_from(
            ebpf.take_map("FLOWS_COMMON4")
                .context("the reference object has no map FLOWS_COMMON4")?,
        )?;
        let mut vips: HashMap<MapData, VipKey, VipInfo> = HashMap::try_from(
            ebpf.take_map("VIPS_REF")
                .context("the reference object has no map VIPS_REF")?,
        )?;
        for (vip_id, addr, port, proto) in VIPS {
            vips.insert(
                VipKey::new(from_ip(addr), port, proto),
                VipInfo { vip_id, flags: 0 },
                0,
            )?;
        }
        Ok(Self {
            ebpf,
            common,
            common4,
            pcpu,
            _vips: vips,
        })
    }

    pub fn prog(&self, p: Program) -> Result<&Xdp> {
        Ok(self
            .ebpf
            .program(&p.to_string())
            .with_context(|| format!("program {p} vanished"))?
            .try_into()?)
    }
}

/// The flow-table value a flow to `backend_id` gets, as if it had sent its
/// first request already (so a hit changes no flag and takes the same path
/// every run).
/// The VIP id a flow key belongs to (flow entries carry it for the counters).
pub fn vip_of(key: &lb_common::flow::FlowKey) -> u32 {
    VIPS.iter()
        .find(|(_, addr, port, proto)| {
            lb_common::addr::from_ip(*addr) == key.dst
                && *port == key.dport()
                && *proto == key.proto
        })
        .map_or(VIP_TCP4, |(id, ..)| *id)
}

pub fn established(backend_id: u32) -> FlowInfo {
    let now = lb_userspace::daemon::live::monotonic_ns();
    FlowInfo {
        backend_id,
        flags: FLOW_F_PAYLOAD,
        created_ns: now,
        last_seen_ns: now,
        ..FlowInfo::default()
    }
}
