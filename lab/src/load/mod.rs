//! Real load tools run from the client namespace, with hard time limits:
//! wrk (keep-alive by default; `Connection: close` for a fresh connection
//! per request) and hey (Go's net/http client; `-disable-keepalive`). The
//! two behave differently in a drain (docs/drain.md, "Losing nothing with any client"):
//! Go retries an idempotent request whose reused connection was closed
//! under it, wrk does not, so tests and benchmarks report both.

mod hey;
mod wrk;

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::Command,
    sync::atomic::{AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};

use crate::{client::unix_time, proc::Proc, topology::Lab};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Wrk,
    Hey,
}

/// What load to make.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    pub tool: Tool,
    pub url: String,
    /// Concurrent connections (wrk -c, hey -c).
    pub connections: u32,
    /// wrk threads (capped at `connections`); hey ignores it.
    pub threads: u32,
    pub duration: Duration,
    /// false: a new connection per request (wrk `-H "Connection: close"`,
    /// hey `-disable-keepalive`).
    pub keepalive: bool,
    /// Some(n): POST with an n-byte body; None: GET.
    pub post_body: Option<usize>,
    /// Per-request timeout. 20 s, hey's own default: long enough that a slow
    /// answer on a starved 2-core machine is not counted as a lost request,
    /// while a connection that is really broken still shows (refused, reset,
    /// or no answer at all).
    pub timeout: Duration,
}

impl LoadSpec {
    /// 10 connections, 2 threads, 5 s, keep-alive, GET, 20 s request timeout.
    pub fn new(tool: Tool, url: impl Into<String>) -> LoadSpec {
        LoadSpec {
            tool,
            url: url.into(),
            connections: 10,
            threads: 2,
            duration: Duration::from_secs(5),
            keepalive: true,
            post_body: None,
            timeout: Duration::from_secs(20),
        }
    }
}

/// Failed requests by kind, as the tool reports them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Errors {
    /// Could not connect (refused, unreachable).
    pub connect: u64,
    /// Reading the response failed: reset, or closed before a response
    /// (Go's "EOF"; wrk's "read" errors).
    pub read: u64,
    /// Sending the request failed (broken pipe).
    pub write: u64,
    /// No (complete) response within the request timeout.
    pub timeout: u64,
    pub other: u64,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.connect + self.read + self.write + self.timeout + self.other
    }
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct LoadResult {
    pub tool: Tool,
    /// Complete responses, any status.
    pub requests: u64,
    /// Responses with a status other than 2xx (wrk: other than 2xx or 3xx;
    /// the lab's app sends no 3xx).
    pub non_2xx: u64,
    /// Requests that got no complete response.
    pub errors: Errors,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    /// The run's length as the tool measured it.
    pub duration: Duration,
    /// Responses per status code (hey only; empty for wrk).
    pub status_codes: BTreeMap<u16, u64>,
    /// Error messages and counts as hey prints them (empty for wrk).
    pub error_messages: Vec<(u64, String)>,
    /// Unix time (s) the tool was started.
    pub started_at: f64,
    /// The tool's whole output.
    pub raw: String,
}

impl LoadResult {
    /// Complete responses per second over the run (0 for a run of no length).
    pub fn rps(&self) -> f64 {
        if self.duration > Duration::ZERO {
            self.requests as f64 / self.duration.as_secs_f64()
        } else {
            0.0
        }
    }
}

/// A load tool running in the background.
pub struct LoadRun {
    spec: LoadSpec,
    proc: Proc,
    out: PathBuf,
    started: Instant,
    started_at: f64,
}

/// Time a tool gets beyond its own duration before it is killed: wrk waits
/// for its last requests up to the request timeout.
const GRACE: Duration = Duration::from_secs(15);
const MAX_DURATION: Duration = Duration::from_mins(10);

static RUNS: AtomicUsize = AtomicUsize::new(0);

impl LoadRun {
    /// Starts the tool in the client namespace.
    pub fn spawn(lab: &Lab, spec: LoadSpec) -> Result<LoadRun> {
        ensure!(
            spec.duration <= MAX_DURATION,
            "load runs are capped at {MAX_DURATION:?}"
        );
        ensure!(spec.connections >= 1, "at least one connection");
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        let stem = lab.dir().join(format!("load-{n}"));
        let tool_args = match spec.tool {
            Tool::Wrk => wrk::args(&spec, &stem)?,
            Tool::Hey => hey::args(&spec, &stem)?,
        };
        let limit = spec.duration + spec.timeout + GRACE;
        let mut args = vec![
            "timeout".to_owned(),
            "-k".into(),
            "2".into(),
            format!("{:.3}", limit.as_secs_f64()),
        ];
        args.extend(tool_args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = stem.with_extension("out");
        let _ = std::fs::remove_file(&out);
        let cmd: Command = lab.client_ns().exec(&args);
        let started_at = unix_time();
        let proc = Proc::spawn(&format!("{:?}", spec.tool), cmd, Some(&out), lab.registry())?;
        Ok(LoadRun {
            spec,
            proc,
            out,
            started: Instant::now(),
            started_at,
        })
    }

    /// Starts and waits for a run.
    pub fn run(lab: &Lab, spec: LoadSpec) -> Result<LoadResult> {
        LoadRun::spawn(lab, spec)?.join()
    }

    /// Unix time (s) the tool was started.
    pub fn started_at(&self) -> f64 {
        self.started_at
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits for the tool (bounded) and parses its output.
    pub fn join(self) -> Result<LoadResult> {
        let limit = self.spec.duration + self.spec.timeout + GRACE + Duration::from_secs(5);
        let status = self
            .proc
            .wait_timeout(limit.saturating_sub(self.started.elapsed()))?;
        let raw = std::fs::read_to_string(&self.out).unwrap_or_default();
        let Some(status) = status else {
            self.proc.kill();
            bail!(
                "{:?} did not finish within {limit:?}; output:\n{raw}",
                self.spec.tool
            );
        };
        if !status.success() {
            bail!("{:?} failed ({status}); output:\n{raw}", self.spec.tool);
        }
        let mut r = match self.spec.tool {
            Tool::Wrk => wrk::parse(&raw),
            Tool::Hey => hey::parse(&raw),
        }
        .with_context(|| format!("parsing {:?} output:\n{raw}", self.spec.tool))?;
        r.started_at = self.started_at;
        Ok(r)
    }
}

/// `"2.61ms"`, `"850.00us"`, `"1.02s"`, `"1.50m"` in milliseconds.
pub(crate) fn parse_ms(s: &str) -> Option<f64> {
    let units = [
        ("us", 0.001),
        ("ms", 1.0),
        ("s", 1000.0),
        ("m", 60_000.0),
        ("h", 3_600_000.0),
    ];
    units.iter().find_map(|(u, f)| {
        s.strip_suffix(u)
            .and_then(|n| n.parse::<f64>().ok())
            .map(|n| n * f)
    })
}

/// Seconds as "1.000s" for tools taking Go-ish durations.
pub(crate) fn secs(d: Duration) -> String {
    // Whole seconds, rounded up, at least one.
    let whole = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    format!("{}s", whole.max(1))
}
