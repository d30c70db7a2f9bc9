//! Fleet-wide decisions as plain functions of what etcd showed: no I/O, so
//! every rule is unit-tested here and the daemon's loop only feeds them.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::IpAddr,
    time::Duration,
};

use super::model::{NodeName, NodeReport, Revision};

/// One backend's live flows across the fleet, as far as the reports tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetCount {
    /// Sum over the nodes whose count is known.
    pub total: u64,
    /// Every live node: its count, or None when it has not reported since it
    /// applied the drain (its figure would predate the flip).
    pub per_node: BTreeMap<NodeName, Option<u64>>,
}

impl FleetCount {
    /// The live nodes whose count is not known yet.
    pub fn behind(&self) -> impl Iterator<Item = &NodeName> {
        self.per_node
            .iter()
            .filter(|(_, c)| c.is_none())
            .map(|(n, _)| n)
    }
}

/// `backend`'s fleet-wide count for the drain written at revision `drain`:
/// only live nodes count (a report outlives its node by at most one read:
/// both are under the node's lease), and only reports taken after the node
/// applied the drain.
pub fn fleet_count(
    backend: &str,
    drain: Revision,
    live_nodes: &BTreeSet<NodeName>,
    reports: &BTreeMap<NodeName, NodeReport>,
) -> FleetCount {
    let per_node: BTreeMap<NodeName, Option<u64>> = live_nodes
        .iter()
        .map(|node| {
            let count = reports
                .get(node)
                .filter(|r| r.applied >= drain)
                .map(|r| r.live_flows.get(backend).copied().unwrap_or(0));
            (node.clone(), count)
        })
        .collect();
    let total = per_node.values().flatten().sum();
    FleetCount { total, per_node }
}

/// Where a fleet-wide drain stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FleetDrain {
    /// Flows remain somewhere, or some node's count is not known yet.
    Waiting { total: u64, behind: Vec<NodeName> },
    /// Every live node reported zero after applying the drain.
    Drained,
    /// The deadline passed first.
    TimedOut { total: u64 },
}

/// The drain is done when every live node has a known count and they sum to
/// zero; a node that never reported holds it open until the deadline (it may
/// carry flows nobody else sees). No live node at all cannot be judged: the
/// node asking is itself live, so that only happens when its own
/// registration is gone, and it waits.
pub fn fleet_drain_step(count: &FleetCount, elapsed: Duration, timeout: Duration) -> FleetDrain {
    let behind: Vec<NodeName> = count.behind().cloned().collect();
    if !count.per_node.is_empty() && behind.is_empty() && count.total == 0 {
        return FleetDrain::Drained;
    }
    if elapsed >= timeout {
        return FleetDrain::TimedOut { total: count.total };
    }
    FleetDrain::Waiting {
        total: count.total,
        behind,
    }
}

/// Where this node stands in the fleet, for what it may announce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeMode {
    /// Started, but not yet reconciled with etcd's admin states: it could
    /// still send new flows to a backend the fleet is draining.
    Joining,
    Serving,
    /// `lb node drain`: no new flows from the router; existing ones finish.
    Draining,
    /// Shutting down.
    Leaving,
}

/// One VIP as this node can serve it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VipServing {
    pub address: IpAddr,
    /// Backends that may take new flows (ACTIVE and healthy) on this node.
    pub usable_backends: usize,
}

