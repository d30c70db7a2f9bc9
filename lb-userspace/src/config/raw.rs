//! The file as serde reads it: the TOML's shape, optional keys left as `Option`.
//!
//! Kept apart from the model because validation needs to know what was
//! *written* (a `path` given for a TCP check is an error, not a default), and
//! because an action is "exactly one of" several keys, which serde's enums
//! report poorly. Types that serde checks well (addresses, ports, enums) are
//! parsed here already, so their errors carry the value's exact span.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    path::PathBuf,
};

use serde::{
    Deserialize,
    de::{self, SeqAccess, Visitor},
};

use super::{
    duration::Dur,
    mac::Mac,
    model::{Forward, HealthKind, OnUnhealthy, Protocol, ShutdownWhen, XdpMode},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub daemon: RawDaemon,
    #[serde(default)]
    pub vip: Vec<RawVip>,
    pub cluster: Option<super::cluster::RawCluster>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDaemon {
    pub interface: String,
    #[serde(default)]
    pub xdp_mode: XdpMode,
    pub socket: Option<PathBuf>,
    pub pin_root: Option<PathBuf>,
    pub metrics: Option<SocketAddr>,
    pub flow_idle_timeout: Option<Dur>,
    pub udp_idle_timeout: Option<Dur>,
    pub max_flows: Option<u32>,
    pub max_drain_flows: Option<u32>,
    pub max_vips: Option<u32>,
    pub max_backends: Option<u32>,
    pub maglev_size: Option<u32>,
    pub state_file: Option<PathBuf>,
    pub health_concurrency: Option<usize>,
    pub read_only_socket: Option<PathBuf>,
    pub read_only_socket_group: Option<String>,
    pub nat_source: Option<AddrList>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVip {
    pub name: String,
    pub address: IpAddr,
    pub port: u16,
    pub protocol: Protocol,
    #[serde(default)]
    pub forward: Forward,
    #[serde(default)]
    pub backend: Vec<RawBackend>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackend {
    pub name: String,
    pub address: IpAddr,
    /// NAT VIPs only.
    pub port: Option<u16>,
    pub mac: Option<Mac>,
    pub weight: Option<u32>,
    pub drain_timeout: Option<Dur>,
    pub health: Option<RawHealth>,
    pub shutdown: Option<RawAction>,
    #[serde(default)]
    pub shutdown_when: ShutdownWhen,
    pub signal_delay: Option<Dur>,
    pub on_drain: Option<RawAction>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHealth {
    pub kind: HealthKind,
    pub path: Option<String>,
    pub port: Option<u16>,
    pub interval: Option<Dur>,
    pub timeout: Option<Dur>,
    pub rise: Option<u32>,
    pub fall: Option<u32>,
    #[serde(default)]
    pub on_unhealthy: OnUnhealthy,
}

/// Every key any action may have; validation checks which combination it is.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAction {
    pub signal: Option<String>,
    pub pid: Option<u32>,
    pub pid_file: Option<PathBuf>,
    pub command: Option<Vec<String>>,
    pub http: Option<String>,
    pub method: Option<String>,
}

/// `nat_source = "203.0.113.2"` or `nat_source = ["203.0.113.2", "2001:db8::2"]`.
#[derive(Debug, Default)]
pub(super) struct AddrList(pub Vec<IpAddr>);

impl<'de> Deserialize<'de> for AddrList {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AddrsVisitor;
        impl<'de> Visitor<'de> for AddrsVisitor {
            type Value = AddrList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"an IP address like "203.0.113.2", or a list of them"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AddrList, E> {
                parse_addr(v).map(|a| AddrList(vec![a]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AddrList, A::Error> {
                let mut addrs = Vec::new();
                while let Some(text) = seq.next_element::<String>()? {
                    addrs.push(parse_addr(&text)?);
                }
                Ok(AddrList(addrs))
            }
        }
        d.deserialize_any(AddrsVisitor)
    }
}

fn parse_addr<E: de::Error>(text: &str) -> Result<IpAddr, E> {
    text.parse().map_err(|_| {
        E::custom(format!(
            r#"expected an IP address like "203.0.113.2" or "2001:db8::2", got {text:?}"#
        ))
    })
}
