//! Part 3's section of the report, and its plots.

use std::path::Path;

use super::{
    load::{ByLoad, Load},
    plan::{Kind, Scenario},
    report::{Bound, KindReport, Report},
};
use crate::{
    Part,
    plot::{self, Bar},
    report::{self, Md, Results, f, median_range},
    stats::Summary,
    template::fill,
};

fn med(s: &Summary, digits: usize) -> String {
    f(s.median, digits)
}

/// Two plots: requests/s and whole-machine CPU per request relative to
/// direct, trivial backends, per scenario and load.
pub fn plots(r: &Report, dir: &Path) -> Vec<String> {
    let bars = |cpu: bool| -> Vec<Bar> {
        let mut v = Vec::new();
        for (i, s) in Scenario::ALL
            .iter()
            .filter(|s| **s != Scenario::Direct)
            .enumerate()
        {
            for load in Load::ALL {
                let Some(x) = r.static_.vs_direct.get(s).map(|m| m.get(load)) else {
                    continue;
                };
                let x = if cpu { &x.cpu } else { &x.rps };
                // In percent, so the bar labels (one decimal) read finely.
                v.push(Bar {
                    label: format!("{}, {}", s.label(), load.key()),
                    value: 100.0 * x.median,
                    lo: 100.0 * x.min,
                    hi: 100.0 * x.max,
                    color: i,
                });
            }
        }
        v
    };
    let mut out = Vec::new();
    if let Some(p) = plot::make(dir, "e2e_rps_vs_direct.png", |path| {
        plot::hbars(
            path,
            "Trivial backends: requests/s, % of direct",
            "% of direct's requests/s in the same round (median, range over rounds)",
            &bars(false),
        )
    }) {
        out.push(p);
    }
    if let Some(p) = plot::make(dir, "e2e_cpu_vs_direct.png", |path| {
        plot::hbars(
            path,
            "Trivial backends: whole-machine CPU per request, % of direct",
            "% of direct's CPU per request in the same round (median, range over rounds)",
            &bars(true),
        )
    }) {
        out.push(p);
    }
    out
}

pub fn render(results: &Results, md: &mut Md) -> bool {
    let Some(r) = results.get::<Report>(Part::E2e) else {
        return false;
    };
    let m = &r.method;
    // In the order of the keys, as the JSON lists them.
    let mut modes: Vec<(&str, &String)> = m.xdp_modes.iter().map(|(s, v)| (s.key(), v)).collect();
    modes.sort_unstable();
    let modes: Vec<String> = modes
        .iter()
        .map(|(k, v)| format!("`{k}` ran in **{v}** mode"))
        .collect();
    let rows: Vec<[String; 4]> = r
        .targets
        .iter()
        .map(|t| {
            let sign = match t.bound {
                Bound::Min => "≥",
                Bound::Max => "≤",
            };
            let verdict = if t.met {
                "met".to_owned()
            } else if t.bound == Bound::Min {
                format!(
                    "**missed** by {:.0}%",
                    100.0 * (1.0 - t.measured / t.target)
                )
            } else {
                format!(
                    "**missed** by {:.0}%",
                    100.0 * (t.measured / t.target - 1.0)
                )
            };
            [
                format!("`{}`", t.key),
                format!("{sign} {}", t.target),
                f(t.measured, 3),
                verdict,
            ]
        })
        .collect();
    let route_gap = match (r.static_.lb_vs_route_rps, r.static_.lb_vs_route_cpu) {
        (Some(rps), Some(cpu)) => {
            let route = r.static_.vs_direct.get(&Scenario::Route);
            let g = |load: Load, cpu: bool| {
                route.map(|m| m.get(load)).map_or_else(
                    || "n/a".into(),
                    |v| med(if cpu { &v.cpu } else { &v.rps }, 2),
                )
            };
            fill(
                include_str!("../../templates/e2e_route_gap.md"),
                &[
                    ("route_rps_keepalive", g(Load::KeepAlive, false)),
                    ("route_rps_fresh", g(Load::Fresh, false)),
                    ("route_cpu_keepalive", g(Load::KeepAlive, true)),
                    ("route_cpu_fresh", g(Load::Fresh, true)),
                    ("lb_vs_route_rps", f(rps, 3)),
                    ("lb_vs_route_cpu", f(cpu, 3)),
                ],
            )
        }
        _ => String::new(),
    };
    md.0.push_str(&fill(
        include_str!("../../templates/e2e.md"),
        &[
            ("run", r.run.line()),
            ("processes", m.processes.to_string()),
            ("seconds_per_run", m.seconds_per_run.to_string()),
            ("keepalive_connections", m.connections.keepalive.to_string()),
            ("fresh_connections", m.connections.fresh.to_string()),
            ("nginx", m.nginx.clone()),
            ("rounds", m.rounds.to_string()),
            ("xdp_modes", modes.join(", ")),
            (
                "targets_table",
                report::table(["figure", "target", "measured", "verdict"], &rows),
            ),
            ("route_gap", route_gap),
        ],
    ));
    md.line("The balancers' own CPU per request, trivial backends:");
    md.blank();
    let mut rows: Vec<[String; 6]> = Vec::new();
    for load in Load::ALL {
        let get = |m: &ByLoad<Summary>| *m.get(load);
        let x = get(&r.xdp_cpu_per_request_ns);
        let xn = get(&r.xdp_native_cpu_per_request_ns);
        let p = get(&r.peer_xdp_pass_cpu_per_request_ns);
        let n = get(&r.nginx_worker_cpu_per_request_ns);
        let ns = get(&r.nginx_stream_worker_cpu_per_request_ns);
        let ratio = get(&r.xdp_vs_nginx_worker_cpu);
        rows.push([
            load.label().to_owned(),
            median_range(&x, 0),
            format!("{} + {} on the peer", med(&xn, 0), med(&p, 0)),
            median_range(&n, 0),
            med(&ns, 0),
            median_range(&ratio, 4),
        ]);
    }
    md.table(
        [
            "load",
            "lb XDP ns/request, generic (range)",
            "lb XDP ns/request, native",
            "Nginx HTTP workers ns/request (range)",
            "Nginx stream workers ns/request",
            "XDP / Nginx HTTP workers (range)",
        ],
        &rows,
    );
    // Per packet: what each load's requests cost the program per run.
    let per_run = |load: Load| -> Option<(f64, f64)> {
        let x = r.static_.scenarios.get(&Scenario::Lb)?.get(load);
        let ns = x.xdp_ns_per_request.as_ref()?.median;
        let runs = x.xdp_runs_per_request.as_ref()?.median;
        Some((runs, ns / runs))
    };
    if let (Some((ka_runs, ka_ns)), Some((fr_runs, fr_ns))) =
        (per_run(Load::KeepAlive), per_run(Load::Fresh))
    {
        md.line(fill(
            include_str!("../../templates/e2e_per_packet.md").trim_end(),
            &[
                ("ka_runs", f(ka_runs, 1)),
                ("ka_ns", f(ka_ns, 0)),
                ("fr_runs", f(fr_runs, 1)),
                ("fr_ns", f(fr_ns, 0)),
                ("syn_ns", f(fr_ns * fr_runs - ka_ns * (fr_runs - 1.0), 0)),
            ],
        ));
        md.blank();
        if let Some(floor) = statistics_floor_ns(&r) {
            let nginx = r.nginx_worker_cpu_per_request_ns.fresh.median;
            let net = (fr_ns - floor) * fr_runs;
            md.line(fill(
                include_str!("../../templates/e2e_instrument.md").trim_end(),
                &[
                    ("floor", f(floor, 0)),
                    ("net", f(net, 0)),
                    ("net_vs_nginx", f(net / nginx, 4)),
                ],
            ));
            md.blank();
        }
    }
    for kind in Kind::ALL {
        let k = match kind {
            Kind::Static => &r.static_,
            Kind::Stack => &r.stack,
        };
        md.line(match kind {
            Kind::Static => "### Trivial backends (Nginx `return 200`)",
            Kind::Stack => "### The real stack (Gunicorn + Uvicorn + FastAPI)",
        });
        md.blank();
        table(k, md);
    }
    if let Some(n) = &r.nat {
        super::nat::render(n, md);
    }
    for p in &r.plots {
        md.image(p.trim_end_matches(".png"), p);
    }
    true
}

