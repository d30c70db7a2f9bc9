//! Drives the fleet lab for part 6: three nodes announcing the VIP through
//! their BIRDs, drains issued on each node in turn, etcd's counters read
//! from inside the lab (the router's namespace reaches etcd's address).

use std::{
    collections::BTreeSet,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};
use lb_lab::{
    BackendOpts, ConfigSpec, Daemon, Fleet, FleetSpec, Request, client::unix_time,
    etcd_metrics::EtcdCounters, scenario,
};
use lb_userspace::api::types::{BackendStatus, DrainOutcome, DrainStatus};

use super::{CLOSE_ROUNDS, EtcdRequests, FLIP_ROUNDS, Flip, LastClose, MethodCount, NODES, Report};
use crate::{
    Ctx,
    stats::{Summary, median, round},
};

const BACKEND: &str = "web-2";
const LEASE_TTL: Duration = Duration::from_secs(3);
const STREAMS: usize = 12;
const STREAM_SECONDS: f64 = 3.0;
/// The idle window etcd's background rate is measured over.
const IDLE_WINDOW: Duration = Duration::from_secs(6);

pub fn run(ctx: &Ctx) -> Result<Option<serde_json::Value>> {
    let started = Instant::now();
    let lb = scenario::lb_binary()?;
    let fleet = Fleet::up(FleetSpec {
        prefix: "bench-fleet".into(),
        backends: 3,
        nodes: NODES,
        ipv6: false,
    })?;
    let daemons = start_daemons(&fleet, &lb)?;
    let (idle_unary_per_s, idle_stream_messages_per_s) = idle_rates(&fleet)?;
    let flip = flips(&daemons)?;
    println!(
        "fleet: flip spread median {:.1} ms, worst {:.1} ms over {FLIP_ROUNDS} drains",
        flip.spread_ms.median, flip.spread_ms.max
    );
    let (last_close, per_drain) = last_closes(&fleet, &daemons)?;
    println!(
        "fleet: DRAINED on the last node {:.0} ms (median) after the last close",
        last_close.last_node_ms.median
    );
    let etcd = etcd_figures(&per_drain, idle_unary_per_s, idle_stream_messages_per_s);
    println!(
        "fleet: {:.0} etcd unary requests per drain (median), idle {idle_unary_per_s:.1}/s",
        etcd.unary_per_drain.median
    );
    drop(daemons);
    fleet.down()?;
    let drain_set = super::drain_set::run()?;
    let report = Report {
        run: ctx.run_info(started.elapsed().as_secs_f64()),
        nodes: NODES as u32,
        flip,
        last_close,
        etcd,
        drain_set,
    };
    Ok(Some(serde_json::to_value(report)?))
}

fn start_daemons(fleet: &Fleet, lb: &std::path::Path) -> Result<Vec<Daemon>> {
    let lab = fleet.lab();
    let spec = ConfigSpec {
        backend: BackendOpts {
            drain_timeout: Some(Duration::from_secs(30)),
            ..BackendOpts::default()
        },
        ..ConfigSpec::default()
    };
    let etcd = fleet.etcd_endpoint();
    let daemons = fleet
        .nodes()
        .iter()
        .map(|n| n.start_daemon(lab, lb, n.bgp_config(lab, &spec, &etcd, LEASE_TTL)))
        .collect::<Result<Vec<_>>>()?;
    for d in &daemons {
        d.wait_ready(Duration::from_secs(30))?;
        d.wait_all_active(Duration::from_secs(30))?;
    }
    wait_for(
        "the router's route over every node",
        Duration::from_secs(30),
        || Ok((fleet.vip_next_hops()?.len() == NODES).then_some(())),
    )?;
    Ok(daemons)
}

fn etcd_counters(fleet: &Fleet) -> Result<EtcdCounters> {
    let url = format!("{}/metrics", fleet.etcd_endpoint());
    let text = fleet
        .router_ns()
        .run(&["curl", "-sS", "--max-time", "2", &url])
        .context("etcd's /metrics")?;
    let c = EtcdCounters::parse(&text);
    ensure!(!c.unary.is_empty(), "etcd's /metrics has no gRPC counters");
    Ok(c)
}

