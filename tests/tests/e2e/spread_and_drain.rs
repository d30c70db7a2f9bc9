//! Tests 1, 2 and 7: spread and drain over the IPv4 and the IPv6 VIP.

use super::*;

#[test]
fn e2e_1_spread() {
    println!("== e2e 1: spread of new connections over 3 backends");
    let (lab, daemon) = up("e2espread", 3, false, &ConfigSpec::default());
    let backends: Vec<(String, &Backend)> = lab
        .backends()
        .iter()
        .map(|b| (b.name().to_owned(), b))
        .collect();
    // At least 6,000 connections: a fair 1/3 share of them has a standard
    // deviation of 1.8% of its mean, so the bound (each backend within 10%
    // of total / 3, relative) is 5.5 sigma from chance.
    let counts = spread(
        &lab,
        &daemon,
        &lab.vip_url("/"),
        &client_v4(&lab),
        &backends,
        6000,
    );
    assert_even("IPv4", &counts, 0.10);
    down(lab, daemon);
}

#[test]
fn e2e_2_drain_under_load() {
    println!("== e2e 2: lb drain web-2 --wait under load, slow and stream requests in flight");
    let (lab, daemon) = up("e2edrain", 3, false, &ConfigSpec::default());
    let url = |p: &str| lab.vip_url(p);
    let case = DrainCase {
        name: "web-2",
        backend: lab.backend("web-2").unwrap(),
        url: &url,
        client: client_v4(&lab),
        names: lab.backends().iter().map(|b| b.name().to_owned()).collect(),
        pinned: 3,
        connections: 8,
        load_secs: 8.0,
    };
    drain_under_load(&daemon, &lab, &case);
    down(lab, daemon);
}

#[test]
fn e2e_7_ipv6() {
    println!("== e2e 7: spread and drain over the IPv6 VIP");
    let (lab, daemon) = up("e2eipv6", 3, true, &ConfigSpec::default());
    let url6 = |p: &str| lab.vip6_url(p).expect("IPv6 lab");
    let backends: Vec<(String, &Backend)> = lab
        .backends()
        .iter()
        .map(|b| (format!("web6-{}", b.index()), b))
        .collect();
    // 3,000 connections: the 10% bound is 3.9 sigma of a fair share.
    let counts = spread(&lab, &daemon, &url6("/"), &client_v6(&lab), &backends, 3000);
    assert_eq!(counts.len(), 3);
    assert_even("IPv6", &counts, 0.10);

    let case = DrainCase {
        name: "web6-2",
        backend: lab.backend("web-2").unwrap(),
        url: &url6,
        client: client_v6(&lab),
        names: lab.backends().iter().map(|b| b.name().to_owned()).collect(),
        pinned: 2,
        connections: 4,
        load_secs: 7.0,
    };
    drain_under_load(&daemon, &lab, &case);
    down(lab, daemon);
}
