//! `Dataplane`: the XDP program loaded with small maps and driven through
//! BPF_PROG_TEST_RUN, with helpers to set map state and read it back.
//!
//! It goes through `lb_userspace::dataplane` (the loader and map handles the
//! daemon uses), so the tests load exactly what the daemon loads.

use std::net::IpAddr;

use anyhow::{Context, Result};
use aya::{
    Ebpf,
    maps::MapError,
    programs::{ProgramError, TestRun, TestRunOptions, Xdp},
};
use lb_common::{
    addr::{from_ip, v4_mapped},
    backend::Backend,
    flow::{FlowInfo, FlowKey, handshake_slot},
    maglev::{NO_BACKEND, slot_index},
    maps::{PROGRAM, VIP_PORT_TCP, VIP_PORT_UDP},
    vip::{
        PROTO_TCP, VIP_F_ADDRESS_MARKER, VIP_F_DRAINING, VipAddrSlot, VipInfo, VipKey,
        vip_addr_slot,
    },
};
use lb_userspace::dataplane::{
    load::{Sizes, load},
    maps::Maps,
};

use crate::{counters::Snapshot, packet::Mac};

/// XDP verdicts (`enum xdp_action`).
pub const XDP_ABORTED: u32 = 0;
pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;
pub const XDP_TX: u32 = 3;
pub const XDP_REDIRECT: u32 = 4;

/// Small maps: quick to load, and a 251-slot table keeps picks easy to reason about.
pub const SMALL: Sizes = Sizes {
    max_vips: 8,
    max_backends: 16,
    max_flows: 1024,
    max_drain_flows: 256,
    maglev_size: 251,
};

/// The MAC backend `id` gets in the tests (locally administered).
pub const fn backend_mac(id: u32) -> Mac {
    [0x02, 0, 0, 0, 0xbb, id as u8]
}

/// The address backend `id` gets in the tests (203.0.113.0/24).
pub const fn backend_addr(id: u32) -> [u8; 16] {
    v4_mapped([203, 0, 113, 10 + id as u8])
}

/// A Maglev half as the tests build it: slot `i` holds `ids[i % len]`; no ids
/// gives a table of `NO_BACKEND`. Simpler than real Maglev, and just as good for
/// the program, which only reads `table[hash % M]`.
pub fn table(ids: &[u32], m: u32) -> Vec<u32> {
    (0..m as usize)
        .map(|i| {
            if ids.is_empty() {
                NO_BACKEND
            } else {
                ids[i % ids.len()]
            }
        })
        .collect()
}

/// The backend `key` picks from the table [`table`] builds of `ids`.
pub fn pick(ids: &[u32], key: &FlowKey, m: u32) -> Option<u32> {
    let id = table(ids, m)[(key.hash() % m) as usize];
    (id != NO_BACKEND).then_some(id)
}

/// What one test run gave.
#[derive(Debug)]
pub struct Run {
    pub verdict: u32,
    pub output: Vec<u8>,
}

pub struct Dataplane {
    /// Owns the loaded program; the maps were taken out into `maps`.
    ebpf: Ebpf,
    pub maps: Maps,
    pub sizes: Sizes,
}

impl Dataplane {
    pub fn new() -> Result<Self> {
        Self::with_sizes(SMALL)
    }

    /// Small maps but a flow table of `n` entries.
    pub fn with_flows(n: u32) -> Result<Self> {
        Self::with_sizes(Sizes {
            max_flows: n,
            ..SMALL
        })
    }

    pub fn with_sizes(sizes: Sizes) -> Result<Self> {
        let mut ebpf = load(&sizes).context("loading the lb object")?;
        let prog: &mut Xdp = ebpf
            .program_mut(PROGRAM)
            .with_context(|| format!("the object has no program {PROGRAM}"))?
            .try_into()?;
        prog.load().context("verifying the lb program")?;
        let maps = Maps::take(&mut ebpf, sizes.maglev_size)?;
        Ok(Self { ebpf, maps, sizes })
    }

    /// The loaded program, e.g. to attach it.
    pub fn program_mut(&mut self) -> Result<&mut Xdp> {
        Ok(self
            .ebpf
            .program_mut(PROGRAM)
            .context("program vanished")?
            .try_into()?)
    }

    fn program(&self) -> Result<&Xdp> {
        Ok(self
            .ebpf
            .program(PROGRAM)
            .context("program vanished")?
            .try_into()?)
    }