/// etcd's request rates with the nodes idle (keepalives, reports): a
/// measuring window, hence a plain sleep.
fn idle_rates(fleet: &Fleet) -> Result<(f64, f64)> {
    let before = etcd_counters(fleet)?;
    let t = Instant::now();
    thread::sleep(IDLE_WINDOW);
    let d = etcd_counters(fleet)?.since(&before);
    let s = t.elapsed().as_secs_f64();
    Ok((
        round(d.unary_total() / s, 2),
        round(d.stream_messages / s, 2),
    ))
}

/// [`BACKEND`]'s entry of `lb status` on node `d`.
fn backend(d: &Daemon) -> Result<BackendStatus> {
    serde_json::from_value(d.backend_status(BACKEND)?).context("the backend's status")
}

fn drain_of(d: &Daemon) -> Result<(String, Option<DrainStatus>)> {
    let b = backend(d)?;
    Ok((b.state, b.drain))
}

/// Every node's drain of [`BACKEND`] that started at or after `since`,
/// once each node has one (and, if `done`, once each has ended DRAINED).
fn wait_drains(daemons: &[Daemon], since: f64, done: bool) -> Result<Vec<DrainStatus>> {
    wait_for("the drain on every node", Duration::from_secs(30), || {
        let mut all = Vec::with_capacity(daemons.len());
        for d in daemons {
            match drain_of(d)?.1 {
                Some(s) if s.started_at >= since => {
                    if done && s.outcome.is_none() {
                        return Ok(None);
                    }
                    if done && s.outcome != Some(DrainOutcome::Drained) {
                        bail!("a node forced the drain: {s:?}");
                    }
                    all.push(s);
                }
                _ => return Ok(None),
            }
        }
        Ok(Some(all))
    })
}

