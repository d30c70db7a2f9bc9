//! The daemon's picture of the world: the config, each VIP's and backend's id,
//! and each backend's admin state, health and drain. The state every backend
//! has in the kernel is derived from it (`BackendEntry::kernel_state`), never
//! stored separately.

use std::collections::BTreeMap;

use lb_common::backend::{
    STATE_ACTIVE, STATE_DOWN, STATE_DRAINED, STATE_DRAINING, STATE_UNHEALTHY,
};

use super::persist::{DrainRecord, Persisted};
use crate::{
    api::types::{ActionOutcome, DrainOutcome},
    config::{BackendConfig, Config, Forward, OnUnhealthy, VipConfig},
};

/// Health as the checker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// No health check configured.
    Unchecked,
    /// Configured, no verdict yet: counts as healthy so a fresh start serves at once.
    Unknown,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unchecked => "unchecked",
            Health::Unknown => "unknown",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

pub struct VipEntry {
    pub cfg: VipConfig,
    pub id: u32,
}

#[derive(Clone)]
pub struct BackendEntry {
    pub cfg: BackendConfig,
    pub vip: String,
    pub vip_id: u32,
    pub id: u32,
    /// Its VIP's: a NAT backend is reached through the FIB and needs no MAC.
    pub forward: Forward,
    /// From the config, else from the neighbour table; None until resolved.
    pub mac: Option<[u8; 6]>,
    pub disabled: bool,
    pub health: Health,
    pub drain: Option<DrainRecord>,
    pub last_action: Option<ActionOutcome>,
    /// Connections in flight, from the latest count.
    pub live_flows: u64,
}

impl BackendEntry {
    /// The `STATE_*` this backend has in `BACKENDS`.
    pub fn kernel_state(&self) -> u8 {
        if self.disabled {
            return STATE_DOWN;
        }
        if let Some(drain) = &self.drain {
            return match drain.outcome {
                None => STATE_DRAINING,
                Some(DrainOutcome::Drained | DrainOutcome::Forced) => STATE_DRAINED,
            };
        }
        // Nothing can be forwarded by DSR without a MAC (and no flow can exist yet).
        if self.needs_mac() {
            return STATE_DOWN;
        }
        // A failing health check stops new flows only: existing ones are
        // kept, so a backend that stalls for a few seconds loses nothing,
        // unless the config asks for them to move (`on_unhealthy = "move"`).
        if self.health == Health::Unhealthy {
            let moves = self
                .cfg
                .health
                .as_ref()
                .is_some_and(|h| h.on_unhealthy == OnUnhealthy::Move);
            return if moves { STATE_DOWN } else { STATE_UNHEALTHY };
        }
        STATE_ACTIVE
    }

    /// DSR writes the backend's MAC into each frame; NAT routes by the FIB.
    pub fn needs_mac(&self) -> bool {
        self.forward == Forward::Dsr && self.mac.is_none()
    }

    /// Why the backend takes no new flows though nobody asked for that.
    pub fn problem(&self) -> Option<String> {
        if self.needs_mac() {
            return Some(format!(
                "MAC of {} unresolved: no neighbour entry on the interface; set `mac` in the config",
                self.cfg.address
            ));
        }
        None
    }
}

