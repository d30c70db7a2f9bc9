//! What part 3 runs: the backend kinds, the scenarios, the plan, and one
//! scenario's loads (probed first) once the scenario is set up.

use std::{collections::BTreeMap, time::Duration};

use anyhow::Result;
use lb_lab::Lab;
use serde::{Deserialize, Serialize};

use super::{
    load::{self, Load, Measured, Watch},
    setup::{STACK_PORT, STATIC_PORT, STREAM_OFFSET},
};

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

/// Ways from the client to the backends; the JSON keys are [`Scenario::key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
pub type Runs = BTreeMap<(Kind, Scenario, Load), Vec<Measured>>;

pub(super) type Block = Vec<((Kind, Load), Measured)>;

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
            out.push(((kind, load), m));
            // Let the last connections close before the next run.
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    Ok(out)
}
