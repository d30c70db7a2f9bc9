//! The daemon's state and the operations on it. Owned by one task, the core
//! loop (`event_loop`): no lock, and nothing here waits on anything slow.
//! Whole-table scans, actions and MAC lookups are asked for (as [`Work`])
//! and run elsewhere; their results come back as messages.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    time::{Duration, Instant},
};

use super::{
    clock::{elapsed_since, unix_now},
    drain,
    fleet_gate::{FleetGate, local_figures},
    live::{self, Tracked},
    model::{BackendEntry, Model},
    persist::DrainRecord,
    rates::Rates,
    saver::Saver,
    sync::{self, Synced},
};
use crate::{
    api::{
        control::ControlError,
        types::{ActionKind, ActionOutcome, DrainOutcome, SignalState},
    },
    dataplane::Dataplane,
    metrics::counters,
};

/// Slow work a state change asks for; the core loop runs it off the loop.
pub enum Work {
    /// Run a backend's action.
    Action(drain::Due),
    /// Collect a draining backend's flows and record them in DRAIN_FLOWS.
    Collect {
        name: String,
        backend_id: u32,
        /// Which drain the result belongs to (a drain cancelled and started
        /// again meanwhile is another one).
        started_at: f64,
    },
    /// Forget these flows in DRAIN_FLOWS (a drain ended or was cancelled).
    Forget(Vec<lb_common::flow::FlowKey>),
    /// Delete these flows from the flow table (forced off at the deadline).
    ForceOff(Vec<lb_common::flow::FlowKey>),
    /// Watch a signalled process for its exit (a drain resumed after a restart).
    WatchExit { name: String, pid: u32 },
}

pub struct State {
    pub model: Model,
    /// The data plane; None when the daemon runs without one (tests) or
    /// after `lb teardown`.
    pub dataplane: Option<Dataplane>,
    pub torn_down: bool,
    pub synced: Synced,
    /// The state file's writer; None: nothing is persisted (tests).
    pub saver: Option<Saver>,
    /// Draining backends' followed flows, by backend name.
    pub tracked: HashMap<String, Tracked>,
    /// Draining backends whose flows are being collected.
    pub collecting: HashSet<String>,
    /// Backends whose signalled process has exited.
    pub exited: HashSet<String>,
    pub xdp_mode: String,
    pub adopted: bool,
    pub rates: Rates,
    pub started: Instant,
    /// `[cluster]`: the other nodes' side of this node's drains (a drain
    /// completes at the fleet-wide zero); None for one box.
    pub fleet: Option<FleetGate>,
}

fn internal(e: impl std::fmt::Display) -> ControlError {
    ControlError::Internal(e.to_string())
}

impl State {
    /// Writes the model into the maps and the state file.
    pub fn apply(&mut self) -> Result<(), ControlError> {
        if let Some(dp) = self.dataplane.as_mut() {
            sync::apply(&self.model, &mut dp.maps, &mut self.synced).map_err(internal)?;
        }
        self.persist();
        Ok(())
    }

    /// Hands the record, derived from the model, to the state file's writer.
    pub fn persist(&self) {
        if self.torn_down {
            return;
        }
        if let Some(saver) = &self.saver {
            saver.save(self.model.to_persisted(&self.xdp_mode));
        }
    }

    pub fn backend_mut(&mut self, name: &str) -> Result<&mut BackendEntry, ControlError> {
        self.model
            .backends
            .get_mut(name)
            .ok_or_else(|| ControlError::UnknownBackend(name.to_string()))
    }

    fn refuse_after_teardown(&self) -> Result<(), ControlError> {
        if self.torn_down {
            return Err(ControlError::Conflict(
                "the data plane was torn down".into(),
            ));
        }
        Ok(())
    }

    /// Backends without a MAC, for a lookup in the neighbour table.
    pub fn unresolved(&self) -> Vec<(String, std::net::IpAddr)> {
        self.model
            .backends
            .values()
            .filter(|b| b.needs_mac())
            .map(|b| (b.cfg.name.clone(), b.cfg.address))
            .collect()
    }

    /// Stores MACs found in the neighbour table; true if any was new.
    pub fn set_macs(&mut self, found: &[(String, [u8; 6])]) -> bool {
        let mut changed = false;
        for (name, mac) in found {
            if let Some(b) = self
                .model
                .backends
                .get_mut(name)
                .filter(|b| b.mac.is_none())
            {
                tracing::info!(backend = name, mac = ?mac, "MAC resolved from the neighbour table");
                b.mac = Some(*mac);
                changed = true;
            }
        }
        changed
    }

