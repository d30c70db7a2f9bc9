//! The lb NAT scenario of part 3: the same daemon with VIP `static` as
//! `forward = "nat"` (backend port 8080, the trivial Nginx's), so the
//! backends answer the LB's address and every reply comes back through the
//! XDP program; and its figures against direct, DSR and Nginx.
//!
//! The lab's backends are DSR ones (VIP on `lo`); a NAT VIP needs nothing
//! of that, and ignores it. The LB namespace gets what NAT needs of the
//! kernel (forwarding on, so `bpf_fib_lookup` answers; accept_local and
//! rp_filter off, so the kernel can forward a translated packet the program
//! passed it for want of a neighbour entry) for the scenario only, and its
//! earlier settings back after.

use std::collections::BTreeMap;

use anyhow::Result;
use lb_lab::{ConfigSpec, Lab, LbConfig, scenario};
use serde::{Deserialize, Serialize};

use super::{
    cpu,
    load::{ByLoad, Load, Measured, Watch},
    plan::{Block, Kind, Plan, Runs, Scenario, all_loads, probe},
    setup::{self, STATIC_PORT},
};
use crate::{
    report::{Md, f, median_range},
    stats::{Summary, round},
    template::fill,
    xdp::RunTimeStats,
};

/// The daemon's config: as the DSR scenario's, with VIP `static` on NAT.
fn config(lab: &Lab) -> LbConfig {
    let spec = ConfigSpec {
        xdp_mode: "generic".into(),
        ..ConfigSpec::default()
    };
    let mut cfg = setup::lb_config(lab, &spec, true);
    for vip in cfg.vip.iter_mut().filter(|v| v.name == "static") {
        vip.forward = Some("nat".into());
        for b in &mut vip.backend {
            b.port = Some(STATIC_PORT);
            b.mac = None;
        }
    }
    cfg
}

/// NAT's sysctls in the LB namespace while it lives; the old values after.
struct KernelForNat<'a> {
    lab: &'a Lab,
    old: Vec<(String, String)>,
}

impl<'a> KernelForNat<'a> {
    fn on(lab: &'a Lab) -> Result<Self> {
        let iface = lab.lb_iface();
        let keys = [
            "net.ipv4.ip_forward".to_owned(),
            "net.ipv4.conf.all.accept_local".to_owned(),
            format!("net.ipv4.conf.{iface}.accept_local"),
            "net.ipv4.conf.all.rp_filter".to_owned(),
            format!("net.ipv4.conf.{iface}.rp_filter"),
            "net.ipv4.conf.all.send_redirects".to_owned(),
            format!("net.ipv4.conf.{iface}.send_redirects"),
        ];
        let mut old = Vec::new();
        for k in &keys {
            let v = lab.lb_ns().run(&["sysctl", "-n", k])?;
            old.push((k.clone(), v.trim().to_owned()));
        }
        let this = Self { lab, old };
        let new: Vec<(&str, &str)> = keys
            .iter()
            .map(|k| {
                let v = if k.ends_with("ip_forward") || k.ends_with("accept_local") {
                    "1"
                } else {
                    "0"
                };
                (k.as_str(), v)
            })
            .collect();
        this.lab.lb_ns().sysctl(&new)?;
        Ok(this)
    }
}

impl Drop for KernelForNat<'_> {
    fn drop(&mut self) {
        let old: Vec<(&str, &str)> = self
            .old
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Err(e) = self.lab.lb_ns().sysctl(&old) {
            eprintln!("e2e: restoring the LB namespace's sysctls: {e:#}");
        }
    }
}

/// The lb NAT scenario: every load on the trivial backends.
pub fn block(
    lab: &Lab,
    lb: &std::path::Path,
    plan: Plan,
    modes: &mut BTreeMap<Scenario, String>,
) -> Result<Block> {
    let _kernel = KernelForNat::on(lab)?;
    let (daemon, mode) = scenario::start_daemon(lab, lb, config(lab))?;
    modes.insert(Scenario::LbNat, mode);
    let result = (|| {
        let link = daemon.pin_root().join(lab.lb_iface()).join("link");
        let progs = vec![cpu::prog_of_pinned_link(&link)?];
        probe(lab, false)?;
        let _stats = RunTimeStats::enable()?;
        let watch = Watch {
            nginx_workers: Vec::new(),
            progs,
        };
        all_loads(lab, Scenario::LbNat, plan, &watch)
    })();
    scenario::stop_daemon(lab, daemon)?;
    result
}

/// lb NAT against the others, trivial backends.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NatE2e {
    /// Requests/s over direct's, per-round ratios.
    pub rps_vs_direct: ByLoad<Summary>,
    /// Whole-machine CPU per request over direct's.
    pub cpu_vs_direct: ByLoad<Summary>,
    /// Requests/s over lb DSR's (generic XDP, same rounds).
    pub rps_vs_dsr: ByLoad<Summary>,
    /// The XDP program's run time per request, both directions, ns.
    pub xdp_ns_per_request: ByLoad<Summary>,
    /// Program runs (packets, both directions) per request.
    pub xdp_runs_per_request: ByLoad<Summary>,
    /// That over the Nginx HTTP and stream proxies' workers' CPU per request.
    pub xdp_vs_nginx_http: ByLoad<Summary>,
    pub xdp_vs_nginx_stream: ByLoad<Summary>,
    /// The smaller of the loads' `rps_vs_direct` medians (target at least 0.95).
    pub rps_vs_direct_worst: f64,
    /// The largest `xdp_vs_nginx_*` median over both proxies and loads
    /// (target at most 0.1).
    pub xdp_vs_nginx_worst: f64,
}

