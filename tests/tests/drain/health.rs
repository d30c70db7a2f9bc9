//! Health checks take a dead backend out of new-flow selection and bring it
//! back.

use std::time::Duration;

use lb_lab::{ConfigSpec, Request};

use crate::support::{lab, now, poll, start_daemon};

/// Health checks (interval 500 ms, fall 2, rise 2): a killed backend goes
/// UNHEALTHY (no new flows) within fall x interval and comes back within rise x interval of
/// answering again.
#[test]
fn drain_health_takes_a_dead_backend_out_and_brings_it_back() {
    const INTERVAL_S: f64 = 0.5;
    const FALL: f64 = 2.0;
    const RISE: f64 = 2.0;
    let lab = lab("drn-hlth");
    let daemon = start_daemon(&lab, &ConfigSpec::default());
    let web3 = lab.backend("web-3").unwrap();

    let t_kill = now();
    web3.kill();
    let t_down = poll("web-3 down", Duration::from_secs(10), || {
        let b = daemon.backend_status("web-3").ok()?;
        (b["state"] == "unhealthy" && b["health"] == "unhealthy").then(now)
    });
    let mut answered = std::collections::BTreeMap::<String, u32>::new();
    for _ in 0..12 {
        let r = lab
            .request(&Request::get(lab.vip_url("/")).timeout(Duration::from_secs(5)))
            .unwrap();
        assert!(r.ok(), "request while web-3 is down: {r:?}");
        *answered.entry(r.body).or_default() += 1;
    }
    assert!(!answered.contains_key("web-3"), "{answered:?}");

    web3.start().unwrap();
    web3.wait_ready(Duration::from_secs(30)).unwrap();
    let t_ready = now();
    let t_up = poll("web-3 active", Duration::from_secs(10), || {
        let b = daemon.backend_status("web-3").ok()?;
        (b["state"] == "active" && b["health"] == "healthy").then(now)
    });
    println!(
        "web-3 killed -> unhealthy in {:.0} ms (fall x interval = {:.0} ms); answering /health -> active in {:.0} ms (rise x interval = {:.0} ms); while unhealthy: {answered:?}",
        (t_down - t_kill) * 1e3,
        FALL * INTERVAL_S * 1e3,
        (t_up - t_ready) * 1e3,
        RISE * INTERVAL_S * 1e3
    );
    assert!(t_down - t_kill <= FALL * INTERVAL_S + 1.0);
    assert!(
        t_down - t_kill >= (FALL - 1.0) * INTERVAL_S * 0.6,
        "down after one failure?"
    );
    assert!(t_up - t_ready <= RISE * INTERVAL_S + 1.0);
    let back = poll(
        "web-3 answering through the VIP",
        Duration::from_secs(10),
        || {
            let r = lab
                .request(&Request::get(lab.vip_url("/")).timeout(Duration::from_secs(5)))
                .ok()?;
            (r.ok() && r.body == "web-3").then_some(r)
        },
    );
    assert_eq!(back.body, "web-3");
}
