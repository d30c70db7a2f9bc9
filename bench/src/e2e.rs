//! Part 3, end to end in the lab: the same backends and the same load tools
//! through `lb` (generic and native XDP), straight to the backends, through
//! Nginx's HTTP reverse proxy and through Nginx's stream (L4) proxy; with
//! trivial backends (Nginx `return 200`, so the balancer's own cost shows)
//! and with the real Gunicorn/Uvicorn/FastAPI stack. Requests/s, latency,
//! whole-machine CPU per request (/proc/stat), the XDP program's own CPU per
//! request (the kernel's run-time statistics) and Nginx's worker CPU per
//! request (/proc/PID/stat).
//!
//! `e2e/setup.rs` serves part 4 (drain) too.

pub mod cpu;
pub mod load;
mod measure;
pub mod nat;
mod peer;
mod plan;
mod render;
mod report;
pub mod setup;
mod summary;

use std::time::Instant;

use anyhow::Result;
use lb_lab::scenario;

pub use self::render::render;
use self::{plan::Plan, summary::summarize};
use crate::Ctx;

/// Rounds (every scenario, kind and load once per round).
pub const ROUNDS: usize = 3;
/// Seconds each load runs.
pub const SECONDS: u64 = 4;

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
