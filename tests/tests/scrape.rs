//! The metrics endpoint of a real daemon, after a drain and a refused reload,
//! parsed by Prometheus' own Python text parser (prometheus_client, in the
//! lab venv): every family has the type its name promises, and the events
//! show up. Run: cargo xtask test -- service_metrics

#[allow(dead_code)]
#[path = "drain/support.rs"]
mod support;

use std::{collections::BTreeMap, io::Write as _, process::Stdio, time::Duration};

use lb_lab::{ConfigSpec, paths};
use serde_json::Value;
use support::{TARGET, drain, lab, start_daemon};

/// Parses the exposition with prometheus_client; prints family -> {type,
/// samples: [[name, labels, value]]}. The parser names a counter's family
/// without `_total`.
const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for f in text_string_to_metric_families(sys.stdin.read()):
    out[f.name] = {"type": f.type, "samples": [[s.name, s.labels, s.value] for s in f.samples]}
print(json.dumps(out))
"#;

fn parse(text: &str) -> BTreeMap<String, Value> {
    let mut child = std::process::Command::new(paths::venv().join("bin/python"))
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the lab venv's python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the scrape: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn value(
    families: &BTreeMap<String, Value>,
    family: &str,
    sample: &str,
    labels: &[(&str, &str)],
) -> f64 {
    families[family]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s[0] == sample && labels.iter().all(|(k, v)| s[1][k] == *v))
        .unwrap_or_else(|| panic!("no {sample}{labels:?} in {:#}", families[family]))[2]
        .as_f64()
        .unwrap()
}

#[test]
// The metrics are whole counts and flags in f64: they compare exactly.
#[allow(clippy::float_cmp)]
fn service_metrics_scrape_parses_with_prometheus_client() {
    let lab = lab("svc-metrics");
    let spec = ConfigSpec {
        metrics: Some("127.0.0.1:9464".parse().unwrap()),
        ..ConfigSpec::default()
    };
    let mut daemon = start_daemon(&lab, &spec);

    // A drain (web-2's Gunicorn gets SIGTERM) and a refused reload.
    let run = drain(&lab, &daemon, &[], Duration::from_secs(40));
    assert_eq!(
        support::exit_code(&run.wait),
        0,
        "{}",
        String::from_utf8_lossy(&run.wait.stderr)
    );
    let good = daemon.config().clone();
    let config_path = daemon.config_path().to_owned();
    std::fs::write(&config_path, "[daemon]\ninterface = 7\n").unwrap();
    let reload = daemon.lb(&["reload"]).unwrap();
    assert_eq!(
        reload.status.code(),
        Some(2),
        "lb reload of a bad config (the unit's ExecReload) must fail: {}",
        String::from_utf8_lossy(&reload.stderr)
    );
    daemon.write_config(&good).unwrap();

    let text = daemon.metrics().unwrap();
    let families = parse(&text);
    let types: BTreeMap<&str, &str> = families
        .iter()
        .map(|(k, v)| (k.as_str(), v["type"].as_str().unwrap()))
        .collect();
    println!("{} families: {types:?}", types.len());
    for (family, kind) in [
        ("lb_build_info", "gauge"),
        ("lb_up", "gauge"),
        ("lb_vip_packets", "counter"),
        ("lb_backend_live_flows", "gauge"),
        ("lb_backend_drain_forced_flows", "counter"),
        ("lb_drains", "counter"),
        ("lb_actions", "counter"),
        ("lb_health_check_failures", "counter"),
        ("lb_health_check_duration_seconds", "histogram"),
        ("lb_config_reloads", "counter"),
        ("lb_config_last_reload_successful", "gauge"),
        ("lb_config_last_reload_success_timestamp_seconds", "gauge"),
        ("lb_flow_table_entries", "gauge"),
        ("lb_flow_table_max_entries", "gauge"),
        ("lb_drain_flows_entries", "gauge"),
        ("lb_drain_flows_max_entries", "gauge"),
        ("process_cpu_seconds", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_start_time_seconds", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
    ] {
        assert_eq!(types.get(family).copied(), Some(kind), "{family}");
    }
    // Conventions: `_total` only on counters (the parser strips it from the
    // family, so a gauge still carrying it would show here).
    for (family, kind) in &types {
        assert!(
            !family.ends_with("_total"),
            "{family} ({kind}) ends in _total"
        );
    }
    assert_eq!(
        value(
            &families,
            "lb_drains",
            "lb_drains_total",
            &[("outcome", "drained")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &families,
            "lb_actions",
            "lb_actions_total",
            &[("kind", "shutdown"), ("result", "ok")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &families,
            "lb_config_reloads",
            "lb_config_reloads_total",
            &[("result", "error")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &families,
            "lb_config_last_reload_successful",
            "lb_config_last_reload_successful",
            &[]
        ),
        0.0
    );
    let checks = value(
        &families,
        "lb_health_check_duration_seconds",
        "lb_health_check_duration_seconds_count",
        &[("backend", "web-1")],
    );
    assert!(checks >= 2.0, "web-1 checked {checks} times");
    assert_eq!(
        value(
            &families,
            "lb_flow_table_max_entries",
            "lb_flow_table_max_entries",
            &[]
        ),
        1_048_576.0
    );
    assert!(
        value(
            &families,
            "process_resident_memory_bytes",
            "process_resident_memory_bytes",
            &[]
        ) > 1e6
    );
    let b = daemon.backend_status(TARGET).unwrap();
    assert_eq!(b["state"], "drained", "{b:#}");
}
