//! Unit tests of the daemon's pure logic: state derivation, ids, drain steps,
//! health transitions.

use std::{collections::BTreeMap, path::Path, time::Duration};

use lb_common::{
    addr::v4_mapped,
    backend::{STATE_ACTIVE, STATE_DOWN, STATE_DRAINED, STATE_DRAINING, STATE_UNHEALTHY},
    flow::{FLOW_F_PAYLOAD, FlowInfo, FlowKey},
};

use super::{
    drain::{self, SETTLE_FLOOR},
    health::next_health,
    live::{IdleTimeouts, Tracked, is_live},
    model::{Health, Model},
    persist::{DrainRecord, Persisted},
};
use crate::{
    api::types::{ActionKind as Kind, DrainOutcome, SignalState},
    config::{self, HealthConfig, HealthKind},
};

const CONFIG: &str = r#"
[daemon]
interface = "eth0"

[[vip]]
name = "web"
address = "198.51.100.10"
port = 80
protocol = "tcp"

[[vip.backend]]
name = "web-1"
address = "198.51.100.11"
mac = "02:00:00:00:00:11"

[[vip.backend]]
name = "web-2"
address = "198.51.100.12"
mac = "02:00:00:00:00:12"
shutdown = { signal = "TERM", pid_file = "/run/web-2.pid" }
signal_delay = "1s"
"#;

fn model(text: &str, persisted: Persisted) -> Model {
    let config = config::parse(text, Path::new("test.toml")).expect("valid config");
    Model::new(config, persisted, 8, 16, BTreeMap::new()).expect("ids fit")
}

fn drain_record(timeout_s: f64) -> DrainRecord {
    DrainRecord::new(0.0, Duration::from_secs_f64(timeout_s), false)
}

fn flow(port: u16, flags: u32, created_ns: u64) -> (FlowKey, FlowInfo) {
    (
        FlowKey::new(
            v4_mapped([198, 51, 100, 1]),
            v4_mapped([198, 51, 100, 10]),
            port.to_be(),
            80u16.to_be(),
            6,
        ),
        FlowInfo {
            backend_id: 1,
            flags,
            created_ns,
            last_seen_ns: created_ns,
            ..FlowInfo::default()
        },
    )
}

#[test]
fn kernel_state_follows_admin_drain_health_and_mac() {
    let mut m = model(CONFIG, Persisted::default());
    let b = m.backends.get_mut("web-1").unwrap();
    assert_eq!(b.kernel_state(), STATE_ACTIVE);
    b.health = Health::Unhealthy;
    assert_eq!(
        b.kernel_state(),
        STATE_UNHEALTHY,
        "a failing health check keeps existing flows (not DOWN)"
    );
    b.cfg.health = Some(HealthConfig {
        kind: HealthKind::Tcp,
        path: "/".into(),
        port: None,
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(500),
        rise: 2,
        fall: 3,
        on_unhealthy: crate::config::OnUnhealthy::Move,
    });
    assert_eq!(b.kernel_state(), STATE_DOWN, "on_unhealthy = \"move\"");
    b.cfg.health = None;
    b.drain = Some(drain_record(30.0));
    assert_eq!(
        b.kernel_state(),
        STATE_DRAINING,
        "a draining backend that fails health stays draining"
    );
    b.drain.as_mut().unwrap().outcome = Some(DrainOutcome::Drained);
    assert_eq!(b.kernel_state(), STATE_DRAINED);
    b.disabled = true;
    assert_eq!(b.kernel_state(), STATE_DOWN);
    b.disabled = false;
    b.drain = None;
    b.health = Health::Unknown;
    b.mac = None;
    assert_eq!(b.kernel_state(), STATE_DOWN, "no MAC, no traffic");
    assert!(b.problem().unwrap().contains("198.51.100.11"));
}

