//! One LB node of the fleet lab: its namespace, place on the segment, BGP
//! speaker, and the lb config that makes it a member of the fleet.

use std::{
    net::Ipv6Addr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{Context as _, Result};

use super::BGP_PROTOCOL;
use crate::{
    Daemon, LbConfig,
    bird::Bird,
    config::{BgpSection, ClusterSection, ConfigSpec},
    host::Host,
    netns::Netns,
    topology::Lab,
};

/// One LB node: its namespace, place on the segment and BGP speaker.
pub struct FleetNode {
    pub(super) name: String,
    pub(super) ns: Arc<Netns>,
    pub(super) host: Host,
    pub(super) bird: Bird,
    pub(super) include: PathBuf,
    pub(super) pin_root: PathBuf,
    pub(super) dir: PathBuf,
}

impl FleetNode {
    /// "lb-i": its name in the fleet (`[cluster] node`).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn ns(&self) -> &Netns {
        &self.ns
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Its veth on the segment (the daemon's `interface`).
    pub fn iface(&self) -> &str {
        &self.host.iface
    }

    pub fn bird(&self) -> &Bird {
        &self.bird
    }

    pub fn bird_mut(&mut self) -> &mut Bird {
        &mut self.bird
    }

    /// The include file of lb's static routes (`[cluster.bgp] include`).
    pub fn vips_include(&self) -> &Path {
        &self.include
    }

    /// Its daemon's pin root (`<lab pin root>/lb-i`).
    pub fn pin_root(&self) -> &Path {
        &self.pin_root
    }

    /// The lab's daemon config for this node: `spec` rendered, then this
    /// node's interface, socket, state file and pin root.
    pub fn daemon_config(&self, lab: &Lab, spec: &ConfigSpec) -> LbConfig {
        let mut c = LbConfig::render(lab, spec);
        c.daemon.interface.clone_from(&self.host.iface);
        c.daemon.socket = self.file("sock");
        c.daemon.state_file = self.file("state.json");
        c.daemon.pin_root = self.pin_root.display().to_string();
        c
    }

    /// [`Self::daemon_config`] with `[cluster]`: this node's name, the lab's
    /// etcd, a lease of `lease_ttl`.
    pub fn cluster_config(
        &self,
        lab: &Lab,
        spec: &ConfigSpec,
        etcd: &str,
        lease_ttl: Duration,
    ) -> LbConfig {
        let mut c = self.daemon_config(lab, spec);
        c.cluster = Some(ClusterSection {
            node: self.name.clone(),
            etcd: vec![etcd.to_owned()],
            lease_ttl: format!("{}s", lease_ttl.as_secs()),
            bgp: None,
        });
        c
    }

    /// [`Self::cluster_config`] with `[cluster.bgp]`: the daemon announces
    /// the VIP through this node's BIRD (the test does not).
    pub fn bgp_config(
        &self,
        lab: &Lab,
        spec: &ConfigSpec,
        etcd: &str,
        lease_ttl: Duration,
    ) -> LbConfig {
        let mut c = self.cluster_config(lab, spec, etcd, lease_ttl);
        if let Some(cluster) = c.cluster.as_mut() {
            cluster.bgp = Some(BgpSection {
                socket: self.bird.socket().display().to_string(),
                include: self.include.display().to_string(),
                protocol: BGP_PROTOCOL.to_owned(),
            });
        }
        c
    }

    /// Starts `lb daemon` in this node's namespace with `config`.
    pub fn start_daemon(&self, lab: &Lab, lb: &Path, config: LbConfig) -> Result<Daemon> {
        Daemon::start_in(lab, Arc::clone(&self.ns), &self.name, lb, config)
    }

    /// Its link-local IPv6 address on the segment (what the router's IPv6
    /// routes to the node go through).
    pub fn link_local(&self) -> Result<Ipv6Addr> {
        let out = self.ns.ip(&[
            "-6",
            "-j",
            "addr",
            "show",
            "dev",
            &self.host.iface,
            "scope",
            "link",
        ])?;
        let addrs: serde_json::Value =
            serde_json::from_str(&out).context("parsing `ip -j addr`")?;
        addrs
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|a| a["addr_info"].as_array().into_iter().flatten())
            .find_map(|i| i["local"].as_str()?.parse().ok())
            .with_context(|| format!("{} has no link-local address", self.name))
    }

    fn file(&self, ext: &str) -> String {
        self.dir
            .join(format!("{}.{ext}", self.name))
            .display()
            .to_string()
    }
}
