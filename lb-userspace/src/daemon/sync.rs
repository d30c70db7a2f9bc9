//! Writes the model into the maps, in an order that never sends a packet to a
//! backend that should not get it: backends becoming ACTIVE are written before
//! the tables flip to include them; backends leaving ACTIVE after the flip
//! that excludes them. Only what changed is written.

use std::collections::{BTreeMap, BTreeSet};

use lb_common::{
    addr::{Addr16, from_ip},
    backend::{Backend, STATE_ACTIVE, STATE_DRAINING},
    maps::{VIP_PORT_DNAT_TCP, VIP_PORT_DNAT_UDP, VIP_PORT_TCP, VIP_PORT_UDP},
    nat::{FORWARD_DNAT, FORWARD_DSR, FORWARD_NAT, NatConfig},
    vip::{PROTO_TCP, VIP_F_ADDRESS_MARKER, VIP_F_DRAINING, VIP_F_NAT, VipInfo, VipKey},
};

use super::model::{LIVE_STATES, Model};
use crate::{
    config::Forward,
    dataplane::{
        maps::Maps,
        nat::nat_config,
        nat_guard::{GuardError, NatGuard},
    },
    maglev::{MaglevBackend, build_table},
};

/// Table members: (id, name, weight), sorted.
type Members = Vec<(u32, String, u32)>;

/// What this daemon knows to be in the maps.
#[derive(Default)]
pub struct Synced {
    live: BTreeMap<u32, Members>,
    backends: BTreeMap<u32, Backend>,
    vips: BTreeMap<VipKey, VipInfo>,
    ports: BTreeMap<u16, u32>,
    addrs: BTreeSet<Addr16>,
    /// `NAT_CONFIG` as last written (None: not yet, by this process).
    nat: Option<NatConfig>,
    /// The NAT guard table as last installed, or tried (a failure is
    /// logged once per change, not on every apply).
    nat_guard: Option<NatGuard>,
}

impl Synced {
    /// The `BACKENDS` entries this daemon knows to be in the map, by id.
    pub fn backends(&self) -> &BTreeMap<u32, Backend> {
        &self.backends
    }

    /// Reads back what an adopted data plane holds (tables are not read: they
    /// are rewritten once, with the same content, since Maglev is deterministic).
    pub fn from_maps(maps: &Maps) -> anyhow::Result<Self> {
        let mut synced = Self::default();
        for item in &maps.vips {
            let (k, v) = item?;
            synced.vips.insert(k, v);
            synced.addrs.insert(k.addr);
        }
        for port in 0..=u16::MAX {
            let bits = maps.vip_ports.get(&u32::from(port), 0)?;
            if bits != 0 {
                synced.ports.insert(port, bits);
            }
        }
        for id in 0..maps.backends.len() {
            let b = maps.backends.get(&id, 0)?;
            if b != Backend::EMPTY {
                synced.backends.insert(id, b);
            }
        }
        Ok(synced)
    }
}

fn members(model: &Model, vip_id: u32, states: &[u8]) -> Members {
    let mut m: Members = model
        .members(vip_id, states)
        .into_iter()
        .map(|(id, name, w)| (id, name.to_string(), w))
        .collect();
    m.sort();
    m
}

fn table(members: &Members, m: u32) -> Vec<u32> {
    let input: Vec<MaglevBackend<'_>> = members
        .iter()
        .map(|(id, name, weight)| MaglevBackend {
            id: *id,
            name,
            weight: *weight,
        })
        .collect();
    build_table(&input, m)
}

/// The NAT guard `model` wants: its sources and range, and every NAT
/// backend (DNAT replies go to clients, not to a NAT source).
fn nat_guard(model: &Model) -> NatGuard {
    let nat = &model.config.nat;
    NatGuard {
        interface: model.config.daemon.interface.clone(),
        sources: nat.sources.clone(),
        ports: (nat.port_min, nat.port_max),
        backends: model
            .backends
            .values()
            .filter(|b| b.forward == Forward::Nat)
            .filter_map(|b| {
                let vip = model.vips.iter().find(|v| v.id == b.vip_id)?;
                Some((b.cfg.address, b.cfg.port, vip.cfg.protocol))
            })
            .collect(),
    }
}

