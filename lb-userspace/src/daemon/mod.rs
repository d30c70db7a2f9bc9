//! `lb daemon`: owns the data plane, keeps it in line with the config and the
//! operator's commands, runs health checks and drains, serves the control API
//! and the metrics. Stopping the daemon (SIGTERM, SIGINT) leaves the data plane
//! running; a restarted daemon adopts it.
//!
//! Shape: one task, the core loop (`event_loop`), owns all state; everything
//! else (API, health checkers, flow counter, signals) talks to it by message.
//! Every essential task is supervised: if one fails or panics, the daemon
//! exits non-zero (so systemd restarts it) rather than run half-alive.

mod actions;
pub mod clock;
pub mod drain;
pub mod event_loop;
mod exit_watch;
mod fleet_action;
mod fleet_agent;
mod fleet_core;
mod fleet_drain_set;
mod fleet_gate;
mod fleet_imported;
pub mod fleet_node;
#[cfg(test)]
mod fleet_tests;
mod fleet_wiring;
pub mod flow_jobs;
pub mod flow_list;
pub mod flow_pins;
pub mod handle;
mod health;
mod http1;
pub mod live;
pub mod lock;
pub mod model;
pub mod msg;
mod neighbor;
pub mod notify;
pub mod persist;
mod pidfd;
mod pinned;
mod rates;
mod reload;
mod saver;
mod sockets;
pub mod state;
pub mod sync;
mod views;
mod work;

use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Instant};

use anyhow::Context as _;
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::{mpsc, watch},
    task::{JoinHandle, JoinSet},
};

pub use self::flow_jobs::{FULL_COUNT_DUTY, FULL_COUNT_EVERY};
use self::{
    event_loop::{Core, Ended},
    flow_pins::FlowPins,
    handle::CoreHandle,
    lock::{LOCK_DIR, PinLock},
    model::Model,
    msg::{Msg, QUEUE},
    persist::StateFile,
    sockets::Sockets,
    state::State,
    sync::Synced,
};
use crate::{
    api::{guard::Access, server},
    config::{self, Config},
    dataplane::{Dataplane, OpenOptions, attach::Requested, load::Sizes},
};

/// Runs the daemon until SIGTERM/SIGINT or `lb teardown`. A bad config returns
/// a `config::ConfigError` (the CLI exits 2 on it).
pub fn run(config_path: PathBuf) -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let config = config::refs::load_on_host(&config_path, &config::refs::System)?;
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

/// The daemon's start, step by step, then its life under supervision.
async fn run_async(config_path: PathBuf, config: Config) -> anyhow::Result<()> {
    let d = &config.daemon;
    // 1. One daemon per pin directory, before anything else.
    let _lock = PinLock::acquire(LOCK_DIR.as_ref(), &d.pin_root, &d.interface)?;
    // 2. The control socket, before the data plane is touched.
    let sockets = Sockets::bind(&config).await?;
    // 3-5. Open or adopt the data plane, build the model, apply it.
    let state_file = StateFile(d.state_file.clone());
    let (saver, saving) = saver::Saver::start(state_file.clone());
    let state = match open_state(&config, &state_file, saver) {
        Ok(state) => state,
        Err(e) => {
            sockets.remove();
            return Err(e);
        }
    };
    let pins = state.dataplane.as_ref().map(|dp| FlowPins::new(&dp.pins.0));
    // 6. The core and the tasks around it; ready once the API serves.
    let result = supervise(config_path, config, state, pins, sockets).await;
    // The core is gone, and with it the last Saver: the writer ends once the
    // last record is on disk.
    if tokio::time::timeout(std::time::Duration::from_secs(10), saving)
        .await
        .is_err()
    {
        tracing::error!("the state file writer did not finish in 10 s");
    }
    result
}

