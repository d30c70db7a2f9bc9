//! Test 4: a backend killed under load.

use super::*;

#[test]
fn e2e_4_backend_crash() {
    println!("== e2e 4: SIGKILL web-3's Gunicorn (master and workers) under load");
    let (lab, daemon) = up("e2ecrash", 3, false, &ConfigSpec::default());
    let cfg = daemon.config().vip[0].backend[2]
        .health
        .clone()
        .expect("health check");
    let parse_ms = |s: &str| -> f64 {
        s.strip_suffix("ms")
            .map(|n| n.parse::<f64>().unwrap() / 1000.0)
            .or_else(|| s.strip_suffix('s').map(|n| n.parse().unwrap()))
            .unwrap()
    };
    let (interval, fall) = (parse_ms(&cfg.interval), cfg.fall);
    let web3 = lab.backend("web-3").unwrap();
    let fresh = hey(&lab, &lab.vip_url("/"), false, 8, 6.0);
    let keepalive = hey(&lab, &lab.vip_url("/"), true, 4, 6.0);
    thread::sleep(Duration::from_secs(2));

    // New flows are read before the live ones are listed: a connection made
    // between the two readings is then counted (perhaps twice) rather than
    // missed by both, which a fresh-clone run came within 3 of.
    let nf_kill = new_flows(&daemon)["web-3"];
    let open = flows(&daemon, Some("web-3"))
        .iter()
        .filter(|f| f.state == "live")
        .count() as u64;
    let kill = Instant::now();
    web3.kill();
    let down_status = wait_backend(
        &daemon,
        "web-3",
        Duration::from_secs(10),
        "unhealthy",
        |s| s["state"] == "unhealthy",
    );
    let detect = kill.elapsed();
    thread::sleep(Duration::from_millis(300));
    let nf_down = new_flows(&daemon)["web-3"];
    let ka = finish("keep-alive GET", keepalive);
    let fr = finish("fresh-connection GET", fresh);
    let failures = ka.errors.total() + ka.non_2xx + fr.errors.total() + fr.non_2xx;
    let during = nf_down - nf_kill;
    let bound = open + during;
    let limit = f64::from(fall) * interval + 0.5;
    println!(
        "  web-3 down {} after the kill (health {}; fall {fall} x interval {interval} s = {:.1} s, bound {limit:.1} s)",
        secs(detect),
        down_status["health"],
        f64::from(fall) * interval
    );
    println!(
        "  failed requests {failures} <= bound {bound} = {open} connections open on web-3 at the kill + {during} new connections lb sent it before it was down"
    );
    assert!(
        detect.as_secs_f64() <= limit,
        "web-3 down only after {detect:?}"
    );
    assert!(failures <= bound, "{failures} failures > bound {bound}");
    assert_eq!(ka.non_2xx + fr.non_2xx, 0, "no non-2xx responses");

    // From then on, no new connection reaches web-3: a fresh run fails nothing
    // and lb sends web-3 no new flow.
    let after = finish(
        "fresh-connection GET after down",
        hey(&lab, &lab.vip_url("/"), false, 8, 2.0),
    );
    assert_clean("fresh-connection load after down", &after);
    let nf_after = new_flows(&daemon)["web-3"];
    println!(
        "  web-3 new flows after it was down: {}",
        nf_after - nf_down
    );
    assert_eq!(
        nf_after, nf_down,
        "new flows sent to web-3 after it was down"
    );
    down(lab, daemon);
}
