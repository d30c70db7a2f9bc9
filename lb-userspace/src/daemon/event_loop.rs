//! The core loop: the one task that owns the daemon's [`State`] (and, with
//! `[cluster]`, its [`FleetSide`]). The control API, the health checkers, the
//! flow counter, the fleet's tasks and the signal handler send it messages
//! (`msg.rs`); its timers tick the drains. Handling a message only changes the
//! state and writes a few map entries; anything slow (table scans, actions,
//! MAC lookups) is started as its own task, which reports back with a
//! message. So nothing can stall a drain's flip, and no lock exists to
//! deadlock on.

use std::{collections::BTreeMap, time::Duration};

use tokio::{
    sync::{mpsc, watch},
    task::JoinSet,
};

use super::{
    drain,
    fleet_core::FleetSide,
    flow_list::FlowLister,
    flow_pins::FlowPins,
    health,
    live::IdleTimeouts,
    msg::{FleetMsg, Msg, Reply, SLOW_TICK, TICK},
    neighbor, notify, reload,
    state::{State, Work},
    work::Starter,
};
use crate::{
    api::{
        control::{ControlError, ControlResult, NodeAction},
        types::{BackendStatus, NodeStatus, ReloadReport, TeardownReport},
    },
    cluster::model::{AdminRecord, Revision},
    config::Config,
};

/// How the core loop ended, for the daemon's last words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Stopped (SIGTERM, SIGINT): the data plane keeps forwarding.
    Stopped,
    /// `lb teardown`: the data plane is gone.
    TornDown,
}

pub struct Core {
    pub state: State,
    /// Starts the slow work the state asks for; holds the way back here.
    pub(super) starter: Starter,
    idle: watch::Sender<IdleTimeouts>,
    health: JoinSet<()>,
    resolving: bool,
    stopping: bool,
    /// `[cluster]`: what the core knows of the fleet; None for one box.
    pub fleet: Option<FleetSide>,
}

impl Core {
    pub fn new(
        state: State,
        tx: mpsc::Sender<Msg>,
        pins: Option<FlowPins>,
        idle: watch::Sender<IdleTimeouts>,
    ) -> Self {
        Self {
            state,
            starter: Starter {
                tx,
                pins,
                absent_flows: BTreeMap::new(),
            },
            idle,
            health: JoinSet::new(),
            resolving: false,
            stopping: false,
            fleet: None,
        }
    }