/// Everything the daemon knows, apart from the maps.
pub struct Model {
    pub config: Config,
    pub vips: Vec<VipEntry>,
    pub backends: BTreeMap<String, BackendEntry>,
    /// Where the next new backend id search starts (see `Persisted`).
    pub next_backend_id: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum IdError {
    #[error("more than max_vips = {0} VIPs")]
    Vips(u32),
    #[error("more than max_backends = {0} backends")]
    Backends(u32),
}

impl Model {
    /// Builds the model for `config`, keeping ids, admin state and drains from
    /// `persisted` and the live entries of `previous` (on reload).
    pub fn new(
        config: Config,
        mut persisted: Persisted,
        max_vips: u32,
        max_backends: u32,
        mut previous: BTreeMap<String, BackendEntry>,
    ) -> Result<Self, IdError> {
        persisted
            .vip_ids
            .retain(|name, _| config.vip(name).is_some());
        persisted
            .backend_ids
            .retain(|name, _| config.backend(name).is_some());
        persisted
            .disabled
            .retain(|name| config.backend(name).is_some());
        persisted
            .drains
            .retain(|name, _| config.backend(name).is_some());

        // An id read from the state file is kept only if it fits and no
        // earlier entry took it: a hand-edited or damaged file cannot make
        // two VIPs or two backends share a slot.
        let mut used = std::collections::BTreeSet::new();
        let mut vips = Vec::new();
        for cfg in &config.vips {
            let id = match persisted.vip_ids.get(&cfg.name) {
                Some(id) if *id < max_vips && used.insert(*id) => *id,
                _ => {
                    let id = (0..max_vips)
                        .find(|id| !persisted.vip_ids.values().any(|v| v == id))
                        .ok_or(IdError::Vips(max_vips))?;
                    persisted.vip_ids.insert(cfg.name.clone(), id);
                    used.insert(id);
                    id
                }
            };
            vips.push(VipEntry {
                cfg: cfg.clone(),
                id,
            });
        }

        let mut used = std::collections::BTreeSet::new();
        let mut backends = BTreeMap::new();
        for vip in &vips {
            for cfg in &vip.cfg.backends {
                let id = match persisted.backend_ids.get(&cfg.name) {
                    Some(id) if *id < max_backends && used.insert(*id) => *id,
                    _ => {
                        let id = next_free_id(&persisted, max_backends)?;
                        persisted.backend_ids.insert(cfg.name.clone(), id);
                        persisted.next_backend_id = (id + 1) % max_backends;
                        used.insert(id);
                        id
                    }
                };
                let old = previous.remove(&cfg.name);
                let health = match (&cfg.health, &old) {
                    (None, _) => Health::Unchecked,
                    (Some(_), Some(old)) if old.health != Health::Unchecked => old.health,
                    (Some(_), _) => Health::Unknown,
                };
                let mac = cfg.mac.or_else(|| {
                    old.as_ref()
                        .filter(|o| o.cfg.address == cfg.address)
                        .and_then(|o| o.mac)
                });
                backends.insert(
                    cfg.name.clone(),
                    BackendEntry {
                        cfg: cfg.clone(),
                        vip: vip.cfg.name.clone(),
                        vip_id: vip.id,
                        id,
                        forward: vip.cfg.forward,
                        mac,
                        disabled: persisted.disabled.contains(&cfg.name),
                        health,
                        drain: persisted.drains.get(&cfg.name).cloned(),
                        last_action: old.as_ref().and_then(|o| o.last_action.clone()),
                        live_flows: old.as_ref().map_or(0, |o| o.live_flows),
                    },
                );
            }
        }
        Ok(Self {
            config,
            vips,
            backends,
            next_backend_id: persisted.next_backend_id,
        })
    }

    /// The record to store: derived from the model, the only copy.
    pub fn to_persisted(&self, xdp_mode: &str) -> Persisted {
        Persisted {
            vip_ids: self
                .vips
                .iter()
                .map(|v| (v.cfg.name.clone(), v.id))
                .collect(),
            backend_ids: self
                .backends
                .values()
                .map(|b| (b.cfg.name.clone(), b.id))
                .collect(),
            next_backend_id: self.next_backend_id,
            xdp_mode: Some(xdp_mode.to_string()),
            disabled: self
                .backends
                .values()
                .filter(|b| b.disabled)
                .map(|b| b.cfg.name.clone())
                .collect(),
            drains: self
                .backends
                .values()
                .filter_map(|b| b.drain.clone().map(|d| (b.cfg.name.clone(), d)))
                .collect(),
        }
    }

    pub fn vip_by_id(&self, id: u32) -> Option<&VipEntry> {
        self.vips.iter().find(|v| v.id == id)
    }

    pub fn backend_by_id(&self, id: u32) -> Option<&BackendEntry> {
        self.backends.values().find(|b| b.id == id)
    }

    /// Backends of `vip_id` in `states`, as (id, name, weight).
    pub fn members(&self, vip_id: u32, states: &[u8]) -> Vec<(u32, &str, u32)> {
        self.backends
            .values()
            .filter(|b| b.vip_id == vip_id && states.contains(&b.kernel_state()))
            .map(|b| (b.id, b.cfg.name.as_str(), b.cfg.weight))
            .collect()
    }
}

/// The first id at or after the cursor that no backend holds.
fn next_free_id(persisted: &Persisted, max_backends: u32) -> Result<u32, IdError> {
    let taken: std::collections::BTreeSet<u32> = persisted.backend_ids.values().copied().collect();
    (0..max_backends)
        .map(|i| {
            ((u64::from(persisted.next_backend_id) + u64::from(i)) % u64::from(max_backends)) as u32
        })
        .find(|id| !taken.contains(id))
        .ok_or(IdError::Backends(max_backends))
}

/// States whose backends own slots in the live table.
pub const LIVE_STATES: &[u8] = &[STATE_ACTIVE];
