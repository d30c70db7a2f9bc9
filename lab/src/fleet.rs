//! The fleet lab (docs/fleet.md): a router running BIRD 2 in front of N LB
//! nodes, each with its own BIRD peering with the router over eBGP, the
//! client behind the router, the backends on the segment the LB nodes share
//! (L2 DSR: they reply through the router), and etcd in a namespace of its
//! own on the segment. Built on [`Lab`] (segment, backends, guard), which
//! provides node 1 (its `lb` namespace) and the router-fronted wiring.
//!
//! ```text
//!                                   ┌ lb (lb-1) .2   BIRD AS 64497
//! client ── router .1 BIRD AS 64496 ┼ lb2 (lb-2) .3  BIRD AS 64497 ── bridge ── web-1..N .11.., etcd .50
//!  192.0.2.2   ECMP, L4 hash        └ lb3 (lb-3) .4  BIRD AS 64497
//! ```
//!
//! Each node's BIRD exports only the static routes lb writes into the node's
//! include file (`<dir>/lb-<i>-vips.conf`, protocol `lb_vips4`): the file
//! starts empty, so nothing is announced until lb (or a test, with
//! `lb_userspace::cluster::bgp`) announces the VIP.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};

use crate::{
    addr,
    bird::{self, Bird, Speaker},
    etcd::{self, Etcd},
    host::Host,
    netns::Netns,
    topology::{Lab, LabSpec},
    up::Front,
};

mod node;
pub use node::FleetNode;

/// The protocol name stem of lb's static routes in every node's BIRD.
pub const BGP_PROTOCOL: &str = "lb_vips";
/// etcd's address on the segment.
pub const ETCD_HOST: u8 = 50;
pub const MAX_NODES: usize = 7;

#[derive(Clone, Debug)]
pub struct FleetSpec {
    /// As [`LabSpec::prefix`].
    pub prefix: String,
    pub backends: usize,
    /// LB nodes, 1..=[`MAX_NODES`]: lb-1..lb-N.
    pub nodes: usize,
    /// IPv6 too: everyone gets an address of 2001:db8::/32 as well, the
    /// backends hold VIP6, the daemon's config gets VIP `web6`, and BGP has
    /// an IPv6 session per node beside the IPv4 one.
    pub ipv6: bool,
}

/// A running fleet lab. Fields drop in order: BGP speakers and etcd first,
/// then the lab (its processes, namespaces, pins, dir).
pub struct Fleet {
    nodes: Vec<FleetNode>,
    router_bird: Bird,
    etcd: Etcd,
    lab: Lab,
}

/// BGP sessions come up within a few seconds (connect retry 1 s).
pub const SESSIONS_TIMEOUT: Duration = Duration::from_secs(30);

impl Fleet {
    /// Builds the lab, starts etcd and every BIRD, and waits until the
    /// router's BGP session with every node is established (nothing is
    /// announced yet). On error everything built is torn down.
    pub fn up(spec: FleetSpec) -> Result<Fleet> {
        ensure!(
            (1..=MAX_NODES).contains(&spec.nodes),
            "nodes must be 1..={MAX_NODES}, got {}",
            spec.nodes
        );
        let lab = Lab::build(
            LabSpec {
                prefix: spec.prefix,
                backends: spec.backends,
                ipv6: spec.ipv6,
            },
            Front::Router,
        )?;
        let router = lab.router.clone().context("the fleet lab has a router")?;
        let etcd_ns = add_namespace(&lab, "etcd")?;
        let etcd_host = Host::on_segment(&etcd_ns, "lab-etcd", ETCD_HOST, spec.ipv6);
        lab.plug(&etcd_ns, &etcd_host, "sw-etcd")?;
        let etcd = Etcd::start(
            etcd_ns,
            IpAddr::V4(etcd_host.ipv4),
            lab.dir(),
            lab.registry(),
        )?;
        let router_speaker = Speaker {
            ipv4: addr::v4(addr::CLIENT_HOST),
            ipv6: spec.ipv6.then(|| addr::v6(addr::CLIENT_HOST)),
        };
        let mut nodes = Vec::with_capacity(spec.nodes);
        for i in 1..=spec.nodes {
            let (ns, host) = if i == 1 {
                (lab.lb_ns_arc(), lab.lb_host.clone())
            } else {
                let ns = add_namespace(&lab, &format!("lb{i}"))?;
                let host = Host::on_segment(&ns, &format!("lab-lb{i}"), node_host(i), spec.ipv6);
                lab.plug(&ns, &host, &format!("sw-lb{i}"))?;
                ns.sysctl(&[("net.ipv4.ip_forward", "0")])?;
                (ns, host)
            };
            let name = format!("lb-{i}");
            let include = lab.dir().join(format!("{name}-vips.conf"));
            std::fs::write(&include, "# nothing announced yet\n")
                .with_context(|| format!("writing {}", include.display()))?;
            let config =
                bird::node_config(&speaker(&host), &router_speaker, &include, BGP_PROTOCOL);
            let bird = Bird::start(&name, Arc::clone(&ns), lab.dir(), &config, lab.registry())?;
            nodes.push(FleetNode {
                pin_root: lab.pin_root().join(&name),
                dir: lab.dir().to_owned(),
                name,
                ns,
                host,
                bird,
                include,
            });
        }
        let peers: Vec<Speaker> = nodes.iter().map(|n| speaker(&n.host)).collect();
        let router_bird = Bird::start(
            "router",
            router,
            lab.dir(),
            &bird::router_config(&router_speaker, &peers),
            lab.registry(),
        )?;
        etcd.wait_ready(etcd::READY_TIMEOUT)?;
        let fleet = Fleet {
            nodes,
            router_bird,
            etcd,
            lab,
        };
        fleet.wait_sessions(SESSIONS_TIMEOUT)?;
        Ok(fleet)
    }

    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// Tears down now (BGP speakers and etcd, then the lab) and reports what
    /// failed; dropping does the same, printing errors.
    pub fn down(self) -> Result<()> {
        let Fleet {
            nodes,
            router_bird,
            etcd,
            lab,
        } = self;
        drop(nodes);
        drop(router_bird);
        drop(etcd);
        lab.down()
    }

