//! What the control API asks of the daemon. The HTTP layer (`server`, `routes`)
//! only translates; the daemon implements this trait.

use std::future::Future;

use serde::Deserialize;

use super::types::{
    BackendStatus, DrainRequest, FleetStatus, FlowPage, NodeStatus, ReloadReport, Status,
    TeardownReport,
};

/// `GET /v1/flows?backend=NAME&limit=N&after=CURSOR`, all optional.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FlowsQuery {
    /// Only this backend's flows.
    pub backend: Option<String>,
    /// At most this many flows (default 1000, at most 10000).
    pub limit: Option<usize>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

/// What an operator asks of this node of a fleet (`lb node ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeAction {
    Show,
    /// Withdraw every VIP: the router sends no new flow here.
    Drain,
    /// Announce again.
    Enable,
}

/// An error the API reports to its client.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// HTTP 404, code "unknown_backend".
    #[error("no backend named {0:?}; `lb status` lists them")]
    UnknownBackend(String),
    /// HTTP 400, code "bad_request".
    #[error("{0}")]
    BadRequest(String),
    /// HTTP 409, code "conflict": the request does not fit the backend's state.
    #[error("{0}")]
    Conflict(String),
    /// HTTP 422, code "bad_config": `lb reload` found the config invalid; nothing changed.
    #[error("{0}")]
    BadConfig(String),
    /// HTTP 500, code "internal".
    #[error("{0}")]
    Internal(String),
}

impl ControlError {
    /// The stable code in the error body.
    pub fn code(&self) -> &'static str {
        match self {
            ControlError::UnknownBackend(_) => "unknown_backend",
            ControlError::BadRequest(_) => "bad_request",
            ControlError::Conflict(_) => "conflict",
            ControlError::BadConfig(_) => "bad_config",
            ControlError::Internal(_) => "internal",
        }
    }
}

pub type ControlResult<T> = Result<T, ControlError>;

/// The daemon as the API sees it.
pub trait Control: Send + Sync + 'static {
    fn status(&self) -> impl Future<Output = ControlResult<Status>> + Send;
    fn backend(&self, name: &str) -> impl Future<Output = ControlResult<BackendStatus>> + Send;
    fn drain(
        &self,
        name: &str,
        request: DrainRequest,
    ) -> impl Future<Output = ControlResult<BackendStatus>> + Send;
    fn enable(&self, name: &str) -> impl Future<Output = ControlResult<BackendStatus>> + Send;
    fn disable(&self, name: &str) -> impl Future<Output = ControlResult<BackendStatus>> + Send;
    fn reload(&self) -> impl Future<Output = ControlResult<ReloadReport>> + Send;
    fn flows(&self, query: FlowsQuery) -> impl Future<Output = ControlResult<FlowPage>> + Send;
    fn teardown(&self) -> impl Future<Output = ControlResult<TeardownReport>> + Send;
    /// `[cluster]` only: this node behind the router (show, drain, enable).
    fn node(&self, action: NodeAction) -> impl Future<Output = ControlResult<NodeStatus>> + Send;
    /// `[cluster]` only: the fleet as etcd shows it.
    fn fleet(&self) -> impl Future<Output = ControlResult<FleetStatus>> + Send;
}
