//! `lb daemon`: owns the data plane, keeps it in line with the config and the
//! operator's commands, runs health checks and drains, serves the control API
//! and the metrics. Stopping the daemon (SIGTERM, SIGINT) leaves the data plane
//! running; a restarted daemon adopts it.

mod actions;
pub mod control_impl;
pub mod core;
mod drain;
mod health;
mod http1;
pub mod live;
pub mod model;
mod neighbor;
pub mod persist;
mod status;
pub mod sync;

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::{Mutex, Notify, watch},
};

use self::{
    control_impl::Handle,
    core::{Daemon, Inner},
    model::Model,
    persist::StateFile,
    sync::Synced,
};
use crate::{
    api::{
        control::{ControlError, ControlResult},
        types::ReloadReport,
    },
    config::{self, Config},
    dataplane::{Dataplane, OpenOptions, attach::Requested, load::Sizes},
};

/// How often drains advance and live counts of draining backends refresh.
const TICK: Duration = Duration::from_millis(100);
/// How often rates are sampled and unresolved MACs retried.
const SLOW_TICK: Duration = Duration::from_secs(1);

/// Runs the daemon until SIGTERM/SIGINT or `lb teardown`. A bad config returns
/// a `config::ConfigError` (the CLI exits 2 on it).
pub fn run(config_path: PathBuf) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let config = config::load(&config_path)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_async(config_path, config))
}

fn sizes_of(config: &Config) -> Sizes {
    Sizes {
        max_vips: config.daemon.max_vips,
        max_backends: config.daemon.max_backends,
        max_flows: config.daemon.max_flows,
        max_drain_flows: config.daemon.max_drain_flows,
        maglev_size: config.daemon.maglev_size,
    }
}

fn requested(mode: config::XdpMode) -> Requested {
    match mode {
        config::XdpMode::Auto => Requested::Auto,
        config::XdpMode::Native => Requested::Native,
        config::XdpMode::Generic => Requested::Generic,
    }
}

async fn run_async(config_path: PathBuf, config: Config) -> anyhow::Result<()> {
    let state_file = StateFile(config.daemon.state_file.clone());
    let mut persisted = state_file.load()?;
    let (dataplane, attached) = Dataplane::open(&OpenOptions {
        interface: &config.daemon.interface,
        requested: requested(config.daemon.xdp_mode),
        pin_root: &config.daemon.pin_root,
        sizes: sizes_of(&config),
    })?;
    let flows_pin = dataplane.pins.0.clone();
    let xdp_mode = match attached {
        Some(mode) => mode.as_str().to_string(),
        None => persisted
            .xdp_mode
            .clone()
            .unwrap_or_else(|| "unknown".to_string()),
    };
    persisted.xdp_mode = Some(xdp_mode.clone());
    let synced = if dataplane.adopted {
        Synced::from_maps(&dataplane.maps).context("reading the adopted maps")?
    } else {
        Synced::default()
    };
    let model = Model::new(
        config.clone(),
        persisted,
        dataplane.sizes.max_vips,
        dataplane.sizes.max_backends,
        BTreeMap::new(),
    )?;
    let mut inner = Inner {
        model,
        adopted: dataplane.adopted,
        dataplane: Some(dataplane),
        synced,
        state_file,
        tracked: Default::default(),
        xdp_mode,
        rates: Default::default(),
    };
    inner.resolve_macs();
    inner
        .apply()
        .map_err(|e| anyhow::anyhow!("programming the data plane: {e}"))?;
    let (stop, _) = watch::channel(false);
    let daemon = Arc::new(Daemon {
        inner: Mutex::new(inner),
        config_path,
        started: Instant::now(),
        stop,
        health_changed: Notify::new(),
    });

    let handle = Arc::new(Handle(Arc::clone(&daemon)));
    let api = {
        let (handle, socket, stopped) = (
            Arc::clone(&handle),
            config.daemon.socket.clone(),
            daemon.stopped(),
        );
        tokio::spawn(async move { crate::api::server::serve(handle, &socket, stopped).await })
    };
    let metrics = config.daemon.metrics.map(|addr| {
        tokio::spawn(crate::metrics::serve_metrics(
            Arc::clone(&handle),
            addr,
            daemon.stopped(),
        ))
    });

    let counter = tokio::spawn(count_loop(Arc::clone(&daemon), flows_pin));
    let ticker = tokio::spawn(tick_loop(Arc::clone(&daemon)));
    let health = tokio::spawn(health_loop(Arc::clone(&daemon)));
    let signals = tokio::spawn(signal_loop(Arc::clone(&daemon)));

    daemon.stopped().await;
    ticker.abort();
    counter.abort();
    health.abort();
    signals.abort();
    let api_result = api.await;
    if let Some(m) = metrics {
        m.abort();
    }
    daemon.inner.lock().await.persist();
    tracing::info!("daemon stopped; the data plane keeps running (lb teardown removes it)");
    match api_result {
        Ok(result) => result,
        Err(e) => Err(anyhow::anyhow!("control API task: {e}")),
    }
}

/// How often, at most, the whole flow table is counted for every backend's
/// figure (draining backends are followed every tick, by key).
pub const FULL_COUNT_EVERY: Duration = Duration::from_secs(2);
/// A pass costs about 0.3 s at a million flows (docs/benchmarks.md): the next
/// one waits this many times as long as the last took, so counting never
/// takes more than about 5% of a core however full the table is.
pub const FULL_COUNT_DUTY: u32 = 20;

