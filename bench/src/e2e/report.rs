//! Part 3's figures as they go into the JSON: by backend kind, scenario and
//! load, each a typed key ([`Scenario`], [`ByLoad`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{load::ByLoad, nat::NatE2e, plan::Scenario};
use crate::{report::RunInfo, stats::Summary};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub run: RunInfo,
    pub method: Method,
    #[serde(rename = "static")]
    pub static_: KindReport,
    pub stack: KindReport,
    /// lb's XDP program, generic mode, trivial backends (ns/request).
    pub xdp_cpu_per_request_ns: ByLoad<Summary>,
    /// The same in native mode (lb's program only).
    pub xdp_native_cpu_per_request_ns: ByLoad<Summary>,
    /// Native mode's `xdp_pass` on the veth peer (a veth artifact).
    pub peer_xdp_pass_cpu_per_request_ns: ByLoad<Summary>,
    /// The Nginx HTTP proxy's workers, trivial backends.
    pub nginx_worker_cpu_per_request_ns: ByLoad<Summary>,
    /// The Nginx stream proxy's workers, trivial backends.
    pub nginx_stream_worker_cpu_per_request_ns: ByLoad<Summary>,
    /// XDP (generic) over the HTTP proxy's workers, per-round ratios.
    pub xdp_vs_nginx_worker_cpu: ByLoad<Summary>,
    /// The larger of the loads' medians (target at most 0.05).
    pub xdp_vs_nginx_worker_cpu_worst: f64,
    pub targets: Vec<Target>,
    /// lb NAT against direct, DSR and Nginx (None before it was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<NatE2e>,
    #[serde(default)]
    pub plots: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Method {
    pub rounds: u32,
    pub seconds_per_run: u64,
    /// Load processes per run.
    pub processes: u32,
    /// Connections per process.
    pub connections: ByLoad<u32>,
    pub nginx: String,
    /// The XDP mode each lb scenario ran in, as the daemon reported it.
    pub xdp_modes: BTreeMap<Scenario, String>,
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
    /// Every scenario that ran but direct, over direct, per-round ratios.
    pub vs_direct: BTreeMap<Scenario, ByLoad<VsDirect>>,
    /// Every scenario that ran with this kind of backend.
    pub scenarios: BTreeMap<Scenario, ByLoad<Figures>>,
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

/// Which side of its target a figure must stay on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    /// At least the target.
    Min,
    /// At most the target.
    Max,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
// `target` is the report's JSON key; renaming it would change the format.
#[allow(clippy::struct_field_names)]
pub struct Target {
    /// The figure's path in the JSON, as the report names it.
    pub key: String,
    pub bound: Bound,
    pub target: f64,
    pub measured: f64,
    pub met: bool,
}
