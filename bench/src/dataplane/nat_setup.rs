//! The NAT cases' world: a namespace whose FIB knows the client and the
//! backends (two veth ends, permanent neighbour entries, forwarding on), so
//! the program's `bpf_fib_lookup` gives fixed answers; and a second `lb`,
//! loaded as the daemon loads it, with one `forward = "nat"` VIP.
//!
//! Frames carry correct transport checksums here (unlike the DSR cases'),
//! because NAT updates them incrementally: the expected output is built from
//! scratch and compared byte for byte.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::{Context as _, Result, ensure};
use aya::{
    Ebpf,
    maps::{Array, HashMap, MapData},
    programs::{TestRun as _, TestRunOptions, Xdp},
};
use lb_common::{
    addr::from_ip,
    backend::{Backend, STATE_ACTIVE},
    flow::FlowKey,
    maps::{NAT_CONFIG, NAT_FWD, NAT_REV, PROGRAM, VIP_PORT_TCP},
    nat::{FORWARD_NAT, NAT_CFG_NO_DNAT, NatConfig, NatForward, NatReply, NatReplyKey},
    stats::Counters,
    vip::{PROTO_TCP, VIP_F_ADDRESS_MARKER, VIP_F_NAT, VipInfo, VipKey},
};
use lb_lab::netns::Netns;
use lb_userspace::dataplane::{load::Sizes, maps::Maps};

use super::setup::{BACKENDS, VIP4, backend_mac, load_verified, maglev_table};
use crate::{packet::Mac, xdp::Run};

/// The NAT VIP: 198.51.100.10:80/tcp, id 0; backends `0..BACKENDS` at
/// 203.0.113.(10 + id):8000; source 203.0.113.2 (the backend side's address).
pub const NAT_VIP: u32 = 0;
pub const VIP_PORT: u16 = 80;
pub const BACKEND_PORT: u16 = 8000;
pub const NAT_SOURCE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
/// Source ports handed out: 28,000 per backend (outside the kernel's
/// ephemeral range, as the daemon keeps them).
pub const PORT_MIN: u16 = 2000;
pub const PORT_MAX: u16 = 29_999;

pub fn backend_addr(id: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10 + id as u8))
}

/// `enum xdp_action`: out of another interface.
pub const XDP_REDIRECT: u32 = 4;

const CLIENT_IF: &str = "nc";
const BACKEND_IF: &str = "nb";

/// The namespace and what the cases need of it.
pub struct NatNet {
    pub ns: Netns,
    pub client_if: u32,
    pub backend_if: u32,
    pub client_if_mac: Mac,
    pub backend_if_mac: Mac,
}

impl NatNet {
    /// `lbb-<pid>-nat`, with neighbour entries for `clients` and every backend.
    pub fn create(clients: &[IpAddr]) -> Result<Self> {
        let ns = Netns::create(&format!("lbb-{}-nat", std::process::id()))?;
        ns.ip(&[
            "link", "add", CLIENT_IF, "type", "veth", "peer", "name", BACKEND_IF,
        ])?;
        for (dev, addr) in [
            (CLIENT_IF, "192.0.2.254/24"),
            (BACKEND_IF, "203.0.113.2/24"),
        ] {
            ns.ip(&["addr", "add", addr, "dev", dev])?;
            ns.ip(&["link", "set", dev, "up"])?;
        }
        ns.sysctl(&[("net.ipv4.ip_forward", "1")])?;
        let neigh = |addr: IpAddr, mac: &Mac, dev: &str| -> Result<()> {
            ns.ip(&[
                "neigh",
                "replace",
                &addr.to_string(),
                "lladdr",
                &lb_lab::mac::format(*mac),
                "nud",
                "permanent",
                "dev",
                dev,
            ])
            .map(drop)
        };
        for c in clients {
            neigh(*c, &crate::packet::CLIENT_MAC, CLIENT_IF)?;
        }
        for id in 0..BACKENDS {
            neigh(backend_addr(id), &backend_mac(id), BACKEND_IF)?;
        }
        let index = |dev: &str| -> Result<u32> {
            let out = ns.ip(&["-j", "link", "show", "dev", dev])?;
            let v: serde_json::Value = serde_json::from_str(&out)?;
            v[0]["ifindex"]
                .as_u64()
                .map(|i| i as u32)
                .with_context(|| format!("no ifindex for {dev}"))
        };
        Ok(Self {
            client_if: index(CLIENT_IF)?,
            backend_if: index(BACKEND_IF)?,
            client_if_mac: ns.mac_octets(CLIENT_IF)?,
            backend_if_mac: ns.mac_octets(BACKEND_IF)?,
            ns,
        })
    }
}

/// `lb` with the NAT VIP, its own maps (default sizes).
pub struct NatLb {
    ebpf: Ebpf,
    pub maps: Maps,
    pub fwd: HashMap<MapData, FlowKey, NatForward>,
    pub rev: HashMap<MapData, NatReplyKey, NatReply>,
    pub table: Vec<u32>,
    maglev_size: u32,
}

