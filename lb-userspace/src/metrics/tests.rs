//! `render` on a sample status, checked line by line.

use super::{exposition::Value as _, *};
use crate::api::{
    test_samples::{backend, sample_status},
    types::DrainStatus,
};

fn sample() -> Status {
    let mut draining = backend("web-2", "203.0.113.12", 2);
    draining.state = "draining".to_owned();
    draining.health = "unknown".to_owned();
    draining.drain = Some(DrainStatus {
        started_at: 0.0,
        elapsed_s: 1.0,
        timeout_s: 30.0,
        initial_flows: 5,
        live_flows: 2,
        signal: crate::api::types::SignalState::Sent,
        outcome: None,
        forced_flows: 7,
        finished_at: None,
        flows_at_exit: 0,
        fleet: None,
    });
    sample_status(vec![backend("web-1", "203.0.113.11", 3), draining])
}

fn lines(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

#[test]
fn global_and_vip_series() {
    let text = render(&sample());
    for line in [
        "# HELP lb_up 1 while the daemon answers.",
        "# TYPE lb_up gauge",
        "lb_up 1",
        "lb_adopted 0",
        "lb_uptime_seconds 12.5",
        "# TYPE lb_passed_packets_total counter",
        "lb_passed_packets_total 99",
        "lb_passed_malformed_total 5",
        r#"lb_vip_repicked_total{vip="web",address="198.51.100.10",port="80",protocol="tcp"} 4"#,
        r#"lb_vip_confirmed_total{vip="web",address="198.51.100.10",port="80",protocol="tcp"} 6"#,
        r#"lb_vip_unrecorded_total{vip="web",address="198.51.100.10",port="80",protocol="tcp"} 7"#,
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert_eq!(
        lines(&text, "lb_vip_drops_total"),
        [
            r#"lb_vip_drops_total{vip="web",address="198.51.100.10",port="80",protocol="tcp",reason="malformed"} 1"#,
            r#"lb_vip_drops_total{vip="web",address="198.51.100.10",port="80",protocol="tcp",reason="fragment"} 2"#,
            r#"lb_vip_drops_total{vip="web",address="198.51.100.10",port="80",protocol="tcp",reason="no_backend"} 3"#,
        ]
    );
}

#[test]
fn backend_series() {
    let text = render(&sample());
    let web2 = r#"vip="web",backend="web-2",address="203.0.113.12""#;
    for line in [
        format!("lb_backend_packets_total{{{web2}}} 1000"),
        format!("lb_backend_bytes_total{{{web2}}} 64000"),
        format!("lb_backend_new_flows_total{{{web2}}} 10"),
        format!("lb_backend_closed_flows_total{{{web2}}} 7"),
        format!("lb_backend_second_chance_total{{{web2}}} 1"),
        format!("lb_backend_live_flows{{{web2}}} 2"),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert_eq!(
        lines(&text, "lb_backend_state{vip=\"web\",backend=\"web-2\""),
        [
            "active 0",
            "draining 1",
            "drained 0",
            "unhealthy 0",
            "down 0"
        ]
        .map(|s| {
            let (state, value) = s.split_once(' ').unwrap();
            format!(r#"lb_backend_state{{{web2},state="{state}"}} {value}"#)
        })
    );
    assert_eq!(
        lines(&text, "lb_backend_health{vip=\"web\",backend=\"web-2\""),
        ["healthy 0", "unhealthy 0", "unknown 1", "unchecked 0"].map(|s| {
            let (health, value) = s.split_once(' ').unwrap();
            format!(r#"lb_backend_health{{{web2},health="{health}"}} {value}"#)
        })
    );
}

#[test]
fn families_are_contiguous_and_typed_once() {
    let text = render_all(&sample(), &snapshot(), Process::read().as_ref());
    let mut seen: Vec<&str> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let sample = line.split(['{', ' ']).next().unwrap();
        // A histogram's series belong to its family.
        let name = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| sample.strip_suffix(suffix))
            .filter(|family| text.contains(&format!("# TYPE {family} histogram")))
            .unwrap_or(sample);
        if seen.last() != Some(&name) {
            assert!(!seen.contains(&name), "{name} is split in two");
            seen.push(name);
        }
    }
    for name in seen {
        let typed = format!("# TYPE {name} ");
        assert_eq!(text.matches(&typed).count(), 1, "{name}");
    }
}

#[test]
fn labels_are_escaped_and_unknown_states_still_show() {
    let mut b = backend("we\"b\\1\nx", "203.0.113.11", 0);
    b.state = "starting".to_owned();
    let text = render(&sample_status(vec![b]));
    let labels = r#"vip="web",backend="we\"b\\1\nx",address="203.0.113.11""#;
    assert!(
        text.contains(&format!("lb_backend_live_flows{{{labels}}} 0\n")),
        "{text}"
    );
    assert!(text.contains(&format!(
        "lb_backend_state{{{labels},state=\"active\"}} 0\n"
    )));
    assert!(text.contains(&format!(
        "lb_backend_state{{{labels},state=\"starting\"}} 1\n"
    )));
}

#[test]
fn floats_render_as_prometheus_reads_them() {
    assert_eq!(f64::NAN.text(), "NaN");
    assert_eq!(f64::INFINITY.text(), "+Inf");
    assert_eq!(0.25.text(), "0.25");
    assert_eq!(3.0.text(), "3");
}

/// Counters as a daemon that drained, forced, ran actions and checked
/// health would have them.
fn snapshot() -> counters::Snapshot {
    let c = counters::Counters::new();
    c.started(1000, 100, "/nonexistent/DRAIN_FLOWS".into());
    c.drain_ended("web-2", "forced", 7);
    c.drain_ended("web-2", "drained", 0);
    c.action("shutdown", true);
    c.action("on_drain", false);
    c.health_check("web-2", std::time::Duration::from_millis(3), true);
    c.health_check("web-2", std::time::Duration::from_millis(700), false);
    c.flow_table(42);
    c.reload(false);
    let mut s = c.snapshot();
    s.drain_flow_entries = Some(5);
    s
}

#[test]
fn daemon_counters_and_build_info() {
    let text = render_all(&sample(), &snapshot(), None);
    let web1 = r#"vip="web",backend="web-1",address="203.0.113.11""#;
    let web2 = r#"vip="web",backend="web-2",address="203.0.113.12""#;
    for line in [
        format!(
            r#"lb_build_info{{version="{}"}} 1"#,
            env!("CARGO_PKG_VERSION")
        ),
        format!("lb_backend_drain_forced_flows_total{{{web2}}} 7"),
        format!("lb_backend_drain_forced_flows_total{{{web1}}} 0"),
        r#"lb_drains_total{outcome="drained"} 1"#.to_owned(),
        r#"lb_drains_total{outcome="forced"} 1"#.to_owned(),
        r#"lb_drains_total{outcome="cancelled"} 0"#.to_owned(),
        r#"lb_actions_total{kind="shutdown",result="ok"} 1"#.to_owned(),
        r#"lb_actions_total{kind="on_drain",result="error"} 1"#.to_owned(),
        format!("lb_health_check_failures_total{{{web2}}} 1"),
        format!("lb_health_check_failures_total{{{web1}}} 0"),
        format!(r#"lb_health_check_duration_seconds_bucket{{{web2},le="0.0025"}} 0"#),
        format!(r#"lb_health_check_duration_seconds_bucket{{{web2},le="0.005"}} 1"#),
        format!(r#"lb_health_check_duration_seconds_bucket{{{web2},le="1"}} 2"#),
        format!(r#"lb_health_check_duration_seconds_bucket{{{web2},le="+Inf"}} 2"#),
        format!("lb_health_check_duration_seconds_count{{{web2}}} 2"),
        r#"lb_config_reloads_total{result="error"} 1"#.to_owned(),
        "lb_config_last_reload_successful 0".to_owned(),
        "lb_flow_table_entries 42".to_owned(),
        "lb_flow_table_max_entries 1000".to_owned(),
        "lb_drain_flows_entries 5".to_owned(),
        "lb_drain_flows_max_entries 100".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert!(text.contains("# TYPE lb_health_check_duration_seconds histogram\n"));
    // No health checks of web-1 yet: no histogram series for it.
    assert!(!text.contains(&format!("lb_health_check_duration_seconds_count{{{web1}}}")));
    assert!(
        !text.contains("process_"),
        "no process given, no process_ series"
    );
}

#[test]
fn only_counters_end_in_total() {
    let text = render_all(&sample(), &snapshot(), Process::read().as_ref());
    assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"));
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let mut words = line.split_whitespace().skip(2);
        let (name, kind) = (words.next().unwrap(), words.next().unwrap());
        assert_eq!(name.ends_with("_total"), kind == "counter", "{line}");
    }
}