/// The VIPs this node announces: only while its data plane is attached and
/// it serves (reconciled, not drained, not leaving), and only those with a
/// usable backend, so the router never sends a flow to a node that would
/// drop it. Reachability never depends on one node: every node decides
/// alone, from its own data plane.
pub fn vips_to_announce(attached: bool, mode: NodeMode, vips: &[VipServing]) -> BTreeSet<IpAddr> {
    if !attached || mode != NodeMode::Serving {
        return BTreeSet::new();
    }
    vips.iter()
        .filter(|v| v.usable_backends > 0)
        .map(|v| v.address)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announces_only_servable_vips_while_serving() {
        let vip = |a: &str, n| VipServing {
            address: a.parse().unwrap(),
            usable_backends: n,
        };
        let vips = [vip("198.51.100.10", 3), vip("2001:db8::10", 0)];
        let serving = vips_to_announce(true, NodeMode::Serving, &vips);
        assert_eq!(serving, ["198.51.100.10".parse().unwrap()].into());
        for mode in [NodeMode::Joining, NodeMode::Draining, NodeMode::Leaving] {
            assert!(vips_to_announce(true, mode, &vips).is_empty(), "{mode:?}");
        }
        assert!(vips_to_announce(false, NodeMode::Serving, &vips).is_empty());
    }

    fn node(n: &str) -> NodeName {
        NodeName::new(n).unwrap()
    }

    fn report(applied: i64, flows: &[(&str, u64)]) -> NodeReport {
        NodeReport {
            live_flows: flows.iter().map(|(b, n)| ((*b).to_owned(), *n)).collect(),
            applied: Revision(applied),
            counted_at_ms: 0,
            ..Default::default()
        }
    }

    fn live(names: &[&str]) -> BTreeSet<NodeName> {
        names.iter().map(|n| node(n)).collect()
    }

    const T: Duration = Duration::from_secs(30);

    #[test]
    fn sums_only_live_nodes_with_current_reports() {
        let reports = BTreeMap::from([
            (node("lb-1"), report(10, &[("web-2", 3), ("web-1", 7)])),
            (node("lb-2"), report(12, &[("web-2", 2)])),
            // lb-3 counted before it applied the drain at revision 10.
            (node("lb-3"), report(9, &[("web-2", 0)])),
            // lb-4's lease is gone: its report does not count.
            (node("lb-4"), report(12, &[("web-2", 100)])),
        ]);
        let c = fleet_count(
            "web-2",
            Revision(10),
            &live(&["lb-1", "lb-2", "lb-3"]),
            &reports,
        );
        assert_eq!(c.total, 5);
        assert_eq!(c.per_node[&node("lb-1")], Some(3));
        assert_eq!(c.per_node[&node("lb-3")], None);
        assert_eq!(c.behind().collect::<Vec<_>>(), vec![&node("lb-3")]);
        assert_eq!(
            fleet_drain_step(&c, Duration::from_secs(1), T),
            FleetDrain::Waiting {
                total: 5,
                behind: vec![node("lb-3")]
            }
        );
    }

    #[test]
    fn drained_only_at_a_known_fleet_wide_zero() {
        let live = live(&["lb-1", "lb-2"]);
        // A backend a node does not list has no flows there.
        let zero = BTreeMap::from([
            (node("lb-1"), report(10, &[("web-2", 0)])),
            (node("lb-2"), report(11, &[("web-1", 4)])),
        ]);
        let c = fleet_count("web-2", Revision(10), &live, &zero);
        assert_eq!(fleet_drain_step(&c, Duration::ZERO, T), FleetDrain::Drained);

        // lb-2 has not reported at all: not drained, even with a zero sum.
        let missing = BTreeMap::from([(node("lb-1"), report(10, &[]))]);
        let c = fleet_count("web-2", Revision(10), &live, &missing);
        assert_eq!(c.total, 0);
        assert!(matches!(
            fleet_drain_step(&c, Duration::ZERO, T),
            FleetDrain::Waiting { total: 0, .. }
        ));
        // ...until the deadline.
        assert_eq!(
            fleet_drain_step(&c, T, T),
            FleetDrain::TimedOut { total: 0 }
        );
        // A dead node (no longer live) stops holding it open.
        let c = fleet_count("web-2", Revision(10), &self::live(&["lb-1"]), &missing);
        assert_eq!(fleet_drain_step(&c, Duration::ZERO, T), FleetDrain::Drained);
    }

    #[test]
    fn no_live_node_is_never_drained() {
        let c = fleet_count("web-2", Revision(1), &BTreeSet::new(), &BTreeMap::new());
        assert!(matches!(
            fleet_drain_step(&c, Duration::ZERO, T),
            FleetDrain::Waiting { .. }
        ));
    }
}
