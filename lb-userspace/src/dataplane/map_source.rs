//! Where the program's maps come from (a freshly loaded program or the pins
//! of a running one) and the one error type for opening and using them.
//! Below `maps`, `flows` and `nat`, which all open maps this way.

use std::path::Path;

use aya::{
    Ebpf,
    maps::{Map, MapData, MapError},
};

#[derive(Debug, thiserror::Error)]
pub enum MapsError {
    #[error("map {name}: {source}")]
    Map {
        name: &'static str,
        #[source]
        source: MapError,
    },
    #[error("the loaded program has no map named {0}")]
    Missing(&'static str),
    #[error("map {name} is pinned at {path}: {source}")]
    Pin {
        name: &'static str,
        path: String,
        #[source]
        source: MapError,
    },
    #[error("map {name}: {source}")]
    Batch {
        name: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("VIP {vip_id}: table has {got} slots, the program uses {want}")]
    TableSize { vip_id: u32, got: usize, want: u32 },
}

pub(super) fn ctx(name: &'static str) -> impl FnOnce(MapError) -> MapsError {
    move |source| MapsError::Map { name, source }
}

/// Where each map comes from: a freshly loaded program or pins.
pub(super) trait Source {
    fn map(&mut self, name: &'static str) -> Result<Map, MapsError>;
}

impl Source for Ebpf {
    fn map(&mut self, name: &'static str) -> Result<Map, MapsError> {
        self.take_map(name).ok_or(MapsError::Missing(name))
    }
}

/// The maps pinned in one pin directory, opened by name.
pub(super) struct PinnedMaps<'a>(pub(super) &'a Path);

impl Source for PinnedMaps<'_> {
    fn map(&mut self, name: &'static str) -> Result<Map, MapsError> {
        let path = self.0.join(name);
        let pin_error = |source| MapsError::Pin {
            name,
            path: path.display().to_string(),
            source,
        };
        let data = MapData::from_pin(&path).map_err(pin_error)?;
        Map::from_map_data(data).map_err(pin_error)
    }
}
