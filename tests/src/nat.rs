//! The NAT fixtures' world: a test namespace whose FIB knows the client and
//! the backends (two interfaces, permanent neighbour entries, forwarding on),
//! a data plane with NAT VIPs, and a runner for rows whose frames arrive on a
//! given interface and leave by TX or REDIRECT.
//!
//! Expected output frames are built by the packet builder, which computes
//! every checksum from scratch; the runner also verifies the output's IP and
//! transport checksums over the bytes: neither shares code with the
//! program's incremental updates.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use anyhow::{Context, Result};
use aya::maps::Array;
use lb_common::{
    addr::from_ip,
    backend::Backend,
    flow::FlowKey,
    maps::NAT_CONFIG,
    nat::{FORWARD_NAT, NatConfig},
    vip::{PROTO_TCP, VIP_F_NAT, VipInfo, VipKey},
};

use crate::{
    counters::{Delta, Field, Scope, normalise},
    dataplane::{Dataplane, backend_mac, verdict_name},
    netns::Netns,
    packet::{Mac, checksum_ok},
    table::FlowCheck,
};

/// The NAT source addresses (on the backend-side interface).
pub const NAT4: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2));
pub const NAT6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0xb, 0, 0, 0, 0, 2));
/// The source-port range of the fixtures' NAT_CONFIG.
pub const PORT_MIN: u16 = 61000;
pub const PORT_MAX: u16 = 61999;

/// Interfaces of the namespace: the client's side and the backends' side.
pub const CLIENT_IF: &str = "nc";
pub const BACKEND_IF: &str = "nb";

/// The namespace, its interfaces' indexes and MACs.
pub struct NatLab {
    pub ns: Netns,
    pub client_if: u32,
    pub backend_if: u32,
    pub client_if_mac: Mac,
    pub backend_if_mac: Mac,
}

/// A backend with a neighbour entry: (id, address).
pub type Neighbour = (u32, IpAddr);

impl NatLab {
    /// The namespace `lbt-<pid>-<role>`, with a permanent neighbour entry
    /// for each of `backends` (MAC `backend_mac(id)`) and for the client.
    pub fn create(
        role: &str,
        backends: &[Neighbour],
        client4: IpAddr,
        client6: IpAddr,
    ) -> Result<Self> {
        let ns = crate::netns::create(role)?;
        ns.ip(&[
            "link", "add", CLIENT_IF, "type", "veth", "peer", "name", BACKEND_IF,
        ])?;
        for (dev, v4, v6) in [
            (CLIENT_IF, "192.0.2.2/24", "2001:db8:c::2/64"),
            (BACKEND_IF, "203.0.113.2/24", "2001:db8:b::2/64"),
        ] {
            ns.ip(&["addr", "add", v4, "dev", dev])?;
            ns.ip(&["addr", "add", v6, "dev", dev, "nodad"])?;
            ns.ip(&["link", "set", dev, "up"])?;
        }
        ns.sysctl(&[
            ("net.ipv4.ip_forward", "1"),
            ("net.ipv6.conf.all.forwarding", "1"),
        ])?;
        let client_mac = lb_lab::mac::format(crate::packet::CLIENT_MAC);
        for client in [client4, client6] {
            let addr = client.to_string();
            ns.ip(&[
                "neigh",
                "replace",
                &addr,
                "lladdr",
                &client_mac,
                "nud",
                "permanent",
                "dev",
                CLIENT_IF,
            ])?;
        }
        for (id, addr) in backends {
            let (addr, mac) = (addr.to_string(), lb_lab::mac::format(backend_mac(*id)));
            ns.ip(&[
                "neigh",
                "replace",
                &addr,
                "lladdr",
                &mac,
                "nud",
                "permanent",
                "dev",
                BACKEND_IF,
            ])?;
        }
        Ok(Self {
            client_if: ifindex(&ns, CLIENT_IF)?,
            backend_if: ifindex(&ns, BACKEND_IF)?,
            client_if_mac: lb_lab::mac::parse(&ns.mac(CLIENT_IF)?)?,
            backend_if_mac: lb_lab::mac::parse(&ns.mac(BACKEND_IF)?)?,
            ns,
        })
    }
}

