//! The cluster store while etcd is down (killed, then restarted on the same
//! data): requests fail in bounded time instead of hanging the caller, the
//! node's lease survives an outage shorter than its TTL because the
//! keepalive reopens its stream, and an admin watch ends so its owner knows
//! to read the states again.

use std::time::{Duration, Instant};

use lb_lab::EtcdLab;
use lb_userspace::cluster::{
    FleetStore, LeaseState,
    model::{AdminState, KeyPrefix, NodeName},
    store::REQUEST_TIMEOUT,
};

use crate::support::block_on_inside;

const TTL: Duration = Duration::from_secs(5);

#[test]
fn fleet_store_rides_out_an_etcd_outage() {
    assert!(lb_lab::is_root(), "these tests need root (namespaces)");
    let mut lab = EtcdLab::up("flst-down").expect("etcd up");
    let endpoint = lab.endpoint();
    let ns = std::sync::Arc::clone(lab.ns());
    let prefix = KeyPrefix::new("/test/lb").unwrap();
    // One runtime for the whole test (the lease's keepalive task lives on
    // it), driven from a thread inside the namespace; etcd is killed and
    // restarted from this thread through a channel.
    let (to_test, mut from_main) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (to_main, from_test) = std::sync::mpsc::channel::<&'static str>();
    std::thread::scope(|s| {
        let inside = s.spawn(move || {
            block_on_inside(&ns, || async move {
                let store = FleetStore::connect(&[endpoint], prefix).await.unwrap();
                let node = NodeName::new("lb-1").unwrap();
                let lease = store.register(&node, TTL).await.unwrap();
                let (_, at) = store.admin_states().await.unwrap();
                let mut watch = store.watch_admin(at).await.unwrap();

                to_main.send("kill").unwrap();
                from_main.recv().await.expect("the main thread");
                let t0 = Instant::now();
                let put = store.put_admin("web-2", &AdminState::Disabled).await;
                let failed_after = t0.elapsed();
                println!("put with etcd down: {put:?} after {failed_after:?}");
                assert!(put.is_err(), "a write succeeded with etcd down");
                assert!(
                    failed_after <= REQUEST_TIMEOUT + Duration::from_secs(2),
                    "the caller waited {failed_after:?}"
                );
                let watched = tokio::time::timeout(Duration::from_secs(10), watch.next()).await;
                println!("watch with etcd down: {watched:?}");
                assert!(
                    matches!(watched, Ok(Err(_) | Ok(None))),
                    "the watch neither failed nor ended: {watched:?}"
                );

                to_main.send("restart").unwrap();
                from_main.recv().await.expect("the main thread");
                // Writes work again, and the node is still registered...
                let t1 = Instant::now();
                let rev = loop {
                    match store.put_admin("web-2", &AdminState::Disabled).await {
                        Ok(rev) => break rev,
                        Err(e) if t1.elapsed() < Duration::from_secs(20) => {
                            println!("etcd back? {e}");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        Err(e) => panic!("etcd not back after 20 s: {e}"),
                    }
                };
                println!(
                    "writes work again {:?} after the restart (revision {rev})",
                    t1.elapsed()
                );
                // ...and stays so for two more TTLs: the keepalive reopened
                // its stream (a dead keepalive would let it expire).
                tokio::time::sleep(TTL * 2).await;
                let live = store.live_nodes().await.unwrap();
                assert!(live.contains_key(&node), "lb-1 lost its lease: {live:?}");
                assert_eq!(lease.state(), LeaseState::Alive);
                lease.revoke(&store).await.unwrap();
            });
        });
        assert_eq!(from_test.recv().unwrap(), "kill");
        lab.etcd().kill();
        let down = Instant::now();
        to_test.send(()).unwrap();
        assert_eq!(from_test.recv().unwrap(), "restart");
        // Down for longer than a keepalive period (TTL / 3), shorter than
        // the TTL: the lease must survive it.
        std::thread::sleep(Duration::from_secs(2).saturating_sub(down.elapsed()));
        println!("etcd down for {:?}", down.elapsed());
        lab.etcd().restart().expect("etcd restarts");
        to_test.send(()).unwrap();
        inside.join().expect("the test thread");
    });
}