/// The NAT scenario's figure by load, or its per-round ratio over `over`'s.
fn per_load(
    runs: &Runs,
    over: Option<Scenario>,
    f: impl Fn(&Measured) -> f64,
    digits: i32,
) -> ByLoad<Summary> {
    ByLoad::from_fn(|load| {
        let get = |s: Scenario| -> Vec<f64> {
            runs.get(&(Kind::Static, s, load))
                .map(|v| v.iter().map(&f).collect())
                .unwrap_or_default()
        };
        let x = get(Scenario::LbNat);
        match over {
            Some(b) => {
                let r: Vec<f64> = x.iter().zip(&get(b)).map(|(x, y)| x / y).collect();
                Summary::rounded(&r, digits)
            }
            None => Summary::rounded(&x, digits),
        }
    })
}

/// None when the NAT scenario did not run.
pub fn summarize(runs: &Runs) -> Option<NatE2e> {
    if !Load::ALL
        .iter()
        .any(|&l| runs.contains_key(&(Kind::Static, Scenario::LbNat, l)))
    {
        return None;
    }
    let worker_ns = |m: &Measured| {
        if m.nginx_cpu.is_zero() {
            m.prog_ns(0)
        } else {
            m.nginx_us() * 1000.0
        }
    };
    let rps_vs_direct = per_load(runs, Some(Scenario::Direct), |m| m.rps, 3);
    let xdp_vs_nginx_http = per_load(runs, Some(Scenario::NginxHttp), worker_ns, 4);
    let xdp_vs_nginx_stream = per_load(runs, Some(Scenario::NginxStream), worker_ns, 4);
    let worst = [&xdp_vs_nginx_http, &xdp_vs_nginx_stream]
        .iter()
        .flat_map(|b| [b.keepalive.median, b.fresh.median])
        .fold(f64::NEG_INFINITY, f64::max);
    Some(NatE2e {
        rps_vs_direct_worst: round(
            rps_vs_direct
                .keepalive
                .median
                .min(rps_vs_direct.fresh.median),
            3,
        ),
        rps_vs_direct,
        cpu_vs_direct: per_load(runs, Some(Scenario::Direct), Measured::cpu_us, 3),
        rps_vs_dsr: per_load(runs, Some(Scenario::Lb), |m| m.rps, 3),
        xdp_ns_per_request: per_load(runs, None, |m| m.prog_ns(0), 1),
        xdp_runs_per_request: per_load(runs, None, |m| m.prog_runs(0), 2),
        xdp_vs_nginx_http,
        xdp_vs_nginx_stream,
        xdp_vs_nginx_worst: round(worst, 4),
    })
}

fn pair(b: &ByLoad<Summary>, digits: usize) -> [String; 2] {
    [&b.keepalive, &b.fresh].map(|s| median_range(s, digits))
}

/// The NAT section of part 3.
pub fn render(n: &NatE2e, md: &mut Md) {
    let row = |what: &str, b: &ByLoad<Summary>, digits: usize| {
        let [keepalive, fresh] = pair(b, digits);
        format!("| {what} | {keepalive} | {fresh} |")
    };
    let rows = [
        row("requests/s over direct", &n.rps_vs_direct, 3),
        row(
            "whole-machine CPU per request over direct",
            &n.cpu_vs_direct,
            3,
        ),
        row("requests/s over lb DSR", &n.rps_vs_dsr, 3),
        row(
            "XDP ns per request, both directions",
            &n.xdp_ns_per_request,
            1,
        ),
        row("XDP runs (packets) per request", &n.xdp_runs_per_request, 2),
        row("XDP over Nginx HTTP workers' CPU", &n.xdp_vs_nginx_http, 4),
        row(
            "XDP over Nginx stream workers' CPU",
            &n.xdp_vs_nginx_stream,
            4,
        ),
    ];
    let verdict = |met: bool| if met { "met" } else { "**missed**" }.to_owned();
    md.0.push_str(&fill(
        include_str!("../../templates/e2e_nat.md"),
        &[
            ("rows", rows.join("\n")),
            ("rps_vs_direct_worst", f(n.rps_vs_direct_worst, 3)),
            ("rps_verdict", verdict(n.rps_vs_direct_worst >= 0.95)),
            ("xdp_vs_nginx_worst", f(n.xdp_vs_nginx_worst, 4)),
            ("xdp_verdict", verdict(n.xdp_vs_nginx_worst <= 0.1)),
        ],
    ));
    md.keys(&[crate::keys::E2E_NAT]);
}
