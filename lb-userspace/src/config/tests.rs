//! Valid configs: the contract's example, defaults, IPv6, actions.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use super::*;

/// The contract's example config, verbatim: outside tests and users start
/// from it, so it must always parse (docs/config.md documents each key).
pub(super) const DESIGN_EXAMPLE: &str = r#"[daemon]
interface = "eth0"            # NIC to attach to
xdp_mode = "auto"             # auto | native | generic
socket = "/run/lb/lb.sock"
pin_root = "/sys/fs/bpf/lb"   # optional: bpffs dir for pinned maps and link (one subdir per interface)
metrics = "127.0.0.1:9464"    # optional
flow_idle_timeout = "120s"

[[vip]]
name = "web"
address = "198.51.100.10"     # IPv4 or IPv6
port = 80
protocol = "tcp"              # tcp | udp

[[vip.backend]]
name = "web-1"
address = "203.0.113.11"
mac = "02:00:00:00:00:11"     # optional: else resolved from the neighbour table
weight = 1                    # optional
drain_timeout = "30s"         # optional
health = { kind = "http", path = "/health", interval = "1s", timeout = "500ms", rise = 2, fall = 3 }
shutdown = { signal = "TERM", pid_file = "/run/web-1.pid" }
# shutdown = { command = ["ssh", "web-1", "systemctl", "stop", "app"] }
# shutdown = { http = "http://203.0.113.11:9000/shutdown" }
shutdown_when = "start"       # start (after signal_delay) | idle (live flows = 0)
signal_delay = "1s"           # optional: let connections opened just before the flip settle
# on_drain = { http = "http://203.0.113.11:9000/drain" }  # optional notice at drain start
"#;

pub(super) fn ok(text: &str) -> Config {
    parse(text, Path::new("/etc/lb.toml")).unwrap_or_else(|e| panic!("{e}"))
}

const MINIMAL: &str = "[daemon]\ninterface = \"eth0\"\n";

#[test]
fn design_example() {
    let c = ok(DESIGN_EXAMPLE);
    let d = &c.daemon;
    assert_eq!(d.interface, "eth0");
    assert_eq!(d.xdp_mode, XdpMode::Auto);
    assert_eq!(d.socket, PathBuf::from("/run/lb/lb.sock"));
    assert_eq!(d.pin_root, PathBuf::from("/sys/fs/bpf/lb"));
    assert_eq!(d.metrics, Some("127.0.0.1:9464".parse().unwrap()));
    assert_eq!(d.flow_idle_timeout, Duration::from_mins(2));
    assert_eq!(c.vips.len(), 1);
    let v = &c.vips[0];
    assert_eq!(v.name, "web");
    assert_eq!(v.address, "198.51.100.10".parse::<IpAddr>().unwrap());
    assert_eq!((v.port, v.protocol), (80, Protocol::Tcp));
    let expected = BackendConfig {
        name: "web-1".into(),
        address: "203.0.113.11".parse().unwrap(),
        port: 80,
        mac: Some([0x02, 0, 0, 0, 0, 0x11]),
        weight: 1,
        drain_timeout: Duration::from_secs(30),
        health: Some(HealthConfig {
            kind: HealthKind::Http,
            path: "/health".into(),
            port: None,
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            rise: 2,
            fall: 3,
            on_unhealthy: OnUnhealthy::Keep,
        }),
        shutdown: Some(Action::Signal {
            signal: Signal::Term,
            target: PidSource::PidFile("/run/web-1.pid".into()),
        }),
        shutdown_when: ShutdownWhen::Start,
        signal_delay: Duration::from_secs(1),
        on_drain: None,
    };
    assert_eq!(v.backends, vec![expected]);
    let (vip, b) = c.backend("web-1").unwrap();
    assert_eq!(
        (vip.name.as_str(), b.health.as_ref().unwrap().port_for(b)),
        ("web", 80)
    );
    assert!(c.backend("web-2").is_none());
}

