//! `lb check`'s host checks, against a fake host and real temp files.

use std::{
    net::IpAddr,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
};

use super::{Host, Summary, check};
use crate::config::ConfigError;

struct FakeHost {
    interfaces: &'static [&'static str],
    addresses: Vec<IpAddr>,
    bpffs: bool,
    forwarding: bool,
}

impl Default for FakeHost {
    fn default() -> Self {
        Self {
            interfaces: &["lo", "eth0"],
            addresses: vec!["127.0.0.1".parse().unwrap(), "192.0.2.7".parse().unwrap()],
            bpffs: true,
            forwarding: true,
        }
    }
}

impl Host for FakeHost {
    fn interface_exists(&self, name: &str) -> bool {
        self.interfaces.contains(&name)
    }
    fn local_addresses(&self) -> Vec<IpAddr> {
        self.addresses.clone()
    }
    fn forwarding(&self, _: &str, _: bool) -> Option<bool> {
        Some(self.forwarding)
    }
    fn ephemeral_ports(&self) -> (u16, u16) {
        (32768, 60999)
    }
    fn interface_addresses(&self, name: &str) -> Vec<IpAddr> {
        if name == "eth0" {
            self.addresses[1..].to_vec()
        } else {
            Vec::new()
        }
    }
    fn on_bpffs(&self, _: &Path) -> bool {
        self.bpffs
    }
}

/// A private scratch directory holding `lb.toml` with `text`.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, text: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("lb-refs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("run")).unwrap();
        for d in [&dir, &dir.join("run")] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let s = Self(dir);
        let text = text.replace("@DIR@", s.0.to_str().unwrap());
        std::fs::write(s.config(), text).unwrap();
        std::fs::set_permissions(s.config(), std::fs::Permissions::from_mode(0o644)).unwrap();
        s
    }
    fn config(&self) -> PathBuf {
        self.0.join("lb.toml")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const GOOD: &str = "[daemon]\ninterface = \"eth0\"\nmetrics = \"127.0.0.1:9464\"\n\n\
[[vip]]\nname = \"web\"\naddress = \"198.51.100.10\"\nport = 80\nprotocol = \"tcp\"\n\n\
[[vip.backend]]\nname = \"web-1\"\naddress = \"203.0.113.11\"\n\
shutdown = { signal = \"TERM\", pid_file = \"@DIR@/run/web-1.pid\" }\n\n\
[[vip.backend]]\nname = \"web-2\"\naddress = \"203.0.113.12\"\n";

fn invalid(e: ConfigError) -> (usize, String, String) {
    match e {
        ConfigError::Invalid {
            line, key, message, ..
        } => (line, key, message),
        other => panic!("expected a located error, got {other}"),
    }
}

#[test]
fn a_good_config_passes_with_a_summary() {
    let s = Scratch::new("good", GOOD);
    let (_, summary) = check(&s.config(), &FakeHost::default()).unwrap();
    assert_eq!(
        summary,
        Summary {
            interface: "eth0".into(),
            vips: 1,
            backends: 2
        }
    );
}

#[test]
fn a_missing_interface_names_line_and_key() {
    let s = Scratch::new("iface", GOOD);
    let host = FakeHost {
        interfaces: &["lo"],
        ..FakeHost::default()
    };
    let (line, key, message) = invalid(check(&s.config(), &host).unwrap_err());
    assert_eq!((line, key.as_str()), (2, "daemon.interface"));
    assert!(
        message.contains("no network interface \"eth0\""),
        "{message}"
    );
}

#[test]
fn a_pin_root_off_bpffs_is_refused() {
    let s = Scratch::new("bpffs", GOOD);
    let host = FakeHost {
        bpffs: false,
        ..FakeHost::default()
    };
    let (line, key, message) = invalid(check(&s.config(), &host).unwrap_err());
    // Not written in the file: the error points at [daemon].
    assert_eq!((line, key.as_str()), (1, "daemon.pin_root"));
    assert!(message.contains("not on a bpffs"), "{message}");
}

#[test]
fn a_metrics_address_this_host_lacks_is_refused() {
    let text = GOOD.replace("127.0.0.1:9464", "198.51.100.99:9464");
    let s = Scratch::new("metrics", &text);
    let (line, key, message) = invalid(check(&s.config(), &FakeHost::default()).unwrap_err());
    assert_eq!((line, key.as_str()), (3, "daemon.metrics"));
    assert!(
        message.contains("198.51.100.99 is not an address"),
        "{message}"
    );
    for ok in ["0.0.0.0:9464", "[::]:9464", "192.0.2.7:9100"] {
        let s = Scratch::new("metrics-ok", &GOOD.replace("127.0.0.1:9464", ok));
        check(&s.config(), &FakeHost::default()).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    let s = Scratch::new("metrics-0", &GOOD.replace("127.0.0.1:9464", "127.0.0.1:0"));
    let (_, key, message) = invalid(check(&s.config(), &FakeHost::default()).unwrap_err());
    assert_eq!(key, "daemon.metrics");
    assert!(message.contains("fixed port"), "{message}");
}

#[test]
fn pid_files_must_be_in_a_sane_directory_and_not_symlinks() {
    let key = "vip[0].backend[0].shutdown.pid_file";
    // Missing directory.
    let s = Scratch::new("piddir", &GOOD.replace("/run/web-1.pid", "/nope/web-1.pid"));
    let (line, k, message) = invalid(check(&s.config(), &FakeHost::default()).unwrap_err());
    assert_eq!((line, k.as_str()), (14, key));
    assert!(message.contains("cannot be read"), "{message}");
    // A directory anyone can write.
    let s = Scratch::new("pidmode", GOOD);
    let run = s.0.join("run");
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o777)).unwrap();
    let (_, k, message) = invalid(check(&s.config(), &FakeHost::default()).unwrap_err());
    assert_eq!(k, key);
    assert!(
        message.contains("writable by others (mode 0777)"),
        "{message}"
    );
    // Sticky (like /tmp) is fine.
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o1777)).unwrap();
    check(&s.config(), &FakeHost::default()).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A symlink instead of the file.
    std::os::unix::fs::symlink("/etc/hostname", run.join("web-1.pid")).unwrap();
    let (_, k, message) = invalid(check(&s.config(), &FakeHost::default()).unwrap_err());
    assert_eq!(k, key);
    assert!(message.contains("is a symlink"), "{message}");
    // The real file is fine.
    std::fs::remove_file(run.join("web-1.pid")).unwrap();
    std::fs::write(run.join("web-1.pid"), "4242\n").unwrap();
    check(&s.config(), &FakeHost::default()).unwrap();
}

