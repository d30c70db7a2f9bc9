//! Health checks: one task per checked backend, TCP connect or HTTP GET (2xx),
//! every `interval`, with at most `health_concurrency` probes in flight across
//! all backends. Each result goes to the core loop as a message; the core
//! decides (`next_health`): `fall` failures in a row take a backend out of
//! new-flow selection (UNHEALTHY: its existing flows are kept, unless
//! `on_unhealthy = "move"`); `rise` successes bring it back. A draining
//! backend that fails stays DRAINING: it is expected to be shutting down.
//! Probes go only to configured backend addresses.

use std::{net::SocketAddr, sync::Arc};

use tokio::{
    sync::{Semaphore, mpsc},
    task::JoinSet,
};

use super::{
    model::{Health, Model},
    msg::Msg,
    state::State,
};
use crate::config::{HealthConfig, HealthKind};

/// One probe: Ok when healthy.
async fn probe(addr: SocketAddr, cfg: &HealthConfig) -> Result<(), String> {
    match cfg.kind {
        HealthKind::Tcp => tokio::time::timeout(cfg.timeout, tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| format!("no connection within {:?}", cfg.timeout))?
            .map(drop)
            .map_err(|e| e.to_string()),
        HealthKind::Http => {
            let status =
                super::http1::request(addr, &addr.to_string(), "GET", &cfg.path, cfg.timeout)
                    .await?;
            if (200..300).contains(&status) {
                Ok(())
            } else {
                Err(format!("GET {} answered {status}", cfg.path))
            }
        }
    }
}

/// The verdict after a run of results, from `current`.
pub fn next_health(current: Health, successes: u32, failures: u32, cfg: &HealthConfig) -> Health {
    if failures >= cfg.fall && current != Health::Unhealthy {
        Health::Unhealthy
    } else if successes >= cfg.rise && current != Health::Healthy {
        Health::Healthy
    } else {
        current
    }
}

/// A run of probe results for `name` applied to `state`: a changed verdict
/// is logged and written to the maps.
pub fn probed(
    state: &mut State,
    name: &str,
    addr: SocketAddr,
    successes: u32,
    failures: u32,
    error: Option<&str>,
) {
    let Some(b) = state.model.backends.get_mut(name) else {
        return;
    };
    let Some(cfg) = b.cfg.health.as_ref() else {
        return;
    };
    let next = next_health(b.health, successes, failures, cfg);
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
    if let Err(e) = state.apply() {
        tracing::error!(error = %e, "applying a health change");
    }
}

/// Starts a checker for every backend with a health check; returns their set
/// (dropping or aborting it stops them all).
pub fn spawn_all(model: &Model, core: &mpsc::Sender<Msg>) -> JoinSet<()> {
    let limit = Arc::new(Semaphore::new(
        model.config.daemon.health_concurrency.max(1),
    ));
    let mut set = JoinSet::new();
    for b in model.backends.values() {
        let Some(cfg) = b.cfg.health.clone() else {
            continue;
        };
        let addr = SocketAddr::new(b.cfg.address, cfg.port_for(&b.cfg));
        let name = b.cfg.name.clone();
        let core = core.clone();
        let limit = Arc::clone(&limit);
        set.spawn(async move { check_loop(core, name, addr, cfg, limit).await });
    }
    set
}

async fn check_loop(
    core: mpsc::Sender<Msg>,
    name: String,
    addr: SocketAddr,
    cfg: HealthConfig,
    limit: Arc<Semaphore>,
) {
    let (mut successes, mut failures) = (0u32, 0u32);
    let mut ticker = tokio::time::interval(cfg.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let result = {
            let Ok(_permit) = limit.acquire().await else {
                return;
            };
            let started = std::time::Instant::now();
            let result = probe(addr, &cfg).await;
            let took = started.elapsed();
            crate::metrics::counters::global().health_check(&name, took, result.is_ok());
            result
        };
        if let Ok(()) = &result {
            successes = successes.saturating_add(1);
            failures = 0;
        } else {
            failures = failures.saturating_add(1);
            successes = 0;
        }
        let probe = Msg::Probe {
            name: name.clone(),
            addr,
            successes,
            failures,
            error: result.err(),
        };
        if core.send(probe).await.is_err() {
            return;
        }
    }
}
