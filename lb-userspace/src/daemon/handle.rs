//! The control API's handle on the core loop: each call is a message and a
//! reply. Input is parsed and bounded here, at the boundary (a drain's
//! timeout becomes a bounded `Duration`; the config file is read and
//! validated), and slow listings run here, off the loop.

use std::path::PathBuf;

use tokio::sync::{mpsc, oneshot};

use super::{
    event_loop::{Msg, Reply},
    flow_list::{self, DEFAULT_PAGE},
};
use crate::{
    api::{
        control::{Control, ControlError, ControlResult, FlowsQuery},
        types::{BackendStatus, DrainRequest, FlowPage, ReloadReport, Status, TeardownReport},
    },
    config::{self, duration::parse_duration},
};

#[derive(Clone)]
pub struct CoreHandle {
    tx: mpsc::Sender<Msg>,
    config_path: PathBuf,
}

fn core_gone() -> ControlError {
    ControlError::Internal("the daemon's core is not running".into())
}

impl CoreHandle {
    pub fn new(tx: mpsc::Sender<Msg>, config_path: PathBuf) -> Self {
        Self { tx, config_path }
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
        let name = name.to_string();
        self.ask(|reply| Msg::Enable { name, reply }).await
    }

    async fn disable(&self, name: &str) -> ControlResult<BackendStatus> {
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
}