#[test]
fn an_untrusted_config_is_refused_before_it_is_read() {
    let s = Scratch::new("trust", GOOD);
    std::fs::set_permissions(s.config(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let e = check(&s.config(), &FakeHost::default()).unwrap_err();
    assert!(matches!(e, ConfigError::Untrusted { .. }), "{e}");
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("refused: writable by others"), "{e}");
    // The daemon's loader refuses it the same way.
    let e = crate::config::load(&s.config()).unwrap_err();
    assert!(matches!(e, ConfigError::Untrusted { .. }), "{e}");
}

#[test]
fn a_nat_source_off_the_interface_is_refused_by_check_and_by_the_daemon_load() {
    // 192.0.2.7 is eth0's (see FakeHost); 127.0.0.1 is this host's, not eth0's.
    let nat = |source: &str| {
        GOOD.replace(
            "metrics = \"127.0.0.1:9464\"\n",
            &format!("nat_source = \"{source}\"\n"),
        )
        .replace(
            "protocol = \"tcp\"\n",
            "protocol = \"tcp\"\nforward = \"nat\"\n",
        )
    };
    let s = Scratch::new("nat-off", &nat("127.0.0.1"));
    let (line, key, message) = invalid(check(&s.config(), &FakeHost::default()).unwrap_err());
    assert_eq!((line, key.as_str()), (3, "daemon.nat_source"));
    assert!(
        message.contains("127.0.0.1 is not an address of interface eth0"),
        "{message}"
    );
    let e = super::load_on_host(&s.config(), &FakeHost::default()).unwrap_err();
    assert_eq!(
        (e.line(), e.key(), e.exit_code()),
        (Some(3), Some("daemon.nat_source"), 2)
    );
    let s = Scratch::new("nat-on", &nat("192.0.2.7"));
    let (config, _) = check(&s.config(), &FakeHost::default()).unwrap();
    assert_eq!(
        config.nat.sources,
        vec!["192.0.2.7".parse::<IpAddr>().unwrap()]
    );
    let config = super::load_on_host(&s.config(), &FakeHost::default()).unwrap();
    assert_eq!(
        config.nat.sources,
        vec!["192.0.2.7".parse::<IpAddr>().unwrap()]
    );
    // Forwarding off on the interface: the FIB would drop every translated packet.
    let off = FakeHost {
        forwarding: false,
        ..FakeHost::default()
    };
    let (line, key, message) = invalid(check(&s.config(), &off).unwrap_err());
    assert_eq!((line, key.as_str()), (10, "vip[0].forward"));
    assert!(
        message.contains("sysctl -w net.ipv4.conf.eth0.forwarding=1"),
        "{message}"
    );
    let e = super::load_on_host(&s.config(), &off).unwrap_err();
    assert_eq!(e.key(), Some("vip[0].forward"));
}
