//! Part 3, end to end in the lab: the same backends and the same load tools
//! through `lb` (generic and native XDP), straight to the backends, through
//! Nginx's HTTP reverse proxy and through Nginx's stream (L4) proxy; with
//! trivial backends (Nginx `return 200`, so the balancer's own cost shows)
//! and with the real Gunicorn/Uvicorn/FastAPI stack. Requests/s, latency,
//! whole-machine CPU per request (/proc/stat), the XDP program's own CPU per
//! request (the kernel's run-time statistics) and Nginx's worker CPU per
//! request (/proc/PID/stat).
//!
//! `e2e/nginx.rs`, `e2e/setup.rs` and `e2e/cpu.rs` serve part 4 (drain) too.

pub mod cpu;
pub mod load;
mod measure;
pub mod nat;
mod peer;
mod plan;
mod render;
pub mod setup;

use std::{collections::BTreeMap, time::Instant};

use anyhow::Result;
use lb_lab::scenario;
use serde::{Deserialize, Serialize};

pub use self::render::render;
use self::{
    load::{Load, Measured},
    plan::{Kind, Plan, Runs, Scenario},
};
use crate::{
    Ctx,
    report::RunInfo,
    stats::{Summary, round},
};

/// Rounds (every scenario, kind and load once per round).
pub const ROUNDS: usize = 3;
/// Seconds each load runs.
pub const SECONDS: u64 = 4;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub run: RunInfo,
    pub method: Method,
    #[serde(rename = "static")]
    pub static_: KindReport,
    pub stack: KindReport,
    /// lb's XDP program, generic mode, trivial backends, by load (ns/request).
    pub xdp_cpu_per_request_ns: BTreeMap<String, Summary>,
    /// The same in native mode (lb's program only).
    pub xdp_native_cpu_per_request_ns: BTreeMap<String, Summary>,
    /// Native mode's `xdp_pass` on the veth peer (a veth artifact).
    pub peer_xdp_pass_cpu_per_request_ns: BTreeMap<String, Summary>,
    /// The Nginx HTTP proxy's workers, trivial backends, by load.
    pub nginx_worker_cpu_per_request_ns: BTreeMap<String, Summary>,
    /// The Nginx stream proxy's workers, trivial backends, by load.
    pub nginx_stream_worker_cpu_per_request_ns: BTreeMap<String, Summary>,
    /// XDP (generic) over the HTTP proxy's workers, per-round ratios, by load.
    pub xdp_vs_nginx_worker_cpu: BTreeMap<String, Summary>,
    /// The larger of the loads' medians (target at most 0.05).
    pub xdp_vs_nginx_worker_cpu_worst: f64,
    pub targets: Vec<Target>,
    /// lb NAT against direct, DSR and Nginx (None before it was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<nat::NatE2e>,
    #[serde(default)]
    pub plots: Vec<String>,
}

