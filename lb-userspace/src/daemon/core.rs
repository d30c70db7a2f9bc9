//! The daemon's shared state and the operations the API and the tick loop run
//! on it. One lock: operations are short (map writes, a table publish), and a
//! single lock makes every change see a consistent model.

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::{Mutex, Notify, watch};

use super::{
    actions, drain,
    live::{self, Tracked},
    model::{BackendEntry, Model},
    neighbor,
    persist::{DrainRecord, StateFile},
    sync::{self, Synced},
};
use crate::{
    api::{control::ControlError, types::ActionOutcome},
    dataplane::Dataplane,
};

/// How often the whole flow table is counted for every backend's figure.
pub const FULL_COUNT_EVERY: Duration = Duration::from_secs(2);
/// A draining backend's flows are rescanned at most this often when the
/// kernel reports second-chance recreations for it.
const RESCAN_EVERY: Duration = Duration::from_secs(1);

pub struct Inner {
    pub model: Model,
    /// None once torn down.
    pub dataplane: Option<Dataplane>,
    pub synced: Synced,
    pub state_file: StateFile,
    /// Draining backends' followed flows, by backend name.
    pub tracked: HashMap<String, Tracked>,
    /// Per draining backend: its second_chance counter at the last rescan, and when.
    pub rescans: HashMap<String, (u64, Instant)>,
    pub last_full_count: Option<Instant>,
    pub xdp_mode: String,
    pub adopted: bool,
    pub rates: super::status::Rates,
}

pub struct Daemon {
    pub inner: Mutex<Inner>,
    pub config_path: PathBuf,
    pub started: Instant,
    /// Set to true to stop the daemon (SIGTERM, or after teardown).
    pub stop: watch::Sender<bool>,
    /// Notified when the health checkers must be restarted (reload).
    pub health_changed: Notify,
}

impl Daemon {
    /// Asks every task of the daemon to stop.
    pub fn request_stop(&self) {
        self.stop.send_replace(true);
    }

    /// Resolves once a stop was requested.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stop.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }
}

pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn internal(e: impl std::fmt::Display) -> ControlError {
    ControlError::Internal(e.to_string())
}

impl Inner {
    pub fn dataplane(&mut self) -> Result<&mut Dataplane, ControlError> {
        self.dataplane
            .as_mut()
            .ok_or_else(|| ControlError::Conflict("the data plane was torn down".into()))
    }

    /// Writes the model into the maps and the state file.
    pub fn apply(&mut self) -> Result<(), ControlError> {
        let Inner {
            model,
            dataplane,
            synced,
            ..
        } = self;
        if let Some(dp) = dataplane.as_mut() {
            sync::apply(model, &mut dp.maps, synced).map_err(internal)?;
        }
        self.persist();
        Ok(())
    }

    pub fn persist(&mut self) {
        self.model.sync_persisted();
        if let Err(e) = self.state_file.store(&self.model.persisted) {
            tracing::error!(file = %self.state_file.0.display(), error = %e, "cannot write the state file");
        }
    }

    pub fn backend_mut(&mut self, name: &str) -> Result<&mut BackendEntry, ControlError> {
        self.model
            .backends
            .get_mut(name)
            .ok_or_else(|| ControlError::UnknownBackend(name.to_string()))
    }

    /// Fills in MACs from the neighbour table; asks the kernel to resolve the rest.
    pub fn resolve_macs(&mut self) -> bool {
        let interface = self.model.config.daemon.interface.clone();
        let mut changed = false;
        for b in self.model.backends.values_mut() {
            if b.mac.is_none() {
                match neighbor::lookup(&interface, b.cfg.address) {
                    Some(mac) => {
                        tracing::info!(backend = b.cfg.name, mac = ?mac, "MAC resolved from the neighbour table");
                        b.mac = Some(mac);
                        changed = true;
                    }
                    None => neighbor::trigger(b.cfg.address),
                }
            }
        }
        changed
    }

    /// Starts draining `name`: out of the live table at once, flows kept.
    pub fn start_drain(
        &mut self,
        name: &str,
        timeout: Option<Duration>,
        no_signal: bool,
    ) -> Result<(), ControlError> {
        let b = self.backend_mut(name)?;
        if b.disabled {
            return Err(ControlError::Conflict(format!(
                "{name} is disabled (admin DOWN): it takes no traffic; `lb enable {name}` first to drain it"
            )));
        }
        if b.drain.as_ref().is_some_and(|d| d.outcome.is_none()) {
            return Ok(()); // already draining: the same request again is a no-op
        }
        let timeout = timeout.unwrap_or(b.cfg.drain_timeout);
        b.drain = Some(DrainRecord {
            started_at: unix_now(),
            timeout_s: timeout.as_secs_f64(),
            no_signal,
            signal: "pending".into(),
            initial_flows: 0,
            ..Default::default()
        });
        tracing::info!(backend = name, timeout = ?timeout, no_signal, "drain started");
        // The flip first; then collect the flows that stay pinned to it.
        self.apply()?;
        self.track(name);
        let initial = self.tracked.get(name).map_or(0, Tracked::len);
        if let Some(d) = self.backend_mut(name)?.drain.as_mut() {
            d.initial_flows = initial;
        }
        self.persist();
        Ok(())
    }