/// Reads the state file, opens (or adopts) the data plane, builds the model
/// and writes it into the maps.
fn open_state(
    config: &Config,
    state_file: &StateFile,
    saver: saver::Saver,
) -> anyhow::Result<State> {
    let d = &config.daemon;
    let persisted = state_file.load()?;
    let (dataplane, attached) = Dataplane::open(&OpenOptions {
        interface: &d.interface,
        requested: requested(d.xdp_mode),
        pin_root: &d.pin_root,
        sizes: sizes_of(config),
    })?;
    crate::metrics::counters::global().started(
        dataplane.sizes.max_flows,
        dataplane.sizes.max_drain_flows,
        dataplane.pins.map(lb_common::maps::DRAIN_FLOWS),
    );
    let xdp_mode = match attached {
        Some(mode) => mode.as_str().to_string(),
        None => persisted
            .xdp_mode
            .clone()
            .unwrap_or_else(|| "unknown".to_string()),
    };
    let synced = if dataplane.adopted {
        Synced::from_maps(&dataplane.maps).context("reading the adopted maps")?
    } else {
        Synced::default()
    };
    let mut model = Model::new(
        config.clone(),
        persisted,
        dataplane.sizes.max_vips,
        dataplane.sizes.max_backends,
        BTreeMap::new(),
    )?;
    pinned::start_from_pins(&mut model, &synced);
    let mut state = State {
        model,
        adopted: dataplane.adopted,
        dataplane: Some(dataplane),
        torn_down: false,
        synced,
        saver: Some(saver),
        tracked: Default::default(),
        collecting: Default::default(),
        exited: Default::default(),
        fleet: None,
        xdp_mode,
        rates: Default::default(),
        started: Instant::now(),
    };
    let unresolved = state.unresolved();
    state.set_macs(&neighbor::resolve(&d.interface, &unresolved));
    // NAT and DNAT backends need no MAC, but the program's FIB lookup needs a
    // neighbour entry for the next hop (without one the packet goes to the
    // kernel, which may not forward it): ask the kernel to resolve them now.
    for b in state.model.backends.values() {
        if b.forward.translates() {
            neighbor::trigger(b.cfg.address);
        }
    }
    state
        .apply()
        .map_err(|e| anyhow::anyhow!("programming the data plane: {e}"))?;
    Ok(state)
}

/// A started core: its task, the API's handle, and what the tasks around it need.
pub struct Started {
    pub task: JoinHandle<Ended>,
    pub handle: CoreHandle,
    pub idle: watch::Receiver<live::IdleTimeouts>,
    pub tx: mpsc::Sender<Msg>,
    /// `[cluster]`: the fleet's tasks, to start (`fleet_wiring::spawn`).
    pub fleet: Option<fleet_wiring::FleetStart>,
}

/// A core loop for `state`. `absent_flows`: without a data plane, the flows
/// each backend has when a drain of it starts (see `Starter::absent_flows`).
pub fn start_core(
    state: State,
    pins: Option<FlowPins>,
    config_path: PathBuf,
    absent_flows: BTreeMap<String, Vec<lb_common::flow::FlowKey>>,
) -> Started {
    let (tx, rx) = mpsc::channel(QUEUE);
    let (idle_tx, idle) = watch::channel(drain::idle_timeouts(&state.model.config.daemon));
    let mut core = Core::new(state, tx.clone(), pins, idle_tx);
    core.starter.absent_flows = absent_flows;
    let fleet = fleet_wiring::attach(&mut core);
    let task = tokio::spawn(core.run(rx));
    let handle = CoreHandle::new(tx.clone(), config_path);
    Started {
        task,
        handle,
        idle,
        tx,
        fleet,
    }
}

