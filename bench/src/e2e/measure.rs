//! The rounds of part 3: every scenario, backend kind and load once per
//! round, the scenarios' order rotating from round to round.

use std::{collections::BTreeMap, fmt::Write as _};

use anyhow::{Context as _, Result};
use lb_lab::{
    ConfigSpec, Lab,
    nginx::{self, Nginx},
    scenario,
};

use super::{
    cpu,
    load::Watch,
    peer::PeerPass,
    plan::{Block, Kind, Plan, Runs, Scenario, all_loads, probe},
    setup::{self, STATIC_PORT, STREAM_OFFSET},
};
use crate::xdp::RunTimeStats;

/// What the rounds found besides the figures.
pub struct Outcome {
    pub runs: Runs,
    /// XDP mode per lb scenario, as the daemon reported it.
    pub modes: BTreeMap<Scenario, String>,
}

/// The Nginx proxy of part 3: HTTP on 80 (the stack) and 8080 (trivial),
/// stream on 81 and 8081; keep-alive to the upstreams as usually set up.
fn proxy_conf(lab: &Lab) -> String {
    let lb = lab.lb_host().ipv4;
    let addrs: Vec<(String, bool)> = lab
        .backends()
        .iter()
        .map(|b| (b.ipv4().to_string(), false))
        .collect();
    let mut http = String::new();
    let mut stream = String::new();
    for kind in Kind::ALL {
        let (k, port) = (kind.key(), kind.port());
        let _ = write!(
            http,
            "upstream {k} {{\n{}  keepalive 32;\n}}\n\
             server {{\n listen {lb}:{port} backlog=4096;\n\
             location / {{\n  proxy_pass http://{k};\n  proxy_http_version 1.1;\n  \
             proxy_set_header Connection \"\";\n }}\n}}\n",
            nginx::servers(&addrs, port)
        );
        let _ = write!(
            stream,
            "upstream {k}_l4 {{\n{}}}\n\
             server {{\n listen {lb}:{} backlog=4096;\n proxy_pass {k}_l4;\n}}\n",
            nginx::servers(&addrs, port),
            port + STREAM_OFFSET
        );
    }
    format!(
        "load_module {};\nworker_processes auto;\n\
         events {{ worker_connections 8192; }}\n\
         http {{\naccess_log off;\n{http}}}\nstream {{\n{stream}}}\n",
        nginx::STREAM_MODULE
    )
}

/// Starts the trivial backends (one Nginx per backend namespace) and the
/// proxy (in the LB namespace).
pub fn start_nginx(lab: &Lab) -> Result<(Vec<Nginx>, Nginx)> {
    let mut trivial = Vec::new();
    for b in lab.backends() {
        trivial.push(Nginx::start(
            lab,
            b.ns(),
            &format!("trivial-{}", b.name()),
            &nginx::trivial_backend_conf(STATIC_PORT),
            &[STATIC_PORT],
        )?);
    }
    let ports: Vec<u16> = Kind::ALL
        .iter()
        .flat_map(|k| [k.port(), k.port() + STREAM_OFFSET])
        .collect();
    let proxy = Nginx::start(lab, lab.lb_ns(), "proxy", &proxy_conf(lab), &ports)?;
    Ok((trivial, proxy))
}

/// Runs every round.
pub fn rounds(lab: &Lab, lb: &std::path::Path, proxy: &Nginx, plan: Plan) -> Result<Outcome> {
    let mut runs = Runs::new();
    let mut modes = BTreeMap::new();
    // LB_BENCH_E2E_ONLY=lb_native,direct: only these scenarios (working on
    // the bench).
    let only = std::env::var("LB_BENCH_E2E_ONLY").unwrap_or_default();
    let scenarios: Vec<Scenario> = Scenario::ALL
        .into_iter()
        .filter(|s| only.is_empty() || only.split(',').any(|o| o == s.key()))
        .collect();
    let n = scenarios.len();
    for round in 0..plan.rounds {
        for i in 0..n {
            let scenario = scenarios[(i + round) % n];
            println!(
                "e2e: round {}/{}: {}",
                round + 1,
                plan.rounds,
                scenario.label()
            );
            let measured = scenario_block(lab, lb, proxy, scenario, plan, &mut modes)
                .with_context(|| format!("round {}, {}", round + 1, scenario.label()))?;
            for ((kind, load), m) in measured {
                println!(
                    "  {:6} {:9}: {:8.0} req/s, p50 {:6.2} ms, p99 {:6.2} ms, {:6.1} µs CPU/req{}{}{}",
                    kind.key(),
                    load.key(),
                    m.rps,
                    m.p50_ms,
                    m.p99_ms,
                    m.cpu_us(),
                    if m.progs.is_empty() {
                        String::new()
                    } else {
                        format!(
                            ", XDP {:.0} ns/req ({:.1} runs/req)",
                            m.prog_ns(0),
                            m.prog_runs(0)
                        )
                    },
                    if m.nginx_cpu.is_zero() {
                        String::new()
                    } else {
                        format!(", Nginx workers {:.1} µs/req", m.nginx_us())
                    },
                    if m.failed > 0 {
                        format!(", {} FAILED", m.failed)
                    } else {
                        String::new()
                    }
                );
                runs.entry((kind, scenario, load)).or_default().push(m);
            }
        }
    }
    Ok(Outcome { runs, modes })
}

