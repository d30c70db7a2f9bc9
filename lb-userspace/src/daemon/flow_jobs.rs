//! Work on the flow tables that grows with the table, run off the core loop
//! (in blocking tasks) on handles of their own, opened from the pins: a pass
//! over a million flows takes about a third of a second and must never delay
//! a drain's flip, a tick or an API answer.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use aya::maps::{Map, MapData};
use lb_common::{flow::FlowKey, maps as names};
use tokio::sync::{mpsc, watch};

use super::{
    event_loop::Msg,
    live::{self, DrainFlowMap, FlowMap, IdleTimeouts, Tracked},
};

/// How often, at most, the whole flow table is counted for every backend's
/// figure (draining backends are followed every tick, by key).
pub const FULL_COUNT_EVERY: Duration = Duration::from_secs(2);
/// A pass costs about 0.3 s at a million flows (docs/benchmarks.md): the next
/// one waits this many times as long as the last took, so counting never
/// takes more than about 5% of a core however full the table is.
pub const FULL_COUNT_DUTY: u32 = 20;

/// Where the pinned flow tables are.
#[derive(Clone, Debug)]
pub struct FlowPins {
    /// The pin directory: the flow tables (FLOWS4 and FLOWS) open from it.
    pub dir: PathBuf,
    pub drain_flows: PathBuf,
}

impl FlowPins {
    pub fn new(pin_dir: &Path) -> Self {
        Self {
            dir: pin_dir.to_path_buf(),
            drain_flows: pin_dir.join(names::DRAIN_FLOWS),
        }
    }

    pub fn open_flows(&self) -> anyhow::Result<FlowMap> {
        FlowMap::from_pins(&self.dir)
            .with_context(|| format!("opening the flow tables in {}", self.dir.display()))
    }

    pub fn open_drain_flows(&self) -> anyhow::Result<DrainFlowMap> {
        open(&self.drain_flows)
    }

    /// `NAT_FWD` (read only: the program alone writes it).
    pub fn open_nat_fwd(
        &self,
    ) -> anyhow::Result<aya::maps::HashMap<MapData, FlowKey, lb_common::nat::NatForward>> {
        open(&self.dir.join(names::NAT_FWD))
    }
}

fn open<V: aya::Pod>(pin: &Path) -> anyhow::Result<aya::maps::HashMap<MapData, FlowKey, V>> {
    let data = MapData::from_pin(pin).with_context(|| format!("opening {}", pin.display()))?;
    Ok(aya::maps::HashMap::try_from(Map::from_map_data(data)?)?)
}

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