fn ifindex(ns: &Netns, dev: &str) -> Result<u32> {
    let out = ns.ip(&["-o", "link", "show", "dev", dev])?;
    out.split(':')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .with_context(|| format!("no ifindex in {out:?}"))
}

/// The fixtures' NAT_CONFIG: one source per family, ports `min..=max`.
pub fn config(min: u16, max: u16) -> NatConfig {
    let mut c = NatConfig {
        port_min: min,
        port_max: max,
        n_sources_v4: 1,
        n_sources_v6: 1,
        reuse_after_ns: 120_000_000_000,
        ..NatConfig::default()
    };
    c.sources_v4[0] = [203, 0, 113, 2];
    c.sources_v6[0] = from_ip(NAT6);
    c
}

pub fn set_config(dp: &mut Dataplane, cfg: NatConfig) -> Result<()> {
    let mut map: Array<_, NatConfig> = Array::try_from(dp.other_map(NAT_CONFIG)?)?;
    Ok(map.set(0, cfg, 0)?)
}

/// Backend `id` at `addr:port`, of a NAT VIP, in `state`.
pub fn set_backend(dp: &mut Dataplane, id: u32, addr: IpAddr, port: u16, state: u8) -> Result<()> {
    let b = Backend {
        addr: from_ip(addr),
        mac: [0; 6],
        state,
        forward: FORWARD_NAT,
        weight: 1,
        port_be: port.to_be(),
        _pad: [0; 2],
    };
    Ok(dp.maps.backends.set(id, b, 0)?)
}

/// A NAT VIP: as `Dataplane::add_vip`, with `VIP_F_NAT` on its key.
pub fn add_vip(dp: &mut Dataplane, vip_id: u32, addr: IpAddr, port: u16, proto: u8) -> Result<()> {
    let key: VipKey = dp.add_vip(vip_id, addr, port, proto)?;
    let info = VipInfo {
        vip_id,
        flags: VIP_F_NAT,
    };
    Ok(dp.maps.vips.insert(key, info, 0)?)
}

/// The source port the allocator gives the first flow of `key` to a
/// backend none of whose ports is taken yet: the range's `hash % len`-th.
pub fn first_port(key: &FlowKey, min: u16, max: u16) -> u16 {
    min + (key.hash() % u32::from(max - min + 1)) as u16
}

/// A NAT row: `input` arrives on interface `ingress`.
pub struct NatRow {
    pub desc: String,
    pub input: Vec<u8>,
    pub ingress: u32,
    pub verdict: u32,
    /// The whole output frame; `None`: the input, untouched.
    pub output: Option<Vec<u8>>,
    pub deltas: Vec<Delta>,
    pub flow: Option<(FlowKey, FlowCheck)>,
}

impl NatRow {
    pub fn new(desc: impl Into<String>, input: Vec<u8>, ingress: u32, verdict: u32) -> Self {
        Self {
            desc: desc.into(),
            input,
            ingress,
            verdict,
            output: None,
            deltas: Vec::new(),
            flow: None,
        }
    }

    pub fn output(mut self, bytes: Vec<u8>) -> Self {
        self.output = Some(bytes);
        self
    }

    pub fn delta(mut self, scope: Scope, field: Field, by: u64) -> Self {
        self.deltas.push(Delta { scope, field, by });
        self
    }

    /// `field` += `by` on the VIP and the backend.
    pub fn both(self, vip: u32, backend: u32, field: Field, by: u64) -> Self {
        self.delta(Scope::Vip(vip), field, by)
            .delta(Scope::Backend(backend), field, by)
    }

    /// A request forwarded: packets and bytes on the VIP and the backend.
    pub fn request(self, vip: u32, backend: u32) -> Self {
        let len = self.input.len() as u64;
        self.both(vip, backend, Field::Packets, 1)
            .both(vip, backend, Field::Bytes, len)
    }

    /// A reply forwarded: reply packets and bytes on the VIP and the backend.
    pub fn reply(self, vip: u32, backend: u32) -> Self {
        let len = self.input.len() as u64;
        self.both(vip, backend, Field::ReplyPackets, 1)
            .both(vip, backend, Field::ReplyBytes, len)
    }

