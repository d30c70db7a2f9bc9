//! Graceful drain end to end (root only): the real `lb` daemon and XDP
//! program in front of three real Gunicorn + Uvicorn + FastAPI backends in
//! the lab's namespaces, real load tools (hey, wrk) and curl requests. Every
//! test drains web-2 (or, for health, kills web-3) and prints its figures;
//! docs/drain.md quotes them.
//!
//! Run: cargo xtask test -- drain
//! (or: cargo build -p lb-userspace --bin lb &&
//!      cargo test -p lb-tests --test drain -- --test-threads=1 --nocapture)

#[path = "drain/accounting.rs"]
mod accounting;
#[path = "drain/flood.rs"]
mod flood;
#[path = "drain/health.rs"]
mod health;
#[path = "drain/limits.rs"]
mod limits;
#[path = "drain/load.rs"]
mod load;
#[path = "drain/mixed_load.rs"]
mod mixed_load;
#[path = "drain/on_drain.rs"]
mod on_drain;
#[path = "drain/signal.rs"]
mod signal;
#[path = "drain/support.rs"]
mod support;

use std::time::Duration;

use lb_lab::{BackendOpts, ConfigSpec, LoadSpec, Tool};
use support::exit_code;

/// The daemon's SETTLE_FLOOR: a flow must be this old (with its first
/// request sent) before the shutdown signal may go ahead of signal_delay.
const SETTLE_FLOOR_S: f64 = 0.2;
/// The daemon's default signal_delay.
const SIGNAL_DELAY_S: f64 = 1.0;

/// The drain ended DRAINED (`lb drain --wait` exit 0), not forced at its
/// deadline, and nothing is left live. `b` is the backend's status after it.
fn assert_drained(run: &support::DrainRun, b: &serde_json::Value) {
    let d = &b["drain"];
    assert_eq!(
        (
            exit_code(&run.wait),
            d["outcome"].as_str(),
            d["forced_flows"].as_u64()
        ),
        (0, Some("drained"), Some(0)),
        "the drain did not end DRAINED (if flows stayed live after the backend \
         reset them, see drain_ends_when_the_backend_resets_a_keepalive_connection)\n\
         lb drain --wait: {}\n{b:#}",
        String::from_utf8_lossy(&run.wait.stderr)
    );
    assert_eq!(b["state"], "drained", "{b:#}");
    assert_eq!(b["live_flows"], 0, "{b:#}");
}

/// The default mode (shutdown_when "start", signal_delay 1 s), with a 15 s
/// drain deadline so that a drain that does not end fails quickly.
fn default_mode() -> ConfigSpec {
    ConfigSpec {
        backend: BackendOpts {
            drain_timeout: Some(Duration::from_secs(15)),
            ..BackendOpts::default()
        },
        ..ConfigSpec::default()
    }
}

/// 4 connections of `tool` on the VIP for `secs` s: keep-alive or a fresh
/// connection per request, GET or a 1000-byte POST.
fn load_spec(lab: &lb_lab::Lab, tool: Tool, keepalive: bool, post: bool, secs: u64) -> LoadSpec {
    let mut s = LoadSpec::new(tool, lab.vip_url("/"));
    s.connections = 4;
    s.threads = 2;
    s.duration = Duration::from_secs(secs);
    s.keepalive = keepalive;
    s.post_body = post.then_some(1000);
    s
}