#[test]
fn ids_survive_a_reload_and_removed_ids_are_not_reused_at_once() {
    let m1 = model(CONFIG, Persisted::default());
    let id1 = m1.backends["web-1"].id;
    let id2 = m1.backends["web-2"].id;
    assert_ne!(id1, id2);
    // web-1 removed, web-3 added: web-2 keeps its id, web-3 does not get web-1's.
    let text = CONFIG.replace("name = \"web-1\"", "name = \"web-3\"");
    let m2 = model(&text, m1.to_persisted("native"));
    assert_eq!(m2.backends["web-2"].id, id2);
    assert_ne!(m2.backends["web-3"].id, id1);
    assert!(!m2.to_persisted("native").backend_ids.contains_key("web-1"));
}

#[test]
fn drains_and_admin_state_come_back_from_the_state_file() {
    let mut m1 = model(CONFIG, Persisted::default());
    m1.backends.get_mut("web-2").unwrap().drain = Some(drain_record(30.0));
    m1.backends.get_mut("web-1").unwrap().disabled = true;
    let json = serde_json::to_string(&m1.to_persisted("native")).unwrap();
    let m2 = model(CONFIG, serde_json::from_str(&json).unwrap());
    assert_eq!(m2.backends["web-2"].kernel_state(), STATE_DRAINING);
    assert!(m2.backends["web-1"].disabled);
}

#[test]
fn signal_waits_for_the_settle_point_then_goes_once() {
    let mut m = model(CONFIG, Persisted::default());
    let b = m.backends.get_mut("web-2").unwrap();
    b.drain = Some(drain_record(30.0));
    let now = 10_000_000_000;
    // A connection opened just before the flip, no request sent yet.
    let tracked = Tracked::from_flows(1, [flow(40000, 0, now - 1_000_000)]);
    let step = drain::step(b, &tracked, 1, Duration::from_millis(300), now, false);
    assert!(
        step.actions
            .iter()
            .all(|a| !matches!(a.kind, Kind::Shutdown)),
        "not before the settle point"
    );
    // It sent its request and is old enough: the flow table says it is safe.
    let tracked = Tracked::from_flows(
        1,
        [flow(
            40000,
            FLOW_F_PAYLOAD,
            now - SETTLE_FLOOR.as_nanos() as u64,
        )],
    );
    let step = drain::step(b, &tracked, 1, Duration::from_millis(400), now, false);
    assert_eq!(
        step.actions
            .iter()
            .filter(|a| matches!(a.kind, Kind::Shutdown))
            .count(),
        1
    );
    assert_eq!(b.drain.as_ref().unwrap().signal, SignalState::Sent);
    let step = drain::step(b, &tracked, 1, Duration::from_millis(500), now, false);
    assert!(step.actions.is_empty(), "never twice");
}

#[test]
fn signal_goes_after_signal_delay_even_if_the_table_never_settles() {
    let mut m = model(CONFIG, Persisted::default());
    let b = m.backends.get_mut("web-2").unwrap();
    b.drain = Some(drain_record(30.0));
    let now = 10_000_000_000;
    let tracked = Tracked::from_flows(1, [flow(40000, 0, now)]);
    assert!(
        drain::step(b, &tracked, 1, Duration::from_millis(900), now, false)
            .actions
            .is_empty()
    );
    let step = drain::step(b, &tracked, 1, Duration::from_secs(1), now, false);
    assert_eq!(step.actions.len(), 1);
}