    /// Starts draining `name`: out of the live table at once, flows kept.
    /// The flows to follow are collected off the loop (`Work::Collect`).
    pub fn start_drain(
        &mut self,
        name: &str,
        timeout: Option<Duration>,
        no_signal: bool,
    ) -> Result<Vec<Work>, ControlError> {
        self.refuse_after_teardown()?;
        let b = self.backend_mut(name)?;
        if b.disabled {
            return Err(ControlError::Conflict(format!(
                "{name} is disabled (admin DOWN): it takes no traffic; `lb enable {name}` first to drain it"
            )));
        }
        // Already draining, or drained and not enabled since: the same request
        // again changes nothing, and above all runs no shutdown action twice.
        if b.drain.as_ref().is_some() {
            return Ok(Vec::new());
        }
        let timeout = timeout.unwrap_or(b.cfg.drain_timeout);
        b.drain = Some(DrainRecord::new(unix_now(), timeout, no_signal));
        tracing::info!(backend = name, timeout = ?timeout, no_signal, "drain started");
        // The flip first; the drain counts from it, when new connections stopped.
        self.apply()?;
        let flipped_at = unix_now();
        if let Some(d) = self.backend_mut(name)?.drain.as_mut() {
            d.started_at = flipped_at;
        }
        self.exited.remove(name);
        // The first tick at once: the on_drain notice goes out with the flip.
        Ok(self.tick())
    }

    /// Flows of a draining backend, collected off the loop.
    // `started_at` names the drain (a copy of its own value): exact on purpose.
    #[allow(clippy::float_cmp)]
    pub fn collected(&mut self, name: &str, started_at: f64, tracked: Tracked) -> Vec<Work> {
        let current = self
            .model
            .backends
            .get_mut(name)
            .and_then(|b| b.drain.as_mut())
            .filter(|d| d.outcome.is_none() && d.started_at == started_at);
        let Some(drain) = current else {
            // Cancelled meanwhile: what was recorded goes again.
            return vec![Work::Forget(tracked.keys().copied().collect())];
        };
        if self.collecting.remove(name) && drain.initial_flows == 0 {
            drain.initial_flows = tracked.len();
        }
        self.tracked.insert(name.to_string(), tracked);
        self.persist();
        Vec::new()
    }

    /// Stops following a backend's drain and forgets its recorded connections.
    fn untrack(&mut self, name: &str) -> Vec<Work> {
        self.collecting.remove(name);
        self.exited.remove(name);
        if let Some(gate) = self.fleet.as_mut() {
            gate.imported.remove(name);
        }
        match self.tracked.remove(name) {
            Some(tracked) if !tracked.is_empty() => {
                vec![Work::Forget(tracked.keys().copied().collect())]
            }
            _ => Vec::new(),
        }
    }

    pub fn enable(&mut self, name: &str) -> Result<Vec<Work>, ControlError> {
        self.refuse_after_teardown()?;
        let b = self.backend_mut(name)?;
        let was_draining = b.drain.as_ref().is_some_and(|d| d.outcome.is_none());
        let undo = drain::undo_notice(b);
        b.disabled = false;
        b.drain = None;
        if was_draining {
            tracing::info!(backend = name, "drain cancelled: back to ACTIVE");
            counters::global().drain_ended(name, counters::CANCELLED, 0);
        }
        let mut work = self.untrack(name);
        work.extend(undo.map(Work::Action));
        self.apply()?;
        Ok(work)
    }

    pub fn disable(&mut self, name: &str) -> Result<Vec<Work>, ControlError> {
        self.refuse_after_teardown()?;
        let b = self.backend_mut(name)?;
        if b.drain.as_ref().is_some_and(|d| d.outcome.is_none()) {
            counters::global().drain_ended(name, counters::CANCELLED, 0);
        }
        b.disabled = true;
        b.drain = None;
        let work = self.untrack(name);
        self.apply()?;
        Ok(work)
    }

    /// Stores a whole-table count for the backends that are not followed by key.
    pub fn store_counts(&mut self, counts: &BTreeMap<u32, u64>) {
        for b in self.model.backends.values_mut() {
            if !self.tracked.contains_key(&b.cfg.name) {
                b.live_flows = counts.get(&b.id).copied().unwrap_or(0);
            }
        }
    }

