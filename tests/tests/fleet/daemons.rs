//! Starting the fleet lab and its daemons, the same way in every test: three
//! nodes and three backends, one daemon per node, each with the config the
//! test builds for its node, then waiting until every daemon is ready with
//! every backend active.

use std::{collections::BTreeSet, net::IpAddr, path::Path, time::Duration};

use lb_lab::{Daemon, Fleet, FleetNode, FleetSpec, LbConfig};

use crate::routing::{announce, wait_next_hops};

/// The fleet tests' lab: [`NODES`] LB nodes and three backends; `prefix`
/// names its namespaces (unique per test, so a leftover of one test never
/// meets another).
pub(crate) fn fleet_up(prefix: &str, ipv6: bool) -> Fleet {
    Fleet::up(FleetSpec {
        prefix: prefix.into(),
        backends: 3,
        nodes: NODES,
        ipv6,
    })
    .expect("fleet lab up")
}

/// LB nodes in every fleet test: enough for a node to die or leave with two
/// left to share its flows.
pub(crate) const NODES: usize = 3;

/// One daemon per node of `fleet`, started with `config(node)`, each ready
/// with all its backends active.
pub(crate) fn start_all(
    fleet: &Fleet,
    lb: &Path,
    config: impl Fn(&FleetNode) -> LbConfig,
) -> Vec<Daemon> {
    let daemons: Vec<Daemon> = fleet
        .nodes()
        .iter()
        .map(|n| {
            n.start_daemon(fleet.lab(), lb, config(n))
                .expect("daemon starts")
        })
        .collect();
    for d in &daemons {
        d.wait_ready(Duration::from_secs(30)).expect("daemon ready");
        d.wait_all_active(Duration::from_secs(30))
            .expect("backends active");
    }
    daemons
}

/// Every node announces the lab's IPv4 VIP (the tests' BIRD include, not
/// the daemon's), and the router has them all as next hops.
pub(crate) fn announce_from_every_node(fleet: &Fleet) {
    let vip: BTreeSet<IpAddr> = [IpAddr::V4(fleet.lab().vip())].into();
    for i in 0..fleet.nodes().len() {
        announce(fleet, i, &vip);
    }
    let all: Vec<_> = fleet.nodes().iter().collect();
    wait_next_hops(fleet, &all);
}