#[test]
fn defaults() {
    let c = ok(MINIMAL);
    let d = c.daemon;
    assert_eq!(d.xdp_mode, XdpMode::Auto);
    assert_eq!(d.socket, PathBuf::from("/run/lb/lb.sock"));
    assert_eq!(d.pin_root, PathBuf::from("/sys/fs/bpf/lb"));
    assert_eq!(d.metrics, None);
    assert_eq!(d.flow_idle_timeout, Duration::from_mins(2));
    assert_eq!(d.udp_idle_timeout, Duration::from_secs(30));
    assert_eq!(d.max_flows, 1 << 20);
    assert_eq!(d.max_vips, 64);
    assert_eq!(d.max_backends, 1024);
    assert_eq!(d.maglev_size, 65537);
    assert_eq!(d.state_file, PathBuf::from("/var/lib/lb/eth0/state.json"));
    assert_eq!(d.health_concurrency, 64);
    assert!(c.vips.is_empty());

    let c = ok(&format!(
        "{MINIMAL}[[vip]]\nname = \"v\"\naddress = \"192.0.2.1\"\nport = 53\nprotocol = \"udp\"\n\
         [[vip.backend]]\nname = \"b\"\naddress = \"192.0.2.2\"\nhealth = {{ kind = \"tcp\" }}\n"
    ));
    let b = &c.vips[0].backends[0];
    assert_eq!(b.mac, None);
    assert_eq!(b.weight, 1);
    assert_eq!(b.drain_timeout, Duration::from_secs(30));
    assert_eq!(b.shutdown, None);
    assert_eq!(b.shutdown_when, ShutdownWhen::Start);
    assert_eq!(b.signal_delay, Duration::from_secs(1));
    assert_eq!(b.on_drain, None);
    let h = b.health.as_ref().unwrap();
    assert_eq!(h.kind, HealthKind::Tcp);
    assert_eq!(h.path, "/health");
    assert_eq!(
        (h.port_for(b), h.interval, h.timeout),
        (53, Duration::from_secs(1), Duration::from_millis(500))
    );
    assert_eq!((h.rise, h.fall), (2, 3));
}

