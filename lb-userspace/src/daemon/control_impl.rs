//! The daemon behind the control API.

use std::sync::Arc;

use super::core::Daemon;
use crate::{
    api::{
        control::{Control, ControlError, ControlResult},
        types::{BackendStatus, DrainRequest, FlowView, ReloadReport, Status, TeardownReport},
    },
    config::duration::parse_duration,
};

/// Most flows `GET /v1/flows` lists: a full table can hold millions.
const FLOWS_LIMIT: usize = 10_000;

/// The API's handle on the daemon.
#[derive(Clone)]
pub struct Handle(pub Arc<Daemon>);

impl Handle {
    async fn backend_view(&self, name: &str) -> ControlResult<BackendStatus> {
        let inner = self.0.inner.lock().await;
        let b = inner
            .model
            .backends
            .get(name)
            .ok_or_else(|| ControlError::UnknownBackend(name.to_string()))?;
        Ok(inner.backend_status(b))
    }
}

impl Control for Handle {
    async fn status(&self) -> ControlResult<Status> {
        let inner = self.0.inner.lock().await;
        Ok(inner.status(self.0.started.elapsed().as_secs_f64()))
    }

    async fn backend(&self, name: &str) -> ControlResult<BackendStatus> {
        self.backend_view(name).await
    }

    async fn drain(&self, name: &str, request: DrainRequest) -> ControlResult<BackendStatus> {
        let timeout = request
            .timeout
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|e| ControlError::BadRequest(format!("timeout: {e}")))?;
        let due = {
            let mut inner = self.0.inner.lock().await;
            inner.start_drain(name, timeout, request.no_signal)?;
            // The first tick at once: the on_drain notice goes out the moment the drain starts.
            inner.tick()
        };
        super::spawn_due(&self.0, due).await;
        self.backend_view(name).await
    }

    async fn enable(&self, name: &str) -> ControlResult<BackendStatus> {
        self.0.inner.lock().await.enable(name)?;
        self.backend_view(name).await
    }

    async fn disable(&self, name: &str) -> ControlResult<BackendStatus> {
        self.0.inner.lock().await.disable(name)?;
        self.backend_view(name).await
    }

    async fn reload(&self) -> ControlResult<ReloadReport> {
        super::reload(&self.0).await
    }

    async fn flows(&self, backend: Option<&str>) -> ControlResult<Vec<FlowView>> {
        let inner = self.0.inner.lock().await;
        let id = match backend {
            Some(name) => Some(
                inner
                    .model
                    .backends
                    .get(name)
                    .ok_or_else(|| ControlError::UnknownBackend(name.to_string()))?
                    .id,
            ),
            None => None,
        };
        Ok(inner.flows(id, FLOWS_LIMIT))
    }

    async fn teardown(&self) -> ControlResult<TeardownReport> {
        let mut inner = self.0.inner.lock().await;
        let interface = inner.model.config.daemon.interface.clone();
        let dp = inner
            .dataplane
            .take()
            .ok_or_else(|| ControlError::Conflict("already torn down".into()))?;
        let unpinned = dp
            .teardown()
            .map_err(|e| ControlError::Internal(format!("{e:#}")))?;
        tracing::info!(
            interface,
            "torn down: XDP detached, pins removed; the daemon stops"
        );
        self.0.request_stop();
        Ok(TeardownReport {
            interface,
            detached: true,
            unpinned,
        })
    }
}
