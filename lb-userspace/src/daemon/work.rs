//! Starting the slow work the core asks for (`state::Work`): actions,
//! passes over the flow tables, watching a signalled process. Each runs as
//! its own task and reports back to the core with a message.

use std::collections::BTreeMap;

use lb_common::flow::FlowKey;
use tokio::sync::mpsc;

use super::{
    actions, drain,
    exit_watch::watch_exit,
    fleet_action,
    fleet_core::FleetSide,
    flow_jobs,
    flow_pins::FlowPins,
    live::Tracked,
    msg::Msg,
    state::{State, Work},
};

/// What starting work needs beside the state: the way back to the core and
/// the flow tables.
pub struct Starter {
    /// Handed to the tasks started, to report back.
    pub tx: mpsc::Sender<Msg>,
    /// None without a data plane.
    pub pins: Option<FlowPins>,
    /// Without a data plane (tests): the flows each backend is given when a
    /// drain of it starts, in place of a pass over the flow table.
    pub absent_flows: BTreeMap<String, Vec<FlowKey>>,
}

impl Starter {
    /// Starts the slow work a state change asked for. `fleet`: with
    /// `[cluster]`, where a shutdown action claims its one run.
    pub fn start(&self, work: Vec<Work>, state: &mut State, mut fleet: Option<&mut FleetSide>) {
        for w in work {
            match w {
                Work::Action(due) => self.start_action(due, state, fleet.as_deref_mut()),
                Work::Collect {
                    name,
                    backend_id,
                    started_at,
                } => self.start_collect(name, backend_id, started_at, state, fleet.as_deref_mut()),
                Work::Forget(keys) => self.blocking(state, "forgetting drain flows", move |pins| {
                    flow_jobs::forget(pins, &keys)
                }),
                Work::ForceOff(keys) => self.blocking(state, "forcing flows off", move |pins| {
                    flow_jobs::force_off(pins, &keys)
                }),
                Work::WatchExit { name, pid } => {
                    let tx = self.tx.clone();
                    tokio::spawn(watch_exit(tx, name, pid, None));
                }
            }
        }
    }

    fn start_action(&self, due: drain::Due, state: &State, fleet: Option<&mut FleetSide>) {
        let address = state
            .model
            .backends
            .get(&due.backend)
            .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |b| b.cfg.address);
        let tx = self.tx.clone();
        // In a fleet, a drain's shutdown action runs once, on the node that
        // wins its claim.
        if let Some(fleet) = fleet
            && due.kind == crate::api::types::ActionKind::Shutdown
            && let Some(drain) = fleet.revision_of(&due.backend)
        {
            let cancel = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            fleet.claims.insert(due.backend.clone(), cancel.clone());
            let link = fleet.link.clone();
            tokio::spawn(fleet_action::run_once(
                link, due, address, drain, cancel, tx,
            ));
            return;
        }
        tokio::spawn(async move {
            let (outcome, signalled) =
                actions::run(due.kind, &due.action, &due.backend, address).await;
            let pid = signalled.as_ref().map(|s| s.pid);
            let done = Msg::ActionDone {
                backend: due.backend.clone(),
                outcome,
                pid,
            };
            if tx.send(done).await.is_ok()
                && let Some(s) = signalled
            {
                watch_exit(tx, due.backend, s.pid, Some(s.pidfd)).await;
            }
        });
    }

    fn start_collect(
        &self,
        name: String,
        backend_id: u32,
        started_at: f64,
        state: &mut State,
        fleet: Option<&mut FleetSide>,
    ) {
        let Some(pins) = self.pins.clone().filter(|_| state.dataplane.is_some()) else {
            // No data plane: the flows it was given, seen just now.
            let now = super::live::monotonic_ns();
            let flows = self.absent_flows.get(&name).into_iter().flatten().map(|k| {
                let info = lb_common::flow::FlowInfo {
                    backend_id,
                    flags: lb_common::flow::FLOW_F_PAYLOAD,
                    created_ns: now,
                    last_seen_ns: now,
                    ..Default::default()
                };
                (*k, info)
            });
            let tracked = Tracked::from_flows(backend_id, flows);
            let work = state.collected(&name, started_at, tracked);
            self.start(work, state, fleet);
            return;
        };
        let idle = drain::idle_timeouts(&state.model.config.daemon);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let collected =
                tokio::task::spawn_blocking(move || flow_jobs::collect(&pins, backend_id, idle))
                    .await;
            let msg = match collected {
                Ok(Ok(tracked)) => Msg::Collected {
                    name,
                    started_at,
                    tracked,
                },
                Ok(Err(e)) => {
                    tracing::error!(backend = name, error = %format!("{e:#}"), "collecting a draining backend's flows");
                    Msg::CollectFailed { name }
                }
                Err(e) => {
                    tracing::error!(backend = name, error = %e, "collecting a draining backend's flows");
                    Msg::CollectFailed { name }
                }
            };
            let _ = tx.send(msg).await;
        });
    }

    /// Runs `job` on the flow tables in a blocking task (if there are tables).
    fn blocking(
        &self,
        state: &State,
        what: &'static str,
        job: impl FnOnce(&FlowPins) -> anyhow::Result<()> + Send + 'static,
    ) {
        let Some(pins) = self.pins.clone().filter(|_| state.dataplane.is_some()) else {
            return;
        };
        tokio::task::spawn_blocking(move || {
            if let Err(e) = job(&pins) {
                tracing::error!(error = %format!("{e:#}"), "{what}");
            }
        });
    }
}
