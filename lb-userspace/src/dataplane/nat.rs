//! The NAT maps user space touches: `NAT_CONFIG`, which it writes (sources,
//! port range, reuse delay), and `NAT_FWD`, which it only reads (`lb flows`
//! shows each NAT flow's source port). `NAT_REV` is the program's alone.
//!
//! Opened from the pins in both the load and the adopt path (a fresh load
//! pins every map before taking any), so `Maps::take` leaves the NAT maps in
//! the loaded object for the kernel tests' harness to take.

use std::{net::IpAddr, path::Path, time::Duration};

use aya::maps::{Array, HashMap, MapData};
use lb_common::{
    addr::from_ip,
    flow::FlowKey,
    maps as names,
    nat::{NAT_CFG_NO_DNAT, NAT_SOURCES_PER_FAMILY, NatConfig, NatForward},
};

use super::map_source::{MapsError, PinnedMaps, Source as _, ctx};
use crate::config::NatHost;

/// The shortest reuse delay of a source port: a backend that closed first
/// keeps the 4-tuple in TIME_WAIT for 60 s (Linux), and a SYN on it before
/// then could be taken for an old segment.
pub const MIN_REUSE_AFTER: Duration = Duration::from_mins(1);

pub struct NatMaps {
    pub config: Array<MapData, NatConfig>,
    pub fwd: HashMap<MapData, FlowKey, NatForward>,
}

impl NatMaps {
    /// Opens the NAT maps pinned under `dir`.
    pub fn from_pins(dir: &Path) -> Result<Self, MapsError> {
        let mut src = PinnedMaps(dir);
        Ok(Self {
            config: Array::try_from(src.map(names::NAT_CONFIG)?).map_err(ctx(names::NAT_CONFIG))?,
            fwd: HashMap::try_from(src.map(names::NAT_FWD)?).map_err(ctx(names::NAT_FWD))?,
        })
    }

    /// Writes `config` into `NAT_CONFIG`.
    pub fn write_config(&mut self, config: &NatConfig) -> Result<(), MapsError> {
        self.config
            .set(0, config, 0)
            .map_err(ctx(names::NAT_CONFIG))
    }
}

/// What `NAT_CONFIG` holds for `host`: its sources (the first
/// `NAT_SOURCES_PER_FAMILY` of each family; the config allows no more) and
/// port range; a translation idle `reuse_after` may be taken over (at least
/// [`MIN_REUSE_AFTER`]). NAT off (`port_min == 0`) when `host` has no
/// source; the reuse delay is written all the same: a DNAT reply entry is
/// taken over after it too. `dnat`: some VIP forwards by DNAT (else the
/// program skips looking for DNAT replies).
pub fn nat_config(host: &NatHost, reuse_after: Duration, dnat: bool) -> NatConfig {
    let mut config = NatConfig {
        reuse_after_ns: reuse_after.max(MIN_REUSE_AFTER).as_nanos() as u64,
        flags: if dnat { 0 } else { NAT_CFG_NO_DNAT },
        ..NatConfig::default()
    };
    if host.sources.is_empty() {
        return config;
    }
    config.port_min = host.port_min;
    config.port_max = host.port_max;
    for addr in &host.sources {
        match addr {
            IpAddr::V4(a) => {
                let n = usize::from(config.n_sources_v4);
                if n < NAT_SOURCES_PER_FAMILY {
                    config.sources_v4[n] = a.octets();
                    config.n_sources_v4 += 1;
                }
            }
            IpAddr::V6(_) => {
                let n = usize::from(config.n_sources_v6);
                if n < NAT_SOURCES_PER_FAMILY {
                    config.sources_v6[n] = from_ip(*addr);
                    config.n_sources_v6 += 1;
                }
            }
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_holds_each_familys_sources_the_range_and_the_reuse_delay() {
        let host = NatHost {
            sources: ["203.0.113.2", "203.0.113.3", "2001:db8::2"]
                .iter()
                .map(|a| a.parse().unwrap())
                .collect(),
            port_min: 1024,
            port_max: 32767,
        };
        let c = nat_config(&host, Duration::from_mins(2), false);
        assert_eq!(
            (c.port_min, c.port_max, c.range_len()),
            (1024, 32767, 31744)
        );
        assert_eq!((c.n_sources_v4, c.n_sources_v6), (2, 1));
        assert_eq!(c.sources_v4[..2], [[203, 0, 113, 2], [203, 0, 113, 3]]);
        assert_eq!(c.sources_v6[0], from_ip("2001:db8::2".parse().unwrap()));
        assert_eq!(c.reuse_after_ns, 120_000_000_000);
        assert!(!c.dnat_replies_possible(), "no DNAT VIP: no DNAT reply");
        // Never shorter than TIME_WAIT; a DNAT VIP turns the reply check on.
        let c = nat_config(&host, Duration::from_secs(5), true);
        assert_eq!(c.reuse_after_ns, 60_000_000_000);
        assert!(c.dnat_replies_possible());
        // No source: NAT off, the reuse delay kept for DNAT.
        let off = nat_config(&NatHost::default(), Duration::from_secs(5), true);
        assert_eq!(
            (off.range_len(), off.n_sources_v4, off.n_sources_v6),
            (0, 0, 0)
        );
        assert_eq!(off.reuse_after_ns, 60_000_000_000);
    }
}
