//! The two flow tables (`FLOWS4` for IPv4 under the compact key, `FLOWS` for
//! IPv6) seen as one table of [`FlowKey`]s: IPv4 keys IPv4-mapped, as every
//! reader (live counts, `lb flows`, drains, `DRAIN_FLOWS`) keys flows.

use std::{borrow::Borrow, io, path::Path};

use aya::maps::{HashMap, MapData, MapError};
use lb_common::{
    flow::{FlowInfo, FlowKey, FlowKey4},
    maps as names,
};

use super::{
    flow_scan::for_each_entry,
    map_source::{MapsError, PinnedMaps, Source, ctx},
};

pub struct FlowTables {
    pub v4: HashMap<MapData, FlowKey4, FlowInfo>,
    pub v6: HashMap<MapData, FlowKey, FlowInfo>,
}

impl FlowTables {
    pub(super) fn from_source(src: &mut impl Source) -> Result<Self, MapsError> {
        Ok(Self {
            v4: HashMap::try_from(src.map(names::FLOWS4)?).map_err(ctx(names::FLOWS4))?,
            v6: HashMap::try_from(src.map(names::FLOWS)?).map_err(ctx(names::FLOWS))?,
        })
    }

    /// Opens the tables pinned under `dir`: a handle of its own, e.g. for a
    /// long pass outside the daemon's lock.
    pub fn from_pins(dir: &Path) -> Result<Self, MapsError> {
        Self::from_source(&mut PinnedMaps(dir))
    }

    pub fn get(&self, key: &FlowKey, flags: u64) -> Result<FlowInfo, MapError> {
        match key.narrow() {
            Some(k) => self.v4.get(&k, flags),
            None => self.v6.get(key, flags),
        }
    }

    pub fn insert(
        &mut self,
        key: impl Borrow<FlowKey>,
        value: impl Borrow<FlowInfo>,
        flags: u64,
    ) -> Result<(), MapError> {
        let key = key.borrow();
        match key.narrow() {
            Some(k) => self.v4.insert(k, value, flags),
            None => self.v6.insert(key, value, flags),
        }
    }

    pub fn remove(&mut self, key: &FlowKey) -> Result<(), MapError> {
        match key.narrow() {
            Some(k) => self.v4.remove(&k),
            None => self.v6.remove(key),
        }
    }

    /// Every entry, one by one (slow on a large table: see [`Self::for_each`]).
    pub fn iter(&self) -> impl Iterator<Item = Result<(FlowKey, FlowInfo), MapError>> + '_ {
        let v4 = self.v4.iter().map(|r| r.map(|(k, v)| (k.widen(), v)));
        v4.chain(self.v6.iter())
    }

    /// Calls `f` for every entry of both tables, in batches; returns how many
    /// there were.
    pub fn for_each(&self, mut f: impl FnMut(&FlowKey, &FlowInfo)) -> io::Result<u64> {
        let blank4 = FlowKey4::new([0; 4], [0; 4], 0, 0, 0);
        let v4 = for_each_entry(&self.v4, blank4, |k, v| f(&k.widen(), v))?;
        Ok(v4 + for_each_entry(&self.v6, blank4.widen(), f)?)
    }
}