/// Brings the maps in line with `model`.
pub fn apply(model: &Model, maps: &mut Maps, synced: &mut Synced) -> anyhow::Result<()> {
    let m = maps.maglev_size;
    let wanted_backends: BTreeMap<u32, Backend> = model
        .backends
        .values()
        .map(|b| {
            (
                b.id,
                Backend {
                    addr: from_ip(b.cfg.address),
                    mac: b.mac.unwrap_or([0; 6]),
                    state: b.kernel_state(),
                    forward: match b.forward {
                        Forward::Dsr => FORWARD_DSR,
                        Forward::Nat => FORWARD_NAT,
                        Forward::Dnat => FORWARD_DNAT,
                    },
                    weight: b.cfg.weight,
                    port_be: match b.forward {
                        Forward::Dsr => 0,
                        Forward::Nat | Forward::Dnat => b.cfg.port.to_be(),
                    },
                    _pad: [0; 2],
                },
            )
        })
        .collect();

    // 0. NAT's sources and ports, before a NAT backend can be picked; the
    //    guard of its replies first (see dataplane::nat_guard).
    if let Some(nat) = maps.nat.as_mut() {
        let guard = nat_guard(model);
        if synced.nat_guard.as_ref() != Some(&guard) {
            // A run of `nft`, a few ms: only at start and when a reload
            // changes NAT's sources, range or backends.
            match (guard.install(), guard.is_empty()) {
                // Without a NAT VIP there is nothing to guard: the run only
                // removes a table an earlier config left.
                (Ok(()) | Err(GuardError::NoNft), true) => {}
                (Ok(()), false) => tracing::info!(
                    table = crate::dataplane::nat_guard::table_name(&guard.interface),
                    "NAT guard installed: NAT backends' replies that reach the kernel are dropped"
                ),
                (Err(e), _) => tracing::warn!("NAT guard: {e}"),
            }
            synced.nat_guard = Some(guard);
        }
        let d = &model.config.daemon;
        let wanted = nat_config(
            &model.config.nat,
            d.flow_idle_timeout.max(d.udp_idle_timeout),
            model.vips.iter().any(|v| v.cfg.forward == Forward::Dnat),
        );
        if synced.nat != Some(wanted) {
            nat.write_config(&wanted)?;
            synced.nat = Some(wanted);
        }
    }

    // 1. Backends that are (or become) ACTIVE, so a flipped table never names
    //    a slot that is not ready.
    for (id, b) in &wanted_backends {
        if b.state == STATE_ACTIVE && synced.backends.get(id) != Some(b) {
            maps.backends.set(*id, b, 0)?;
            synced.backends.insert(*id, *b);
        }
    }

    // 2. VIPs, their address markers and port bits.
    let mut wanted_vips = BTreeMap::new();
    let mut wanted_ports: BTreeMap<u16, u32> = BTreeMap::new();
    for vip in &model.vips {
        let key = VipKey::new(
            from_ip(vip.cfg.address),
            vip.cfg.port,
            vip.cfg.protocol.number(),
        );
        let draining = !members(model, vip.id, &[STATE_DRAINING]).is_empty();
        wanted_vips.insert(
            key,
            VipInfo {
                vip_id: vip.id,
                flags: match vip.cfg.forward {
                    Forward::Dsr => 0,
                    Forward::Nat | Forward::Dnat => VIP_F_NAT,
                } | if draining { VIP_F_DRAINING } else { 0 },
            },
        );
        wanted_vips.entry(key.address_marker()).or_insert(VipInfo {
            vip_id: vip.id,
            flags: VIP_F_ADDRESS_MARKER,
        });
        let bit = if key.proto == PROTO_TCP {
            VIP_PORT_TCP
        } else {
            VIP_PORT_UDP
        };
        *wanted_ports.entry(vip.cfg.port).or_default() |= bit;
        if vip.cfg.forward == Forward::Dnat {
            // Replies no VIP claims are looked up only from these ports.
            let bit = if key.proto == PROTO_TCP {
                VIP_PORT_DNAT_TCP
            } else {
                VIP_PORT_DNAT_UDP
            };
            for b in model.backends.values().filter(|b| b.vip_id == vip.id) {
                *wanted_ports.entry(b.cfg.port).or_default() |= bit;
            }
        }
    }

    // 3. Tables: written into the idle half, then flipped live.
    for vip in &model.vips {
        let live = members(model, vip.id, LIVE_STATES);
        if synced.live.get(&vip.id) != Some(&live) {
            maps.publish_table(vip.id, &table(&live, m))?;
            tracing::info!(vip = vip.cfg.name, backends = ?live.iter().map(|b| &b.1).collect::<Vec<_>>(), "live table published");
            synced.live.insert(vip.id, live);
        }
    }
    // `VIP_F_DRAINING` goes on here, before a backend turns DRAINING (step
    // 4), and off only after every backend left DRAINING (step 5).
    for (key, info) in &wanted_vips {
        let kept = synced
            .vips
            .get(key)
            .map_or(0, |old| old.flags & VIP_F_DRAINING);
        let now = VipInfo {
            flags: info.flags | kept,
            ..*info
        };
        if synced.vips.get(key) != Some(&now) {
            maps.vips.insert(key, now, 0)?;
            synced.vips.insert(*key, now);
        }
    }
    let wanted_addrs: BTreeSet<Addr16> = wanted_vips.keys().map(|k| k.addr).collect();
    if wanted_addrs != synced.addrs {
        maps.write_vip_addresses(&synced.addrs, &wanted_addrs)?;
        synced.addrs = wanted_addrs;
    }
    for (port, bits) in &wanted_ports {
        if synced.ports.get(port) != Some(bits) {
            maps.vip_ports.set(u32::from(*port), bits, 0)?;
            synced.ports.insert(*port, *bits);
        }
    }

    // 4. Everything leaving ACTIVE, and removals, now that no table names them.
    for (id, b) in &wanted_backends {
        if synced.backends.get(id) != Some(b) {
            maps.backends.set(*id, b, 0)?;
            synced.backends.insert(*id, *b);
        }
    }
    let stale: Vec<u32> = synced
        .backends
        .keys()
        .filter(|id| !wanted_backends.contains_key(id))
        .copied()
        .collect();
    for id in stale {
        maps.backends.set(id, Backend::EMPTY, 0)?;
        synced.backends.remove(&id);
    }

    // 5. A VIP none of whose backends is DRAINING any more loses `VIP_F_DRAINING`.
    for (key, info) in &wanted_vips {
        if synced.vips.get(key) != Some(info) {
            maps.vips.insert(key, info, 0)?;
            synced.vips.insert(*key, *info);
        }
    }
    let stale_vips: Vec<VipKey> = synced
        .vips
        .keys()
        .filter(|k| !wanted_vips.contains_key(k))
        .copied()
        .collect();
    for key in stale_vips {
        maps.vips.remove(&key)?;
        synced.vips.remove(&key);
    }
    let stale_ports: BTreeSet<u16> = synced
        .ports
        .keys()
        .filter(|p| !wanted_ports.contains_key(p))
        .copied()
        .collect();
    for port in stale_ports {
        maps.vip_ports.set(u32::from(port), 0, 0)?;
        synced.ports.remove(&port);
    }
    let live_ids: BTreeSet<u32> = model.vips.iter().map(|v| v.id).collect();
    synced.live.retain(|id, _| live_ids.contains(id));
    Ok(())
}
