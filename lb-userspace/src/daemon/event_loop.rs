//! The core loop: the one task that owns the daemon's [`State`]. The control
//! API, the health checkers, the flow counter and the signal handler send it
//! messages; its timers tick the drains. Handling a message only changes the
//! state and writes a few map entries; anything slow (table scans, actions,
//! MAC lookups) is started as its own task, which reports back with a
//! message. So nothing can stall a drain's flip, and no lock exists to
//! deadlock on.

use std::{collections::BTreeMap, time::Duration};

use tokio::{
    sync::{mpsc, oneshot, watch},
    task::JoinSet,
};

use super::{
    drain,
    flow_jobs::FlowPins,
    flow_list::FlowLister,
    health,
    live::{IdleTimeouts, Tracked},
    neighbor, notify, reload,
    state::{State, Work},
};
use crate::{
    api::{
        control::{ControlError, ControlResult},
        types::{ActionOutcome, BackendStatus, ReloadReport, Status, TeardownReport},
    },
    config::Config,
};

/// How often drains advance and live counts of draining backends refresh.
pub const TICK: Duration = Duration::from_millis(100);
/// How often rates are sampled and unresolved MACs retried.
pub const SLOW_TICK: Duration = Duration::from_secs(1);
/// Messages waiting for the core at most; senders wait beyond that.
pub const QUEUE: usize = 1024;

pub type Reply<T> = oneshot::Sender<ControlResult<T>>;

/// Everything the core is told.
pub enum Msg {
    Status(Reply<Status>),
    Backend {
        name: String,
        reply: Reply<BackendStatus>,
    },
    Drain {
        name: String,
        /// Already bounded where it entered (`config::duration`).
        timeout: Option<Duration>,
        no_signal: bool,
        reply: Reply<BackendStatus>,
    },
    Enable {
        name: String,
        reply: Reply<BackendStatus>,
    },
    Disable {
        name: String,
        reply: Reply<BackendStatus>,
    },
    /// A config already read and validated (off the loop).
    Reload {
        config: Box<Config>,
        reply: Reply<ReloadReport>,
    },
    /// What a flow listing needs; the listing itself runs off the loop.
    Flows {
        backend: Option<String>,
        reply: Reply<FlowLister>,
    },
    Teardown(Reply<TeardownReport>),
    /// SIGTERM / SIGINT.
    Stop,
    Probe {
        name: String,
        addr: std::net::SocketAddr,
        successes: u32,
        failures: u32,
        error: Option<String>,
    },
    Counts(BTreeMap<u32, u64>),
    Collected {
        name: String,
        started_at: f64,
        tracked: Tracked,
    },
    CollectFailed {
        name: String,
    },
    ActionDone {
        backend: String,
        outcome: ActionOutcome,
        pid: Option<u32>,
    },
    ProcessExited {
        backend: String,
        pid: u32,
    },
    Macs(Vec<(String, [u8; 6])>),
    /// `[cluster]` (docs/fleet.md).
    Fleet(super::fleet_wiring::FleetMsg),
}

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
    /// Handed to the tasks the core starts, to report back.
    pub(super) tx: mpsc::Sender<Msg>,
    /// None without a data plane.
    pub(super) pins: Option<FlowPins>,
    idle: watch::Sender<IdleTimeouts>,
    health: JoinSet<()>,
    resolving: bool,
    stopping: bool,
    /// Without a data plane (tests): the flows each backend is given when a
    /// drain of it starts, in place of a pass over the flow table.
    pub absent_flows: BTreeMap<String, Vec<lb_common::flow::FlowKey>>,
    /// `[cluster]`: what the core knows of the fleet; None for one box.
    pub fleet: Option<super::fleet_core::FleetSide>,
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
            tx,
            pins,
            idle,
            health: JoinSet::new(),
            resolving: false,
            stopping: false,
            absent_flows: BTreeMap::new(),
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
        self.health = health::spawn_all(&self.state.model, &self.tx);
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
        self.fleet_leave();
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
                let _ = reply.send(self.lister(backend.as_deref()));
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
            } => self.probed(&name, addr, successes, failures, error.as_deref()),
            Msg::Counts(counts) => self.store_counts(&counts),
            Msg::Collected {
                name,
                started_at,
                tracked,
            } => {
                let work = self.state.collected(&name, started_at, tracked);
                self.start(work);
                self.share_collected(&name);
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
        self.health = health::spawn_all(&self.state.model, &self.tx);
        self.resolve_macs();
        Ok(report)
    }

    fn lister(&self, backend: Option<&str>) -> ControlResult<FlowLister> {
        let model = &self.state.model;
        let backend = match backend {
            Some(name) => Some(
                model
                    .backends
                    .get(name)
                    .ok_or_else(|| ControlError::UnknownBackend(name.to_string()))?
                    .id,
            ),
            None => None,
        };
        Ok(FlowLister {
            pins: self.pins.clone().filter(|_| self.state.dataplane.is_some()),
            backend,
            backend_names: self.state.names_by_id(),
            vip_names: model
                .vips
                .iter()
                .map(|v| {
                    let key = (v.cfg.address, v.cfg.port, v.cfg.protocol.number());
                    (key, v.cfg.name.clone())
                })
                .collect(),
            idle: drain::idle_timeouts(&model.config.daemon),
        })
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

    fn probed(
        &mut self,
        name: &str,
        addr: std::net::SocketAddr,
        successes: u32,
        failures: u32,
        error: Option<&str>,
    ) {
        let Some(b) = self.state.model.backends.get_mut(name) else {
            return;
        };
        let Some(cfg) = b.cfg.health.as_ref() else {
            return;
        };
        let next = health::next_health(b.health, successes, failures, cfg);
        if next == b.health {
            return;
        }
        match error {
            None => tracing::info!(backend = name, %addr, "health check passing: healthy"),
            Some(e) => {
                tracing::warn!(backend = name, %addr, error = %e, "health check failing: unhealthy");
            }
        }
        b.health = next;
        if let Err(e) = self.state.apply() {
            tracing::error!(error = %e, "applying a health change");
        }
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
        let tx = self.tx.clone();
        tokio::spawn(async move {
            let found =
                tokio::task::spawn_blocking(move || neighbor::resolve(&interface, &unresolved))
                    .await
                    .unwrap_or_default();
            let _ = tx.send(Msg::Macs(found)).await;
        });
    }
}
