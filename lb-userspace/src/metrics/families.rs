//! The families that come from the daemon's own counters and the process,
//! not from the BPF maps: build info, drains, actions, health checks,
//! reloads, table occupancy, and `process_*`.

use super::{
    backend_labels,
    counters::{DRAIN_OUTCOMES, HEALTH_BUCKETS, Snapshot},
    exposition::Exposition,
    process::Process,
};
use crate::api::types::{BackendStatus, Status};

pub fn render(out: &mut Exposition, status: &Status, s: &Snapshot, process: Option<&Process>) {
    out.family(
        "lb_build_info",
        "gauge",
        "Always 1; the labels say which lb this is.",
    );
    out.sample(
        "lb_build_info",
        &[("version", env!("CARGO_PKG_VERSION").to_owned())],
        1u64,
    );

    let backends: Vec<&BackendStatus> = status.vips.iter().flat_map(|v| &v.backends).collect();
    out.family(
        "lb_backend_drain_forced_flows_total",
        "counter",
        "Connections still live at a drain's deadline and forced off, over every drain.",
    );
    for b in &backends {
        let forced = s.forced_flows.get(&b.name).copied().unwrap_or(0);
        out.sample(
            "lb_backend_drain_forced_flows_total",
            &backend_labels(b),
            forced,
        );
    }
    out.family(
        "lb_drains_total",
        "counter",
        "Drains that ended, by outcome (drained, forced at the deadline, cancelled by enable or disable).",
    );
    for (outcome, n) in DRAIN_OUTCOMES.iter().zip(s.drains) {
        out.sample("lb_drains_total", &[("outcome", (*outcome).to_owned())], n);
    }
    out.family(
        "lb_actions_total",
        "counter",
        "Shutdown and on_drain actions run, by kind and result.",
    );
    for ((kind, ok), n) in &s.actions {
        let result = if *ok { "ok" } else { "error" };
        let labels = [("kind", kind.clone()), ("result", result.to_owned())];
        out.sample("lb_actions_total", &labels, *n);
    }

    health(out, &backends, s);

    out.family(
        "lb_config_reloads_total",
        "counter",
        "Config reloads (lb reload, SIGHUP), by result.",
    );
    for (result, n) in [("ok", s.reloads_ok), ("error", s.reloads_failed)] {
        out.sample(
            "lb_config_reloads_total",
            &[("result", result.to_owned())],
            n,
        );
    }
    out.single(
        "lb_config_last_reload_successful",
        "gauge",
        "1 if the last config load (start or reload) succeeded, else 0.",
        u64::from(s.last_reload_ok),
    );
    out.single(
        "lb_config_last_reload_success_timestamp_seconds",
        "gauge",
        "Unix time of the last successful config load (start or reload).",
        s.last_reload_ok_at,
    );

    out.single(
        "lb_flow_table_entries",
        "gauge",
        "Entries in the flow table (FLOWS) at its last whole-table count.",
        s.flow_entries,
    );
    out.single(
        "lb_flow_table_max_entries",
        "gauge",
        "Size of the flow table (an LRU: when full, the least recent flow goes).",
        s.tables.max_flows,
    );
    if let Some(n) = s.drain_flow_entries {
        out.single(
            "lb_drain_flows_entries",
            "gauge",
            "Connections of draining backends recorded in DRAIN_FLOWS.",
            n,
        );
    }
    out.single(
        "lb_drain_flows_imported",
        "gauge",
        "Connections recorded in DRAIN_FLOWS from other nodes' drain sets (a fleet), for the drains running here.",
        s.drain_flows_imported,
    );
    out.single(
        "lb_drain_flows_max_entries",
        "gauge",
        "Size of DRAIN_FLOWS (when full, further connections rely on the flow table alone).",
        s.tables.max_drain_flows,
    );

    if let Some(p) = process {
        process_families(out, p);
    }
}

fn health(out: &mut Exposition, backends: &[&BackendStatus], s: &Snapshot) {
    out.family(
        "lb_health_check_failures_total",
        "counter",
        "Health checks that failed (refused, timed out or not 2xx).",
    );
    for b in backends {
        let failures = s.health.get(&b.name).map_or(0, |h| h.failures);
        out.sample(
            "lb_health_check_failures_total",
            &backend_labels(b),
            failures,
        );
    }
    let name = "lb_health_check_duration_seconds";
    out.family(
        name,
        "histogram",
        "How long health checks took, passing or not.",
    );
    for b in backends {
        let Some(h) = s.health.get(&b.name) else {
            continue;
        };
        let mut cumulative = 0;
        for (le, n) in HEALTH_BUCKETS.iter().zip(h.buckets) {
            cumulative += n;
            let mut labels = backend_labels(b);
            labels.push(("le", le.to_string()));
            out.sample(&format!("{name}_bucket"), &labels, cumulative);
        }
        let mut labels = backend_labels(b);
        labels.push(("le", "+Inf".to_owned()));
        out.sample(&format!("{name}_bucket"), &labels, h.count);
        out.sample(&format!("{name}_sum"), &backend_labels(b), h.sum_seconds);
        out.sample(&format!("{name}_count"), &backend_labels(b), h.count);
    }
}

fn process_families(out: &mut Exposition, p: &Process) {
    out.single(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        p.cpu_seconds,
    );
    out.single(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        p.resident_bytes,
    );
    out.single(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        p.virtual_bytes,
    );
    out.single(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        p.start_time_seconds,
    );
    out.single(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        p.open_fds,
    );
    out.single(
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        p.max_fds,
    );
    out.single(
        "process_threads",
        "gauge",
        "Number of OS threads in the process.",
        p.threads,
    );
}
