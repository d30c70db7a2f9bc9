//! Starting the slow work the core asks for (`state::Work`): actions,
//! passes over the flow tables, watching a signalled process. Each runs as
//! its own task and reports back to the core with a message.

use tokio::sync::mpsc;

use super::{
    actions, drain,
    event_loop::{Core, Msg},
    fleet_action,
    flow_jobs::{self, FlowPins},
    live::Tracked,
    pidfd,
    state::Work,
};

impl Core {
    /// Starts the slow work a state change asked for.
    pub(super) fn start(&mut self, work: Vec<Work>) {
        for w in work {
            match w {
                Work::Action(due) => self.start_action(due),
                Work::Collect {
                    name,
                    backend_id,
                    started_at,
                } => self.start_collect(name, backend_id, started_at),
                Work::Forget(keys) => self.blocking("forgetting drain flows", move |pins| {
                    flow_jobs::forget(pins, &keys)
                }),
                Work::ForceOff(keys) => self.blocking("forcing flows off", move |pins| {
                    flow_jobs::force_off(pins, &keys)
                }),
                Work::WatchExit { name, pid } => {
                    let tx = self.tx.clone();
                    tokio::spawn(watch_exit(tx, name, pid, None));
                }
            }
        }
    }

    fn start_action(&mut self, due: drain::Due) {
        let address = self
            .state
            .model
            .backends
            .get(&due.backend)
            .map_or(std::net::Ipv4Addr::UNSPECIFIED.into(), |b| b.cfg.address);
        let tx = self.tx.clone();
        // In a fleet, a drain's shutdown action runs once, on the node that
        // wins its claim.
        if let Some(fleet) = self.fleet.as_mut()
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

    fn start_collect(&mut self, name: String, backend_id: u32, started_at: f64) {
        let Some(pins) = self.pins.clone().filter(|_| self.state.dataplane.is_some()) else {
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
            let work = self.state.collected(&name, started_at, tracked);
            self.start(work);
            return;
        };
        let idle = drain::idle_timeouts(&self.state.model.config.daemon);
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
        what: &'static str,
        job: impl FnOnce(&FlowPins) -> anyhow::Result<()> + Send + 'static,
    ) {
        let Some(pins) = self.pins.clone().filter(|_| self.state.dataplane.is_some()) else {
            return;
        };
        tokio::task::spawn_blocking(move || {
            if let Err(e) = job(&pins) {
                tracing::error!(error = %format!("{e:#}"), "{what}");
            }
        });
    }
}

/// Tells the core when the process `pid` (the target of `name`'s shutdown
/// signal) exits. A pidfd that cannot be opened because the process is gone
/// means it exited; any other failure means we cannot tell, and the drain
/// then ends by its flows or its deadline.
pub(super) async fn watch_exit(
    tx: mpsc::Sender<Msg>,
    name: String,
    pid: u32,
    fd: Option<std::os::fd::OwnedFd>,
) {
    let fd = match fd.map_or_else(|| pidfd::open(pid), Ok) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
            let _ = tx.send(Msg::ProcessExited { backend: name, pid }).await;
            return;
        }
        Err(e) => {
            tracing::warn!(backend = name, pid, error = %e, "cannot watch the signalled process for its exit");
            return;
        }
    };
    match pidfd::exited(fd).await {
        Ok(()) => {
            let _ = tx.send(Msg::ProcessExited { backend: name, pid }).await;
        }
        Err(e) => {
            tracing::warn!(backend = name, pid, error = %e, "cannot watch the signalled process for its exit");
        }
    }
}
