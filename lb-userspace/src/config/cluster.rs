//! `[cluster]`: this node's place in a fleet of lb nodes (docs/fleet.md).
//! Optional: without it, lb is the one-box balancer and nothing changes.
//!
//! ```toml
//! [cluster]
//! node = "lb-1"                        # unique in the fleet
//! etcd = ["http://192.0.2.50:2379"]    # the shared state
//! prefix = "/lb"                       # optional: where the keys live
//! lease_ttl = "5s"                     # optional: node liveness lease
//!
//! [cluster.bgp]                        # optional: lb drives a local BIRD 2
//! socket = "/run/bird/bird.ctl"        # optional: BIRD's control socket
//! include = "/etc/bird/lb-vips.conf"   # the file lb writes; bird.conf includes it
//! protocol = "lb_vips"                 # optional: lb writes lb_vips4 and lb_vips6
//! ```

use std::{path::PathBuf, time::Duration};

use serde::Deserialize;

use super::{check::Checked, duration::Dur, error::Problem, locate::KeyPath};
use crate::cluster::{
    bgp::BirdControl,
    lease::{DEFAULT_LEASE_TTL, MIN_LEASE_TTL},
    model::{KeyPrefix, NodeName},
};

pub const DEFAULT_BIRD_SOCKET: &str = "/run/bird/bird.ctl";
pub const DEFAULT_BGP_PROTOCOL: &str = "lb_vips";
/// Longest lease: a dead node holds its claim (and the fleet's drain count)
/// for up to this long.
pub const MAX_LEASE_TTL: Duration = Duration::from_mins(1);

/// The validated `[cluster]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    pub node: NodeName,
    /// `http://host:port` endpoints (TLS is not supported yet).
    pub etcd: Vec<String>,
    pub prefix: KeyPrefix,
    /// Whole seconds, [`MIN_LEASE_TTL`]..=[`MAX_LEASE_TTL`].
    pub lease_ttl: Duration,
    pub bgp: Option<BirdControl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    pub node: String,
    pub etcd: Vec<String>,
    pub prefix: Option<String>,
    pub lease_ttl: Option<Dur>,
    pub bgp: Option<RawBgp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBgp {
    pub socket: Option<PathBuf>,
    pub include: PathBuf,
    pub protocol: Option<String>,
}

pub(super) fn cluster(raw: RawCluster, at: &KeyPath) -> Checked<ClusterConfig> {
    let node = NodeName::new(&raw.node).map_err(|m| Problem::new(at.key("node"), m))?;
    if raw.etcd.is_empty() {
        return Err(Problem::new(
            at.key("etcd"),
            "expected at least one endpoint like \"http://192.0.2.50:2379\", got an empty list",
        ));
    }
    for (i, e) in raw.etcd.iter().enumerate() {
        check_endpoint(e).map_err(|m| Problem::new(at.key("etcd").index(i), m))?;
    }
    let prefix = match raw.prefix {
        Some(p) => KeyPrefix::new(&p).map_err(|m| Problem::new(at.key("prefix"), m))?,
        None => KeyPrefix::default(),
    };
    let lease_ttl = match raw.lease_ttl.map(|d| d.0) {
        None => DEFAULT_LEASE_TTL,
        Some(d) if d.subsec_nanos() == 0 && (MIN_LEASE_TTL..=MAX_LEASE_TTL).contains(&d) => d,
        Some(d) => {
            return Err(Problem::new(
                at.key("lease_ttl"),
                format!(
                    "expected whole seconds from {}s to {}s (etcd leases count in seconds), got {d:?}",
                    MIN_LEASE_TTL.as_secs(),
                    MAX_LEASE_TTL.as_secs()
                ),
            ));
        }
    };
    let bgp = raw.bgp.map(|b| bgp(b, &at.key("bgp"))).transpose()?;
    Ok(ClusterConfig {
        node,
        etcd: raw.etcd,
        prefix,
        lease_ttl,
        bgp,
    })
}

fn bgp(raw: RawBgp, at: &KeyPath) -> Checked<BirdControl> {
    let absolute = |p: PathBuf, key: &str| -> Checked<PathBuf> {
        if p.is_absolute() {
            Ok(p)
        } else {
            Err(Problem::new(
                at.key(key),
                format!(
                    "expected an absolute path, got {:?}",
                    p.display().to_string()
                ),
            ))
        }
    };
    let protocol = raw
        .protocol
        .unwrap_or_else(|| DEFAULT_BGP_PROTOCOL.to_owned());
    // A BIRD symbol, with room for the "4"/"6" lb appends.
    let symbol = protocol.len() < 32
        && protocol.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && protocol
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !symbol {
        return Err(Problem::new(
            at.key("protocol"),
            format!(
                "expected a BIRD protocol name (a letter or '_', then letters, digits, '_'; \
                 at most 31 characters), got {protocol:?}"
            ),
        ));
    }
    Ok(BirdControl {
        socket: absolute(
            raw.socket.unwrap_or_else(|| DEFAULT_BIRD_SOCKET.into()),
            "socket",
        )?,
        include: absolute(raw.include, "include")?,
        protocol,
    })
}

/// `http://host:port`, host a name, an IPv4 address or `[IPv6]`.
fn check_endpoint(e: &str) -> Result<(), String> {
    let bad = |why: &str| {
        format!("expected an endpoint like \"http://192.0.2.50:2379\" ({why}), got {e:?}")
    };
    if e.starts_with("https://") {
        return Err(bad("TLS is not supported yet"));
    }
    let rest = e.strip_prefix("http://").ok_or_else(|| bad("http://"))?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("with a port"))?;
    let port_ok = port.parse::<u16>().is_ok_and(|p| p != 0);
    let host_ok = !host.is_empty()
        && !host.contains(['/', '@', '?', '#', ' '])
        && (!host.contains(':') || (host.starts_with('[') && host.ends_with(']')));
    if !port_ok || !host_ok {
        return Err(bad("host and port, no path"));
    }
    Ok(())
}
