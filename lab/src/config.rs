//! The lb daemon's TOML config for a lab (docs/config.md), built from
//! a [`ConfigSpec`] and open to any further edit before it is written: every
//! section is a plain struct with public fields.
//!
//! One VIP `web` (198.51.100.10:80/tcp) with every backend; with IPv6 a
//! second VIP `web6` (VIP6) whose backends are the same Gunicorns under
//! distinct names `web6-i` (backend names are global in lb). Each backend
//! has its MAC from the lab (no neighbour resolution needed), an HTTP health
//! check and, as shutdown action, SIGTERM to its Gunicorn master's pid file.
//!
//! NAT backends ([`Lab::up_nat`]) sit on a `forward = "nat"` VIP with
//! `port = 8000` and no MAC: `web`/`web6` itself when every backend is one,
//! else `app` (198.51.100.20) and `app6` beside the DSR VIPs. The DNAT lab's
//! ([`Lab::up_dnat`]) on `web`/`web6` with `forward = "dnat"`.

use std::{collections::BTreeMap, net::SocketAddr, path::Path, time::Duration};

use anyhow::{Context as _, Result};
use serde::Serialize;

use crate::{backend::Backend, topology::Lab};

/// The per-backend knobs tests turn.
#[derive(Clone, Debug)]
pub struct BackendOpts {
    pub weight: Option<u32>,
    pub drain_timeout: Option<Duration>,
    /// "start" or "idle".
    pub shutdown_when: Option<String>,
    pub signal_delay: Option<Duration>,
    /// `on_drain = { http = "http://<backend>:80/lb/drain" }` (lb_drain's
    /// endpoint, in every lab app).
    pub on_drain: bool,
    /// The HTTP health check on /health (interval 500ms, timeout 300ms,
    /// rise 2, fall 2).
    pub health: bool,
    /// `shutdown = { signal = "TERM", pid_file = <its Gunicorn pid file> }`.
    pub shutdown: bool,
}

impl Default for BackendOpts {
    fn default() -> Self {
        BackendOpts {
            weight: None,
            drain_timeout: None,
            shutdown_when: None,
            signal_delay: None,
            on_drain: false,
            health: true,
            shutdown: true,
        }
    }
}

/// What the lab writes into the daemon's config.
#[derive(Clone, Debug)]
pub struct ConfigSpec {
    /// "generic" (default) works on veth as is, and "auto" picks it there.
    /// "native" also needs an XDP program on the bridge-side peer
    /// (docs/toolchain.md: XDP_TX on veth), which only the bench sets up.
    pub xdp_mode: String,
    /// The Prometheus listener, inside the LB namespace.
    pub metrics: Option<SocketAddr>,
    pub flow_idle_timeout: Option<Duration>,
    pub max_flows: Option<u32>,
    pub maglev_size: Option<u32>,
    /// Applied to every backend...
    pub backend: BackendOpts,
    /// ...except these, by backend name ("web-2", "web6-2").
    pub overrides: BTreeMap<String, BackendOpts>,
}

impl Default for ConfigSpec {
    fn default() -> Self {
        ConfigSpec {
            xdp_mode: "generic".into(),
            metrics: None,
            flow_idle_timeout: None,
            max_flows: None,
            maglev_size: None,
            backend: BackendOpts::default(),
            overrides: BTreeMap::new(),
        }
    }
}

/// The whole file.
#[derive(Clone, Debug, Serialize)]
pub struct LbConfig {
    pub daemon: DaemonSection,
    pub vip: Vec<VipSection>,
    /// `[cluster]` (docs/fleet.md): set by `FleetNode::cluster_config`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterSection>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClusterSection {
    pub node: String,
    pub etcd: Vec<String>,
    pub lease_ttl: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bgp: Option<BgpSection>,
}