/// One scenario: every backend kind and load, with what the scenario needs
/// set up around it (the daemon, the peer program, statistics) and torn down
/// after, so that the other scenarios run with no XDP program anywhere.
fn scenario_block(
    lab: &Lab,
    lb: &std::path::Path,
    proxy: &Nginx,
    scenario: Scenario,
    plan: Plan,
    modes: &mut BTreeMap<Scenario, String>,
) -> Result<Block> {
    match scenario {
        Scenario::Lb | Scenario::LbNative => {
            let native = scenario == Scenario::LbNative;
            let peer = if native {
                Some(PeerPass::attach(&lab.switch_ns().path())?)
            } else {
                None
            };
            let spec = ConfigSpec {
                xdp_mode: if native { "native" } else { "generic" }.into(),
                ..ConfigSpec::default()
            };
            let (daemon, mode) =
                scenario::start_daemon(lab, lb, setup::lb_config(lab, &spec, true))?;
            modes.insert(scenario, mode);
            let result = (|| {
                let link = daemon.pin_root().join(lab.lb_iface()).join("link");
                let mut progs = vec![cpu::prog_of_pinned_link(&link)?];
                if let Some(p) = &peer {
                    progs.push(p.id());
                }
                probe(lab, native)?;
                let _stats = RunTimeStats::enable()?;
                let watch = Watch {
                    nginx_workers: Vec::new(),
                    progs,
                };
                all_loads(lab, scenario, plan, &watch)
            })();
            scenario::stop_daemon(lab, daemon)?;
            drop(peer);
            scenario::wait_no_xdp(lab, lab.switch_ns().name(), super::peer::PORT)?;
            result
        }
        Scenario::LbNat => super::nat::block(lab, lb, plan, modes),
        Scenario::Direct => all_loads(lab, scenario, plan, &Watch::default()),
        Scenario::Route => {
            route(lab, true)?;
            let result = all_loads(lab, scenario, plan, &Watch::default());
            route(lab, false)?;
            result
        }
        Scenario::NginxHttp | Scenario::NginxStream => {
            let watch = Watch {
                nginx_workers: proxy.workers(),
                progs: Vec::new(),
            };
            all_loads(lab, scenario, plan, &watch)
        }
    }
}

/// Turns the LB namespace into an ECMP router for the VIP (`on`), or back
/// to the lab's plain host (forwarding off, no route).
fn route(lab: &Lab, on: bool) -> Result<()> {
    let ns = lab.lb_ns();
    let iface = lab.lb_iface();
    let redirects = format!("net.ipv4.conf.{iface}.send_redirects");
    let vip = format!("{}/32", lab.vip());
    if on {
        ns.sysctl(&[
            ("net.ipv4.conf.all.send_redirects", "0"),
            (redirects.as_str(), "0"),
            ("net.ipv4.fib_multipath_hash_policy", "1"),
            ("net.ipv4.ip_forward", "1"),
        ])?;
        let mut args = vec!["route".to_owned(), "add".into(), vip];
        for b in lab.backends() {
            args.extend([
                "nexthop".into(),
                "via".into(),
                b.ipv4().to_string(),
                "dev".into(),
                iface.to_owned(),
            ]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        ns.ip(&args)?;
    } else {
        ns.ip(&["route", "del", &vip])?;
        ns.sysctl(&[
            ("net.ipv4.ip_forward", "0"),
            ("net.ipv4.fib_multipath_hash_policy", "0"),
            ("net.ipv4.conf.all.send_redirects", "1"),
            (redirects.as_str(), "1"),
        ])?;
    }
    Ok(())
}
