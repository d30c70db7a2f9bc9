//! `forward = "dnat"`: read, its backend keys (`port` allowed, `mac`
//! refused), no `nat_source` asked for, forwarding on the interface checked.

use std::path::Path;

use super::*;
use crate::config::{Forward, parse, tests_errors::fails};

/// A DNAT VIP at line 4 (`forward` at line 8), its backend at line 11;
/// `daemon` goes on at line 3, `extra` after the backend's port (line 15).
fn dnat(daemon: &str, extra: &str) -> String {
    format!(
        "[daemon]\ninterface = \"eth0\"\n{daemon}\n\
         [[vip]]\nname = \"web\"\naddress = \"198.51.100.10\"\nport = 80\nforward = \"dnat\"\nprotocol = \"tcp\"\n\n\
         [[vip.backend]]\nname = \"web-1\"\naddress = \"203.0.113.11\"\nport = 8000\n{extra}"
    )
}

fn ok(text: &str) -> Config {
    parse(text, Path::new("/etc/lb.toml")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_dnat_vip_reads_its_mode_and_backend_port() {
    let c = ok(&dnat("", ""));
    assert_eq!(c.vips[0].forward, Forward::Dnat);
    assert_eq!(c.vips[0].forward.to_string(), "dnat");
    assert!(c.vips[0].forward.translates());
    assert_eq!(c.vips[0].backends[0].port, 8000);
    // Without `port` the backend serves the VIP's.
    let c = ok(&dnat("", "").replace("port = 8000\n", ""));
    assert_eq!(c.vips[0].backends[0].port, 80);
}

#[test]
fn a_dnat_backend_takes_no_mac_and_no_zero_port() {
    fails(
        &dnat("", "mac = \"02:00:00:00:00:11\"\n"),
        15,
        "vip[0].backend[0].mac",
        "`mac` applies only to forward = \"dsr\"",
    );
    fails(
        &dnat("", "").replace("port = 8000", "port = 0"),
        14,
        "vip[0].backend[0].port",
        "expected a port in 1..=65535, got 0",
    );
}

#[test]
fn an_unknown_forward_mode_names_dnat_among_the_choices() {
    fails(
        &dnat("", "").replace("forward = \"dnat\"", "forward = \"snat\""),
        8,
        "vip[0].forward",
        "expected one of `dsr`, `nat`, `dnat`",
    );
}

#[test]
fn dnat_needs_no_nat_source() {
    // No NAT VIP: nothing resolved, no port range asked of the host, even
    // on an interface without an address and with no room for NAT's ports.
    let c = ok(&dnat("", ""));
    assert_eq!(resolve(&c, &[], (1024, 65535)).unwrap(), NatHost::default());
    // A nat_source list of the other family only is no concern of a DNAT VIP.
    ok(&dnat("nat_source = \"2001:db8::2\"", ""));
}

#[test]
fn dnat_needs_forwarding_on_the_interface() {
    let c = ok(&dnat("", ""));
    check_forwarding(&c, |_| Some(true)).unwrap();
    let p = check_forwarding(&c, |_| Some(false)).unwrap_err();
    assert_eq!(p.path.to_string(), "vip[0].forward");
    assert!(
        p.message
            .starts_with("DNAT VIP \"web\" needs forwarding on eth0")
            && p.message.contains("net.ipv4.conf.eth0.forwarding=1"),
        "{}",
        p.message
    );
}