#[test]
fn idle_mode_signals_at_zero_and_completes() {
    let text = CONFIG.replace("signal_delay = \"1s\"", "shutdown_when = \"idle\"");
    let mut m = model(&text, Persisted::default());
    let b = m.backends.get_mut("web-2").unwrap();
    b.drain = Some(drain_record(30.0));
    let now = 10_000_000_000;
    let busy = Tracked::from_flows(1, [flow(40000, FLOW_F_PAYLOAD, 0)]);
    let step = drain::step(b, &busy, 1, Duration::from_secs(5), now, false);
    assert!(step.actions.is_empty());
    assert!(b.drain.as_ref().unwrap().outcome.is_none());
    let step = drain::step(
        b,
        &Tracked::default(),
        0,
        Duration::from_secs(6),
        now,
        false,
    );
    assert_eq!(step.actions.len(), 1);
    assert!(step.state_changed);
    assert_eq!(
        b.drain.as_ref().unwrap().outcome,
        Some(DrainOutcome::Drained)
    );
    assert_eq!(b.kernel_state(), STATE_DRAINED);
}

#[test]
fn deadline_forces_the_remaining_flows() {
    let mut m = model(CONFIG, Persisted::default());
    let b = m.backends.get_mut("web-2").unwrap();
    b.drain = Some(DrainRecord {
        no_signal: true,
        ..drain_record(2.0)
    });
    let tracked = Tracked::from_flows(1, [flow(40000, FLOW_F_PAYLOAD, 0), flow(40001, 0, 0)]);
    let step = drain::step(b, &tracked, 2, Duration::from_secs(2), 1, false);
    let d = b.drain.as_ref().unwrap();
    assert_eq!(d.outcome, Some(DrainOutcome::Forced));
    assert_eq!(d.forced_flows, 2);
    assert_eq!(d.signal, SignalState::Skipped);
    assert_eq!(step.forced.len(), 2);
    assert!(step.actions.is_empty(), "--no-signal runs no shutdown");
}

#[test]
fn the_signalled_process_exiting_ends_the_drain_without_forcing() {
    let mut m = model(CONFIG, Persisted::default());
    let b = m.backends.get_mut("web-2").unwrap();
    b.drain = Some(DrainRecord {
        shutdown_done: true,
        signal: SignalState::Sent,
        signalled_pid: Some(4242),
        ..drain_record(30.0)
    });
    // A keep-alive connection the backend reset on shutdown: still counted.
    let tracked = Tracked::from_flows(1, [flow(40000, FLOW_F_PAYLOAD, 0)]);
    let step = drain::step(b, &tracked, 1, Duration::from_secs(3), 1, false);
    assert!(
        b.drain.as_ref().unwrap().outcome.is_none(),
        "process alive: still draining"
    );
    assert!(step.forced.is_empty());
    let step = drain::step(b, &tracked, 1, Duration::from_secs(4), 1, true);
    let d = b.drain.as_ref().unwrap();
    assert_eq!(d.outcome, Some(DrainOutcome::Drained));
    assert_eq!((d.flows_at_exit, d.forced_flows), (1, 0));
    assert_eq!(d.finished_at, Some(4.0));
    assert_eq!(step.forced.len(), 1, "the dead connection's entry goes");
    assert_eq!(b.live_flows, 0);
}

#[test]
fn liveness_ends_with_fin_rst_or_idle_timeout() {
    let idle = IdleTimeouts {
        tcp_ns: 1_000,
        udp_ns: 100,
    };
    let (key, mut info) = flow(40000, 0, 0);
    assert!(is_live(&key, &info, 1_000, idle));
    assert!(!is_live(&key, &info, 1_001, idle));
    info.flags = lb_common::flow::FLOW_F_FIN;
    assert!(!is_live(&key, &info, 0, idle));
    info.flags = lb_common::flow::FLOW_F_RST;
    assert!(!is_live(&key, &info, 0, idle));
    let mut udp = key;
    udp.proto = lb_common::vip::PROTO_UDP;
    assert!(!is_live(&udp, &FlowInfo::default(), 101, idle));
}