/// Connections per load process, for each load.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Connections {
    pub keepalive: u32,
    pub fresh: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Method {
    pub rounds: u32,
    pub seconds_per_run: u64,
    /// Load processes per run.
    pub processes: u32,
    /// Connections per process, by load.
    pub connections: Connections,
    pub nginx: String,
    /// The XDP mode each lb scenario ran in, as the daemon reported it.
    pub xdp_modes: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KindReport {
    /// lb (generic) over direct, requests/s: the smaller of the loads' medians.
    pub lb_vs_direct_rps: f64,
    /// lb (generic) over direct, whole-machine CPU per request: the larger.
    pub lb_vs_direct_cpu: f64,
    /// None where native mode did not run (the real stack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lb_native_vs_direct_rps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lb_native_vs_direct_cpu: Option<f64>,
    /// lb (generic) over the kernel routing the VIP in the LB namespace (the
    /// same extra hop with no balancer program), same worst-of-loads rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lb_vs_route_rps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lb_vs_route_cpu: Option<f64>,
    /// Every scenario over direct, per-round ratios, by scenario and load.
    pub vs_direct: BTreeMap<String, BTreeMap<String, VsDirect>>,
    pub scenarios: BTreeMap<String, BTreeMap<String, Figures>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VsDirect {
    pub rps: Summary,
    pub cpu: Summary,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figures {
    pub rps: Summary,
    pub p50_ms: Summary,
    pub p99_ms: Summary,
    /// Whole-machine busy CPU per request, µs.
    pub cpu_us_per_request: Summary,
    /// Requests and failed requests (errors plus non-2xx), all rounds.
    pub requests: u64,
    pub failed: u64,
    /// Share of the run's CPU time stolen by other guests (median).
    pub steal_share: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xdp_ns_per_request: Option<Summary>,
    /// XDP program runs (packets) per request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xdp_runs_per_request: Option<Summary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_ns_per_request: Option<Summary>,
    /// Runs of the peer's `xdp_pass` per request: with its ns, what the
    /// run-time statistics charge an empty program per run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_runs_per_request: Option<Summary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nginx_worker_us_per_request: Option<Summary>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
// `target` is the report's JSON key; renaming it would change the format.
#[allow(clippy::struct_field_names)]
pub struct Target {
    pub key: String,
    /// "min" or "max".
    pub bound: String,
    pub target: f64,
    pub measured: f64,
    pub met: bool,
}

pub fn run(ctx: &Ctx) -> Result<Option<serde_json::Value>> {
    let started = Instant::now();
    crate::xdp::ensure_stats_off()?;
    let lb = scenario::lb_binary()?;
    let lab = setup::lab("bench-e2e")?;
    scenario::client_checksums(&lab)?;
    scenario::client_tw_reuse(&lab)?;
    let (trivial, proxy) = measure::start_nginx(&lab)?;
    // LB_BENCH_E2E_ROUNDS / LB_BENCH_E2E_SECONDS: shorter runs while
    // working on the bench; the report says what ran.
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let plan = Plan {
        rounds: env("LB_BENCH_E2E_ROUNDS", ROUNDS as u64) as usize,
        duration: std::time::Duration::from_secs(env("LB_BENCH_E2E_SECONDS", SECONDS)),
    };
    let outcome = measure::rounds(&lab, &lb, &proxy, plan);
    proxy.stop();
    for t in trivial {
        t.stop();
    }
    lab.down()?;
    let outcome = outcome?;
    let mut report = summarize(&outcome.runs, plan, &outcome.modes, ctx.run_info(0.0));
    report.plots = render::plots(&report, &ctx.plots);
    report.run = ctx.run_info(started.elapsed().as_secs_f64());
    Ok(Some(serde_json::to_value(report)?))
}

fn per_round(
    runs: &Runs,
    kind: Kind,
    scenario: Scenario,
    load: Load,
    f: impl Fn(&Measured) -> f64,
) -> Vec<f64> {
    runs.get(&(kind, scenario, load.key()))
        .map(|v| v.iter().map(f).collect())
        .unwrap_or_default()
}

/// Per-round ratios `f(a) / f(b)` (rounds matched by index).
fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x / y).collect()
}

fn figures(v: &[Measured]) -> Figures {
    let col = |f: &dyn Fn(&Measured) -> f64| v.iter().map(f).collect::<Vec<f64>>();
    let has_progs = v.iter().any(|m| !m.progs.is_empty());
    let has_peer = v.iter().any(|m| m.progs.len() > 1);
    let has_nginx = v.iter().any(|m| !m.nginx_cpu.is_zero());
    Figures {
        rps: Summary::rounded(&col(&|m| m.rps), 0),
        p50_ms: Summary::rounded(&col(&|m| m.p50_ms), 3),
        p99_ms: Summary::rounded(&col(&|m| m.p99_ms), 3),
        cpu_us_per_request: Summary::rounded(&col(&|m| m.cpu_us()), 2),
        requests: v.iter().map(|m| m.requests).sum(),
        failed: v.iter().map(|m| m.failed).sum(),
        steal_share: round(
            crate::stats::median(&col(&|m| {
                m.steal.as_secs_f64() / m.machine_total.as_secs_f64().max(1e-9)
            })),
            4,
        ),
        xdp_ns_per_request: has_progs.then(|| Summary::rounded(&col(&|m| m.prog_ns(0)), 1)),
        xdp_runs_per_request: has_progs.then(|| Summary::rounded(&col(&|m| m.prog_runs(0)), 2)),
        peer_ns_per_request: has_peer.then(|| Summary::rounded(&col(&|m| m.prog_ns(1)), 1)),
        peer_runs_per_request: has_peer.then(|| Summary::rounded(&col(&|m| m.prog_runs(1)), 2)),
        nginx_worker_us_per_request: has_nginx
            .then(|| Summary::rounded(&col(&|m| m.nginx_us()), 2)),
    }
}

fn kind_report(runs: &Runs, kind: Kind) -> KindReport {
    let mut scenarios = BTreeMap::new();
    let mut vs_direct: BTreeMap<String, BTreeMap<String, VsDirect>> = BTreeMap::new();
    for scenario in Scenario::ALL {
        for load in Load::ALL {
            let Some(v) = runs.get(&(kind, scenario, load.key())) else {
                continue;
            };
            scenarios
                .entry(scenario.key().to_owned())
                .or_insert_with(BTreeMap::new)
                .insert(load.key().to_owned(), figures(v));
            if scenario == Scenario::Direct {
                continue;
            }
            let rps = ratios(
                &per_round(runs, kind, scenario, load, |m| m.rps),
                &per_round(runs, kind, Scenario::Direct, load, |m| m.rps),
            );
            let cpu = ratios(
                &per_round(runs, kind, scenario, load, Measured::cpu_us),
                &per_round(runs, kind, Scenario::Direct, load, Measured::cpu_us),
            );
            vs_direct
                .entry(scenario.key().to_owned())
                .or_default()
                .insert(
                    load.key().to_owned(),
                    VsDirect {
                        rps: Summary::rounded(&rps, 3),
                        cpu: Summary::rounded(&cpu, 3),
                    },
                );
        }
    }
    let worst = |scenario: Scenario, rps: bool| -> Option<f64> {
        let m = vs_direct.get(scenario.key())?;
        let meds = m
            .values()
            .map(|r| if rps { r.rps.median } else { r.cpu.median });
        Some(if rps {
            meds.fold(f64::INFINITY, f64::min)
        } else {
            meds.fold(f64::NEG_INFINITY, f64::max)
        })
    };
    // lb over the routing floor, per load, then the worse load.
    let over_route = |rps: bool| -> Option<f64> {
        let meds: Vec<f64> = Load::ALL
            .iter()
            .filter(|l| runs.contains_key(&(kind, Scenario::Route, l.key())))
            .map(|&load| {
                let f = |m: &Measured| if rps { m.rps } else { m.cpu_us() };
                crate::stats::median(&ratios(
                    &per_round(runs, kind, Scenario::Lb, load, f),
                    &per_round(runs, kind, Scenario::Route, load, f),
                ))
            })
            .collect();
        if meds.is_empty() {
            return None;
        }
        Some(round(
            if rps {
                meds.iter().copied().fold(f64::INFINITY, f64::min)
            } else {
                meds.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            },
            3,
        ))
    };
    KindReport {
        lb_vs_direct_rps: worst(Scenario::Lb, true).unwrap_or(f64::NAN),
        lb_vs_direct_cpu: worst(Scenario::Lb, false).unwrap_or(f64::NAN),
        lb_native_vs_direct_rps: worst(Scenario::LbNative, true),
        lb_native_vs_direct_cpu: worst(Scenario::LbNative, false),
        lb_vs_route_rps: over_route(true),
        lb_vs_route_cpu: over_route(false),
        vs_direct,
        scenarios,
    }
}

fn by_load(
    runs: &Runs,
    scenario: Scenario,
    f: impl Fn(&Measured) -> f64,
) -> BTreeMap<String, Summary> {
    Load::ALL
        .iter()
        .map(|&load| {
            (
                load.key().to_owned(),
                Summary::rounded(&per_round(runs, Kind::Static, scenario, load, &f), 1),
            )
        })
        .collect()
}

fn summarize(
    runs: &Runs,
    plan: Plan,
    modes: &BTreeMap<&'static str, String>,
    run: RunInfo,
) -> Report {
    let static_ = kind_report(runs, Kind::Static);
    let nat = nat::summarize(runs);
    let stack = kind_report(runs, Kind::Stack);
    let xdp_vs_nginx: BTreeMap<String, Summary> = Load::ALL
        .iter()
        .map(|&load| {
            let xdp = per_round(runs, Kind::Static, Scenario::Lb, load, |m| m.prog_ns(0));
            let ngx = per_round(runs, Kind::Static, Scenario::NginxHttp, load, |m| {
                m.nginx_us() * 1000.0
            });
            (
                load.key().to_owned(),
                Summary::rounded(&ratios(&xdp, &ngx), 4),
            )
        })
        .collect();
    let xdp_vs_nginx_worst = xdp_vs_nginx
        .values()
        .map(|s| s.median)
        .fold(f64::NEG_INFINITY, f64::max);
    let target = |key: &str, bound: &str, target: f64, measured: f64| Target {
        key: key.into(),
        bound: bound.into(),
        target,
        measured: round(measured, 4),
        met: if bound == "min" {
            measured >= target
        } else {
            measured <= target
        },
    };
    let targets = vec![
        target(
            "e2e.static.lb_vs_direct_rps",
            "min",
            0.95,
            static_.lb_vs_direct_rps,
        ),
        target(
            "e2e.static.lb_vs_direct_cpu",
            "max",
            1.1,
            static_.lb_vs_direct_cpu,
        ),
        target(
            "e2e.static.lb_native_vs_direct_rps",
            "min",
            0.95,
            static_.lb_native_vs_direct_rps.unwrap_or(f64::NAN),
        ),
        target(
            "e2e.static.lb_native_vs_direct_cpu",
            "max",
            1.1,
            static_.lb_native_vs_direct_cpu.unwrap_or(f64::NAN),
        ),
        target(
            "e2e.xdp_vs_nginx_worker_cpu_worst",
            "max",
            0.05,
            xdp_vs_nginx_worst,
        ),
    ];
    let mut targets = targets;
    if let Some(n) = &nat {
        targets.push(target(
            "e2e.nat.rps_vs_direct_worst",
            "min",
            0.95,
            n.rps_vs_direct_worst,
        ));
        targets.push(target(
            "e2e.nat.xdp_vs_nginx_worst",
            "max",
            0.1,
            n.xdp_vs_nginx_worst,
        ));
    }
    Report {
        run,
        method: Method {
            rounds: plan.rounds as u32,
            seconds_per_run: plan.duration.as_secs(),
            processes: load::PROCS as u32,
            connections: Connections {
                keepalive: Load::KeepAlive.connections(),
                fresh: Load::Fresh.connections(),
            },
            nginx: scenario::nginx_version(),
            xdp_modes: modes
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        },
        static_,
        stack,
        xdp_cpu_per_request_ns: by_load(runs, Scenario::Lb, |m| m.prog_ns(0)),
        xdp_native_cpu_per_request_ns: by_load(runs, Scenario::LbNative, |m| m.prog_ns(0)),
        peer_xdp_pass_cpu_per_request_ns: by_load(runs, Scenario::LbNative, |m| m.prog_ns(1)),
        nginx_worker_cpu_per_request_ns: by_load(runs, Scenario::NginxHttp, |m| {
            m.nginx_us() * 1000.0
        }),
        nginx_stream_worker_cpu_per_request_ns: by_load(runs, Scenario::NginxStream, |m| {
            m.nginx_us() * 1000.0
        }),
        xdp_vs_nginx_worker_cpu: xdp_vs_nginx,
        xdp_vs_nginx_worker_cpu_worst: round(xdp_vs_nginx_worst, 4),
        targets,
        nat,
        plots: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{
        e2e::cpu::ProgCounters,
        keys::assert_documented,
        report::{Md, Results, sample_run},
    };

    // The fake rates are positive.
    #[allow(clippy::cast_sign_loss)]
    fn fake(rps: f64, progs: usize, nginx: bool) -> Measured {
        Measured {
            requests: (rps * 4.0) as u64,
            failed: 0,
            rps,
            p50_ms: 1.0,
            p99_ms: 3.0,
            machine_cpu: Duration::from_secs(7),
            steal: Duration::from_millis(10),
            machine_total: Duration::from_secs(8),
            nginx_cpu: if nginx {
                Duration::from_secs(3)
            } else {
                Duration::ZERO
            },
            progs: (0..progs)
                .map(|_| ProgCounters {
                    run_time: Duration::from_millis(20),
                    run_count: (rps * 8.0) as u64,
                })
                .collect(),
        }
    }

    #[test]
    fn report_is_documented_and_renders() {
        let mut runs = Runs::new();
        for kind in Kind::ALL {
            for s in Scenario::ALL {
                if !s.kinds().contains(&kind) {
                    continue;
                }
                for load in Load::ALL {
                    let (progs, nginx) = match s {
                        Scenario::Lb | Scenario::LbNat => (1, false),
                        Scenario::LbNative => (2, false),
                        Scenario::Direct => (0, false),
                        _ => (0, true),
                    };
                    runs.insert(
                        (kind, s, load.key()),
                        (0..3)
                            .map(|i| fake(9000.0 + f64::from(i), progs, nginx))
                            .collect(),
                    );
                }
            }
        }
        let plan = Plan {
            rounds: 3,
            duration: Duration::from_secs(4),
        };
        let modes = BTreeMap::from([
            ("lb", "generic".to_owned()),
            ("lb_native", "native".to_owned()),
        ]);
        let mut r = summarize(&runs, plan, &modes, sample_run());
        r.plots = vec!["e2e_rps_vs_direct.png".into()];
        assert!((r.static_.lb_vs_direct_rps - 1.0).abs() < 1e-9);
        assert!(
            r.targets
                .iter()
                .any(|t| t.key == "e2e.static.lb_vs_direct_cpu" && t.met)
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_documented("e2e", &v, crate::Part::E2e.keys());
        let mut results = Results::load(std::path::Path::new("/nonexistent/benchmarks.json"));
        results.set(crate::Part::E2e, v);
        let mut md = Md(String::new());
        assert!(render(&results, &mut md));
        assert!(md.0.contains("Nginx HTTP proxy"), "{}", md.0);
    }
}