/// `[cluster.bgp]`: the daemon drives the node's BIRD.
#[derive(Clone, Debug, Serialize)]
pub struct BgpSection {
    pub socket: String,
    pub include: String,
    pub protocol: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct DaemonSection {
    pub interface: String,
    pub xdp_mode: String,
    pub socket: String,
    pub pin_root: String,
    pub state_file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow_idle_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_flows: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maglev_size: Option<u32>,
    /// Default (None): the interface's own address of each family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nat_source: Option<Vec<String>>,
}

#[derive(Clone, Debug, Serialize)]
pub struct VipSection {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub protocol: String,
    /// "nat" for NAT backends; None: lb's default, DSR.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward: Option<String>,
    pub backend: Vec<BackendSection>,
}

#[derive(Clone, Debug, Serialize)]
pub struct BackendSection {
    pub name: String,
    pub address: String,
    /// NAT backends: the port their Gunicorn binds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drain_timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown_when: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal_delay: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<Action>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_drain: Option<Action>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Health {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub interval: String,
    pub timeout: String,
    pub rise: u32,
    pub fall: u32,
}

/// Exactly one of signal (+ pid_file or pid), command, http (+ method).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Action {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

/// `"500ms"`, or `"30s"` for whole seconds (lb's duration syntax).
pub fn dur(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

impl LbConfig {
    /// The config for `lab` as `spec` says; the daemon's socket and state
    /// file go in the lab dir, its pins under the lab's own `pin_root`.
    pub fn render(lab: &Lab, spec: &ConfigSpec) -> LbConfig {
        let daemon = DaemonSection {
            interface: lab.lb_iface().to_owned(),
            xdp_mode: spec.xdp_mode.clone(),
            socket: lab.dir().join("lb.sock").display().to_string(),
            pin_root: lab.pin_root().display().to_string(),
            state_file: lab.dir().join("lb-state.json").display().to_string(),
            metrics: spec.metrics.map(|m| m.to_string()),
            flow_idle_timeout: spec.flow_idle_timeout.map(dur),
            max_flows: spec.max_flows,
            maglev_size: spec.maglev_size,
            nat_source: None,
        };
        let (nat, dsr): (Vec<&Backend>, Vec<&Backend>) =
            lab.backends().iter().partition(|b| b.is_nat());
        let mut vip = Vec::new();
        let mut push = |name: &str, address: String, backends: Vec<BackendSection>, nat: bool| {
            vip.push(VipSection {
                name: name.into(),
                address,
                port: 80,
                protocol: "tcp".into(),
                forward: nat.then(|| if lab.is_dnat() { "dnat" } else { "nat" }.into()),
                backend: backends,
            });
        };
        let v4 = |b: &&Backend| backend(spec, b, b.name(), &b.ipv4().to_string());
        let v6 = |b: &&Backend| {
            let a = b.ipv6()?;
            Some(backend(
                spec,
                b,
                &format!("web6-{}", b.index()),
                &a.to_string(),
            ))
        };
        if !dsr.is_empty() {
            push(
                "web",
                lab.vip().to_string(),
                dsr.iter().map(v4).collect(),
                false,
            );
        }
        if let Some(nat_vip) = lab.nat_vip() {
            let name = if lab.is_mixed() { "app" } else { "web" };
            push(
                name,
                nat_vip.to_string(),
                nat.iter().map(v4).collect(),
                true,
            );
        }
        if let Some(vip6) = lab.vip6().filter(|_| !dsr.is_empty()) {
            push(
                "web6",
                vip6.to_string(),
                dsr.iter().filter_map(v6).collect(),
                false,
            );
        }
        if let Some(nat_vip6) = lab.nat_vip6() {
            let name = if lab.is_mixed() { "app6" } else { "web6" };
            push(
                name,
                nat_vip6.to_string(),
                nat.iter().filter_map(v6).collect(),
                true,
            );
        }
        LbConfig {
            daemon,
            vip,
            cluster: None,
        }
    }

    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).context("serializing the lb config")
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_toml()?).with_context(|| format!("writing {}", path.display()))
    }

    /// The backend section called `name`, in any VIP.
    pub fn backend_mut(&mut self, name: &str) -> Option<&mut BackendSection> {
        self.vip
            .iter_mut()
            .flat_map(|v| v.backend.iter_mut())
            .find(|b| b.name == name)
    }
}

/// The section of lab backend `b` under `name` at `address` (either family).
fn backend(spec: &ConfigSpec, b: &Backend, name: &str, address: &str) -> BackendSection {
    section(
        spec,
        name,
        address,
        b.is_nat().then_some(b.port()),
        b.mac(),
        &b.pid_file(),
    )
}

/// A backend section; `nat_port`: a NAT backend listening there (no MAC).
fn section(
    spec: &ConfigSpec,
    name: &str,
    address: &str,
    nat_port: Option<u16>,
    mac: &str,
    pid_file: &Path,
) -> BackendSection {
    let o = spec.overrides.get(name).unwrap_or(&spec.backend);
    let url_host = if address.contains(':') {
        format!("[{address}]")
    } else {
        address.to_owned()
    };
    BackendSection {
        name: name.to_owned(),
        address: address.to_owned(),
        port: nat_port,
        mac: nat_port.is_none().then(|| mac.to_owned()),
        weight: o.weight,
        drain_timeout: o.drain_timeout.map(dur),
        shutdown_when: o.shutdown_when.clone(),
        signal_delay: o.signal_delay.map(dur),
        health: o.health.then(|| Health {
            kind: "http".into(),
            path: Some("/health".into()),
            interval: "500ms".into(),
            timeout: "300ms".into(),
            rise: 2,
            fall: 2,
        }),
        shutdown: o.shutdown.then(|| Action {
            signal: Some("TERM".into()),
            pid_file: Some(pid_file.display().to_string()),
            ..Action::default()
        }),
        on_drain: o.on_drain.then(|| Action {
            http: Some(format!(
                "http://{url_host}:{}{}",
                nat_port.unwrap_or(80),
                crate::DRAIN_PATH
            )),
            ..Action::default()
        }),
    }
}

#[cfg(test)]
#[path = "tests_config.rs"]
mod tests;
