//! Part 3's runs summed up: every scenario's figures by backend kind and
//! load, their ratios over direct (rounds matched by index), and the targets.

use std::collections::BTreeMap;

use lb_lab::scenario;

use super::{
    load::{self, ByLoad, Load, Measured},
    nat,
    plan::{Kind, Plan, Runs, Scenario},
    report::{Bound, Figures, KindReport, Method, Report, Target, VsDirect},
};
use crate::{
    report::RunInfo,
    stats::{Summary, median, round},
};

fn per_round(
    runs: &Runs,
    kind: Kind,
    scenario: Scenario,
    load: Load,
    f: impl Fn(&Measured) -> f64,
) -> Vec<f64> {
    runs.get(&(kind, scenario, load))
        .map(|v| v.iter().map(f).collect())
        .unwrap_or_default()
}

/// Per-round ratios `f(a) / f(b)` (rounds matched by index).
fn ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| x / y).collect()
}

/// The worse of the loads' figures: the lower of requests/s ratios
/// (`higher_is_better`), the higher of CPU ratios.
fn worse(higher_is_better: bool, figures: [f64; 2]) -> f64 {
    let it = figures.into_iter();
    if higher_is_better {
        it.fold(f64::INFINITY, f64::min)
    } else {
        it.fold(f64::NEG_INFINITY, f64::max)
    }
}