    /// Runs until told to stop (or torn down); then persists the state.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Msg>) -> Ended {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut slow = tokio::time::interval(SLOW_TICK);
        slow.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let watchdog = notify::watchdog_every();
        let mut dog = tokio::time::interval(watchdog.unwrap_or(Duration::from_hours(1)));
        self.health = health::spawn_all(&self.state.model, &self.starter.tx);
        while !self.stopping {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => self.handle(msg),
                    None => break,
                },
                _ = tick.tick() => {
                    let work = self.state.tick();
                    self.start(work);
                    self.fleet_tick();
                }
                _ = slow.tick() => self.slow_tick(),
                _ = dog.tick(), if watchdog.is_some() => notify::watchdog(),
                Some(Err(e)) = self.health.join_next(), if !self.health.is_empty() => {
                    tracing::error!(error = %e, "a health checker ended");
                }
            }
        }
        self.health.abort_all();
        if let Some(fleet) = self.fleet.as_mut() {
            // Announce nothing more (the BGP task withdraws).
            fleet.leaving = true;
            fleet.announce(&self.state);
        }
        self.state.persist();
        if self.state.torn_down {
            Ended::TornDown
        } else {
            Ended::Stopped
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Status(reply) => {
                let _ = reply.send(Ok(self.state.status()));
            }
            Msg::Backend { name, reply } => {
                let _ = reply.send(self.view(&name));
            }
            Msg::Drain {
                name,
                timeout,
                no_signal,
                reply,
            } => {
                let result = self.state.start_drain(&name, timeout, no_signal);
                self.answer(result, &name, reply);
            }
            Msg::Enable { name, reply } => {
                let result = self.state.enable(&name);
                self.answer(result, &name, reply);
            }
            Msg::Disable { name, reply } => {
                let result = self.state.disable(&name);
                self.answer(result, &name, reply);
            }
            Msg::Reload { config, reply } => {
                let _ = reply.send(self.reload(*config));
            }
            Msg::Flows { backend, reply } => {
                let pins = self.starter.pins.clone();
                let _ = reply.send(FlowLister::new(&self.state, pins, backend.as_deref()));
            }
            Msg::Teardown(reply) => {
                let _ = reply.send(self.teardown());
            }
            Msg::Stop => self.stopping = true,
            Msg::Probe {
                name,
                addr,
                successes,
                failures,
                error,
            } => health::probed(
                &mut self.state,
                &name,
                addr,
                successes,
                failures,
                error.as_deref(),
            ),
            Msg::Counts(counts) => self.store_counts(&counts),
            Msg::Collected {
                name,
                started_at,
                tracked,
            } => {
                let work = self.state.collected(&name, started_at, tracked);
                self.start(work);
                if let Some(fleet) = &self.fleet {
                    fleet.share_collected(&self.state, &name);
                }
            }
            Msg::CollectFailed { name } => {
                // Tried again on a later tick.
                self.state.collecting.remove(&name);
            }
            Msg::ActionDone {
                backend,
                outcome,
                pid,
            } => self.state.record_action(&backend, outcome, pid),
            Msg::ProcessExited { backend, pid } => self.state.process_exited(&backend, pid),
            Msg::Macs(found) => {
                self.resolving = false;
                if self.state.set_macs(&found)
                    && let Err(e) = self.state.apply()
                {
                    tracing::error!(error = %e, "applying resolved MACs");
                }
            }
            Msg::Fleet(m) => self.fleet_msg(m),
        }
    }

    fn view(&self, name: &str) -> ControlResult<BackendStatus> {
        let b = self
            .state
            .model
            .backends
            .get(name)
            .ok_or_else(|| ControlError::UnknownBackend(name.to_string()))?;
        Ok(self.state.backend_status(b))
    }

    fn answer(
        &mut self,
        result: ControlResult<Vec<Work>>,
        name: &str,
        reply: Reply<BackendStatus>,
    ) {
        let answer = result.and_then(|work| {
            self.start(work);
            self.view(name)
        });
        let _ = reply.send(answer);
    }

    fn reload(&mut self, config: Config) -> ControlResult<ReloadReport> {
        notify::reloading();
        let result = reload::reload(&mut self.state, config);
        notify::ready();
        let (report, work) = result?;
        self.start(work);
        self.idle
            .send_replace(drain::idle_timeouts(&self.state.model.config.daemon));
        self.health.abort_all();
        self.health = health::spawn_all(&self.state.model, &self.starter.tx);
        self.resolve_macs();
        Ok(report)
    }

    /// Detaches and unpins the data plane, removes the state file, and stops.
    fn teardown(&mut self) -> ControlResult<TeardownReport> {
        if self.state.torn_down {
            return Err(ControlError::Conflict("already torn down".into()));
        }
        let interface = self.state.model.config.daemon.interface.clone();
        let (detached, unpinned) = match self.state.dataplane.take() {
            Some(dp) => (
                true,
                dp.teardown()
                    .map_err(|e| ControlError::Internal(format!("{e:#}")))?,
            ),
            None => (false, Vec::new()),
        };
        if let Some(saver) = &self.state.saver {
            saver.remove();
        }
        crate::dataplane::nat_guard::remove_on_teardown(&interface);
        self.state.torn_down = true;
        let d = &self.state.model.config.daemon;
        super::lock::remove_lock_file(&d.pin_root, &d.interface);
        tracing::info!(
            interface,
            "torn down: XDP detached, pins and state file removed; the daemon stops"
        );
        self.stopping = true;
        Ok(TeardownReport {
            interface,
            detached,
            unpinned,
        })
    }

    /// Starts the slow work a state change asked for.
    fn start(&mut self, work: Vec<Work>) {
        self.starter
            .start(work, &mut self.state, self.fleet.as_mut());
    }

    /// A whole-table count of the flows arrived (the fleet's report and
    /// `lb node drain` follow it).
    fn store_counts(&mut self, counts: &BTreeMap<u32, u64>) {
        self.state.store_counts(counts);
        if let Some(fleet) = self.fleet.as_mut() {
            fleet.counted_at = Some(std::time::Instant::now());
        }
        self.fleet_report();
    }

    /// After each tick: the report and the VIPs to announce, if changed.
    fn fleet_tick(&mut self) {
        self.fleet_report();
        self.fleet_announce();
    }

    fn fleet_report(&self) {
        if let Some(fleet) = &self.fleet {
            fleet.publish_report(&self.state);
        }
    }

    fn fleet_announce(&self) {
        if let Some(fleet) = &self.fleet {
            fleet.announce(&self.state);
        }
    }

    fn fleet_msg(&mut self, msg: FleetMsg) {
        match msg {
            FleetMsg::Plan {
                name,
                command,
                reply,
            } => {
                let plan = match &self.fleet {
                    Some(fleet) => fleet.plan(&self.state, &name, command),
                    None => Err(ControlError::Internal(
                        "this daemon has no [cluster] section".into(),
                    )),
                };
                let _ = reply.send(plan);
            }
            FleetMsg::Admin { records, read_at } => self.fleet_admin(records, read_at),
            FleetMsg::Counts(views) => {
                if let Some(gate) = self.state.fleet.as_mut() {
                    gate.drains = views;
                }
            }
            FleetMsg::Imported {
                backend,
                drain,
                keys,
            } => {
                if let Some(fleet) = &self.fleet {
                    fleet.imported(&mut self.state, backend, drain, keys);
                }
            }
            FleetMsg::Node { action, reply } => {
                let _ = reply.send(self.node_command(action));
            }
        }
    }

    /// Applies admin states from etcd, each with the work it asks for
    /// started before the next is applied.
    fn fleet_admin(&mut self, records: Vec<AdminRecord>, read_at: Option<Revision>) {
        let Some(fleet) = self.fleet.as_mut() else {
            return;
        };
        for rec in fleet.accept_admin(&self.state.model, records, read_at) {
            if let Some(fleet) = self.fleet.as_mut() {
                let work = fleet.apply_admin(&mut self.state, &rec);
                self.start(work);
            }
        }
        self.fleet_report();
        self.fleet_announce();
    }

    fn node_command(&mut self, action: NodeAction) -> ControlResult<NodeStatus> {
        let fleet = self.fleet.as_mut().ok_or_else(|| {
            ControlError::Conflict("this daemon runs without [cluster]: it is no fleet node".into())
        })?;
        fleet.node_command(&self.state, action)
    }

    fn slow_tick(&mut self) {
        self.state.record_rates();
        self.resolve_macs();
    }

    /// Looks unresolved MACs up in the neighbour table, off the loop.
    fn resolve_macs(&mut self) {
        let unresolved = self.state.unresolved();
        if self.resolving || unresolved.is_empty() || self.state.torn_down {
            return;
        }
        self.resolving = true;
        let interface = self.state.model.config.daemon.interface.clone();
        let tx = self.starter.tx.clone();
        tokio::spawn(async move {
            let found =
                tokio::task::spawn_blocking(move || neighbor::resolve(&interface, &unresolved))
                    .await
                    .unwrap_or_default();
            let _ = tx.send(Msg::Macs(found)).await;
        });
    }
}