    pub fn m(&self) -> u32 {
        self.sizes.maglev_size
    }

    /// Adds a VIP the way the daemon does: its key, the address marker for its
    /// (address, protocol), its `VIP_PORTS` bit, and live half 0.
    pub fn add_vip(&mut self, vip_id: u32, addr: IpAddr, port: u16, proto: u8) -> Result<VipKey> {
        let key = VipKey::new(from_ip(addr), port, proto);
        self.maps
            .vips
            .insert(key, VipInfo { vip_id, flags: 0 }, 0)?;
        let marker = VipInfo {
            vip_id,
            flags: VIP_F_ADDRESS_MARKER,
        };
        self.maps.vips.insert(key.address_marker(), marker, 0)?;
        self.maps.add_vip_address(key.addr)?;
        let bit = if proto == PROTO_TCP {
            VIP_PORT_TCP
        } else {
            VIP_PORT_UDP
        };
        let bits = self.maps.vip_ports.get(&u32::from(port), 0)?;
        self.maps.vip_ports.set(u32::from(port), bits | bit, 0)?;
        self.maps.live_half.set(vip_id, 0, 0)?;
        Ok(key)
    }

    /// Sets `OWN_MAC` (None: unset, frames forwarded from the MAC they came to).
    pub fn set_own_mac(&mut self, mac: Option<Mac>) -> Result<()> {
        let own = mac.map_or(
            lb_common::iface::OwnMac::default(),
            lb_common::iface::OwnMac::new,
        );
        Ok(self.maps.own_mac.set(0, own, 0)?)
    }

    /// Writes the `VIP_ADDRS` slot `addr` hashes to.
    pub fn set_vip_addr_slot(&mut self, addr: IpAddr, slot: VipAddrSlot) -> Result<()> {
        let index = vip_addr_slot(&from_ip(addr));
        Ok(self.maps.vip_addrs.set(index, slot, 0)?)
    }

    /// Configures backend `id` with the test MAC and address and `state`.
    pub fn set_backend(&mut self, id: u32, state: u8) -> Result<()> {
        let b = Backend {
            addr: backend_addr(id),
            mac: backend_mac(id),
            state,
            forward: lb_common::nat::FORWARD_DSR,
            weight: 1,
            port_be: 0,
            _pad: [0; 2],
        };
        Ok(self.maps.backends.set(id, b, 0)?)
    }

    pub fn clear_backend(&mut self, id: u32) -> Result<()> {
        Ok(self.maps.backends.set(id, Backend::EMPTY, 0)?)
    }

    pub fn backend(&self, id: u32) -> Result<Backend> {
        Ok(self.maps.backends.get(&id, 0)?)
    }

    /// Publishes the [`table`] of `ids` as VIP `vip_id`'s live half (and flips to it).
    pub fn publish(&mut self, vip_id: u32, ids: &[u32]) -> Result<()> {
        let t = table(ids, self.m());
        Ok(self.maps.publish_table(vip_id, &t)?)
    }

    /// Records `key` in `DRAIN_FLOWS` as a connection of draining backend `id`.
    /// Records `key` for draining backend `id`, and marks its VIP as the
    /// daemon does while one of its backends drains (`VIP_F_DRAINING`).
    pub fn drain_flow(&mut self, key: &FlowKey, id: u32) -> Result<()> {
        let vip = VipKey::new(key.dst, key.dport(), key.proto);
        if let Ok(mut info) = self.maps.vips.get(&vip, 0) {
            info.flags |= VIP_F_DRAINING;
            self.maps.vips.insert(vip, info, 0)?;
        }
        Ok(self.maps.drain_flows.insert(key, id, 0)?)
    }

    /// What the live half of VIP `vip_id` holds at `key`'s slot, read from the map.
    pub fn live_slot(&self, vip_id: u32, key: &FlowKey) -> Result<u32> {
        let m = self.m();
        let half = self.maps.live_half(vip_id)?;
        let index = slot_index(vip_id, half, m, key.hash() % m);
        Ok(self.maps.maglev.get(&index, 0)?)
    }

