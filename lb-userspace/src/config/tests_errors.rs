//! Refusals found by toml and serde (syntax, types, unknown and missing keys,
//! bad durations, MACs and names), each asserting the line and key path.
//! The helpers are shared with `tests_invalid`.

use std::path::Path;

use super::*;

/// A VIP at line 4 and one backend at line 10; `extra` goes on at line 13.
pub(super) fn with_backend(extra: &str) -> String {
    format!(
        "[daemon]\ninterface = \"eth0\"\n\n\
         [[vip]]\nname = \"web\"\naddress = \"198.51.100.10\"\nport = 80\nprotocol = \"tcp\"\n\n\
         [[vip.backend]]\nname = \"web-1\"\naddress = \"203.0.113.11\"\n{extra}"
    )
}

/// `extra` goes into `[daemon]` at line 3.
pub(super) fn with_daemon(extra: &str) -> String {
    format!("[daemon]\ninterface = \"eth0\"\n{extra}")
}

/// Asserts the error is at `line`, on `key`, and its message contains `what`.
#[track_caller]
pub(super) fn fails(text: &str, line: usize, key: &str, what: &str) {
    let e = parse(text, Path::new("/etc/lb.toml")).expect_err("config should be refused");
    let msg = e.to_string();
    let key_part = if key.is_empty() {
        String::new()
    } else {
        format!("key `{key}`: ")
    };
    let prefix = format!("config error: /etc/lb.toml:{line}: {key_part}");
    assert!(
        msg.starts_with(&prefix),
        "want prefix {prefix:?}\n got {msg:?}"
    );
    assert!(msg.contains(what), "want {what:?} in {msg:?}");
    assert_eq!(e.exit_code(), 2);
    println!("{msg}");
}

#[test]
fn syntax_errors() {
    fails(
        &with_daemon("xdp_mode = \"auto\nmax_vips = 3\n"),
        3,
        "daemon.xdp_mode",
        "TOML syntax",
    );
    fails(
        &with_daemon("max_vips = 3\nmax_vips = 4\n"),
        4,
        "daemon.max_vips",
        "duplicate key",
    );
    fails(
        &with_backend("weight = heavy\n"),
        13,
        "vip[0].backend[0].weight",
        "TOML syntax",
    );
    fails(
        &with_backend("health = { kind = \"tcp\", \n"),
        13,
        "vip[0].backend[0].health.kind",
        "unclosed inline table",
    );
}

#[test]
fn type_errors() {
    fails(
        &with_daemon("max_flows = \"many\"\n"),
        3,
        "daemon.max_flows",
        "expected u32",
    );
    fails(
        &with_daemon("max_flows = -1\n"),
        3,
        "daemon.max_flows",
        "expected u32",
    );
    fails(
        &with_daemon("xdp_mode = \"fast\"\n"),
        3,
        "daemon.xdp_mode",
        "unknown variant `fast`",
    );
    fails(
        &with_daemon("metrics = \"localhost\"\n"),
        3,
        "daemon.metrics",
        "expected an address and port like \"127.0.0.1:9464\" or \"[::1]:9464\", got \"localhost\"",
    );
    fails(
        &with_backend("address = \"203.0.113.300\"\n").replace("address = \"203.0.113.11\"\n", ""),
        12,
        "vip[0].backend[0].address",
        "expected an IP address like \"203.0.113.11\" or \"2001:db8::11\", got \"203.0.113.300\"",
    );
    fails(
        &with_backend("weight = 1.5\n"),
        13,
        "vip[0].backend[0].weight",
        "expected u32",
    );
    let text = with_backend("").replace("port = 80", "port = 70000");
    fails(&text, 7, "vip[0].port", "expected u16");
    let text = with_backend("").replace("\"tcp\"", "\"sctp\"");
    fails(
        &text,
        8,
        "vip[0].protocol",
        "unknown variant `sctp`, expected `tcp` or `udp`",
    );
    fails(&with_daemon("[vip]\nname = \"x\"\n"), 3, "vip", "[[table]]");
}

