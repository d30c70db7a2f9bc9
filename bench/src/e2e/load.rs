//! One measured run: the same load tool in [`PROCS`] processes from the
//! client namespace (one per backend address when going direct, all to the
//! one address otherwise, so the client side is the same in every
//! scenario), with the machine's, Nginx's and the XDP programs' CPU taken
//! around it.

use std::time::Duration;

use anyhow::{Result, ensure};
use lb_lab::{Lab, LoadRun, LoadSpec, Tool};
use serde::{Deserialize, Serialize};

use super::cpu::{MachineCpu, ProcessCpu, ProgCounters};

/// Load processes per run.
pub const PROCS: usize = 3;

/// The two client behaviours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Load {
    /// wrk, keep-alive connections.
    KeepAlive,
    /// hey `-disable-keepalive`: a new connection per request.
    Fresh,
}

impl Load {
    pub const ALL: [Load; 2] = [Load::KeepAlive, Load::Fresh];

    pub fn key(self) -> &'static str {
        match self {
            Load::KeepAlive => "keepalive",
            Load::Fresh => "fresh",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Load::KeepAlive => "wrk, keep-alive",
            Load::Fresh => "hey, new connection per request",
        }
    }

    /// Connections per process.
    pub fn connections(self) -> u32 {
        match self {
            Load::KeepAlive | Load::Fresh => 8,
        }
    }

    pub fn spec(self, url: &str, duration: Duration) -> LoadSpec {
        let mut s = LoadSpec::new(
            match self {
                Load::KeepAlive => Tool::Wrk,
                Load::Fresh => Tool::Hey,
            },
            url,
        );
        s.connections = self.connections();
        s.threads = 1;
        s.duration = duration;
        s.keepalive = self == Load::KeepAlive;
        s
    }
}

/// One figure per load, under the loads' keys in the JSON.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct ByLoad<T> {
    pub keepalive: T,
    pub fresh: T,
}

impl<T> ByLoad<T> {
    pub fn from_fn(mut f: impl FnMut(Load) -> T) -> Self {
        Self {
            keepalive: f(Load::KeepAlive),
            fresh: f(Load::Fresh),
        }
    }

    pub fn get(&self, load: Load) -> &T {
        match load {
            Load::KeepAlive => &self.keepalive,
            Load::Fresh => &self.fresh,
        }
    }
}

/// What to watch besides the machine during a run.
#[derive(Default)]
pub struct Watch {
    /// Nginx worker pids (the proxy's).
    pub nginx_workers: Vec<u32>,
    /// BPF program ids (lb's, and the peer's xdp_pass in native mode).
    pub progs: Vec<u32>,
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct Measured {
    pub requests: u64,
    /// Failed requests (no response) plus non-2xx responses.
    pub failed: u64,
    pub rps: f64,
    /// Request-weighted means of the processes' percentiles.
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Busy CPU time of the whole machine over the run.
    pub machine_cpu: Duration,
    pub steal: Duration,
    /// All CPU time of the machine over the run (idle included).
    pub machine_total: Duration,
    pub nginx_cpu: Duration,
    /// Per program of [`Watch::progs`].
    pub progs: Vec<ProgCounters>,
}

impl Measured {
    /// Whole-machine CPU per request, µs.
    pub fn cpu_us(&self) -> f64 {
        per_request_ns(self.machine_cpu, self.requests) / 1000.0
    }

    pub fn nginx_us(&self) -> f64 {
        per_request_ns(self.nginx_cpu, self.requests) / 1000.0
    }

    /// Program `i`'s CPU per request, ns.
    pub fn prog_ns(&self, i: usize) -> f64 {
        self.progs
            .get(i)
            .map_or(f64::NAN, |p| per_request_ns(p.run_time, self.requests))
    }

    /// Program `i`'s runs (packets) per request.
    pub fn prog_runs(&self, i: usize) -> f64 {
        self.progs.get(i).map_or(f64::NAN, |p| {
            p.run_count as f64 / self.requests.max(1) as f64
        })
    }
}

fn per_request_ns(d: Duration, requests: u64) -> f64 {
    if requests == 0 {
        f64::NAN
    } else {
        d.as_nanos() as f64 / requests as f64
    }
}

/// Runs `load` against `urls` (one per process, cycled) for `duration`.
pub fn run(
    lab: &Lab,
    load: Load,
    urls: &[String],
    duration: Duration,
    watch: &Watch,
) -> Result<Measured> {
    ensure!(!urls.is_empty(), "no URL to load");
    let progs0 = watch
        .progs
        .iter()
        .map(|&id| ProgCounters::of(id))
        .collect::<Result<Vec<_>>>()?;
    let nginx0 = ProcessCpu::now(&watch.nginx_workers);
    let m0 = MachineCpu::now()?;
    let runs = (0..PROCS)
        .map(|i| LoadRun::spawn(lab, load.spec(&urls[i % urls.len()], duration)))
        .collect::<Result<Vec<_>>>()?;
    let results = runs
        .into_iter()
        .map(LoadRun::join)
        .collect::<Result<Vec<_>>>()?;
    let m1 = MachineCpu::now()?;
    let nginx1 = ProcessCpu::now(&watch.nginx_workers);
    let progs1 = watch
        .progs
        .iter()
        .map(|&id| ProgCounters::of(id))
        .collect::<Result<Vec<_>>>()?;
    let requests: u64 = results.iter().map(|r| r.requests).sum();
    let failed: u64 = results.iter().map(|r| r.errors.total() + r.non_2xx).sum();
    let weighted = |f: fn(&lb_lab::LoadResult) -> f64| {
        let w: f64 = results
            .iter()
            .filter(|r| f(r).is_finite())
            .map(|r| r.requests as f64)
            .sum();
        results
            .iter()
            .filter(|r| f(r).is_finite())
            .map(|r| f(r) * r.requests as f64)
            .sum::<f64>()
            / w
    };
    Ok(Measured {
        requests,
        failed,
        rps: results.iter().map(lb_lab::LoadResult::rps).sum(),
        p50_ms: weighted(|r| r.latency_p50_ms),
        p99_ms: weighted(|r| r.latency_p99_ms),
        machine_cpu: m1.busy_since(&m0),
        steal: m1.steal_since(&m0),
        machine_total: m1.total_since(&m0),
        nginx_cpu: nginx1.since(&nginx0),
        progs: progs1
            .iter()
            .zip(&progs0)
            .map(|(b, a)| b.since(a))
            .collect(),
    })
}
