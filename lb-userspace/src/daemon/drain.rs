//! The drain state machine, advanced once per tick.
//!
//! DRAINING starts with the table flip (done by the caller through `sync`).
//! Each tick then: sends the `on_drain` notice once; runs the shutdown action
//! once, when it is safe (see `shutdown_due`); completes the drain (DRAINED)
//! when the backend's live flows reach zero, or forces it at the deadline.

use std::time::Duration;

use super::{
    live::{IdleTimeouts, Tracked},
    model::BackendEntry,
};
use crate::{
    api::types::{ActionKind as Kind, DrainOutcome, SignalState},
    config::{Action, ShutdownWhen},
};

/// A flow must be at least this old, with its first request sent, before the
/// flow table counts it as safely in the backend's hands. Covers the time an
/// application takes to accept() a connection whose request already arrived.
pub const SETTLE_FLOOR: Duration = Duration::from_millis(200);

/// An action the tick decided to run.
pub struct Due {
    pub backend: String,
    pub kind: Kind,
    pub action: Action,
}

/// What a tick did to one drain.
#[derive(Default)]
pub struct StepResult {
    pub actions: Vec<Due>,
    /// The drain's record changed (persist it).
    pub changed: bool,
    /// The backend's kernel state changed (sync the maps).
    pub state_changed: bool,
    /// Flows to delete from the table: forced off at the deadline.
    pub forced: Vec<lb_common::flow::FlowKey>,
}

/// Advances `backend`'s drain. `elapsed` is the time since the drain started;
/// `exited` says the process the shutdown signal went to is gone.
pub fn step(
    backend: &mut BackendEntry,
    tracked: &Tracked,
    live: u64,
    elapsed: Duration,
    now_ns: u64,
    exited: bool,
) -> StepResult {
    step_in_fleet(backend, tracked, live, elapsed, now_ns, exited, true)
}

/// [`step`] for a node of a fleet: `live` is the fleet-wide count, and
/// `others_settled` says the other nodes' flows are settled too.
pub fn step_in_fleet(
    backend: &mut BackendEntry,
    tracked: &Tracked,
    live: u64,
    elapsed: Duration,
    now_ns: u64,
    exited: bool,
    others_settled: bool,
) -> StepResult {
    let mut result = notice(backend);
    let name = backend.cfg.name.clone();
    let Some(drain) = backend.drain.as_mut() else {
        return result;
    };
    if drain.outcome.is_some() {
        return result;
    }
    backend.live_flows = live;

    let at_deadline = elapsed >= drain.timeout;
    if !drain.shutdown_done {
        if let (Some(action), false) = (&backend.cfg.shutdown, drain.no_signal) {
            let due = at_deadline
                || live == 0
                || match backend.cfg.shutdown_when {
                    ShutdownWhen::Idle => false,
                    ShutdownWhen::Start => {
                        elapsed >= backend.cfg.signal_delay
                            || (elapsed >= SETTLE_FLOOR
                                && others_settled
                                && tracked.all_settled(now_ns, SETTLE_FLOOR.as_nanos() as u64))
                    }
                };
            if due {
                drain.shutdown_done = true;
                drain.signal = SignalState::Sent;
                result.changed = true;
                result.actions.push(Due {
                    backend: name.clone(),
                    kind: Kind::Shutdown,
                    action: action.clone(),
                });
            }
        } else {
            drain.shutdown_done = true;
            drain.signal = SignalState::Skipped;
            result.changed = true;
        }
    }

    let finished_at = drain.started_at + elapsed.as_secs_f64();
    if live == 0 {
        drain.outcome = Some(DrainOutcome::Drained);
        drain.finished_at = Some(finished_at);
        result.changed = true;
        result.state_changed = true;
        tracing::info!(backend = name, elapsed = ?elapsed, "drained: no live connections left");
    } else if exited {
        // The process is gone, so none of its connections can be in flight:
        // the ones still counted were closed or reset by it, which direct
        // server return never shows us. Their entries go.
        drain.outcome = Some(DrainOutcome::Drained);
        drain.finished_at = Some(finished_at);
        drain.flows_at_exit = live;
        backend.live_flows = 0;
        result.forced = tracked.keys().copied().collect();
        result.changed = true;
        result.state_changed = true;
        tracing::info!(backend = name, elapsed = ?elapsed, flows = live, "drained: the backend process exited; its remaining flows were closed by it");
    } else if at_deadline {
        drain.outcome = Some(DrainOutcome::Forced);
        drain.finished_at = Some(finished_at);
        drain.forced_flows = live;
        backend.live_flows = 0;
        result.forced = tracked.keys().copied().collect();
        result.changed = true;
        result.state_changed = true;
        tracing::warn!(
            backend = name,
            forced = live,
            "drain deadline reached: remaining connections forced off"
        );
    }
    result
}

/// The drain's first step, which needs no flow count: the `on_drain` notice
/// goes out the moment the drain starts, even while its flows are still
/// being collected.
pub fn notice(backend: &mut BackendEntry) -> StepResult {
    let mut result = StepResult::default();
    let Some(drain) = backend.drain.as_mut().filter(|d| d.outcome.is_none()) else {
        return result;
    };
    if !drain.on_drain_done {
        drain.on_drain_done = true;
        result.changed = true;
        if let Some(action) = &backend.cfg.on_drain {
            result.actions.push(Due {
                backend: backend.cfg.name.clone(),
                kind: Kind::OnDrain,
                action: action.clone(),
            });
        }
    }
    // No shutdown to run: known at once, whatever the flows.
    if !drain.shutdown_done && (drain.no_signal || backend.cfg.shutdown.is_none()) {
        drain.shutdown_done = true;
        drain.signal = SignalState::Skipped;
        result.changed = true;
    }
    result
}

/// What `lb enable` owes a backend whose drain sent an HTTP `on_drain`
/// notice: the same URL with `DELETE` (what `lb-drain` and any endpoint
/// following docs/drain.md take as "serve normally again"), or it would
/// go on closing every connection after its response. A signal or command
/// notice has no generic undo: nothing is sent for those.
pub fn undo_notice(backend: &BackendEntry) -> Option<Due> {
    let drain = backend.drain.as_ref()?;
    match (&backend.cfg.on_drain, drain.on_drain_done) {
        (Some(Action::Http { url, .. }), true) => Some(Due {
            backend: backend.cfg.name.clone(),
            kind: Kind::OnDrainUndo,
            action: Action::Http {
                url: url.clone(),
                method: "DELETE".to_string(),
            },
        }),
        _ => None,
    }
}

/// Idle timeouts of the config, for the live counters.
pub fn idle_timeouts(daemon: &crate::config::DaemonConfig) -> IdleTimeouts {
    IdleTimeouts {
        tcp_ns: daemon.flow_idle_timeout.as_nanos() as u64,
        udp_ns: daemon.udp_idle_timeout.as_nanos() as u64,
    }
}
