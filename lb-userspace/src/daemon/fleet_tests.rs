//! The core's fleet rules that need no etcd: the other nodes' side of a
//! drain, and what it lets the drain step decide.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    fleet_core::reportable_applied,
    fleet_gate::{FleetGate, drain_view},
};
use crate::cluster::model::{NodeName, NodeReport, Revision};

fn node(n: &str) -> NodeName {
    NodeName::new(n).unwrap()
}

fn report(applied: i64, live: u64, unsettled: u64) -> NodeReport {
    NodeReport {
        live_flows: [("web-2".to_owned(), live)].into(),
        unsettled: [("web-2".to_owned(), unsettled)].into(),
        applied: Revision(applied),
        counted_at_ms: 0,
        ..NodeReport::default()
    }
}

#[test]
fn the_other_nodes_count_and_an_unreported_one_holds_the_drain_open() {
    let live: BTreeSet<NodeName> = ["lb-1", "lb-2", "lb-3"].map(node).into();
    let reports = BTreeMap::from([
        // Me: left out of "others", whatever my report says.
        (node("lb-1"), report(10, 7, 7)),
        (node("lb-2"), report(10, 2, 1)),
        // Counted before it applied the drain at 10: unknown, counts as one.
        (node("lb-3"), report(9, 0, 0)),
    ]);
    let v = drain_view("web-2", Revision(10), &node("lb-1"), &live, &reports);
    assert_eq!(v.others, 3);
    assert_eq!(v.others_unsettled, 2);
    assert_eq!(v.count.per_node[&node("lb-3")], None);

    let gate = FleetGate {
        drains: [("web-2".to_owned(), v)].into(),
        ..FleetGate::default()
    };
    assert_eq!(gate.with_others("web-2", 0), (3, false));
    // Nothing heard of a drain yet: held open, not settled.
    assert_eq!(gate.with_others("web-1", 0), (1, false));

    let done = BTreeMap::from([
        (node("lb-2"), report(11, 0, 0)),
        (node("lb-3"), report(10, 0, 0)),
    ]);
    let v = drain_view("web-2", Revision(10), &node("lb-1"), &live, &done);
    let gate = FleetGate {
        drains: [("web-2".to_owned(), v)].into(),
        ..FleetGate::default()
    };
    // The fleet-wide zero is this node's own count plus nothing elsewhere.
    assert_eq!(gate.with_others("web-2", 0), (0, true));
    assert_eq!(gate.with_others("web-2", 2), (2, true));
}

#[test]
fn a_dead_node_stops_counting() {
    let reports = BTreeMap::from([(node("lb-2"), report(10, 5, 5))]);
    let live: BTreeSet<NodeName> = [node("lb-1")].into();
    let v = drain_view("web-2", Revision(10), &node("lb-1"), &live, &reports);
    assert_eq!((v.others, v.others_unsettled), (0, 0));
}

#[test]
fn a_report_speaks_for_a_drain_only_once_its_flows_are_collected() {
    // Nothing being collected: everything applied is reported.
    assert_eq!(reportable_applied(Revision(12), []), Revision(12));
    // The drain written at 10 is applied but its flows not collected yet:
    // the report stays below it, so the others see this node as not known.
    let held = reportable_applied(Revision(12), [Revision(10)]);
    assert_eq!(held, Revision(9));
    let live: BTreeSet<NodeName> = ["lb-1", "lb-2"].map(node).into();
    let reports = BTreeMap::from([(node("lb-2"), report(held.0, 0, 0))]);
    let v = drain_view("web-2", Revision(10), &node("lb-1"), &live, &reports);
    assert_eq!(v.count.per_node[&node("lb-2")], None);
    assert_eq!((v.others, v.others_unsettled), (1, 1));
    // Two drains uncollected: held below the older one.
    assert_eq!(
        reportable_applied(Revision(12), [Revision(11), Revision(10)]),
        Revision(9)
    );
}