/// Counts live flows per backend over the whole table, on its own handle of
/// the pinned flow map and outside the daemon's lock, so that a pass over a
/// million flows never delays a drain's flip or a status answer.
async fn count_loop(daemon: Arc<Daemon>, flows_pin: PathBuf) {
    let flows = match live::FlowMap::from_pins(&flows_pin) {
        Ok(flows) => Arc::new(flows),
        Err(e) => {
            tracing::error!(pin = %flows_pin.display(), error = %e, "cannot open the flow table for live counts");
            return;
        }
    };
    loop {
        let idle = drain::idle_timeouts(&daemon.inner.lock().await.model.config.daemon);
        let started = Instant::now();
        let pass = Arc::clone(&flows);
        let counted = tokio::task::spawn_blocking(move || {
            live::count_by_backend(&pass, live::monotonic_ns(), idle)
        })
        .await;
        let took = started.elapsed();
        if let Ok((counts, scanned)) = counted {
            tracing::debug!(scanned, ?took, "flow table counted");
            daemon.inner.lock().await.store_counts(&counts);
        }
        tokio::time::sleep(FULL_COUNT_EVERY.max(took * FULL_COUNT_DUTY)).await;
    }
}

async fn tick_loop(daemon: Arc<Daemon>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_slow = Instant::now() - SLOW_TICK;
    loop {
        interval.tick().await;
        let due = {
            let mut inner = daemon.inner.lock().await;
            if last_slow.elapsed() >= SLOW_TICK {
                last_slow = Instant::now();
                inner.record_rates();
                if inner.resolve_macs()
                    && let Err(e) = inner.apply()
                {
                    tracing::error!(error = %e, "applying resolved MACs");
                }
            }
            inner.tick()
        };
        spawn_due(&daemon, due).await;
    }
}

/// Starts the actions a tick made due.
pub(crate) async fn spawn_due(daemon: &Arc<Daemon>, due: Vec<drain::Due>) {
    if due.is_empty() {
        return;
    }
    let addresses: BTreeMap<String, std::net::IpAddr> = {
        let inner = daemon.inner.lock().await;
        inner
            .model
            .backends
            .values()
            .map(|b| (b.cfg.name.clone(), b.cfg.address))
            .collect()
    };
    core::spawn_actions(daemon, due, &addresses);
}

async fn health_loop(daemon: Arc<Daemon>) {
    loop {
        let mut checkers = health::spawn_all(&daemon).await;
        daemon.health_changed.notified().await;
        checkers.abort_all();
    }
}

async fn signal_loop(daemon: Arc<Daemon>) {
    let (Ok(mut hup), Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    loop {
        tokio::select! {
            _ = hup.recv() => match reload(&daemon).await {
                Ok(report) => tracing::info!(?report, "reloaded on SIGHUP"),
                Err(e) => tracing::error!(error = %e, "reload on SIGHUP failed; the running config stays"),
            },
            _ = term.recv() => { daemon.request_stop(); return; }
            _ = int.recv() => { daemon.request_stop(); return; }
        }
    }
}

/// Re-reads the config; backends that did not change keep their flows.
pub(crate) async fn reload(daemon: &Arc<Daemon>) -> ControlResult<ReloadReport> {
    let config =
        config::load(&daemon.config_path).map_err(|e| ControlError::BadConfig(e.to_string()))?;
    let mut inner = daemon.inner.lock().await;
    let old_daemon = &inner.model.config.daemon;
    if old_daemon.interface != config.daemon.interface
        || old_daemon.pin_root != config.daemon.pin_root
        || sizes_of(&inner.model.config) != sizes_of(&config)
        || old_daemon.socket != config.daemon.socket
    {
        tracing::warn!(
            "daemon.interface, pin_root, socket and map sizes take effect only on a fresh start; \
             the rest of the new config is applied"
        );
    }
    let mut report = ReloadReport::default();
    for (_, b) in config.backends() {
        match inner.model.backends.get(&b.name) {
            None => report.added.push(b.name.clone()),
            Some(old) if old.cfg != *b => report.changed.push(b.name.clone()),
            Some(_) => report.unchanged.push(b.name.clone()),
        }
    }
    for name in inner.model.backends.keys() {
        if config.backend(name).is_none() {
            report.removed.push(name.clone());
        }
    }
    let sizes = inner
        .dataplane
        .as_ref()
        .map(|dp| dp.sizes)
        .unwrap_or_else(|| sizes_of(&config));
    let previous = inner.model.backends.clone();
    let persisted = inner.model.persisted.clone();
    match Model::new(
        config,
        persisted,
        sizes.max_vips,
        sizes.max_backends,
        previous,
    ) {
        Ok(model) => inner.model = model,
        Err(e) => return Err(ControlError::BadConfig(e.to_string())),
    }
    let kept: Vec<String> = inner.model.backends.keys().cloned().collect();
    inner.tracked.retain(|name, _| kept.contains(name));
    inner.resolve_macs();
    inner.apply()?;
    drop(inner);
    daemon.health_changed.notify_one();
    tracing::info!(?report, "config reloaded");
    Ok(report)
}
#[cfg(test)]
mod tests;
