//! The control API's routes: each handler turns an HTTP request into one call
//! of [`Control`] and its result into JSON. No decisions are made here.
//!
//! Two guards sit in front of the handlers (`guard`): on a read-only socket
//! every mutating call is refused (403), and every mutating call is logged
//! with the caller's uid and pid.

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Path, Query, State, rejection::QueryRejection},
    http::StatusCode,
    routing::{get, post},
};

use super::{
    control::{Control, FlowsQuery, NodeAction},
    error::ApiError,
    guard::{self, Access},
    types::{
        BackendStatus, DrainRequest, FleetStatus, FlowPage, NodeStatus, ReloadReport, Status,
        TeardownReport,
    },
};

/// Largest request body accepted; a drain request is a few dozen bytes.
pub const MAX_BODY: usize = 64 * 1024;

/// Every route of the API (`docs/api.md`), over any transport.
pub fn router<C: Control>(control: Arc<C>, access: Access) -> Router {
    Router::new()
        .route("/v1/status", get(status::<C>))
        .route("/v1/backends/{name}", get(backend::<C>))
        .route("/v1/backends/{name}/drain", post(drain::<C>))
        .route("/v1/backends/{name}/enable", post(enable::<C>))
        .route("/v1/backends/{name}/disable", post(disable::<C>))
        .route("/v1/reload", post(reload::<C>))
        .route("/v1/flows", get(flows::<C>))
        .route("/v1/teardown", post(teardown::<C>))
        .route("/v1/fleet", get(fleet::<C>))
        .route("/v1/node", get(node_show::<C>))
        .route("/v1/node/drain", post(node_drain::<C>))
        .route("/v1/node/enable", post(node_enable::<C>))
        // Also here, not only on the TCP metrics address, so `curl
        // --unix-socket` works on a daemon configured without one.
        .route("/metrics", get(crate::metrics::handler::<C>))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(access, guard::guard))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(control)
}

type ApiResult<T> = Result<Json<T>, ApiError>;

async fn status<C: Control>(State(c): State<Arc<C>>) -> ApiResult<Status> {
    Ok(Json(c.status().await?))
}

async fn fleet<C: Control>(State(c): State<Arc<C>>) -> ApiResult<FleetStatus> {
    Ok(Json(c.fleet().await?))
}

async fn node_show<C: Control>(State(c): State<Arc<C>>) -> ApiResult<NodeStatus> {
    Ok(Json(c.node(NodeAction::Show).await?))
}

async fn node_drain<C: Control>(State(c): State<Arc<C>>) -> ApiResult<NodeStatus> {
    Ok(Json(c.node(NodeAction::Drain).await?))
}

async fn node_enable<C: Control>(State(c): State<Arc<C>>) -> ApiResult<NodeStatus> {
    Ok(Json(c.node(NodeAction::Enable).await?))
}

async fn backend<C: Control>(
    State(c): State<Arc<C>>,
    Path(name): Path<String>,
) -> ApiResult<BackendStatus> {
    Ok(Json(c.backend(&name).await?))
}

/// The body is optional (`curl -X POST` with no data means "defaults"), and
/// the content type is not checked, since `curl -d` sends a form type.
/// Unknown fields are refused, naming the field.
async fn drain<C: Control>(
    State(c): State<Arc<C>>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<BackendStatus> {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        DrainRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("malformed drain request: {e}")))?
    };
    Ok(Json(c.drain(&name, request).await?))
}

async fn enable<C: Control>(
    State(c): State<Arc<C>>,
    Path(name): Path<String>,
) -> ApiResult<BackendStatus> {
    Ok(Json(c.enable(&name).await?))
}

async fn disable<C: Control>(
    State(c): State<Arc<C>>,
    Path(name): Path<String>,
) -> ApiResult<BackendStatus> {
    Ok(Json(c.disable(&name).await?))
}

async fn reload<C: Control>(State(c): State<Arc<C>>) -> ApiResult<ReloadReport> {
    Ok(Json(c.reload().await?))
}

async fn flows<C: Control>(
    State(c): State<Arc<C>>,
    query: Result<Query<FlowsQuery>, QueryRejection>,
) -> ApiResult<FlowPage> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(Json(c.flows(query).await?))
}

async fn teardown<C: Control>(State(c): State<Arc<C>>) -> ApiResult<TeardownReport> {
    Ok(Json(c.teardown().await?))
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route {}; see docs/api.md", uri.path()),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} is not allowed on {}", method, uri.path()),
    )
}