/// Runs the core and the tasks around it until the core stops; any
/// essential task that fails or panics ends the daemon with an error.
async fn supervise(
    config_path: PathBuf,
    config: Config,
    state: State,
    pins: Option<FlowPins>,
    sockets: Sockets,
) -> anyhow::Result<()> {
    let Started {
        task: mut core,
        handle,
        idle,
        tx,
        fleet,
    } = start_core(state, pins.clone(), config_path, BTreeMap::new());
    let mut tasks: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();
    let handle = match fleet {
        Some(f) => handle.with_fleet(fleet_wiring::spawn(f, tx.clone(), &mut tasks)),
        None => handle,
    };
    let handle = Arc::new(handle);
    let (stop, _) = watch::channel(false);
    let stopped = |stop: &watch::Sender<bool>| {
        let mut rx = stop.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    // Each ends only on failure, or after the core stopped.
    let mut sockets_up = vec![sockets.main];
    sockets_up.extend(sockets.read_only);
    for (i, (listener, path)) in sockets_up.into_iter().enumerate() {
        let (handle, shutdown) = (Arc::clone(&handle), stopped(&stop));
        let access = if i == 0 {
            Access::Full
        } else {
            Access::ReadOnly
        };
        tasks.spawn(async move {
            let served = server::serve_on(listener, &path, handle, access, shutdown).await;
            ("the control API", served)
        });
    }
    if let Some(addr) = config.daemon.metrics {
        let served = crate::metrics::serve_metrics(Arc::clone(&handle), addr, stopped(&stop));
        tasks.spawn(async move { ("the metrics server", served.await) });
    }
    let mut flow_counter = None;
    if let Some(pins) = pins {
        let counting = flow_jobs::count_loop(pins, idle, tx.clone());
        flow_counter = Some(tasks.spawn(async move { ("the flow counter", counting.await) }));
    }
    let signals = signal_loop(Arc::clone(&handle));
    let signal_handler = tasks.spawn(async move { ("the signal handler", signals.await) });
    tracing::info!("daemon ready");
    notify::ready();

    let result = tokio::select! {
        ended = &mut core => match ended {
            Ok(ended) => Ok(ended),
            Err(e) if e.is_panic() => Err(anyhow::anyhow!("the daemon's core task panicked; exiting so that it is restarted")),
            Err(e) => Err(anyhow::anyhow!("the daemon's core task ended: {e}")),
        },
        Some(joined) = tasks.join_next() => Err(match joined {
            Ok((name, Ok(()))) => anyhow::anyhow!("{name} stopped unexpectedly; exiting so that the daemon is restarted"),
            Ok((name, Err(e))) => e.context(format!("{name} failed; exiting so that the daemon is restarted")),
            Err(e) => anyhow::anyhow!("a task of the daemon panicked ({e}); exiting so that it is restarted"),
        }),
    };
    notify::stopping();
    if result.is_err() && !core.is_finished() {
        // Stop the core cleanly (it persists the state) if it still runs.
        let _ = tx.send(Msg::Stop).await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), &mut core).await;
    }
    stop.send_replace(true);
    // The signal handler never ends by itself and the flow counter only at
    // its next pass: neither has anything left to finish. Waiting for them
    // would hold every stop for the whole grace period below.
    signal_handler.abort();
    if let Some(counter) = flow_counter {
        counter.abort();
    }
    // Let the API finish answering (e.g. the teardown's own answer), and the
    // fleet's tasks leave (withdrawals, the node's report).
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        while let Some(joined) = tasks.join_next().await {
            if let Ok(("the control API", Err(e))) = joined {
                tracing::warn!(error = %format!("{e:#}"), "control API");
            }
        }
    })
    .await;
    tasks.abort_all();
    match &result {
        Ok(Ended::Stopped) => {
            tracing::info!("daemon stopped; the data plane keeps running (lb teardown removes it)");
        }
        Ok(Ended::TornDown) => tracing::info!("daemon stopped after lb teardown"),
        Err(e) => tracing::error!(error = %format!("{e:#}"), "daemon failed"),
    }
    result.map(|_| ())
}

async fn signal_loop(handle: Arc<CoreHandle>) -> anyhow::Result<()> {
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    loop {
        tokio::select! {
            _ = hup.recv() => match handle.reload_config().await {
                Ok(report) => tracing::info!(?report, "reloaded on SIGHUP"),
                Err(e) => tracing::error!(error = %e, "reload on SIGHUP failed; the running config stays"),
            },
            // Stays installed after: a second SIGTERM while stopping changes nothing.
            _ = term.recv() => handle.stop().await,
            _ = int.recv() => handle.stop().await,
        }
    }
}

#[cfg(test)]
mod tests;
