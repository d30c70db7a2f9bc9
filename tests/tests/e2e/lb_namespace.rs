//! Test 8: the LB namespace's own TCP traffic passes untouched.

use super::*;

#[test]
fn e2e_8_lb_namespace_traffic() {
    // Plain requests sent from the client namespace while the VIP is loaded.
    const N: u64 = 40;
    println!("== e2e 8: the LB namespace's own TCP service while lb runs and the VIP is loaded");
    let (lab, daemon) = up("e2elbns", 2, false, &ConfigSpec::default());
    let lb_ip = lab.lb_host().ipv4.to_string();
    let root = lab.dir().join("lb-ns-www");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("hello.txt"), "hello from the LB namespace\n").unwrap();
    let python = paths::venv().join("bin").join("python3");
    let (python, root_s) = (python.to_string_lossy(), root.to_string_lossy());
    let cmd = lab.lb_ns().exec(&[
        &python,
        "-m",
        "http.server",
        "8022",
        "--bind",
        &lb_ip,
        "--directory",
        &root_s,
    ]);
    let _service = lab
        .spawn(
            "lb-ns http.server",
            cmd,
            Some(&lab.dir().join("lb-ns-www.log")),
        )
        .expect("service starts");
    let url = format!("http://{lb_ip}:8022/hello.txt");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lab
        .request(&Request::get(&url).timeout(Duration::from_secs(1)))
        .unwrap()
        .ok()
    {
        assert!(
            Instant::now() < deadline,
            "the LB namespace's service never answered"
        );
        thread::sleep(Duration::from_millis(100));
    }

    let passed_before = daemon.status().unwrap()["passed_packets"].as_u64().unwrap();
    let load = hey(&lab, &lab.vip_url("/"), false, 6, 4.0);
    let mut ok = 0;
    let t = Instant::now();
    for _ in 0..N {
        let r = lab
            .request(&Request::get(&url).timeout(Duration::from_secs(5)))
            .unwrap();
        assert!(r.ok(), "request to the LB's own service failed: {r:?}");
        assert_eq!(r.body, "hello from the LB namespace\n");
        ok += 1;
    }
    let during = t.elapsed();
    let r = finish("fresh-connection GET to the VIP meanwhile", load);
    assert!(
        during.as_secs_f64() < r.duration.as_secs_f64(),
        "the service requests outlasted the VIP load"
    );
    assert_clean("VIP load", &r);
    let passed_after = daemon.status().unwrap()["passed_packets"].as_u64().unwrap();
    let passed = passed_after - passed_before;
    println!(
        "  {ok}/{N} requests to {url} from the client namespace succeeded in {} during the VIP load; passed_packets grew by {passed}",
        secs(during)
    );
    // Each HTTP/1.0 request: SYN, ACK, request, ACK(s), FIN, ACK from the client.
    assert!(
        passed >= 4 * N,
        "passed_packets grew by {passed} < 4 x {N} client packets"
    );
    down(lab, daemon);
}