    /// Collects the flows of a draining backend.
    fn track(&mut self, name: &str) {
        let idle = drain::idle_timeouts(&self.model.config.daemon);
        let Some(id) = self.model.backends.get(name).map(|b| b.id) else {
            return;
        };
        if let Some(dp) = self.dataplane.as_ref() {
            let now = live::monotonic_ns();
            let tracked = Tracked::collect(&dp.maps.flows, id, now, idle);
            let sc = crate::dataplane::maps::Maps::sum(&dp.maps.backend_stats, id)
                .map_or(0, |c| c.second_chance);
            self.rescans.insert(name.to_string(), (sc, Instant::now()));
            self.tracked.insert(name.to_string(), tracked);
        }
    }

    pub fn enable(&mut self, name: &str) -> Result<(), ControlError> {
        let b = self.backend_mut(name)?;
        let was_draining = b.drain.as_ref().is_some_and(|d| d.outcome.is_none());
        b.disabled = false;
        b.drain = None;
        if was_draining {
            tracing::info!(backend = name, "drain cancelled: back to ACTIVE");
        }
        self.tracked.remove(name);
        self.apply()
    }

    pub fn disable(&mut self, name: &str) -> Result<(), ControlError> {
        let b = self.backend_mut(name)?;
        b.disabled = true;
        b.drain = None;
        self.tracked.remove(name);
        self.apply()
    }

    /// One tick: live counts, drains, and the actions they make due.
    pub fn tick(&mut self) -> Vec<drain::Due> {
        let idle = drain::idle_timeouts(&self.model.config.daemon);
        let now_ns = live::monotonic_ns();
        let now_unix = unix_now();
        let Some(dp) = self.dataplane.as_ref() else {
            return Vec::new();
        };

        if self
            .last_full_count
            .is_none_or(|t| t.elapsed() >= FULL_COUNT_EVERY)
        {
            let started = Instant::now();
            let (counts, scanned) = live::count_by_backend(&dp.maps.flows, now_ns, idle);
            tracing::debug!(scanned, took = ?started.elapsed(), "flow table counted");
            for b in self.model.backends.values_mut() {
                if !self.tracked.contains_key(&b.cfg.name) {
                    b.live_flows = counts.get(&b.id).copied().unwrap_or(0);
                }
            }
            self.last_full_count = Some(Instant::now());
        }

        let draining: Vec<String> = self
            .model
            .backends
            .values()
            .filter(|b| b.drain.as_ref().is_some_and(|d| d.outcome.is_none()))
            .map(|b| b.cfg.name.clone())
            .collect();
        let mut due = Vec::new();
        let mut forced = Vec::new();
        let (mut changed, mut state_changed) = (false, false);
        for name in draining {
            if !self.tracked.contains_key(&name) {
                self.track(&name); // resumed after a restart
            }
            let Some(dp) = self.dataplane.as_ref() else {
                break;
            };
            let Some(b) = self.model.backends.get_mut(&name) else {
                continue;
            };
            let tracked = self.tracked.entry(name.clone()).or_default();
            // Flows the second-chance path brought back are picked up by a rescan.
            let sc = crate::dataplane::maps::Maps::sum(&dp.maps.backend_stats, b.id)
                .map_or(0, |c| c.second_chance);
            let (seen, at) = self
                .rescans
                .get(&name)
                .copied()
                .unwrap_or((0, Instant::now()));
            if sc != seen && at.elapsed() >= RESCAN_EVERY {
                tracked.rescan(&dp.maps.flows, now_ns, idle);
                self.rescans.insert(name.clone(), (sc, Instant::now()));
            }
            let live_now = tracked.refresh(&dp.maps.flows, now_ns, idle);
            let started_at = b.drain.as_ref().map_or(now_unix, |d| d.started_at);
            let elapsed = Duration::from_secs_f64((now_unix - started_at).max(0.0));
            let step = drain::step(b, tracked, live_now, elapsed, now_ns);
            changed |= step.changed;
            state_changed |= step.state_changed;
            forced.extend(step.forced);
            due.extend(step.actions);
            if b.drain.as_ref().is_some_and(|d| d.outcome.is_some()) {
                self.tracked.remove(&name);
            }
        }
        if let Some(dp) = self.dataplane.as_mut() {
            for key in &forced {
                let _ = dp.maps.flows.remove(key);
            }
        }
        if state_changed {
            if let Err(e) = self.apply() {
                tracing::error!(error = %e, "applying drain results to the maps");
            }
        } else if changed {
            self.persist();
        }
        due
    }

    /// Records an action's outcome on its backend.
    pub fn record_action(&mut self, backend: &str, outcome: ActionOutcome) {
        if let Some(b) = self.model.backends.get_mut(backend) {
            if !outcome.ok
                && outcome.kind == actions::Kind::Shutdown.as_str()
                && let Some(d) = b.drain.as_mut()
            {
                d.signal = "failed".into();
            }
            b.last_action = Some(outcome);
        }
        self.persist();
    }

    /// Backends' ids by name, for views.
    pub fn names_by_id(&self) -> BTreeMap<u32, String> {
        self.model
            .backends
            .values()
            .map(|b| (b.id, b.cfg.name.clone()))
            .collect()
    }
}

/// Runs due actions in the background; each records its outcome when done.
pub fn spawn_actions(
    daemon: &Arc<Daemon>,
    due: Vec<drain::Due>,
    addresses: &BTreeMap<String, std::net::IpAddr>,
) {
    for d in due {
        let daemon = Arc::clone(daemon);
        let address = addresses
            .get(&d.backend)
            .copied()
            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
        tokio::spawn(async move {
            let outcome = actions::run(d.kind, &d.action, &d.backend, address).await;
            daemon.inner.lock().await.record_action(&d.backend, outcome);
        });
    }
}
