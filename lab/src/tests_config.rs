//! Unit tests of config.rs: the TOML the lab writes for the daemon.

use super::*;

#[test]
fn durations_in_lb_syntax() {
    assert_eq!(dur(Duration::from_secs(30)), "30s");
    assert_eq!(dur(Duration::from_millis(1500)), "1500ms");
    assert_eq!(dur(Duration::from_millis(0)), "0s");
}

#[test]
fn toml_has_contract_shape() {
    let spec = ConfigSpec {
        backend: BackendOpts {
            on_drain: true,
            ..BackendOpts::default()
        },
        ..ConfigSpec::default()
    };
    let cfg = LbConfig {
        daemon: DaemonSection {
            interface: "lab-lb".into(),
            xdp_mode: "generic".into(),
            socket: "/tmp/x/lb.sock".into(),
            pin_root: "/sys/fs/bpf/t".into(),
            state_file: "/tmp/x/s.json".into(),
            metrics: None,
            flow_idle_timeout: None,
            max_flows: Some(4096),
            maglev_size: None,
            nat_source: None,
        },
        vip: vec![VipSection {
            name: "web".into(),
            address: "198.51.100.10".into(),
            port: 80,
            protocol: "tcp".into(),
            forward: None,
            backend: vec![section(
                &spec,
                "web-1",
                "198.51.100.11",
                None,
                "02:00:00:00:00:11",
                Path::new("/tmp/x/web-1.pid"),
            )],
        }],
        cluster: None,
    };
    let text = cfg.to_toml().unwrap();
    let back: toml::Value = toml::from_str(&text).unwrap();
    let b = &back["vip"][0]["backend"][0];
    assert_eq!(b["name"].as_str(), Some("web-1"));
    assert_eq!(b["health"]["interval"].as_str(), Some("500ms"));
    assert_eq!(b["shutdown"]["signal"].as_str(), Some("TERM"));
    assert_eq!(
        b["on_drain"]["http"].as_str(),
        Some("http://198.51.100.11:80/lb/drain")
    );
    assert_eq!(back["daemon"]["max_flows"].as_integer(), Some(4096));
}

#[test]
fn a_nat_backend_has_its_port_and_no_mac() {
    let spec = ConfigSpec {
        backend: BackendOpts {
            on_drain: true,
            ..BackendOpts::default()
        },
        ..ConfigSpec::default()
    };
    let b = section(
        &spec,
        "web-1",
        "198.51.100.11",
        Some(8000),
        "02:00:00:00:00:11",
        Path::new("/tmp/x/web-1.pid"),
    );
    let v: toml::Value = toml::from_str(&toml::to_string(&b).unwrap()).unwrap();
    assert_eq!(v["port"].as_integer(), Some(8000));
    assert!(v.get("mac").is_none());
    assert_eq!(
        v["on_drain"]["http"].as_str(),
        Some("http://198.51.100.11:8000/lb/drain")
    );
}
