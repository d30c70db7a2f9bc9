//! `render` on a sample status, checked line by line.

use super::*;
use crate::api::fake::{backend, sample_status};
use crate::api::types::DrainStatus;

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
        signal: "sent".to_owned(),
        outcome: None,
        forced_flows: 7,
        finished_at: None,
        flows_at_exit: 0,
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
        format!("lb_backend_drain_forced_flows_total{{{web2}}} 7"),
        r#"lb_backend_drain_forced_flows_total{vip="web",backend="web-1",address="203.0.113.11"} 0"#.to_owned(),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
    assert_eq!(
        lines(&text, "lb_backend_state{vip=\"web\",backend=\"web-2\""),
        ["active 0", "draining 1", "drained 0", "down 0"].map(|s| {
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
    let text = render(&sample());
    let mut seen: Vec<&str> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
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