#[test]
fn everything_set() {
    let c = ok(r#"
[daemon]
interface = "enp3s0"
xdp_mode = "native"
socket = "/tmp/lb.sock"
pin_root = "/sys/fs/bpf/other"
metrics = "[::1]:9464"
flow_idle_timeout = "1.5m"
udp_idle_timeout = "10s"
max_flows = 1000
max_vips = 2
max_backends = 4
maglev_size = 251
state_file = "/tmp/state.json"
health_concurrency = 8

[[vip]]
name = "dns6"
address = "2001:db8::53"
port = 53
protocol = "udp"

[[vip.backend]]
name = "ns-1"
address = "2001:db8::1"
weight = 1000
drain_timeout = "2h"
health = { kind = "http", path = "/ready?x=1", port = 8080, interval = "2s", timeout = "3s", rise = 1, fall = 1, on_unhealthy = "move" }
shutdown = { command = ["ssh", "ns-1", "systemctl", "stop", "app"] }
shutdown_when = "idle"
signal_delay = "0s"
on_drain = { http = "http://[2001:db8::1]:9000/drain", method = "put" }

[[vip.backend]]
name = "ns_2.b"
address = "2001:db8::2"
shutdown = { signal = "SIGUSR2", pid = 4242 }
on_drain = { http = "http://203.0.113.11:9000/drain" }
"#);
    let d = &c.daemon;
    assert_eq!(d.xdp_mode, XdpMode::Native);
    assert_eq!(d.metrics, Some("[::1]:9464".parse().unwrap()));
    assert_eq!(d.flow_idle_timeout, Duration::from_secs(90));
    assert_eq!(
        (d.max_flows, d.max_vips, d.max_backends, d.maglev_size),
        (1000, 2, 4, 251)
    );
    assert_eq!(d.health_concurrency, 8);
    let v = &c.vips[0];
    assert_eq!(v.address, "2001:db8::53".parse::<IpAddr>().unwrap());
    assert_eq!(v.protocol, Protocol::Udp);
    assert_eq!(v.protocol.number(), 17);
    let [b1, b2] = &v.backends[..] else { panic!() };
    assert_eq!(b1.weight, 1000);
    assert_eq!(b1.drain_timeout, Duration::from_hours(2));
    let h = b1.health.as_ref().unwrap();
    assert_eq!(
        (h.path.as_str(), h.port_for(b1), h.timeout),
        ("/ready?x=1", 8080, Duration::from_secs(3))
    );
    assert_eq!(h.on_unhealthy, OnUnhealthy::Move);
    assert_eq!(
        b1.shutdown,
        Some(Action::Command {
            argv: ["ssh", "ns-1", "systemctl", "stop", "app"]
                .map(String::from)
                .to_vec()
        })
    );
    assert_eq!(b1.shutdown_when, ShutdownWhen::Idle);
    assert_eq!(b1.signal_delay, Duration::ZERO);
    assert_eq!(
        b1.on_drain,
        Some(Action::Http {
            url: "http://[2001:db8::1]:9000/drain".into(),
            method: "PUT".into()
        })
    );
    assert_eq!(
        b2.shutdown,
        Some(Action::Signal {
            signal: Signal::Usr2,
            target: PidSource::Pid(4242)
        })
    );
    assert_eq!(
        b2.on_drain,
        Some(Action::Http {
            url: "http://203.0.113.11:9000/drain".into(),
            method: "POST".into()
        })
    );
}

#[test]
fn signals() {
    for (name, sig, num) in [
        ("TERM", Signal::Term, libc::SIGTERM),
        ("SIGTERM", Signal::Term, libc::SIGTERM),
        ("INT", Signal::Int, libc::SIGINT),
        ("QUIT", Signal::Quit, libc::SIGQUIT),
        ("HUP", Signal::Hup, libc::SIGHUP),
        ("KILL", Signal::Kill, libc::SIGKILL),
        ("USR1", Signal::Usr1, libc::SIGUSR1),
        ("SIGUSR2", Signal::Usr2, libc::SIGUSR2),
    ] {
        let c = ok(&format!(
            "{MINIMAL}[[vip]]\nname = \"v\"\naddress = \"192.0.2.1\"\nport = 80\nprotocol = \"tcp\"\n\
             [[vip.backend]]\nname = \"b\"\naddress = \"192.0.2.2\"\nshutdown = {{ signal = \"{name}\", pid = 7 }}\n"
        ));
        let Some(Action::Signal { signal, .. }) = c.vips[0].backends[0].shutdown else {
            panic!()
        };
        assert_eq!((signal, signal.number()), (sig, num), "{name}");
    }
    assert_eq!(Signal::from_name("term"), None);
    assert_eq!(Signal::Term.to_string(), "SIGTERM");
}

#[test]
fn vip_without_backends_and_same_address_other_port() {
    let c = ok(&format!(
        "{MINIMAL}[[vip]]\nname = \"a\"\naddress = \"192.0.2.1\"\nport = 80\nprotocol = \"tcp\"\n\
         [[vip]]\nname = \"b\"\naddress = \"192.0.2.1\"\nport = 80\nprotocol = \"udp\"\n\
         [[vip]]\nname = \"c\"\naddress = \"192.0.2.1\"\nport = 443\nprotocol = \"tcp\"\n"
    ));
    assert_eq!(c.vips.len(), 3);
    assert!(c.vips.iter().all(|v| v.backends.is_empty()));
    assert_eq!(c.vip("b").map(|v| v.protocol), Some(Protocol::Udp));
}

#[test]
fn load_reads_files_and_names_them() {
    let dir = std::env::temp_dir().join(format!("lb-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, DESIGN_EXAMPLE).unwrap();
    assert_eq!(load(&good).unwrap(), ok(DESIGN_EXAMPLE));
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[daemon]\ninterface = \"eth0\"\nbogus = 1\n").unwrap();
    let e = load(&bad).unwrap_err();
    let prefix = format!(
        "config error: {}:3: key `daemon.bogus`: unknown field `bogus`",
        bad.display()
    );
    assert!(e.to_string().starts_with(&prefix), "{e}");
    assert_eq!(
        (e.line(), e.key(), e.exit_code()),
        (Some(3), Some("daemon.bogus"), 2)
    );
    let missing = dir.join("missing.toml");
    let e = load(&missing).unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "config error: {}: cannot read: ",
            missing.display()
        )),
        "{e}"
    );
    assert_eq!((e.line(), e.exit_code()), (None, 2));
    std::fs::remove_dir_all(&dir).unwrap();
}
