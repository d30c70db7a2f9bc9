//! Where the pinned flow tables are, and opening them: the work off the
//! core loop (`flow_jobs`, `flow_list`, the drain-set task) opens handles of
//! its own from the pins.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use aya::maps::{Map, MapData};
use lb_common::{flow::FlowKey, maps as names};

use super::live::{DrainFlowMap, FlowMap};

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
