//! The control API's handle on the core loop: each call is a message and a
//! reply. Input is parsed and bounded here, at the boundary (a drain's
//! timeout becomes a bounded `Duration`; the config file is read and
//! validated), and slow listings run here, off the loop.

use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};

use super::{
    fleet_agent::FleetLink,
    flow_list::{self, DEFAULT_PAGE},
    msg::{Command, FleetMsg, Msg, Reply},
};
use crate::{
    api::{
        control::{Control, ControlError, ControlResult, FlowsQuery, NodeAction},
        types::{
            BackendStatus, DrainRequest, FleetStatus, FlowPage, NodeStatus, ReloadReport, Status,
            TeardownReport,
        },
    },
    config::{self, duration::parse_duration},
};

#[derive(Clone)]
pub struct CoreHandle {
    tx: mpsc::Sender<Msg>,
    config_path: PathBuf,
    /// `[cluster]`: drain, enable and disable are written to etcd and act
    /// on every node (docs/fleet.md).
    fleet: Option<FleetLink>,
}

fn core_gone() -> ControlError {
    ControlError::Internal("the daemon's core is not running".into())
}

impl CoreHandle {
    pub fn new(tx: mpsc::Sender<Msg>, config_path: PathBuf) -> Self {
        Self {
            tx,
            config_path,
            fleet: None,
        }
    }

    pub fn with_fleet(mut self, link: FleetLink) -> Self {
        self.fleet = Some(link);
        self
    }

    /// A fleet-wide command: the core decides what to write (refusing what
    /// the one-box command would refuse), etcd takes it (or the command
    /// fails: a fleet-wide change never starts on one node alone), and the
    /// core applies it here at once; the other nodes get it by their watch.
    async fn fleet_command(
        &self,
        link: &FleetLink,
        name: &str,
        command: Command,
    ) -> ControlResult<BackendStatus> {
        let name = name.to_string();
        let plan = self
            .ask(|reply| {
                Msg::from(FleetMsg::Plan {
                    name: name.clone(),
                    command,
                    reply,
                })
            })
            .await?;
        if let Some(state) = plan {
            let record = link.put_admin(&name, state).await.map_err(|e| {
                ControlError::Conflict(format!(
                    "cannot write {name}'s admin state to etcd ({e}): a fleet-wide change \
                     does not start on one node alone; nothing changed, forwarding goes on \
                     with the last known state"
                ))
            })?;
            self.tx
                .send(
                    FleetMsg::Admin {
                        records: vec![record],
                        read_at: None,
                    }
                    .into(),
                )
                .await
                .map_err(|_| core_gone())?;
        }
        self.ask(|reply| Msg::Backend { name, reply }).await
    }

    async fn ask<T>(&self, msg: impl FnOnce(Reply<T>) -> Msg) -> ControlResult<T> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(msg(reply)).await.map_err(|_| core_gone())?;
        answer.await.map_err(|_| core_gone())?
    }

    /// Re-reads the config file and applies it (`lb reload`, SIGHUP); the
    /// result is counted for the metrics either way.
    pub async fn reload_config(&self) -> ControlResult<ReloadReport> {
        let result = self.load_and_apply().await;
        crate::metrics::counters::global().reload(result.is_ok());
        result
    }

    async fn load_and_apply(&self) -> ControlResult<ReloadReport> {
        let path = self.config_path.clone();
        let config = tokio::task::spawn_blocking(move || {
            config::refs::load_on_host(&path, &config::refs::System)
        })
        .await
        .map_err(|e| ControlError::Internal(e.to_string()))?
        .map_err(|e| ControlError::BadConfig(e.to_string()))?;
        self.ask(|reply| Msg::Reload {
            config: Box::new(config),
            reply,
        })
        .await
    }

    /// Asks the core to stop (SIGTERM, SIGINT).
    pub async fn stop(&self) {
        let _ = self.tx.send(Msg::Stop).await;
    }
}

impl Control for CoreHandle {
    async fn status(&self) -> ControlResult<Status> {
        self.ask(Msg::Status).await
    }

    async fn backend(&self, name: &str) -> ControlResult<BackendStatus> {
        let name = name.to_string();
        self.ask(|reply| Msg::Backend { name, reply }).await
    }

    async fn drain(&self, name: &str, request: DrainRequest) -> ControlResult<BackendStatus> {
        let timeout = request
            .timeout
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|e| ControlError::BadRequest(format!("timeout: {e}")))?;
        if let Some(link) = &self.fleet {
            let command = Command::Drain {
                timeout,
                no_signal: request.no_signal,
            };
            return self.fleet_command(link, name, command).await;
        }
        let name = name.to_string();
        self.ask(|reply| Msg::Drain {
            name,
            timeout,
            no_signal: request.no_signal,
            reply,
        })
        .await
    }

    async fn enable(&self, name: &str) -> ControlResult<BackendStatus> {
        if let Some(link) = &self.fleet {
            return self.fleet_command(link, name, Command::Enable).await;
        }
        let name = name.to_string();
        self.ask(|reply| Msg::Enable { name, reply }).await
    }

    async fn disable(&self, name: &str) -> ControlResult<BackendStatus> {
        if let Some(link) = &self.fleet {
            return self.fleet_command(link, name, Command::Disable).await;
        }
        let name = name.to_string();
        self.ask(|reply| Msg::Disable { name, reply }).await
    }

    async fn reload(&self) -> ControlResult<ReloadReport> {
        self.reload_config().await
    }

    async fn flows(&self, query: FlowsQuery) -> ControlResult<FlowPage> {
        let after = match query.after.as_deref() {
            Some(text) => Some(flow_list::parse_cursor(text).ok_or_else(|| {
                ControlError::BadRequest(format!("after: {text:?} is not a cursor from a `next`"))
            })?),
            None => None,
        };
        let limit = query.limit.unwrap_or(DEFAULT_PAGE);
        if limit == 0 || limit > flow_list::MAX_PAGE {
            return Err(ControlError::BadRequest(format!(
                "limit: expected 1..={}, got {limit}",
                flow_list::MAX_PAGE
            )));
        }
        let backend = query.backend;
        let lister = self.ask(|reply| Msg::Flows { backend, reply }).await?;
        tokio::task::spawn_blocking(move || lister.page(limit, after))
            .await
            .map_err(|e| ControlError::Internal(e.to_string()))?
    }

    async fn teardown(&self) -> ControlResult<TeardownReport> {
        self.ask(Msg::Teardown).await
    }

    async fn node(&self, action: NodeAction) -> ControlResult<NodeStatus> {
        self.ask(|reply| Msg::from(FleetMsg::Node { action, reply }))
            .await
    }

    async fn fleet(&self) -> ControlResult<FleetStatus> {
        let link = self.fleet.as_ref().ok_or_else(|| {
            ControlError::Conflict(
                "this daemon runs without [cluster]: there is no fleet to show".into(),
            )
        })?;
        link.status()
            .await
            .map_err(|e| ControlError::Conflict(format!("cannot read the fleet from etcd: {e}")))
    }
}