impl NatLb {
    pub fn load() -> Result<Self> {
        let sizes = Sizes::default();
        let (mut ebpf, mut maps) = load_verified(&sizes)?;
        let mut take = |name: &str| {
            ebpf.take_map(name)
                .with_context(|| format!("the lb object has no map {name}"))
        };
        let mut config: Array<MapData, NatConfig> = Array::try_from(take(NAT_CONFIG)?)?;
        let fwd = HashMap::try_from(take(NAT_FWD)?)?;
        let rev = HashMap::try_from(take(NAT_REV)?)?;
        let mut cfg = NatConfig {
            port_min: PORT_MIN,
            port_max: PORT_MAX,
            n_sources_v4: 1,
            reuse_after_ns: 120_000_000_000,
            // As the daemon writes it: no DNAT VIP here.
            flags: NAT_CFG_NO_DNAT,
            ..NatConfig::default()
        };
        cfg.sources_v4[0] = NAT_SOURCE.octets();
        config.set(0, cfg, 0)?;
        let table = maglev_table("app", sizes.maglev_size);
        for id in 0..BACKENDS {
            let b = Backend {
                addr: from_ip(backend_addr(id)),
                mac: [0; 6],
                state: STATE_ACTIVE,
                forward: FORWARD_NAT,
                weight: 1,
                port_be: BACKEND_PORT.to_be(),
                _pad: [0; 2],
            };
            maps.backends.set(id, b, 0)?;
        }
        let key = VipKey::new(from_ip(IpAddr::V4(VIP4)), VIP_PORT, PROTO_TCP);
        let info = VipInfo {
            vip_id: NAT_VIP,
            flags: VIP_F_NAT,
        };
        maps.vips.insert(key, info, 0)?;
        let marker = VipInfo {
            vip_id: NAT_VIP,
            flags: VIP_F_ADDRESS_MARKER,
        };
        maps.vips.insert(key.address_marker(), marker, 0)?;
        maps.add_vip_address(key.addr)?;
        maps.vip_ports.set(u32::from(VIP_PORT), VIP_PORT_TCP, 0)?;
        maps.publish_table(NAT_VIP, &table)?;
        Ok(Self {
            ebpf,
            maps,
            fwd,
            rev,
            table,
            maglev_size: sizes.maglev_size,
        })
    }

    pub fn prog(&self) -> Result<&Xdp> {
        Ok(self
            .ebpf
            .program(PROGRAM)
            .context("program `lb` vanished")?
            .try_into()?)
    }

    /// The backend a new flow of `key` gets.
    pub fn pick(&self, key: &FlowKey) -> u32 {
        self.table[(key.hash() % self.maglev_size) as usize]
    }

    /// Counters of the VIP, every backend and the global slot, in that order.
    pub fn counters(&self) -> Result<Vec<Counters>> {
        let mut all = vec![Maps::sum(&self.maps.vip_stats, NAT_VIP)?];
        for id in 0..BACKENDS {
            all.push(Maps::sum(&self.maps.backend_stats, id)?);
        }
        all.push(Maps::sum(&self.maps.global_stats, 0)?);
        Ok(all)
    }

    /// The reply key of `key`'s translation, from `NAT_FWD`.
    pub fn reply_key(&self, key: &FlowKey) -> Result<(NatForward, NatReplyKey)> {
        let fwd = self.fwd.get(key, 0).context("no NAT_FWD entry")?;
        let b = self.maps.backends.get(&fwd.backend_id, 0)?;
        let rkey = NatReplyKey {
            backend: b.addr,
            nat_addr: fwd.nat_addr,
            backend_port_be: fwd.backend_port_be,
            nat_port_be: fwd.nat_port_be,
            proto: key.proto,
            _pad: [0; 3],
        };
        Ok((fwd, rkey))
    }

    /// Removes `key`'s translation both ways (already gone is fine).
    pub fn forget(&mut self, key: &FlowKey) {
        if let Ok((_, rkey)) = self.reply_key(key) {
            let _ = self.rev.remove(&rkey);
        }
        let _ = self.fwd.remove(key);
        let _ = self.maps.flows.remove(key);
    }
}

/// One test run of `data` (repeat 1) as if it arrived on interface `ingress`
/// of the calling thread's namespace.
pub fn run_on(prog: &Xdp, data: &[u8], ingress: u32, out: &mut [u8]) -> Result<Run> {
    ensure!(out.len() >= data.len(), "output buffer too small");
    // `struct xdp_md`: data, data_end, data_meta, ingress_ifindex,
    // rx_queue_index, egress_ifindex.
    let md: [u32; 6] = [0, data.len() as u32, 0, ingress, 0, 0];
    let ctx: Vec<u8> = md.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let r = prog
        .test_run(TestRunOptions {
            data_in: Some(data),
            data_out: Some(out),
            ctx_in: Some(&ctx),
            repeat: 1,
            ..TestRunOptions::new()
        })
        .context("BPF_PROG_TEST_RUN")?;
    Ok(Run {
        verdict: r.return_value,
        ns: u32::try_from(r.duration.as_nanos()).unwrap_or(u32::MAX),
        out_len: r.data_size_out as usize,
    })
}
