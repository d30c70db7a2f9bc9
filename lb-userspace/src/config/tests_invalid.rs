//! Refusals found by validation (what types cannot say), one test per kind,
//! each asserting the line and key path.

use std::path::Path;

use super::{
    parse,
    tests_errors::{fails, with_backend, with_daemon},
};

#[test]
fn duplicate_vip_names() {
    let text = with_backend(
        "\n[[vip]]\nname = \"web\"\naddress = \"198.51.100.11\"\nport = 80\nprotocol = \"tcp\"\n",
    );
    fails(
        &text,
        15,
        "vip[1].name",
        "duplicate VIP name \"web\" (first used by vip[0])",
    );
}

#[test]
fn duplicate_backend_names_across_vips() {
    let text = with_backend(
        "\n[[vip]]\nname = \"api\"\naddress = \"198.51.100.11\"\nport = 80\nprotocol = \"tcp\"\n\
         [[vip.backend]]\nname = \"web-1\"\naddress = \"203.0.113.12\"\n",
    );
    fails(
        &text,
        20,
        "vip[1].backend[0].name",
        "duplicate backend name \"web-1\" (first used by vip[0].backend[0]",
    );
}

#[test]
fn duplicate_vip_endpoints() {
    let text = with_backend(
        "\n[[vip]]\nname = \"web2\"\naddress = \"198.51.100.10\"\nport = 80\nprotocol = \"tcp\"\n",
    );
    fails(
        &text,
        16,
        "vip[1].address",
        "VIP 198.51.100.10:80/tcp is already defined by vip[0]",
    );
}