fn lb_ok(d: &Daemon, args: &[&str]) -> Result<()> {
    let out = d.lb(args)?;
    ensure!(
        out.status.success(),
        "lb {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn enable_everywhere(daemons: &[Daemon], on: &Daemon) -> Result<()> {
    lb_ok(on, &["enable", BACKEND])?;
    wait_for(
        "web-2 active on every node",
        Duration::from_secs(30),
        || {
            for d in daemons {
                if drain_of(d)?.0 != "active" {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        },
    )
}

fn flips(daemons: &[Daemon]) -> Result<Flip> {
    let (mut spread, mut to_last) = (Vec::new(), Vec::new());
    for r in 0..FLIP_ROUNDS {
        let on = &daemons[r % daemons.len()];
        let t0 = unix_time();
        lb_ok(on, &["drain", BACKEND, "--no-signal"])?;
        let drains = wait_drains(daemons, t0, false)?;
        let starts: Vec<f64> = drains.iter().map(|d| d.started_at).collect();
        let (lo, hi) = min_max(&starts);
        spread.push((hi - lo) * 1000.0);
        to_last.push((hi - t0) * 1000.0);
        enable_everywhere(daemons, on)?;
    }
    Ok(Flip {
        rounds: FLIP_ROUNDS as u32,
        spread_ms: Summary::rounded(&spread, 1),
        command_to_last_flip_ms: Summary::rounded(&to_last, 1),
    })
}

/// One drain's etcd requests and duration.
struct DrainCost {
    counters: EtcdCounters,
    seconds: f64,
}

fn last_closes(fleet: &Fleet, daemons: &[Daemon]) -> Result<(LastClose, Vec<DrainCost>)> {
    let lab = fleet.lab();
    let url = lab.vip_url(&format!("/stream?seconds={STREAM_SECONDS}"));
    let (mut first, mut last, mut costs) = (Vec::new(), Vec::new(), Vec::new());
    let mut attempts = 0;
    while first.len() < CLOSE_ROUNDS {
        attempts += 1;
        ensure!(
            attempts <= 2 * CLOSE_ROUNDS,
            "too few streams landed on {BACKEND}"
        );
        let streams: Vec<_> = (0..STREAMS)
            .map(|_| lab.spawn_request(Request::get(url.clone()).timeout(Duration::from_secs(30))))
            .collect();
        // Drain only once some of them run on web-2 (ECMP and Maglev decide).
        let placed = wait_for("streams on web-2", Duration::from_secs(2), || {
            let mut n = 0;
            for d in daemons {
                n += backend(d)?.live_flows;
            }
            Ok((n > 0).then_some(()))
        });
        if placed.is_err() {
            for s in streams {
                s.join()?;
            }
            continue;
        }
        let on = &daemons[first.len() % daemons.len()];
        let before = etcd_counters(fleet)?;
        let t0 = unix_time();
        lb_ok(on, &["drain", BACKEND, "--no-signal"])?;
        let drains = wait_drains(daemons, t0, true)?;
        let seconds = unix_time() - t0;
        costs.push(DrainCost {
            counters: etcd_counters(fleet)?.since(&before),
            seconds,
        });
        let mut last_close = f64::MIN;
        for s in streams {
            let resp = s.join()?;
            ensure!(
                resp.ok() && resp.body.lines().count() == 10,
                "a stream broke: {resp:?}"
            );
            if resp.body.starts_with("web-2 ") {
                last_close = last_close.max(resp.started_at + resp.elapsed.as_secs_f64());
            }
        }
        let ends: Vec<f64> = drains.iter().filter_map(|d| d.finished_at).collect();
        ensure!(
            ends.len() == daemons.len(),
            "a drain without its end: {drains:?}"
        );
        let (lo, hi) = min_max(&ends);
        first.push((lo - last_close) * 1000.0);
        last.push((hi - last_close) * 1000.0);
        enable_everywhere(daemons, on)?;
    }
    let report = LastClose {
        rounds: CLOSE_ROUNDS as u32,
        streams: STREAMS as u32,
        stream_seconds: STREAM_SECONDS,
        first_node_ms: Summary::rounded(&first, 0),
        last_node_ms: Summary::rounded(&last, 0),
    };
    Ok((report, costs))
}

fn etcd_figures(costs: &[DrainCost], idle_unary: f64, idle_stream: f64) -> EtcdRequests {
    let unary: Vec<f64> = costs.iter().map(|c| c.counters.unary_total()).collect();
    let stream: Vec<f64> = costs.iter().map(|c| c.counters.stream_messages).collect();
    let seconds: Vec<f64> = costs.iter().map(|c| c.seconds).collect();
    // By etcd's own method names (open data: whatever its /metrics lists).
    let methods: BTreeSet<&String> = costs.iter().flat_map(|c| c.counters.unary.keys()).collect();
    let unary_by_method = methods
        .into_iter()
        .map(|m| {
            let v: Vec<f64> = costs
                .iter()
                .map(|c| c.counters.unary.get(m).copied().unwrap_or(0.0))
                .collect();
            MethodCount {
                method: m.clone(),
                per_drain: round(median(&v), 1),
            }
        })
        .filter(|m| m.per_drain > 0.0)
        .collect();
    EtcdRequests {
        source: "etcd's /metrics (grpc_server_handled_total, grpc_server_msg_received_total), before the command and once every node is DRAINED".into(),
        unary_per_drain: Summary::rounded(&unary, 0),
        stream_messages_per_drain: Summary::rounded(&stream, 0),
        drain_seconds: Summary::rounded(&seconds, 2),
        idle_unary_per_s: idle_unary,
        idle_stream_messages_per_s: idle_stream,
        unary_by_method,
    }
}

fn min_max(xs: &[f64]) -> (f64, f64) {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (lo, hi)
}

/// Polls `check` every 20 ms until it gives a value, at most `timeout`.
fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check()? {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            bail!("{what}: not after {timeout:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}