    /// Passed by the program's error path: global packets and bytes.
    pub fn passed(self) -> Self {
        let len = self.input.len() as u64;
        self.delta(Scope::Global, Field::Packets, 1)
            .delta(Scope::Global, Field::Bytes, len)
    }

    pub fn flow(mut self, key: FlowKey, check: FlowCheck) -> Self {
        self.flow = Some((key, check));
        self
    }

    fn run(&self, dp: &Dataplane) -> Result<String, String> {
        let before = dp.counters().map_err(|e| format!("{e:#}"))?;
        let run = dp
            .try_run_on(&self.input, self.ingress)
            .map_err(|e| format!("test run: {e}"))?;
        let after = dp.counters().map_err(|e| format!("{e:#}"))?;
        let mut problems = Vec::new();
        if run.verdict != self.verdict {
            problems.push(format!(
                "verdict: expected {}, got {}",
                verdict_name(self.verdict),
                verdict_name(run.verdict)
            ));
        }
        let want = self.output.as_ref().unwrap_or(&self.input);
        if &run.output != want {
            let at: Vec<String> = (0..want.len().min(run.output.len()))
                .filter(|&i| want[i] != run.output[i])
                .take(8)
                .map(|i| format!("{i}: {:#04x}!={:#04x}", run.output[i], want[i]))
                .collect();
            problems.push(format!("output differs at {}", at.join(", ")));
        }
        if self.output.is_some()
            && let Err(e) = verify_checksums(&run.output)
        {
            problems.push(e);
        }
        let moved = after.since(&before);
        let want = normalise(self.deltas.clone());
        if moved != want {
            let list = |d: &[Delta]| {
                d.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            problems.push(format!(
                "counters: expected [{}], got [{}]",
                list(&want),
                list(&moved)
            ));
        }
        if let Some((key, check)) = &self.flow {
            let got = match dp.flow(key).map_err(|e| format!("{e:#}"))? {
                Some(f) => FlowCheck::Entry {
                    backend: f.backend_id,
                    flags: f.flags,
                },
                None => match dp.handshake(key).map_err(|e| format!("{e:#}"))? {
                    Some(h) => FlowCheck::Handshake {
                        backend: h.backend_id,
                    },
                    None => FlowCheck::Absent,
                },
            };
            if got != *check {
                problems.push(format!("flow entry: expected {check:?}, got {got:?}"));
            }
        }
        if problems.is_empty() {
            Ok(verdict_name(run.verdict))
        } else {
            Err(problems.join("\n      "))
        }
    }
}

/// Runs `rows` in order; panics listing every failed row.
pub fn run_rows(dp: &Dataplane, rows: &[NatRow]) -> usize {
    crate::table::run_each(
        "NAT",
        rows.iter().map(|row| (row.desc.as_str(), row.run(dp))),
    )
}

/// Checks an untagged Ethernet frame's IPv4 header checksum and its TCP or
/// UDP checksum (with the pseudo-header) over the bytes, from scratch.
pub fn verify_checksums(frame: &[u8]) -> Result<(), String> {
    let ether_type = u16::from_be_bytes([frame[12], frame[13]]);
    let (pseudo_addrs, proto, l4) = match ether_type {
        0x0800 => {
            let ihl = (frame[14] & 0x0f) as usize * 4;
            if !checksum_ok(&frame[14..14 + ihl]) {
                return Err("IPv4 header checksum wrong".into());
            }
            let total = u16::from_be_bytes([frame[16], frame[17]]) as usize;
            (&frame[26..34], frame[23], &frame[14 + ihl..14 + total])
        }
        0x86dd => {
            let payload = u16::from_be_bytes([frame[18], frame[19]]) as usize;
            (&frame[22..54], frame[20], &frame[54..54 + payload])
        }
        other => return Err(format!("not IP: ether type {other:#06x}")),
    };
    if proto == 17 && ether_type == 0x0800 && l4[6..8] == [0, 0] {
        return Ok(());
    }
    let mut pseudo = pseudo_addrs.to_vec();
    pseudo.extend_from_slice(&(l4.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, proto]);
    pseudo.extend_from_slice(l4);
    if !checksum_ok(&pseudo) {
        let what = if proto == PROTO_TCP { "TCP" } else { "UDP" };
        return Err(format!("{what} checksum wrong"));
    }
    Ok(())
}