    pub fn nodes(&self) -> &[FleetNode] {
        &self.nodes
    }

    pub fn node_mut(&mut self, i: usize) -> &mut FleetNode {
        &mut self.nodes[i]
    }

    pub fn router_bird(&self) -> &Bird {
        &self.router_bird
    }

    pub fn router_ns(&self) -> &Netns {
        self.router_bird.ns()
    }

    pub fn etcd(&mut self) -> &mut Etcd {
        &mut self.etcd
    }

    /// `http://198.51.100.50:2379`.
    pub fn etcd_endpoint(&self) -> String {
        self.etcd.endpoint()
    }

    /// Polls the router's BIRD until its session with every node is up (one
    /// per family).
    pub fn wait_sessions(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let families = if self.lab.spec().ipv6 { 2 } else { 1 };
        let want = self.nodes.len() * families;
        loop {
            let out = self.router_bird.birdc(&["show", "protocols"])?;
            let up = out
                .lines()
                .filter(|l| l.starts_with("lb") && l.contains("Established"))
                .count();
            if up == want {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{up} of {want} BGP sessions up after {timeout:?}:\n{out}\nrouter log:\n{}",
                    self.router_bird.log_tail(20)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The next hops of the router's kernel route to the VIP that BIRD
    /// installed (learned by BGP; empty when there is none): what ECMP
    /// spreads over.
    pub fn vip_next_hops(&self) -> Result<Vec<Ipv4Addr>> {
        let hops = self.next_hops(&format!("{}/32", addr::vip()), &[])?;
        hops.iter()
            .map(|g| g.parse().with_context(|| format!("gateway {g:?}")))
            .collect()
    }

    /// The same for VIP6, each next hop given as the node it leads to (BIRD
    /// installs IPv6 routes learned on a shared link via the peer's
    /// link-local address), sorted by node. Errs without IPv6.
    pub fn vip6_next_hops(&self) -> Result<Vec<String>> {
        let vip6 = self.lab.vip6().context("the fleet lab has no IPv6")?;
        let hops = self.next_hops(&format!("{vip6}/128"), &["-6"])?;
        let mut names = Vec::with_capacity(hops.len());
        for g in hops {
            let g: Ipv6Addr = g.parse().with_context(|| format!("gateway {g:?}"))?;
            let node = self
                .nodes
                .iter()
                .find(|n| n.host.ipv6 == Some(g) || n.link_local().ok() == Some(g))
                .with_context(|| format!("next hop {g} is no node's"))?;
            names.push(node.name.clone());
        }
        names.sort();
        Ok(names)
    }

    fn next_hops(&self, prefix: &str, family: &[&str]) -> Result<Vec<String>> {
        let mut args = family.to_vec();
        args.extend(["-j", "route", "show", prefix, "proto", "bird"]);
        let out = self.router_ns().ip(&args)?;
        let routes: serde_json::Value =
            serde_json::from_str(&out).context("parsing `ip -j route`")?;
        let mut hops = Vec::new();
        for r in routes.as_array().into_iter().flatten() {
            let singles = r.get("gateway").into_iter();
            let multi = r["nexthops"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h.get("gateway"));
            for g in singles.chain(multi) {
                hops.push(g.as_str().unwrap_or("").to_owned());
            }
        }
        hops.sort();
        Ok(hops)
    }
}

/// Node i's host part: lb-1 is the lab's LB (.2), then .3, .4, ...
pub fn node_host(i: usize) -> u8 {
    assert!((1..=MAX_NODES).contains(&i), "node {i} out of range");
    addr::LB_HOST + (i - 1) as u8
}

fn add_namespace(lab: &Lab, role: &str) -> Result<Arc<Netns>> {
    let name = format!("{}-{role}", lab.tag());
    lab.cleanup.add_namespace(&name);
    Ok(Arc::new(Netns::create(&name)?))
}

fn speaker(host: &Host) -> Speaker {
    Speaker {
        ipv4: host.ipv4,
        ipv6: host.ipv6,
    }
}
