//! Starting the fleet's daemons, the same way in every test: one per node,
//! each with the config the test builds for its node, then waiting until
//! every daemon is ready with every backend active.

use std::{collections::BTreeSet, net::IpAddr, path::Path, time::Duration};

use lb_lab::{Daemon, Fleet, FleetNode, LbConfig};

use crate::routing::{announce, wait_next_hops};

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