fn ran(runs: &Runs, kind: Kind, scenario: Scenario) -> bool {
    Load::ALL
        .iter()
        .any(|&load| runs.contains_key(&(kind, scenario, load)))
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
            median(&col(&|m| {
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
    let measured: Vec<Scenario> = Scenario::ALL
        .into_iter()
        .filter(|&s| ran(runs, kind, s))
        .collect();
    // Per-round ratios of scenario `a` over `b` under one load.
    let over = |a: Scenario, b: Scenario, load: Load, f: &dyn Fn(&Measured) -> f64| {
        ratios(
            &per_round(runs, kind, a, load, f),
            &per_round(runs, kind, b, load, f),
        )
    };
    let scenarios = measured
        .iter()
        .map(|&s| {
            let v = |load| runs.get(&(kind, s, load)).map_or(&[][..], Vec::as_slice);
            (s, ByLoad::from_fn(|load| figures(v(load))))
        })
        .collect();
    let vs_direct: BTreeMap<Scenario, ByLoad<VsDirect>> = measured
        .iter()
        .filter(|&&s| s != Scenario::Direct)
        .map(|&s| {
            let by_load = ByLoad::from_fn(|load| VsDirect {
                rps: Summary::rounded(&over(s, Scenario::Direct, load, &|m| m.rps), 3),
                cpu: Summary::rounded(&over(s, Scenario::Direct, load, &Measured::cpu_us), 3),
            });
            (s, by_load)
        })
        .collect();
    let worst = |scenario: Scenario, rps: bool| -> Option<f64> {
        let m = vs_direct.get(&scenario)?;
        let meds = Load::ALL.map(|l| if rps { m.get(l).rps } else { m.get(l).cpu }.median);
        Some(worse(rps, meds))
    };
    // lb over the routing floor, per load, then the worse load.
    let over_route = |rps: bool| -> Option<f64> {
        let f = |m: &Measured| if rps { m.rps } else { m.cpu_us() };
        let meds = Load::ALL.map(|l| median(&over(Scenario::Lb, Scenario::Route, l, &f)));
        ran(runs, kind, Scenario::Route).then(|| round(worse(rps, meds), 3))
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

/// A figure of the trivial backends' runs of `scenario`, by load.
fn by_load(runs: &Runs, scenario: Scenario, f: impl Fn(&Measured) -> f64) -> ByLoad<Summary> {
    ByLoad::from_fn(|load| Summary::rounded(&per_round(runs, Kind::Static, scenario, load, &f), 1))
}

fn target(key: &str, bound: Bound, target: f64, measured: f64) -> Target {
    Target {
        key: key.into(),
        bound,
        target,
        measured: round(measured, 4),
        met: match bound {
            Bound::Min => measured >= target,
            Bound::Max => measured <= target,
        },
    }
}

pub fn summarize(
    runs: &Runs,
    plan: Plan,
    modes: &BTreeMap<Scenario, String>,
    run: RunInfo,
) -> Report {
    let static_ = kind_report(runs, Kind::Static);
    let nat = nat::summarize(runs);
    let stack = kind_report(runs, Kind::Stack);
    let xdp_vs_nginx = ByLoad::from_fn(|load| {
        let xdp = per_round(runs, Kind::Static, Scenario::Lb, load, |m| m.prog_ns(0));
        let ngx = per_round(runs, Kind::Static, Scenario::NginxHttp, load, |m| {
            m.nginx_us() * 1000.0
        });
        Summary::rounded(&ratios(&xdp, &ngx), 4)
    });
    let xdp_vs_nginx_worst = worse(false, Load::ALL.map(|l| xdp_vs_nginx.get(l).median));
    let mut targets = vec![
        target(
            "e2e.static.lb_vs_direct_rps",
            Bound::Min,
            0.95,
            static_.lb_vs_direct_rps,
        ),
        target(
            "e2e.static.lb_vs_direct_cpu",
            Bound::Max,
            1.1,
            static_.lb_vs_direct_cpu,
        ),
        target(
            "e2e.static.lb_native_vs_direct_rps",
            Bound::Min,
            0.95,
            static_.lb_native_vs_direct_rps.unwrap_or(f64::NAN),
        ),
        target(
            "e2e.static.lb_native_vs_direct_cpu",
            Bound::Max,
            1.1,
            static_.lb_native_vs_direct_cpu.unwrap_or(f64::NAN),
        ),
        target(
            "e2e.xdp_vs_nginx_worker_cpu_worst",
            Bound::Max,
            0.05,
            xdp_vs_nginx_worst,
        ),
    ];
    if let Some(n) = &nat {
        targets.push(target(
            "e2e.nat.rps_vs_direct_worst",
            Bound::Min,
            0.95,
            n.rps_vs_direct_worst,
        ));
        targets.push(target(
            "e2e.nat.xdp_vs_nginx_worst",
            Bound::Max,
            0.1,
            n.xdp_vs_nginx_worst,
        ));
    }
    let nginx_ns = |m: &Measured| m.nginx_us() * 1000.0;
    Report {
        run,
        method: Method {
            rounds: plan.rounds as u32,
            seconds_per_run: plan.duration.as_secs(),
            processes: load::PROCS as u32,
            connections: ByLoad::from_fn(Load::connections),
            nginx: scenario::nginx_version(),
            xdp_modes: modes.clone(),
        },
        static_,
        stack,
        xdp_cpu_per_request_ns: by_load(runs, Scenario::Lb, |m| m.prog_ns(0)),
        xdp_native_cpu_per_request_ns: by_load(runs, Scenario::LbNative, |m| m.prog_ns(0)),
        peer_xdp_pass_cpu_per_request_ns: by_load(runs, Scenario::LbNative, |m| m.prog_ns(1)),
        nginx_worker_cpu_per_request_ns: by_load(runs, Scenario::NginxHttp, nginx_ns),
        nginx_stream_worker_cpu_per_request_ns: by_load(runs, Scenario::NginxStream, nginx_ns),
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
        e2e::{cpu::ProgCounters, render},
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
                        (kind, s, load),
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
            (Scenario::Lb, "generic".to_owned()),
            (Scenario::LbNative, "native".to_owned()),
        ]);
        let mut r = summarize(&runs, plan, &modes, sample_run());
        r.plots = vec!["e2e_rps_vs_direct.png".into()];
        assert!((r.static_.lb_vs_direct_rps - 1.0).abs() < 1e-9);
        assert!(r.targets.iter().all(|t| t.met), "{:?}", r.targets);
        let v = serde_json::to_value(&r).unwrap();
        assert_documented("e2e", &v, &[crate::keys::E2E, crate::keys::E2E_NAT]);
        let mut results = Results::load(std::path::Path::new("/nonexistent/benchmarks.json"));
        results.set(crate::Part::E2e, v);
        let mut md = Md(String::new());
        assert!(render(&results, &mut md));
        assert!(md.0.contains("Nginx HTTP proxy"), "{}", md.0);
    }

    #[test]
    fn scenario_json_keys_are_their_keys() {
        for s in Scenario::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.key());
        }
    }
}
