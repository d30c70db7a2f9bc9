//! NAT keys: `daemon.nat_source`, `vip.forward`, `vip.backend.port`, read,
//! defaulted, refused (with line and key), and resolved on the interface.

use std::{net::IpAddr, path::Path};

use super::*;
use crate::config::{
    Forward, parse,
    tests_errors::{fails, with_backend},
};

/// A NAT VIP at line 4 (`forward` at line 8), its backend at line 11; `daemon`
/// goes on at line 3, `extra` after the backend's address (line 14).
fn nat(daemon: &str, extra: &str) -> String {
    format!(
        "[daemon]\ninterface = \"eth0\"\n{daemon}\n\
         [[vip]]\nname = \"web\"\naddress = \"198.51.100.10\"\nport = 80\nforward = \"nat\"\nprotocol = \"tcp\"\n\n\
         [[vip.backend]]\nname = \"web-1\"\naddress = \"203.0.113.11\"\nport = 8000\n{extra}"
    )
}

const V6: &str = "\n[[vip]]\nname = \"web6\"\naddress = \"2001:db8:100::10\"\nport = 80\n\
    protocol = \"tcp\"\nforward = \"nat\"\n[[vip.backend]]\nname = \"web6-1\"\naddress = \"2001:db8::11\"\n";

const EPH: (u16, u16) = DEFAULT_EPHEMERAL;

