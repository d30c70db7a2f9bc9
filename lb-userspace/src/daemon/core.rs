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

pub struct Inner {
    pub model: Model,
    /// None once torn down.
    pub dataplane: Option<Dataplane>,
    pub synced: Synced,
    pub state_file: StateFile,
    /// Draining backends' followed flows, by backend name.
    pub tracked: HashMap<String, Tracked>,
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
        // Already draining, or drained and not enabled since: the same request
        // again changes nothing, and above all runs no shutdown action twice.
        if b.drain
            .as_ref()
            .is_some_and(|d| d.outcome.as_deref() != Some("cancelled"))
        {
            return Ok(());
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
        // The flip first; then collect the flows that stay pinned to it. The
        // drain counts from the flip, when new connections stopped.
        self.apply()?;
        let flipped_at = unix_now();
        self.track(name);
        let initial = self.tracked.get(name).map_or(0, Tracked::len);
        if let Some(d) = self.backend_mut(name)?.drain.as_mut() {
            d.initial_flows = initial;
            d.started_at = flipped_at;
        }
        self.persist();
        Ok(())
    }

    /// Collects the flows of a draining backend and records them in
    /// `DRAIN_FLOWS`, where LRU eviction cannot take them.
    fn track(&mut self, name: &str) {
        let idle = drain::idle_timeouts(&self.model.config.daemon);
        let Some(id) = self.model.backends.get(name).map(|b| b.id) else {
            return;
        };
        if let Some(dp) = self.dataplane.as_mut() {
            let now = live::monotonic_ns();
            let tracked = Tracked::collect(&dp.maps.flows, &dp.maps.drain_flows, id, now, idle);
            let keys: Vec<_> = tracked.keys().copied().collect();
            let recorded = dp.maps.record_drain_flows(&keys, id);
            tracing::info!(
                backend = name,
                flows = keys.len(),
                recorded,
                "draining backend's connections recorded"
            );
            self.tracked.insert(name.to_string(), tracked);
        }
    }

    /// Stops following a backend's drain and forgets its recorded connections.
    fn untrack(&mut self, name: &str) {
        if let Some(tracked) = self.tracked.remove(name)
            && let Some(dp) = self.dataplane.as_mut()
        {
            dp.maps.forget_drain_flows(tracked.keys());
        }
    }

    pub fn enable(&mut self, name: &str) -> Result<(), ControlError> {
        let b = self.backend_mut(name)?;
        let was_draining = b.drain.as_ref().is_some_and(|d| d.outcome.is_none());
        b.disabled = false;
        b.drain = None;
        if was_draining {
            tracing::info!(backend = name, "drain cancelled: back to ACTIVE");
            crate::metrics::counters::global().drain_ended(name, "cancelled", 0);
        }
        self.untrack(name);
        self.apply()
    }

    pub fn disable(&mut self, name: &str) -> Result<(), ControlError> {
        let b = self.backend_mut(name)?;
        if b.drain.as_ref().is_some_and(|d| d.outcome.is_none()) {
            crate::metrics::counters::global().drain_ended(name, "cancelled", 0);
        }
        b.disabled = true;
        b.drain = None;
        self.untrack(name);
        self.apply()
    }

    /// Stores a whole-table count (see `count_loop`) for the backends that are
    /// not followed by key.
    pub fn store_counts(&mut self, counts: &BTreeMap<u32, u64>) {
        for b in self.model.backends.values_mut() {
            if !self.tracked.contains_key(&b.cfg.name) {
                b.live_flows = counts.get(&b.id).copied().unwrap_or(0);
            }
        }
    }

    /// One tick: draining backends' live counts, drains, and the actions they
    /// make due.
    pub fn tick(&mut self) -> Vec<drain::Due> {
        let idle = drain::idle_timeouts(&self.model.config.daemon);
        let now_ns = live::monotonic_ns();
        let now_unix = unix_now();
        if self.dataplane.is_none() {
            return Vec::new();
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
            let ended = tracked.refresh(&dp.maps.flows, now_ns, idle);
            let live_now = tracked.len();
            let started_at = b.drain.as_ref().map_or(now_unix, |d| d.started_at);
            let elapsed = Duration::from_secs_f64((now_unix - started_at).max(0.0));
            let exited = b
                .drain
                .as_ref()
                .and_then(|d| d.signalled_pid)
                .is_some_and(actions::process_gone);
            let step = drain::step(b, tracked, live_now, elapsed, now_ns, exited);
            changed |= step.changed;
            state_changed |= step.state_changed;
            forced.extend(step.forced);
            due.extend(step.actions);
            let over = b.drain.as_ref().is_some_and(|d| d.outcome.is_some());
            if let Some(d) = b.drain.as_ref().filter(|_| over) {
                let outcome = d.outcome.as_deref().unwrap_or_default();
                crate::metrics::counters::global().drain_ended(&name, outcome, d.forced_flows);
            }
            if let Some(dp) = self.dataplane.as_mut() {
                dp.maps.forget_drain_flows(&ended);
            }
            if over {
                self.untrack(&name);
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

    /// Records an action's outcome on its backend (and, for a signal, the
    /// process the drain now watches).
    pub fn record_action(&mut self, backend: &str, outcome: ActionOutcome, pid: Option<u32>) {
        if let Some(b) = self.model.backends.get_mut(backend) {
            let shutdown = outcome.kind == actions::Kind::Shutdown.as_str();
            if shutdown && let Some(d) = b.drain.as_mut() {
                if outcome.ok {
                    d.signalled_pid = pid;
                } else {
                    d.signal = "failed".into();
                }
            }
            if b.last_action
                .as_ref()
                .is_none_or(|last| last.at <= outcome.at)
            {
                b.last_action = Some(outcome);
            }
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
            let (outcome, pid) = actions::run(d.kind, &d.action, &d.backend, address).await;
            crate::metrics::counters::global().action(d.kind.as_str(), outcome.ok);
            daemon
                .inner
                .lock()
                .await
                .record_action(&d.backend, outcome, pid);
        });
    }
}