    /// One tick: draining backends' live counts, drains, and the work they
    /// make due. Reads each followed flow by key: the cost grows with the
    /// draining backends' own flows, never with the table.
    pub fn tick(&mut self) -> Vec<Work> {
        if self.torn_down {
            return Vec::new();
        }
        let idle = drain::idle_timeouts(&self.model.config.daemon);
        let now_ns = live::monotonic_ns();
        let now_unix = unix_now();
        let draining: Vec<String> = self
            .model
            .backends
            .values()
            .filter(|b| b.drain.as_ref().is_some_and(|d| d.outcome.is_none()))
            .map(|b| b.cfg.name.clone())
            .collect();
        let mut work = Vec::new();
        let (mut changed, mut state_changed) = (false, false);
        for name in draining {
            let Some(b) = self.model.backends.get_mut(&name) else {
                continue;
            };
            if !self.tracked.contains_key(&name) {
                // Not collected yet (just started, or resumed after a
                // restart): only the notice, which needs no count.
                let step = drain::notice(b);
                changed |= step.changed;
                work.extend(step.actions.into_iter().map(Work::Action));
                if self.collecting.insert(name.clone()) {
                    let drain = b.drain.as_ref();
                    if let Some(pid) = drain.and_then(|d| d.signalled_pid) {
                        work.push(Work::WatchExit {
                            name: name.clone(),
                            pid,
                        });
                    }
                    work.push(Work::Collect {
                        name: name.clone(),
                        backend_id: b.id,
                        started_at: drain.map_or(now_unix, |d| d.started_at),
                    });
                }
                continue;
            }
            let Some(tracked) = self.tracked.get_mut(&name) else {
                continue;
            };
            // Connections imported from other nodes' drain sets that moved here.
            if let (Some(gate), Some(dp)) = (self.fleet.as_mut(), self.dataplane.as_ref())
                && let Some(imported) = gate.imported.get_mut(&name)
            {
                imported.adopt(|k| dp.maps.flows.get(k, 0).ok(), tracked, now_ns, idle);
            }
            let ended = match self.dataplane.as_ref() {
                Some(dp) => tracked.refresh(&dp.maps.flows, now_ns, idle),
                None => tracked.refresh_unseen(now_ns, idle),
            };
            let started_at = b.drain.as_ref().map_or(now_unix, |d| d.started_at);
            let elapsed = elapsed_since(started_at, now_unix);
            let exited = self.exited.contains(&name);
            let local = tracked.len();
            let (live, others_settled) = match &self.fleet {
                None => (local, true),
                Some(gate) => gate.with_others(&name, local),
            };
            let step =
                drain::step_in_fleet(b, tracked, live, elapsed, now_ns, exited, others_settled);
            if self.fleet.is_some() {
                local_figures(b, local);
            }
            changed |= step.changed;
            state_changed |= step.state_changed;
            work.extend(step.actions.into_iter().map(Work::Action));
            if !step.forced.is_empty() {
                work.push(Work::ForceOff(step.forced));
            }
            if let Some(dp) = self.dataplane.as_mut() {
                dp.maps.forget_drain_flows(&ended);
            }
            if let Some(d) = b.drain.as_ref().filter(|d| d.outcome.is_some()) {
                let outcome = d.outcome.map_or("", DrainOutcome::as_str);
                counters::global().drain_ended(&name, outcome, d.forced_flows);
                work.extend(self.untrack(&name));
            }
        }
        if state_changed {
            if let Err(e) = self.apply() {
                tracing::error!(error = %e, "applying drain results to the maps");
            }
        } else if changed {
            self.persist();
        }
        work
    }

    /// Records an action's outcome on its backend (and, for a signal, the
    /// process the drain now watches).
    pub fn record_action(&mut self, backend: &str, outcome: ActionOutcome, pid: Option<u32>) {
        counters::global().action(outcome.kind.as_str(), outcome.ok);
        if let Some(b) = self.model.backends.get_mut(backend) {
            if outcome.kind == ActionKind::Shutdown
                && let Some(d) = b.drain.as_mut()
            {
                if outcome.ok {
                    d.signalled_pid = pid;
                } else {
                    d.signal = SignalState::Failed;
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

    /// The process a drain's shutdown signal went to has exited.
    pub fn process_exited(&mut self, backend: &str, pid: u32) {
        let current = self
            .model
            .backends
            .get(backend)
            .and_then(|b| b.drain.as_ref())
            .is_some_and(|d| d.outcome.is_none() && d.signalled_pid == Some(pid));
        if current {
            tracing::info!(backend, pid, "the signalled backend process exited");
            self.exited.insert(backend.to_string());
        }
    }

    /// Backends' names by id, for views.
    pub fn names_by_id(&self) -> BTreeMap<u32, String> {
        self.model
            .backends
            .values()
            .map(|b| (b.id, b.cfg.name.clone()))
            .collect()
    }
}
