//! Views of the daemon's state for the API: status and one backend. Built
//! from the state on each request, never stored; the rates from the
//! snapshots the core keeps (`rates.rs`).

use lb_common::{backend::state_name, stats::Counters};

use super::{clock::unix_now, model::BackendEntry, state::State};
use crate::{
    api::types::{
        BackendStatus, DrainStatus, Drops, FleetDrainStatus, NatCounters, Status, Traffic,
        VipStatus,
    },
    dataplane::maps::Maps,
};

fn traffic(c: &Counters, (pps, nps): (f64, f64)) -> Traffic {
    Traffic {
        packets: c.packets,
        bytes: c.bytes,
        new_flows: c.new_flows,
        closed_flows: c.closed_flows,
        second_chance: c.second_chance,
        packets_per_s: pps,
        new_flows_per_s: nps,
    }
}

fn mac_string(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl State {
    /// Snapshots every counter for the rates.
    pub fn record_rates(&mut self) {
        let Some(dp) = self.dataplane.as_ref() else {
            return;
        };
        for v in &self.model.vips {
            if let Ok(c) = Maps::sum(&dp.maps.vip_stats, v.id) {
                self.rates.record(format!("vip:{}", v.id), &c);
            }
        }
        for b in self.model.backends.values() {
            if let Ok(c) = Maps::sum(&dp.maps.backend_stats, b.id) {
                self.rates.record(format!("backend:{}", b.id), &c);
            }
        }
    }

    pub fn backend_status(&self, b: &BackendEntry) -> BackendStatus {
        let counters = self
            .dataplane
            .as_ref()
            .and_then(|dp| Maps::sum(&dp.maps.backend_stats, b.id).ok())
            .unwrap_or_default();
        let now = unix_now();
        BackendStatus {
            name: b.cfg.name.clone(),
            vip: b.vip.clone(),
            address: b.cfg.address.to_string(),
            port: b.cfg.port,
            mac: b.mac.map(mac_string),
            weight: b.cfg.weight,
            state: state_name(b.kernel_state()).to_string(),
            admin: if b.disabled { "disabled" } else { "enabled" }.to_string(),
            health: b.health.as_str().to_string(),
            live_flows: b.live_flows,
            counters: traffic(&counters, self.rates.per_s(&format!("backend:{}", b.id))),
            drain: b.drain.as_ref().map(|d| DrainStatus {
                started_at: d.started_at,
                elapsed_s: (d.finished_at.unwrap_or(now) - d.started_at).max(0.0),
                timeout_s: d.timeout.as_secs_f64(),
                initial_flows: d.initial_flows,
                live_flows: b.live_flows,
                signal: d.signal,
                outcome: d.outcome,
                forced_flows: d.forced_flows,
                finished_at: d.finished_at,
                flows_at_exit: d.flows_at_exit,
                fleet: self
                    .fleet
                    .as_ref()
                    .and_then(|g| g.drains.get(&b.cfg.name))
                    .filter(|_| d.outcome.is_none())
                    .map(|v| FleetDrainStatus {
                        total: v.count.total,
                        nodes: v
                            .count
                            .per_node
                            .iter()
                            .map(|(n, c)| (n.to_string(), *c))
                            .collect(),
                    }),
            }),
            last_action: b.last_action.clone(),
            problem: b.problem(),
        }
    }

    pub fn status(&self) -> Status {
        let uptime_s = self.started.elapsed().as_secs_f64();
        let sum = |map: &aya::maps::PerCpuArray<aya::maps::MapData, Counters>, id| {
            self.dataplane
                .as_ref()
                .and_then(|_| Maps::sum(map, id).ok())
                .unwrap_or_default()
        };
        let mut vips = Vec::new();
        for v in &self.model.vips {
            let c = self
                .dataplane
                .as_ref()
                .map(|dp| sum(&dp.maps.vip_stats, v.id))
                .unwrap_or_default();
            vips.push(VipStatus {
                name: v.cfg.name.clone(),
                address: v.cfg.address.to_string(),
                port: v.cfg.port,
                protocol: v.cfg.protocol.to_string(),
                forward: v.cfg.forward.to_string(),
                counters: traffic(&c, self.rates.per_s(&format!("vip:{}", v.id))),
                drops: Drops {
                    malformed: c.drop_malformed,
                    fragment: c.drop_fragment,
                    no_backend: c.drop_no_backend,
                },
                repicked: c.repicked,
                confirmed: c.confirmed,
                unrecorded: c.unrecorded,
                nat: NatCounters {
                    reply_packets: c.reply_packets,
                    reply_bytes: c.reply_bytes,
                    no_port: c.nat_no_port,
                    no_neighbour: c.nat_no_neigh,
                    no_route: c.nat_no_route,
                },
                backends: v
                    .cfg
                    .backends
                    .iter()
                    .filter_map(|bc| self.model.backends.get(&bc.name))
                    .map(|b| self.backend_status(b))
                    .collect(),
            });
        }
        let global = self
            .dataplane
            .as_ref()
            .map(|dp| sum(&dp.maps.global_stats, 0))
            .unwrap_or_default();
        Status {
            interface: self.model.config.daemon.interface.clone(),
            xdp_mode: self.xdp_mode.clone(),
            adopted: self.adopted,
            version: env!("CARGO_PKG_VERSION").to_string(),
            program_tag: self
                .dataplane
                .as_ref()
                .map(|dp| dp.program.tag.clone())
                .unwrap_or_default(),
            program_at_start: self
                .dataplane
                .as_ref()
                .map(|dp| dp.program.at_start().to_string())
                .unwrap_or_default(),
            previous_program_tag: self
                .dataplane
                .as_ref()
                .and_then(|dp| dp.program.previous_tag.clone()),
            uptime_s,
            vips,
            passed_packets: global.packets,
            passed_malformed: global.drop_malformed,
            nat_untranslated: global.nat_untranslated,
            nat_sources: self
                .model
                .config
                .nat
                .sources
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }
}