#[test]
fn backend_family_differs_from_vip() {
    let text = with_backend("").replace("\"203.0.113.11\"", "\"2001:db8::1\"");
    let e = parse(&text, Path::new("/etc/lb.toml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "config error: /etc/lb.toml:12: key `vip[0].backend[0].address`: expected an IPv4 address \
         like the VIP's (198.51.100.10), got \"2001:db8::1\""
    );
    let text = text
        .replace("\"198.51.100.10\"", "\"2001:db8::10\"")
        .replace("\"2001:db8::1\"", "\"203.0.113.11\"");
    fails(
        &text,
        12,
        "vip[0].backend[0].address",
        "expected an IPv6 address like the VIP's (2001:db8::10), got \"203.0.113.11\"",
    );
}

#[test]
fn unusable_addresses() {
    let text = with_backend("").replace("\"198.51.100.10\"", "\"::ffff:198.51.100.10\"");
    fails(&text, 6, "vip[0].address", "IPv4-mapped");
    let text = with_backend("").replace("\"203.0.113.11\"", "\"0.0.0.0\"");
    fails(&text, 12, "vip[0].backend[0].address", "unspecified");
    let text = with_backend("").replace("\"198.51.100.10\"", "\"224.0.0.1\"");
    fails(&text, 6, "vip[0].address", "multicast");
}

#[test]
fn port_zero() {
    fails(
        &with_backend("").replace("port = 80", "port = 0"),
        7,
        "vip[0].port",
        "expected a port in 1..=65535, got 0",
    );
    fails(
        &with_backend("health = { kind = \"tcp\", port = 0 }\n"),
        13,
        "vip[0].backend[0].health.port",
        "got 0",
    );
}

#[test]
fn weights_out_of_range() {
    fails(
        &with_backend("weight = 0\n"),
        13,
        "vip[0].backend[0].weight",
        "expected a weight in 1..=1000, got 0",
    );
    fails(
        &with_backend("weight = 1001\n"),
        13,
        "vip[0].backend[0].weight",
        "got 1001",
    );
}

#[test]
fn shutdown_actions() {
    let at = "vip[0].backend[0].shutdown";
    let one = "expected exactly one of `pid`, `pid_file`, `command` or `http`";
    fails(
        &with_backend("shutdown = { signal = \"TERM\" }\n"),
        13,
        at,
        &format!("{one}, got none"),
    );
    fails(&with_backend("shutdown = {}\n"), 13, at, "got none");
    fails(
        &with_backend("shutdown = { pid = 12,\n command = [\"true\"] }\n"),
        14,
        &format!("{at}.command"),
        "got both `pid` and `command`",
    );
    fails(
        &with_backend("on_drain = { pid_file = \"/run/x.pid\", http = \"http://h/\" }\n"),
        13,
        "vip[0].backend[0].on_drain.http",
        "got both `pid_file` and `http`",
    );
    fails(
        &with_backend("shutdown = { command = [] }\n"),
        13,
        &format!("{at}.command"),
        "expected a program and its arguments",
    );
    fails(
        &with_backend("shutdown = { command = [\"\"] }\n"),
        13,
        &format!("{at}.command"),
        "expected a program",
    );
    fails(
        &with_backend("shutdown = { signal = \"STOP\", pid = 3 }\n"),
        13,
        &format!("{at}.signal"),
        "expected one of TERM, INT, QUIT, HUP, KILL, USR1, USR2",
    );
    fails(
        &with_backend("shutdown = { signal = \"TERM\", command = [\"x\"] }\n"),
        13,
        &format!("{at}.signal"),
        "applies only with `pid` or `pid_file`",
    );
    fails(
        &with_backend("shutdown = { pid = 3, method = \"GET\" }\n"),
        13,
        &format!("{at}.method"),
        "applies only with `http`",
    );
    fails(
        &with_backend("shutdown = { pid = 0 }\n"),
        13,
        &format!("{at}.pid"),
        "expected a process id in 1..=4194304, got 0",
    );
    fails(
        &with_backend("shutdown = { pid_file = \"web.pid\" }\n"),
        13,
        &format!("{at}.pid_file"),
        "expected an absolute path",
    );
    fails(
        &with_backend("shutdown = { http = \"https://h/x\" }\n"),
        13,
        &format!("{at}.http"),
        "must start with http://",
    );
    fails(
        &with_backend("shutdown = { http = \"http://h/x\", method = \"P OST\" }\n"),
        13,
        &format!("{at}.method"),
        "expected an HTTP method",
    );
}

#[test]
fn maglev_size_not_prime() {
    fails(
        &with_daemon("maglev_size = 65536\n"),
        3,
        "daemon.maglev_size",
        "expected a prime number, got 65536 (the next prime is 65537)",
    );
    fails(
        &with_daemon("maglev_size = 0\n"),
        3,
        "daemon.maglev_size",
        "expected a prime number, got 0",
    );
    fails(
        &with_daemon("maglev_size = 4294967291\n"),
        3,
        "daemon.maglev_size",
        "fit a u32 map index",
    );
    let text = with_backend("").replace("[daemon]\n", "[daemon]\nmaglev_size = 2\n")
        + "[[vip.backend]]\nname = \"web-2\"\naddress = \"203.0.113.12\"\n";
    fails(
        &text,
        2,
        "daemon.maglev_size",
        "expected more slots than VIP \"web\" has backends (2), got 2",
    );
}

#[test]
fn too_many_vips() {
    let vip = |n: u32| {
        format!(
            "[[vip]]\nname = \"v{n}\"\naddress = \"192.0.2.{n}\"\nport = 80\nprotocol = \"tcp\"\n"
        )
    };
    let text = format!(
        "{}{}{}{}",
        with_daemon("max_vips = 2\n"),
        vip(1),
        vip(2),
        vip(3)
    );
    fails(
        &text,
        14,
        "vip[2]",
        "3 VIPs are configured, more than daemon.max_vips = 2",
    );
}

#[test]
fn too_many_backends() {
    let text = with_backend(
        "\n[[vip]]\nname = \"api\"\naddress = \"198.51.100.11\"\nport = 80\nprotocol = \"tcp\"\n\
         [[vip.backend]]\nname = \"api-1\"\naddress = \"203.0.113.12\"\n",
    )
    .replace("[daemon]\n", "[daemon]\nmax_backends = 1\n");
    fails(
        &text,
        20,
        "vip[1].backend[0]",
        "more backends than daemon.max_backends = 1",
    );
}

#[test]
fn health_checks() {
    let at = "vip[0].backend[0].health";
    fails(
        &with_backend("health = { kind = \"tcp\", path = \"/x\" }\n"),
        13,
        &format!("{at}.path"),
        "`path` applies only to kind = \"http\"",
    );
    fails(
        &with_backend("health = { kind = \"http\", path = \"health\" }\n"),
        13,
        &format!("{at}.path"),
        "starting with '/'",
    );
    fails(
        &with_backend("[vip.backend.health]\nkind = \"http\"\ntimeout = \"0s\"\n"),
        15,
        &format!("{at}.timeout"),
        "expected a duration > 0",
    );
    fails(
        &with_backend("health = { kind = \"http\", interval = \"0ms\" }\n"),
        13,
        &format!("{at}.interval"),
        "expected a duration > 0",
    );
    fails(
        &with_backend("health = { kind = \"http\", rise = 0 }\n"),
        13,
        &format!("{at}.rise"),
        "expected at least 1, got 0",
    );
    fails(
        &with_backend("health = { kind = \"http\",\n fall = 0 }\n"),
        14,
        &format!("{at}.fall"),
        "expected at least 1, got 0",
    );
}

#[test]
fn daemon_limits() {
    fails(
        &with_daemon("max_flows = 0\n"),
        3,
        "daemon.max_flows",
        "expected at least 1, got 0",
    );
    fails(
        &with_daemon("max_vips = 0\n"),
        3,
        "daemon.max_vips",
        "at least 1",
    );
    fails(
        &with_daemon("max_backends = 4294967295\n"),
        3,
        "daemon.max_backends",
        "less than",
    );
    fails(
        &with_daemon("health_concurrency = 0\n"),
        3,
        "daemon.health_concurrency",
        "at least 1",
    );
    fails(
        &with_daemon("socket = \"\"\n"),
        3,
        "daemon.socket",
        "expected a path",
    );
}
