//! `lb_userspace::cluster` against a real etcd (one member, in a namespace of
//! its own): node registration and lease expiry, admin states and their
//! watch, the fleet-wide count, and the shutdown-action claim.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use lb_lab::EtcdLab;
use lb_userspace::cluster::{
    AdminEvent, ClaimOutcome, FleetStore, LeaseState, StoreError,
    decide::{FleetDrain, fleet_drain_step},
    model::{ActionOutcome, AdminState, DrainParams, KeyPrefix, NodeName, NodeReport, Revision},
};
use tokio::task::JoinSet;

use crate::support::block_on_inside;

/// etcd's minimum lease: the shortest a dead node can stay "live".
const TTL: Duration = Duration::from_secs(2);

fn etcd(prefix: &str) -> EtcdLab {
    assert!(lb_lab::is_root(), "these tests need root (namespaces)");
    EtcdLab::up(prefix).expect("etcd up")
}

fn node(n: &str) -> NodeName {
    NodeName::new(n).unwrap()
}

async fn connect(endpoint: &str) -> FleetStore {
    FleetStore::connect(&[endpoint.to_owned()], KeyPrefix::new("/test/lb").unwrap())
        .await
        .expect("connect to etcd")
}

/// Polls `check` every 50 ms until it returns true, at most `limit`;
/// returns how long it took.
async fn until(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn fleet_store_registration_is_unique_and_ends_with_the_lease() {
    let lab = etcd("flst-reg");
    let endpoint = lab.endpoint();
    block_on_inside(lab.ns(), || async move {
        let store = connect(&endpoint).await;
        let lb1 = store
            .register(&node("lb-1"), TTL)
            .await
            .expect("register lb-1");
        let lb2 = store
            .register(&node("lb-2"), TTL)
            .await
            .expect("register lb-2");
        assert_eq!(lb1.state(), LeaseState::Alive);
        let live = store.live_nodes().await.unwrap();
        assert_eq!(
            live.keys().cloned().collect::<Vec<_>>(),
            [node("lb-1"), node("lb-2")]
        );
        assert_eq!(live[&node("lb-1")].node, node("lb-1"));

        // A second node configured with the same name is refused.
        match store.register(&node("lb-1"), TTL).await {
            Err(StoreError::NodeTaken { node: n }) => assert_eq!(n, node("lb-1")),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("two live nodes named lb-1"),
        }

        // The keepalive holds lb-1 well past its TTL.
        tokio::time::sleep(TTL * 2).await;
        assert!(
            store
                .live_nodes()
                .await
                .unwrap()
                .contains_key(&node("lb-1"))
        );

        // lb-1 "dies" (keepalive stops, nothing revoked): etcd drops it, and
        // its report with it, after the TTL.
        let report = NodeReport {
            live_flows: [("web-2".to_owned(), 3)].into(),
            applied: Revision(1),
            counted_at_ms: 0,
            ..Default::default()
        };
        store.publish_report(&lb1, &report).await.unwrap();
        assert_eq!(store.fleet_view().await.unwrap().1[&node("lb-1")], report);
        drop(lb1);
        let gone = until("lb-1's lease to expire", TTL * 4, async || {
            !store
                .live_nodes()
                .await
                .unwrap()
                .contains_key(&node("lb-1"))
        })
        .await;
        println!("lb-1 (TTL {TTL:?}) left the fleet {gone:?} after its keepalive stopped");
        assert!(
            gone >= TTL / 2,
            "gone after {gone:?}: before its TTL ran out"
        );
        let (nodes, reports) = store.fleet_view().await.unwrap();
        assert!(
            !reports.contains_key(&node("lb-1")),
            "a dead node's report stays"
        );
        assert!(nodes.contains_key(&node("lb-2")), "lb-2 kept alive");

        // The name is free again; a clean revoke removes a node at once.
        let again = store
            .register(&node("lb-1"), TTL)
            .await
            .expect("lb-1 again");
        lb2.revoke(&store).await.unwrap();
        let live = store.live_nodes().await.unwrap();
        assert_eq!(live.keys().cloned().collect::<Vec<_>>(), [node("lb-1")]);
        again.revoke(&store).await.unwrap();
    });
}

#[test]
fn fleet_store_admin_states_round_trip_and_are_watched() {
    let lab = etcd("flst-adm");
    let endpoint = lab.endpoint();
    block_on_inside(lab.ns(), || async move {
        let writer = connect(&endpoint).await;
        let reader = connect(&endpoint).await;
        let (before, at) = reader.admin_states().await.unwrap();
        assert!(before.is_empty());
        let mut watch = reader.watch_admin(at).await.unwrap();

        let drain = AdminState::Draining(DrainParams {
            timeout: Duration::from_secs(30),
            signal: true,
            requested_by: node("lb-3"),
            requested_at_ms: 1,
        });
        let t0 = Instant::now();
        let rev_drain = writer.put_admin("web-2", &drain).await.unwrap();
        let rev_disable = writer
            .put_admin("web-1", &AdminState::Disabled)
            .await
            .unwrap();
        assert!(rev_disable > rev_drain);

        // Every change arrives, in order, with the revision that wrote it.
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let batch = tokio::time::timeout(Duration::from_secs(5), watch.next())
                .await
                .expect("watch event within 5 s")
                .unwrap()
                .expect("watch still open");
            seen.extend(batch);
        }
        println!(
            "watch delivered 2 changes {:?} after the first put",
            t0.elapsed()
        );
        let AdminEvent::Set(first) = &seen[0] else {
            panic!("{seen:?}")
        };
        assert_eq!(
            (first.backend.as_str(), &first.state, first.revision),
            ("web-2", &drain, rev_drain)
        );
        let AdminEvent::Set(second) = &seen[1] else {
            panic!("{seen:?}")
        };
        assert_eq!(second.state, AdminState::Disabled);
        assert_eq!(second.revision, rev_disable);

        // A fresh read returns the same records.
        let (records, _) = reader.admin_states().await.unwrap();
        let by_name: Vec<_> = records
            .iter()
            .map(|r| (r.backend.as_str(), r.revision))
            .collect();
        assert_eq!(by_name, [("web-1", rev_disable), ("web-2", rev_drain)]);

        // The fleet-wide count for this drain, from real reports.
        let leases = [
            writer.register(&node("lb-1"), TTL).await.unwrap(),
            writer.register(&node("lb-2"), TTL).await.unwrap(),
        ];
        let report = |applied: Revision, n: u64| NodeReport {
            live_flows: [("web-2".to_owned(), n)].into(),
            applied,
            counted_at_ms: 0,
            ..Default::default()
        };
        writer
            .publish_report(&leases[0], &report(rev_drain, 0))
            .await
            .unwrap();
        // lb-2 counted before it applied the drain: its figure says nothing.
        writer
            .publish_report(&leases[1], &report(Revision(rev_drain.0 - 1), 0))
            .await
            .unwrap();
        let c = reader.fleet_count("web-2", rev_drain).await.unwrap();
        assert_eq!(c.behind().cloned().collect::<Vec<_>>(), [node("lb-2")]);
        assert!(matches!(
            fleet_drain_step(&c, Duration::ZERO, Duration::from_secs(30)),
            FleetDrain::Waiting { .. }
        ));
        writer
            .publish_report(&leases[1], &report(rev_disable, 2))
            .await
            .unwrap();
        let c = reader.fleet_count("web-2", rev_drain).await.unwrap();
        assert_eq!(c.total, 2);
        writer
            .publish_report(&leases[1], &report(rev_disable, 0))
            .await
            .unwrap();
        let c = reader.fleet_count("web-2", rev_drain).await.unwrap();
        assert_eq!(
            fleet_drain_step(&c, Duration::ZERO, Duration::from_secs(30)),
            FleetDrain::Drained
        );
        for l in leases {
            l.revoke(&writer).await.unwrap();
        }
    });
}