#[test]
fn health_needs_fall_failures_and_rise_successes() {
    let cfg = HealthConfig {
        kind: HealthKind::Tcp,
        path: "/".into(),
        port: None,
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(500),
        rise: 2,
        fall: 3,
        on_unhealthy: crate::config::OnUnhealthy::Keep,
    };
    assert_eq!(next_health(Health::Unknown, 0, 2, &cfg), Health::Unknown);
    assert_eq!(next_health(Health::Unknown, 0, 3, &cfg), Health::Unhealthy);
    assert_eq!(
        next_health(Health::Unhealthy, 1, 0, &cfg),
        Health::Unhealthy
    );
    assert_eq!(next_health(Health::Unhealthy, 2, 0, &cfg), Health::Healthy);
    assert_eq!(next_health(Health::Healthy, 0, 3, &cfg), Health::Unhealthy);
}

#[test]
fn the_shipped_example_config_is_valid() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../dist/lb.example.toml"
    ));
    let config = config::load(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.vips[0].backends.len(), 3);
}

#[test]
fn a_collection_for_a_cancelled_drain_is_forgotten_not_followed() {
    use super::state::Work;
    let mut state = crate::api::test_daemon::state(CONFIG);
    let work = state.start_drain("web-2", None, true).unwrap();
    let collect = work.iter().find_map(|w| match w {
        Work::Collect { started_at, .. } => Some(*started_at),
        _ => None,
    });
    let started_at = collect.expect("the drain asks for its flows");
    assert!(state.collecting.contains("web-2"));
    // Cancelled before the pass over the table came back.
    state.enable("web-2").unwrap();
    let (key, info) = flow(40000, FLOW_F_PAYLOAD, 0);
    let late = state.collected("web-2", started_at, Tracked::from_flows(1, [(key, info)]));
    assert!(matches!(late.as_slice(), [Work::Forget(keys)] if keys == &[key]));
    assert!(state.tracked.is_empty());
    assert_eq!(state.model.backends["web-2"].kernel_state(), STATE_ACTIVE);
}

#[test]
fn a_second_drain_request_changes_nothing() {
    let mut state = crate::api::test_daemon::state(CONFIG);
    state
        .start_drain("web-2", Some(Duration::from_secs(5)), false)
        .unwrap();
    let first = state.model.backends["web-2"].drain.clone().unwrap();
    let again = state
        .start_drain("web-2", Some(Duration::from_mins(1)), true)
        .unwrap();
    assert!(again.is_empty(), "no work, no second action");
    assert_eq!(state.model.backends["web-2"].drain.as_ref(), Some(&first));
}

#[test]
fn enable_after_an_http_notice_undoes_it_with_delete() {
    let with_notice = CONFIG.replace(
        "signal_delay = \"1s\"",
        "signal_delay = \"1s\"\non_drain = { http = \"http://198.51.100.12:8000/lb/drain\" }",
    );
    let mut m = model(&with_notice, Persisted::default());
    let b = m.backends.get_mut("web-2").unwrap();
    assert!(drain::undo_notice(b).is_none(), "no drain: nothing to undo");
    b.drain = Some(drain_record(30.0));
    assert!(
        drain::undo_notice(b).is_none(),
        "the notice was not sent yet: nothing to undo"
    );
    let sent = drain::notice(b);
    assert_eq!(sent.actions.len(), 1);
    let undo = drain::undo_notice(b).expect("an HTTP notice went out");
    assert_eq!(undo.kind, Kind::OnDrainUndo);
    assert_eq!(
        undo.action,
        config::Action::Http {
            url: "http://198.51.100.12:8000/lb/drain".into(),
            method: "DELETE".into(),
        }
    );
    // A signal notice has no generic undo.
    let mut m = model(
        &CONFIG.replace(
            "signal_delay = \"1s\"",
            "signal_delay = \"1s\"\non_drain = { signal = \"USR1\", pid_file = \"/run/web-2.pid\" }",
        ),
        Persisted::default(),
    );
    let b = m.backends.get_mut("web-2").unwrap();
    b.drain = Some(drain_record(30.0));
    drain::notice(b);
    assert!(drain::undo_notice(b).is_none());
}
