//! The fleet tests' BGP side: a node announcing exactly a set of VIPs
//! through its BIRD (as lb does, with `lb_userspace::cluster::bgp`), and
//! waiting for the router's ECMP route to go through exactly some nodes.

use std::{
    collections::BTreeSet,
    net::IpAddr,
    path::PathBuf,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use lb_lab::{Fleet, FleetNode, fleet::BGP_PROTOCOL};
use lb_tests::lab_support::poll;
use lb_userspace::cluster::bgp::BirdControl;

use crate::support::block_on_inside;

pub(crate) fn bird_control(node: &FleetNode) -> BirdControl {
    BirdControl {
        socket: node.bird().socket().to_owned(),
        include: node.vips_include().to_owned(),
        protocol: BGP_PROTOCOL.to_owned(),
    }
}

/// Announces exactly `vips` from `node`, as lb will (idempotent: applied twice).
pub(crate) fn announce(fleet: &Fleet, node: usize, vips: &BTreeSet<IpAddr>) {
    let n = &fleet.nodes()[node];
    let control = bird_control(n);
    let vips = vips.clone();
    block_on_inside(n.ns(), || async move {
        control
            .set_announced(&vips)
            .await
            .expect("announce through BIRD");
        control
            .set_announced(&vips)
            .await
            .expect("announce again (idempotent)");
        assert_eq!(control.announced().await.unwrap(), vips);
    });
}

fn next_hops(fleet: &Fleet) -> Vec<String> {
    fleet
        .vip_next_hops()
        .expect("router's VIP route")
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Polls until the router's route to VIP (and to VIP6, in a lab with IPv6)
/// goes through exactly the nodes `want`.
pub(crate) fn wait_next_hops(fleet: &Fleet, want: &[&FleetNode]) {
    let want4: Vec<String> = want.iter().map(|n| n.host().ipv4.to_string()).collect();
    let ipv6 = fleet.lab().spec().ipv6;
    let mut want6: Vec<String> = want.iter().map(|n| n.name().to_owned()).collect();
    want6.sort();
    let start = Instant::now();
    poll(
        "the router's ECMP next hops",
        Duration::from_secs(15),
        || {
            let v6_ok = !ipv6 || fleet.vip6_next_hops().expect("router's VIP6 route") == want6;
            (next_hops(fleet) == want4 && v6_ok).then_some(())
        },
    );
    println!("router: VIP via {want4:?} after {:?}", start.elapsed());
}

/// The router's route changes from now on (`ip -ts monitor route` in its
/// namespace, into a file of the lab's directory), to print beside the
/// streams: a route replaced while flows run moves some of them to another
/// node, which is what a test must be able to tell from a product fault.
pub(crate) struct RouteLog {
    child: Child,
    path: PathBuf,
}

impl RouteLog {
    pub(crate) fn start(fleet: &Fleet) -> Self {
        let path = fleet.lab().dir().join("router-routes.log");
        let out = std::fs::File::create(&path).expect("route log file");
        let child = fleet
            .router_ns()
            .exec(&["ip", "-ts", "monitor", "route"])
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .expect("ip monitor route in the router's namespace");
        Self { child, path }
    }

    /// What it logged so far.
    pub(crate) fn text(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap_or_default()
    }
}

impl Drop for RouteLog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