#[test]
fn fleet_store_action_claim_is_won_once_and_taken_over_after_the_lease() {
    let lab = etcd("flst-claim");
    let endpoint = lab.endpoint();
    block_on_inside(lab.ns(), || async move {
        const N: usize = 5;
        // Each claimant has its own connection, as separate nodes would.
        let mut nodes = Vec::new();
        for i in 1..=N {
            let store = connect(&endpoint).await;
            let lease = store
                .register(&node(&format!("lb-{i}")), TTL)
                .await
                .unwrap();
            nodes.push((store, lease));
        }
        let drain = nodes[0]
            .0
            .put_admin("web-2", &AdminState::Disabled)
            .await
            .unwrap();

        // All claim at once: exactly one wins, the others see who.
        let winner = claim_all(nodes, drain).await;
        let (mut nodes, won) = winner;
        assert_eq!(won.len(), 1, "winners: {won:?}");
        let first = won[0];
        println!("claim race of {N}: won by lb-{}", first + 1);

        // The winner dies before recording a result: its claim lasts until
        // its lease expires, then exactly one of the others takes over.
        let dead = nodes.remove(first);
        let died = Instant::now();
        drop(dead);
        let (nodes, won) = loop {
            let (back, won) = claim_all(nodes, drain).await;
            nodes = back;
            if !won.is_empty() {
                break (nodes, won);
            }
            assert!(
                died.elapsed() < TTL * 4,
                "nobody took over within {:?}",
                TTL * 4
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let took = died.elapsed();
        println!(
            "taken over by {} {took:?} after the winner died (TTL {TTL:?})",
            nodes[won[0]].1.node()
        );
        assert_eq!(won.len(), 1, "second round winners: {won:?}");
        assert!(
            took >= TTL / 2,
            "taken over after {took:?}: the claim did not last its lease"
        );

        // The new winner records the result: nobody runs the action again,
        // and a late result from anyone else does not replace it.
        let (store, lease) = &nodes[won[0]];
        assert!(
            store
                .record_result(lease, "web-2", drain, ActionOutcome::Done)
                .await
                .unwrap()
        );
        let (other_store, other) = &nodes[(won[0] + 1) % nodes.len()];
        match other_store
            .claim_action(other, "web-2", drain)
            .await
            .unwrap()
        {
            ClaimOutcome::Finished(r) => {
                assert_eq!(&r.node, lease.node());
                assert_eq!(r.outcome, ActionOutcome::Done);
            }
            o => panic!("after the result: {o:?}"),
        }
        assert!(
            !other_store
                .record_result(other, "web-2", drain, ActionOutcome::Failed("late".into()))
                .await
                .unwrap()
        );
        let kept = other_store
            .action_result("web-2", drain)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&kept.node, lease.node());

        // A later drain of the same backend is a new revision: a new claim.
        let next = store
            .put_admin("web-2", &AdminState::Disabled)
            .await
            .unwrap();
        let (nodes, won) = claim_all(nodes, next).await;
        assert_eq!(won.len(), 1);
        let names: BTreeSet<_> = nodes.iter().map(|(_, l)| l.node().clone()).collect();
        assert_eq!(names.len(), N - 1);
    });
}

type Node = (FleetStore, lb_userspace::cluster::NodeLease);

/// Every node claims drain `drain` of web-2 concurrently; returns the nodes
/// (same order) and the indices of the winners, checking that every loser
/// saw a winner's claim.
async fn claim_all(nodes: Vec<Node>, drain: Revision) -> (Vec<Node>, Vec<usize>) {
    let mut set = JoinSet::new();
    for (i, (store, lease)) in nodes.into_iter().enumerate() {
        set.spawn(async move {
            let outcome = store.claim_action(&lease, "web-2", drain).await;
            (i, store, lease, outcome)
        });
    }
    let mut done: Vec<_> = set.join_all().await;
    done.sort_by_key(|(i, ..)| *i);
    let mut won = Vec::new();
    let mut holders = BTreeSet::new();
    let mut back = Vec::new();
    for (i, store, lease, outcome) in done {
        match outcome.expect("claim") {
            ClaimOutcome::Won => won.push(i),
            ClaimOutcome::HeldBy(c) => {
                holders.insert(c.node);
            }
            o @ ClaimOutcome::Finished(_) => panic!("unexpected {o:?}"),
        }
        back.push((store, lease));
    }
    // Losers all saw the same claim: this round's winner, or a dead one.
    assert!(holders.len() <= 1, "claims seen: {holders:?}");
    if let [w] = won[..] {
        let winner = back[w].1.node().clone();
        assert!(
            holders.iter().all(|h| *h == winner),
            "losers saw {holders:?}, winner {winner}"
        );
    }
    (back, won)
}