#[test]
fn unknown_keys() {
    fails(
        &with_daemon("max_vip = 3\n"),
        3,
        "daemon.max_vip",
        "unknown field `max_vip`",
    );
    fails(
        &with_backend("wieght = 2\n"),
        13,
        "vip[0].backend[0].wieght",
        "unknown field `wieght`",
    );
    fails(
        &with_backend("health = { kind = \"tcp\", rise = 2,\n  intreval = \"1s\" }\n"),
        14,
        "vip[0].backend[0].health.intreval",
        "unknown field",
    );
    fails(
        &with_backend("shutdown = { pid = 1, sig = \"TERM\" }\n"),
        13,
        "vip[0].backend[0].shutdown.sig",
        "unknown field `sig`",
    );
    fails(
        &format!("{}[extra]\n", with_daemon("")),
        3,
        "extra",
        "unknown field `extra`",
    );
}

#[test]
fn missing_keys() {
    fails("", 1, "daemon", "required key is missing");
    fails(
        "[daemon]\nxdp_mode = \"auto\"\n",
        1,
        "daemon.interface",
        "required key is missing",
    );
    let text = with_backend("").replace("address = \"203.0.113.11\"\n", "");
    fails(
        &text,
        10,
        "vip[0].backend[0].address",
        "required key is missing",
    );
    fails(
        &with_backend("health = { rise = 2 }\n"),
        13,
        "vip[0].backend[0].health.kind",
        "required key is missing",
    );
}

#[test]
fn bad_names() {
    let expected = "expected a name of 1 to 64 characters from A-Z a-z 0-9 . _ -";
    fails(
        &with_backend("").replace("name = \"web-1\"", "name = \"\""),
        11,
        "vip[0].backend[0].name",
        &format!("{expected}, got \"\""),
    );
    fails(
        &with_backend("").replace("name = \"web-1\"", "name = \"web 1\""),
        11,
        "vip[0].backend[0].name",
        "got \"web 1\"",
    );
    fails(
        &with_backend("").replace("name = \"web\"", "name = \"a/b\""),
        5,
        "vip[0].name",
        expected,
    );
    fails(
        &with_backend("").replace("name = \"web\"", "name = \"wéb\""),
        5,
        "vip[0].name",
        expected,
    );
    let long = "x".repeat(65);
    fails(
        &with_backend("").replace("name = \"web\"", &format!("name = \"{long}\"")),
        5,
        "vip[0].name",
        expected,
    );
    fails(
        &with_daemon("").replace("eth0", "eth0/1"),
        2,
        "daemon.interface",
        "network interface name",
    );
    fails(
        &with_daemon("").replace("eth0", "a-very-long-interface"),
        2,
        "daemon.interface",
        "1 to 15 characters",
    );
}

#[test]
fn durations_and_macs() {
    fails(
        &with_backend("drain_timeout = \"30\"\n"),
        13,
        "vip[0].backend[0].drain_timeout",
        "expected a duration like \"30s\"",
    );
    fails(
        &with_backend("drain_timeout = 30\n"),
        13,
        "vip[0].backend[0].drain_timeout",
        "invalid type: integer `30`, expected a duration like",
    );
    fails(
        &with_backend("drain_timeout = \"0s\"\n"),
        13,
        "vip[0].backend[0].drain_timeout",
        "expected a duration > 0",
    );
    fails(
        &with_daemon("flow_idle_timeout = \"2 m\"\n"),
        3,
        "daemon.flow_idle_timeout",
        "got \"2 m\"",
    );
    fails(
        &with_daemon("udp_idle_timeout = \"0s\"\n"),
        3,
        "daemon.udp_idle_timeout",
        "> 0",
    );
    fails(
        &with_backend("mac = \"02:00:00:00:11\"\n"),
        13,
        "vip[0].backend[0].mac",
        "expected a unicast MAC address like \"02:00:00:00:00:11\"",
    );
    fails(
        &with_backend("mac = \"ff:ff:ff:ff:ff:ff\"\n"),
        13,
        "vip[0].backend[0].mac",
        "group address",
    );
}