fn ok(text: &str) -> Config {
    parse(text, Path::new("/etc/lb.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|a| a.parse().unwrap()).collect()
}

#[test]
fn a_nat_vip_reads_its_mode_ports_and_sources() {
    let c = ok(&nat(
        "nat_source = \"203.0.113.2\"",
        "health = { kind = \"tcp\" }\n",
    ));
    let v = &c.vips[0];
    assert_eq!(v.forward, Forward::Nat);
    assert_eq!(v.backends[0].port, 8000);
    // The health check goes where the backend serves, not to the VIP's port.
    assert_eq!(
        v.backends[0]
            .health
            .as_ref()
            .unwrap()
            .port_for(&v.backends[0]),
        8000
    );
    assert_eq!(c.daemon.nat_source, ips(&["203.0.113.2"]));
    let c = ok(&nat(
        "nat_source = [\"203.0.113.2\", \"203.0.113.3\", \"2001:db8::2\"]",
        V6,
    ));
    assert_eq!(
        c.daemon.nat_source,
        ips(&["203.0.113.2", "203.0.113.3", "2001:db8::2"])
    );
    // A NAT backend without `port` serves the VIP's.
    assert_eq!(c.vips[1].backends[0].port, 80);
}

#[test]
fn dsr_is_the_default_and_its_backends_serve_the_vip_port() {
    let c = ok(&with_backend(""));
    assert_eq!(c.vips[0].forward, Forward::Dsr);
    assert_eq!(c.vips[0].backends[0].port, 80);
    assert!(c.daemon.nat_source.is_empty());
    let c = ok(&with_backend("").replace(
        "protocol = \"tcp\"",
        "protocol = \"tcp\"\nforward = \"dsr\"",
    ));
    assert_eq!(c.vips[0].forward, Forward::Dsr);
}

#[test]
fn a_backend_port_on_a_dsr_vip_is_refused() {
    fails(
        &with_backend("port = 8000\n"),
        13,
        "vip[0].backend[0].port",
        "`port` applies only to a VIP with forward = \"nat\"",
    );
    fails(
        &with_backend("port = 8000\n").replace(
            "protocol = \"tcp\"",
            "protocol = \"tcp\"\nforward = \"dsr\"",
        ),
        14,
        "vip[0].backend[0].port",
        "applies only to a VIP with forward = \"nat\"",
    );
}

#[test]
fn a_mac_on_a_nat_backend_is_refused() {
    fails(
        &nat("", "mac = \"02:00:00:00:00:11\"\n"),
        15,
        "vip[0].backend[0].mac",
        "`mac` applies only to forward = \"dsr\"",
    );
}

#[test]
fn a_zero_backend_port_is_refused() {
    fails(
        &nat("", "").replace("port = 8000", "port = 0"),
        14,
        "vip[0].backend[0].port",
        "expected a port in 1..=65535, got 0",
    );
}

#[test]
fn an_unknown_forward_mode_is_refused() {
    fails(
        &nat("", "").replace("forward = \"nat\"", "forward = \"tunnel\""),
        8,
        "vip[0].forward",
        "unknown variant `tunnel`, expected one of `dsr`, `nat`, `dnat`",
    );
}

#[test]
fn a_nat_source_of_the_wrong_family_is_refused() {
    // Only IPv4 given, and an IPv6 NAT VIP.
    fails(
        &nat("nat_source = \"203.0.113.2\"", V6),
        3,
        "daemon.nat_source",
        "NAT VIP \"web6\" (2001:db8:100::10) needs an IPv6 nat_source, got only 203.0.113.2",
    );
    // Only IPv6 given, and an IPv4 NAT VIP.
    fails(
        &nat("nat_source = [\"2001:db8::2\"]", ""),
        3,
        "daemon.nat_source",
        "NAT VIP \"web\" (198.51.100.10) needs an IPv4 nat_source",
    );
    // A DSR VIP needs none: an IPv6 DSR VIP beside an IPv4-only list is fine.
    ok(&nat(
        "nat_source = \"203.0.113.2\"",
        &V6.replace("forward = \"nat\"", ""),
    ));
}

#[test]
fn bad_nat_source_values_are_refused() {
    fails(
        &nat("nat_source = \"203.0.113\"", ""),
        3,
        "daemon.nat_source",
        "expected an IP address like",
    );
    fails(
        &nat("nat_source = [\"203.0.113.2\", \"nope\"]", ""),
        3,
        "daemon.nat_source",
        "got \"nope\"",
    );
    fails(
        &nat("nat_source = 7", ""),
        3,
        "daemon.nat_source",
        "an IP address like \"203.0.113.2\", or a list of them",
    );
    fails(
        &nat("nat_source = [\"203.0.113.2\", \"203.0.113.2\"]", ""),
        3,
        "daemon.nat_source",
        "203.0.113.2 is listed twice",
    );
    let nine: Vec<String> = (2..11).map(|i| format!("\"203.0.113.{i}\"")).collect();
    fails(
        &nat(&format!("nat_source = [{}]", nine.join(", ")), ""),
        3,
        "daemon.nat_source",
        "at most 8 IPv4 addresses",
    );
    fails(
        &nat("nat_source = \"0.0.0.0\"", ""),
        3,
        "daemon.nat_source",
        "expected a unicast IP address",
    );
}

#[test]
fn resolve_checks_the_sources_are_on_the_interface() {
    let on_eth0 = ips(&["203.0.113.2", "fe80::1", "2001:db8::2"]);
    let c = ok(&nat("nat_source = [\"203.0.113.2\", \"2001:db8::2\"]", V6));
    assert_eq!(
        resolve(&c, &on_eth0, EPH).unwrap().sources,
        ips(&["203.0.113.2", "2001:db8::2"])
    );
    let c = ok(&nat("nat_source = \"203.0.113.9\"", ""));
    let p = resolve(&c, &on_eth0, EPH).unwrap_err();
    assert_eq!(p.path.to_string(), "daemon.nat_source");
    assert!(
        p.message
            .contains("203.0.113.9 is not an address of interface eth0"),
        "{}",
        p.message
    );
}

#[test]
fn resolve_defaults_to_the_first_usable_address_of_each_family() {
    let c = ok(&nat("", V6));
    // IPv6 link-local is skipped: a backend behind a router could not answer it.
    let on_eth0 = ips(&["fe80::1", "203.0.113.2", "203.0.113.3", "2001:db8::2"]);
    let got = resolve(&c, &on_eth0, EPH).unwrap();
    assert_eq!(got.sources, ips(&["203.0.113.2", "2001:db8::2"]));
    let v6: Vec<IpAddr> = got.of_family("2001:db8::9".parse().unwrap()).collect();
    assert_eq!(v6, ips(&["2001:db8::2"]));
    // No DSR-only family is resolved.
    let c = ok(&nat("", ""));
    assert_eq!(
        resolve(&c, &on_eth0, EPH).unwrap().sources,
        ips(&["203.0.113.2"])
    );
    let c = ok(&with_backend(""));
    assert!(resolve(&c, &[], EPH).unwrap().sources.is_empty());
    // A NAT family the interface lacks names the VIP's forward key.
    let c = ok(&nat("", V6));
    let p = resolve(&c, &ips(&["203.0.113.2", "fe80::1"]), EPH).unwrap_err();
    assert_eq!(p.path.to_string(), "vip[1].forward");
    assert!(
        p.message
            .contains("has no IPv6 address for NAT VIP \"web6\""),
        "{}",
        p.message
    );
}

#[test]
fn the_port_range_lies_outside_the_ephemeral_ports() {
    // Linux's default 32768-60999: the larger gap is below it.
    assert_eq!(port_range((32768, 60999)), Some((1024, 32767)));
    assert_eq!(port_range((5000, 60000)), Some((60001, 65535)));
    assert_eq!(port_range((1025, 65000)), None);
    assert_eq!(port_range((1024, 65535)), None);
    assert_eq!(port_range((2048, 65535)), Some((1024, 2047)));
    let c = ok(&nat("", ""));
    let got = resolve(&c, &ips(&["203.0.113.2"]), (32768, 60999)).unwrap();
    assert_eq!((got.port_min, got.port_max), (1024, 32767));
    // A host whose ephemeral ports leave no room refuses NAT, naming the VIP.
    let p = resolve(&c, &ips(&["203.0.113.2"]), (1024, 65535)).unwrap_err();
    assert_eq!(p.path.to_string(), "vip[0].forward");
    assert!(p.message.contains("ip_local_port_range"), "{}", p.message);
    // Without a NAT VIP, nothing is asked of the host.
    assert_eq!(
        resolve(&ok(&with_backend("")), &[], (1024, 65535)).unwrap(),
        NatHost::default()
    );
}

#[test]
fn a_vip_on_a_nat_source_inside_the_port_range_is_refused() {
    // A second VIP on the NAT source itself, at port 8080 (inside 1024-32767).
    let vip =
        "\n[[vip]]\nname = \"own\"\naddress = \"203.0.113.2\"\nport = 8080\nprotocol = \"tcp\"\n";
    let c = ok(&nat("nat_source = \"203.0.113.2\"", vip));
    let p = resolve(&c, &ips(&["203.0.113.2"]), EPH).unwrap_err();
    assert_eq!(p.path.to_string(), "vip[1].port");
    assert!(
        p.message.contains("inside NAT's source ports 1024-32767"),
        "{}",
        p.message
    );
    // Port 80 is outside the range: fine.
    let c = ok(&nat(
        "nat_source = \"203.0.113.2\"",
        &vip.replace("8080", "80"),
    ));
    assert!(resolve(&c, &ips(&["203.0.113.2"]), EPH).is_ok());
}

#[test]
fn nat_needs_forwarding_on_the_interface() {
    let c = ok(&nat("", V6));
    check_forwarding(&c, |_| Some(true)).unwrap();
    check_forwarding(&c, |_| None).unwrap();
    let p = check_forwarding(&c, Some).unwrap_err();
    assert_eq!(p.path.to_string(), "vip[1].forward");
    assert!(
        p.message.contains("net.ipv6.conf.eth0.forwarding=1"),
        "{}",
        p.message
    );
    // DSR VIPs need none.
    check_forwarding(&ok(&with_backend("")), |_| Some(false)).unwrap();
}
