//! Work on the flow tables that grows with the table, run off the core loop
//! (in blocking tasks) on handles of their own, opened from the pins: a pass
//! over a million flows takes about a third of a second and must never delay
//! a drain's flip, a tick or an API answer.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use lb_common::flow::FlowKey;
use tokio::sync::{mpsc, watch};

use super::{
    flow_pins::FlowPins,
    live::{self, IdleTimeouts, Tracked},
    msg::Msg,
};

/// How often, at most, the whole flow table is counted for every backend's
/// figure (draining backends are followed every tick, by key).
pub const FULL_COUNT_EVERY: Duration = Duration::from_secs(2);
/// A pass costs about 0.3 s at a million flows (docs/benchmarks.md): the next
/// one waits this many times as long as the last took, so counting never
/// takes more than about 5% of a core however full the table is.
pub const FULL_COUNT_DUTY: u32 = 20;

/// Collects a draining backend's live flows (one pass) and records them in
/// DRAIN_FLOWS, out of reach of LRU eviction.
pub fn collect(pins: &FlowPins, backend_id: u32, idle: IdleTimeouts) -> anyhow::Result<Tracked> {
    let flows = pins.open_flows()?;
    let mut drain_flows = pins.open_drain_flows()?;
    let tracked = Tracked::collect(&flows, &drain_flows, backend_id, live::monotonic_ns(), idle);
    let mut recorded = 0;
    for key in tracked.keys() {
        match drain_flows.insert(key, backend_id, 0) {
            Ok(()) => recorded += 1,
            Err(e) => {
                tracing::warn!(error = %e, "DRAIN_FLOWS is full: further connections of the draining backend rely on the flow table alone");
                break;
            }
        }
    }
    tracing::info!(
        backend_id,
        flows = tracked.len(),
        recorded,
        "draining backend's connections recorded"
    );
    Ok(tracked)
}

/// Forgets connections of a drain that ended or was cancelled.
pub fn forget(pins: &FlowPins, keys: &[FlowKey]) -> anyhow::Result<()> {
    let mut drain_flows = pins.open_drain_flows()?;
    for key in keys {
        let _ = drain_flows.remove(key);
    }
    Ok(())
}

/// Deletes flows forced off at a drain's deadline.
pub fn force_off(pins: &FlowPins, keys: &[FlowKey]) -> anyhow::Result<()> {
    let mut flows = pins.open_flows()?;
    for key in keys {
        let _ = flows.remove(key);
    }
    Ok(())
}

/// Counts live flows per backend over the whole table, for ever, and sends
/// each count to the core. Returns only on failure (an essential task: the
/// daemon exits when it does).
pub async fn count_loop(
    pins: FlowPins,
    idle: watch::Receiver<IdleTimeouts>,
    core: mpsc::Sender<Msg>,
) -> anyhow::Result<()> {
    let flows = std::sync::Arc::new(
        pins.open_flows()
            .context("opening the flow table for live counts")?,
    );
    loop {
        let idle = *idle.borrow();
        let started = Instant::now();
        let pass = std::sync::Arc::clone(&flows);
        let (counts, scanned): (BTreeMap<u32, u64>, u64) = tokio::task::spawn_blocking(move || {
            live::count_by_backend(&pass, live::monotonic_ns(), idle)
        })
        .await
        .context("the flow counting pass failed")?;
        let took = started.elapsed();
        tracing::debug!(scanned, ?took, "flow table counted");
        crate::metrics::counters::global().flow_table(scanned);
        if core.send(Msg::Counts(counts)).await.is_err() {
            return Ok(()); // the core stopped: so do we
        }
        tokio::time::sleep(FULL_COUNT_EVERY.max(took * FULL_COUNT_DUTY)).await;
    }
}