    pub fn flow(&self, key: &FlowKey) -> Result<Option<FlowInfo>> {
        match self.maps.flows.get(key, 0) {
            Ok(v) => Ok(Some(v)),
            Err(MapError::KeyNotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The pick a SYN of `key` left in `HANDSHAKES`, if its slot holds it.
    pub fn handshake(&self, key: &FlowKey) -> Result<Option<FlowInfo>> {
        let slot = self.maps.handshakes.get(&handshake_slot(key.hash()), 0)?;
        Ok((slot.key == *key).then_some(slot.info))
    }

    /// Empties `key`'s `HANDSHAKES` slot, as a later SYN of the same slot
    /// (a SYN flood) would overwrite it.
    pub fn forget_handshake(&mut self, key: &FlowKey) -> Result<()> {
        let empty = lb_common::flow::Handshake::default();
        Ok(self
            .maps
            .handshakes
            .set(handshake_slot(key.hash()), empty, 0)?)
    }

    pub fn insert_flow(&mut self, key: &FlowKey, info: &FlowInfo) -> Result<()> {
        Ok(self.maps.flows.insert(key, info, 0)?)
    }

    pub fn remove_flow(&mut self, key: &FlowKey) -> Result<()> {
        match self.maps.flows.remove(key) {
            Ok(()) | Err(MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn flows(&self) -> Result<Vec<(FlowKey, FlowInfo)>> {
        Ok(self.maps.flows.iter().collect::<Result<_, _>>()?)
    }

    /// Every counter slot, summed over CPUs.
    pub fn counters(&self) -> Result<Snapshot> {
        Snapshot::read(&self.maps, &self.sizes)
    }

    /// One BPF_PROG_TEST_RUN of `input` (repeat 1). The output buffer is larger
    /// than the input: a smaller one fails with ENOSPC.
    pub fn try_run(&self, input: &[u8]) -> Result<Run, ProgramError> {
        let mut out = vec![0u8; input.len() + 256];
        let result = self
            .program()
            .map_err(|_| ProgramError::NotLoaded)?
            .test_run(TestRunOptions {
                data_in: Some(input),
                data_out: Some(&mut out),
                repeat: 1,
                ..Default::default()
            })?;
        out.truncate(result.data_size_out as usize);
        Ok(Run {
            verdict: result.return_value,
            output: out,
        })
    }

    /// One test run of `input` as if it arrived on interface `ingress` (of
    /// the calling thread's network namespace): what the NAT paths' FIB
    /// lookups start from.
    pub fn try_run_on(&self, input: &[u8], ingress: u32) -> Result<Run, ProgramError> {
        // `struct xdp_md`: data, data_end, data_meta, ingress_ifindex,
        // rx_queue_index, egress_ifindex (the kernel wants data 0 and
        // data_end the frame's length).
        let md: [u32; 6] = [0, input.len() as u32, 0, ingress, 0, 0];
        let ctx: Vec<u8> = md.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let mut out = vec![0u8; input.len() + 256];
        let result = self
            .program()
            .map_err(|_| ProgramError::NotLoaded)?
            .test_run(TestRunOptions {
                data_in: Some(input),
                data_out: Some(&mut out),
                ctx_in: Some(&ctx),
                repeat: 1,
                ..Default::default()
            })?;
        out.truncate(result.data_size_out as usize);
        Ok(Run {
            verdict: result.return_value,
            output: out,
        })
    }

    /// A map the typed handles in `maps` do not hold (the NAT maps).
    pub fn other_map(&mut self, name: &str) -> Result<&mut aya::maps::Map> {
        self.ebpf
            .map_mut(name)
            .with_context(|| format!("the program has no map {name}"))
    }

    pub fn run(&self, input: &[u8]) -> Result<Run> {
        self.try_run(input)
            .with_context(|| format!("test run of a {}-byte frame", input.len()))
    }
}

/// The errno of a failed test run, if it was a syscall error.
pub fn errno(e: &ProgramError) -> Option<i32> {
    match e {
        ProgramError::SyscallError(s) => s.io_error.raw_os_error(),
        _ => None,
    }
}

/// The frame the program should transmit for `input` forwarded to `mac`:
/// destination := `mac`, source := the input's destination, all else identical.
pub fn forwarded(input: &[u8], mac: Mac) -> Vec<u8> {
    let mut out = input.to_vec();
    out.copy_within(0..6, 6);
    out[0..6].copy_from_slice(&mac);
    out
}

/// Name of a verdict, for messages.
pub fn verdict_name(v: u32) -> String {
    match v {
        XDP_ABORTED => "ABORTED".into(),
        XDP_DROP => "DROP".into(),
        XDP_PASS => "PASS".into(),
        XDP_TX => "TX".into(),
        XDP_REDIRECT => "REDIRECT".into(),
        other => format!("verdict {other}"),
    }
}
