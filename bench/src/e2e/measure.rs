//! The rounds of part 3: every scenario, backend kind and load once per
//! round, the scenarios' order rotating from round to round.

use std::{collections::BTreeMap, fmt::Write as _, time::Duration};

use anyhow::{Context as _, Result};
use lb_lab::{
    ConfigSpec, Lab,
    nginx::{self, Nginx},
    scenario,
};

use super::{
    cpu,
    load::{self, Load, Measured, Watch},
    peer::PeerPass,
    setup::{self, STACK_PORT, STATIC_PORT, STREAM_OFFSET},
};
use crate::xdp::RunTimeStats;

/// Backend kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Nginx `return 200`: the balancer's own cost shows.
    Static,
    /// Gunicorn + Uvicorn + FastAPI.
    Stack,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Static, Kind::Stack];

    pub fn key(self) -> &'static str {
        match self {
            Kind::Static => "static",
            Kind::Stack => "stack",
        }
    }

    pub fn port(self) -> u16 {
        match self {
            Kind::Static => STATIC_PORT,
            Kind::Stack => STACK_PORT,
        }
    }
}

/// Ways from the client to the backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    /// Through `lb`, generic XDP (the lab's default).
    Lb,
    /// Through `lb`, native XDP (xdp_pass on the veth peer).
    LbNative,
    /// Through `lb`, generic XDP, VIP `static` on `forward = "nat"` (nat.rs).
    LbNat,
    /// Straight to the backends' own addresses.
    Direct,
    /// Nginx HTTP reverse proxy in the LB namespace.
    NginxHttp,
    /// Nginx stream (L4) proxy in the LB namespace.
    NginxStream,
    /// The kernel routing the VIP in the LB namespace (ECMP over the
    /// backends, L4 hash): the same extra hop as lb's with no balancer
    /// program, the least any forwarder placed there costs in this lab.
    Route,
}

impl Scenario {
    pub const ALL: [Scenario; 7] = [
        Scenario::Lb,
        Scenario::LbNative,
        Scenario::LbNat,
        Scenario::Route,
        Scenario::Direct,
        Scenario::NginxHttp,
        Scenario::NginxStream,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Scenario::Lb => "lb",
            Scenario::LbNative => "lb_native",
            Scenario::LbNat => "lb_nat",
            Scenario::Direct => "direct",
            Scenario::NginxHttp => "nginx_http",
            Scenario::NginxStream => "nginx_stream",
            Scenario::Route => "route",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Scenario::Lb => "lb (generic XDP)",
            Scenario::LbNative => "lb (native XDP)",
            Scenario::LbNat => "lb NAT (generic XDP)",
            Scenario::Direct => "direct to the backends",
            Scenario::NginxHttp => "Nginx HTTP proxy",
            Scenario::NginxStream => "Nginx stream (L4) proxy",
            Scenario::Route => "kernel routing in the LB ns",
        }
    }

    /// The backend kinds this scenario runs with.
    pub fn kinds(self) -> &'static [Kind] {
        // Native mode and the routing floor matter where the balancer's own
        // cost shows; the stack's Python dominates the rest (and the budget).
        match self {
            Scenario::Route | Scenario::LbNative | Scenario::LbNat => &[Kind::Static],
            _ => &Kind::ALL,
        }
    }
}

/// How long each load runs, and how many rounds.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub rounds: usize,
    pub duration: Duration,
}

/// Every run's figures, by (kind, scenario, load), one per round.
pub type Runs = BTreeMap<(Kind, Scenario, &'static str), Vec<Measured>>;

/// What the rounds found besides the figures.
pub struct Outcome {
    pub runs: Runs,
    /// XDP mode per lb scenario, as the daemon reported it.
    pub modes: BTreeMap<&'static str, String>,
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

fn urls(lab: &Lab, scenario: Scenario, kind: Kind) -> Vec<String> {
    let port = kind.port();
    let lb = lab.lb_host().ipv4;
    match scenario {
        Scenario::Lb | Scenario::LbNative | Scenario::LbNat | Scenario::Route => {
            vec![format!("http://{}:{port}/", lab.vip())]
        }
        Scenario::Direct => lab
            .backends()
            .iter()
            .map(|b| format!("http://{}:{port}/", b.ipv4()))
            .collect(),
        Scenario::NginxHttp => vec![format!("http://{lb}:{port}/")],
        Scenario::NginxStream => vec![format!("http://{lb}:{}/", port + STREAM_OFFSET)],
    }
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
                    load,
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

pub(super) type Block = Vec<((Kind, &'static str), Measured)>;

/// One scenario: every backend kind and load, with what the scenario needs
/// set up around it (the daemon, the peer program, statistics) and torn down
/// after, so that the other scenarios run with no XDP program anywhere.
fn scenario_block(
    lab: &Lab,
    lb: &std::path::Path,
    proxy: &Nginx,
    scenario: Scenario,
    plan: Plan,
    modes: &mut BTreeMap<&'static str, String>,
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
            modes.insert(scenario.key(), mode);
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

/// One request through the VIP on each port before loading it; on failure
/// the error carries what the interfaces counted.
pub(super) fn probe(lab: &Lab, native: bool) -> Result<()> {
    for kind in Kind::ALL {
        let url = format!("http://{}:{}/", lab.vip(), kind.port());
        let r = lab.request(&lb_lab::Request::get(&url).timeout(Duration::from_secs(3)))?;
        if !r.ok() {
            let stats = |ns: &str, dev: &str| {
                std::process::Command::new("ip")
                    .args(["netns", "exec", ns, "ethtool", "-S", dev])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default()
            };
            anyhow::bail!(
                "GET {url} through lb ({} XDP) failed: {} {}\nlab-lb:\n{}\nsw-lb:\n{}",
                if native { "native" } else { "generic" },
                r.curl_exit,
                r.error,
                stats(lab.lb_ns().name(), lab.lb_iface()),
                stats(lab.switch_ns().name(), super::peer::PORT)
            );
        }
    }
    Ok(())
}

pub(super) fn all_loads(lab: &Lab, scenario: Scenario, plan: Plan, watch: &Watch) -> Result<Block> {
    let mut out = Vec::new();
    for &kind in scenario.kinds() {
        for load in Load::ALL {
            let urls = urls(lab, scenario, kind);
            let m = load::run(lab, load, &urls, plan.duration, watch)?;
            out.push(((kind, load.key()), m));
            // Let the last connections close before the next run.
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    Ok(out)
}