fn table(k: &KindReport, md: &mut Md) {
    let mut rows: Vec<[String; 10]> = Vec::new();
    for s in Scenario::ALL {
        for load in Load::ALL {
            let Some(x) = k.scenarios.get(&s).map(|m| m.get(load)) else {
                continue;
            };
            let vs = k.vs_direct.get(&s).map(|m| m.get(load));
            let extra = match (&x.xdp_ns_per_request, &x.nginx_worker_us_per_request) {
                (Some(xdp), _) => format!(
                    "XDP {} ns ({} runs){}",
                    med(xdp, 0),
                    x.xdp_runs_per_request
                        .as_ref()
                        .map_or_else(String::new, |r| med(r, 1)),
                    x.peer_ns_per_request
                        .as_ref()
                        .map_or_else(String::new, |p| format!(" + peer {} ns", med(p, 0)))
                ),
                (None, Some(n)) => format!("workers {} µs", med(n, 1)),
                _ => String::new(),
            };
            rows.push([
                s.label().to_owned(),
                load.key().to_owned(),
                median_range(&x.rps, 0),
                vs.map_or_else(|| "1".into(), |v| median_range(&v.rps, 2)),
                med(&x.p50_ms, 2),
                med(&x.p99_ms, 2),
                median_range(&x.cpu_us_per_request, 1),
                vs.map_or_else(|| "1".into(), |v| median_range(&v.cpu, 2)),
                extra,
                format!("{} of {}", x.failed, x.requests),
            ]);
        }
    }
    md.table(
        [
            "scenario",
            "load",
            "requests/s (range)",
            "over direct",
            "p50 ms",
            "p99 ms",
            "CPU µs/request (range)",
            "over direct",
            "balancer's own CPU per request",
            "failed",
        ],
        &rows,
    );
}

/// ns per run the kernel's run-time statistics report for an empty program:
/// the native scenario's `xdp_pass` on the veth peer, new-connection load.
fn statistics_floor_ns(r: &Report) -> Option<f64> {
    let x = &r.static_.scenarios.get(&Scenario::LbNative)?.fresh;
    let ns = x.peer_ns_per_request.as_ref()?.median;
    let runs = x.peer_runs_per_request.as_ref()?.median;
    (runs > 0.0).then(|| ns / runs)
}
