//! The human-readable output of each command (`--json` prints the API body
//! instead, see `mod.rs`).

use std::fmt::Write as _;

use super::table::{Table, cut, endpoint, rate, secs};
use crate::api::types::{
    ActionOutcome, BackendStatus, DrainOutcome, DrainStatus, FlowView, ReloadReport, Status,
    TeardownReport, VipStatus,
};

pub fn status(s: &Status) -> String {
    let mut out = String::new();
    let adopted = if s.adopted { ", adopted" } else { "" };
    let program = match (&s.previous_program_tag, s.program_at_start.as_str()) {
        (Some(previous), _) => format!("program {} (replaced {previous} at start)", s.program_tag),
        (None, "reattached") => format!("program {} (attached again at start)", s.program_tag),
        (None, _) if s.program_tag.is_empty() => "no program (torn down)".to_string(),
        (None, _) => format!("program {}", s.program_tag),
    };
    let _ = writeln!(
        out,
        "lb {} on {} ({} XDP{adopted}), up {}",
        s.version,
        s.interface,
        s.xdp_mode,
        secs(s.uptime_s),
    );
    let _ = writeln!(
        out,
        "{program}; passed {} packets to the kernel ({} malformed)",
        s.passed_packets, s.passed_malformed
    );
    if !s.nat_sources.is_empty() {
        let _ = writeln!(out, "NAT from {}", s.nat_sources.join(", "));
    }
    if s.vips.is_empty() {
        out.push_str("no VIPs configured\n");
    }
    for vip in &s.vips {
        out.push('\n');
        for line in vip_header(vip).lines() {
            out.push_str(&cut(line));
            out.push('\n');
        }
        out.push_str(&backends(
            &vip.backends,
            vip.forward == "nat" || vip.forward == "dnat",
        ));
    }
    out
}

/// The VIP's line, and a second one for drops and repicks when there were any.
fn vip_header(vip: &VipStatus) -> String {
    let mut text = format!(
        "{}  {}/{}  {}  {} pkt/s  {} new/s\n",
        vip.name,
        endpoint(&vip.address, vip.port),
        vip.protocol,
        vip.forward,
        rate(vip.counters.packets_per_s),
        rate(vip.counters.new_flows_per_s)
    );
    let d = &vip.drops;
    if d.malformed + d.fragment + d.no_backend + vip.repicked > 0 {
        let _ = writeln!(
            text,
            "  dropped: {} malformed, {} fragments, {} with no backend; repicked: {}",
            d.malformed, d.fragment, d.no_backend, vip.repicked
        );
    }
    let n = &vip.nat;
    if n.no_port + n.no_route > 0 {
        // DNAT allocates no port: its refusals are reply 5-tuples another
        // VIP's flow holds (docs/forwarding.md).
        let refused = if vip.forward == "dnat" {
            "whose replies another VIP's flow already claims"
        } else {
            "with no source port free"
        };
        let _ = writeln!(
            text,
            "  {}: {} new flows dropped {refused}, {} packets with no route",
            vip.forward.to_uppercase(),
            n.no_port,
            n.no_route
        );
    }
    text
}

fn backends(backends: &[BackendStatus], nat: bool) -> String {
    if backends.is_empty() {
        return "  no backends\n".to_owned();
    }
    let mut table = Table::new(&[
        "NAME", "STATE", "HEALTH", ">LIVE", ">PKT/S", ">NEW/S", "ADDRESS",
    ]);
    for b in backends {
        let mut notes = Vec::new();
        if let Some(drain) = &b.drain {
            notes.push(drain_note(drain));
        }
        if let Some(action) = b
            .last_action
            .as_ref()
            .filter(|a| b.drain.is_some() || !a.ok)
        {
            notes.push(action_note(action));
        }
        if let Some(problem) = &b.problem {
            notes.push(format!("problem: {problem}"));
        }
        let cells = vec![
            b.name.clone(),
            state(b),
            b.health.clone(),
            b.live_flows.to_string(),
            rate(b.counters.packets_per_s),
            rate(b.counters.new_flows_per_s),
            backend_address(b, nat),
        ];
        table.row(cells, notes);
    }
    table.render("  ")
}

/// The address, with the port when it is the backend's own (NAT).
fn backend_address(b: &BackendStatus, nat: bool) -> String {
    if !nat || b.port == 0 {
        b.address.clone()
    } else {
        endpoint(&b.address, b.port)
    }
}

/// The state, saying "disabled" for an admin DOWN so it reads apart from a
/// failed health check.
fn state(b: &BackendStatus) -> String {
    if b.admin == "disabled" && b.state == "down" {
        "disabled".to_owned()
    } else {
        b.state.clone()
    }
}

/// `drain: 14 → 3 live, 12s of 30s, signal sent`, or how it ended.
pub fn drain_note(d: &DrainStatus) -> String {
    let progress = match d.outcome {
        None => format!(
            "{} → {} live, {} of {}",
            d.initial_flows,
            d.live_flows,
            secs(d.elapsed_s),
            secs(d.timeout_s)
        ),
        Some(DrainOutcome::Forced) => format!(
            "forced after {}: {} of {} flows still live were moved",
            secs(d.elapsed_s),
            d.forced_flows,
            d.initial_flows
        ),
        Some(outcome) if d.flows_at_exit > 0 => format!(
            "{outcome} after {} ({} flows at start; the backend's exit closed the last {})",
            secs(d.elapsed_s),
            d.initial_flows,
            d.flows_at_exit
        ),
        Some(outcome) => format!(
            "{outcome} after {} ({} flows at start)",
            secs(d.elapsed_s),
            d.initial_flows
        ),
    };
    format!("drain: {progress}, signal {}", d.signal)
}

/// `shutdown ok: SIGTERM to pid 4242 (from /run/web-2.pid)`.
fn action_note(a: &ActionOutcome) -> String {
    let result = if a.ok { "ok" } else { "FAILED" };
    format!("{} {result}: {}", a.kind, a.detail)
}

/// One line about a backend, after enable, disable or drain.
pub fn backend_line(b: &BackendStatus) -> String {
    let mut line = format!(
        "{}: {}, {}, {} live flows",
        b.name,
        state(b),
        b.health,
        b.live_flows
    );
    if let Some(drain) = &b.drain {
        let _ = write!(line, "; {}", drain_note(drain));
    }
    if let Some(problem) = &b.problem {
        let _ = write!(line, "; problem: {problem}");
    }
    line.push('\n');
    line
}

pub fn flows(flows: &[FlowView]) -> String {
    if flows.is_empty() {
        return "no flows\n".to_owned();
    }
    let mut table = Table::new(&[
        "CLIENT", "VIP", "BACKEND", "PROTO", "STATE", ">AGE", ">IDLE",
    ]);
    for f in flows {
        let cells = vec![
            f.client.clone(),
            f.vip.clone(),
            f.backend.clone(),
            f.protocol.clone(),
            f.state.clone(),
            secs(f.age_s),
            secs(f.idle_s),
        ];
        let notes = f
            .nat
            .iter()
            .map(|n| format!("nat: the backend sees {n}"))
            .collect();
        table.row(cells, notes);
    }
    let plural = if flows.len() == 1 { "" } else { "s" };
    format!("{}{} flow{plural}\n", table.render(""), flows.len())
}

pub fn reload(r: &ReloadReport) -> String {
    let part = |what: &str, names: &[String]| match names {
        [] => format!("0 {what}"),
        names => format!("{} {what} ({})", names.len(), names.join(", ")),
    };
    format!(
        "reloaded: {}, {}, {}, {} unchanged\n",
        part("added", &r.added),
        part("removed", &r.removed),
        part("changed", &r.changed),
        r.unchanged.len()
    )
}

pub fn teardown(t: &TeardownReport) -> String {
    let mut out = if t.detached {
        format!("detached lb from {}", t.interface)
    } else {
        format!("nothing was attached to {}", t.interface)
    };
    let _ = writeln!(out, "; removed {} pins", t.unpinned.len());
    for pin in &t.unpinned {
        let _ = writeln!(out, "  {pin}");
    }
    out
}

/// A fleet drain's counts for `lb drain --wait`: ", fleet 5 (lb-1 3, lb-2 2, lb-3 ?)";
/// "?" is a node that has not reported since it applied the drain.
pub fn fleet_drain(f: &crate::api::types::FleetDrainStatus) -> String {
    let nodes: Vec<String> = f
        .nodes
        .iter()
        .map(|(n, c)| match c {
            Some(c) => format!("{n} {c}"),
            None => format!("{n} ?"),
        })
        .collect();
    format!(", fleet {} ({})", f.total, nodes.join(", "))
}

/// `lb status --fleet`: one row per live node (its live flows per backend),
/// then the admin states in etcd.
pub fn fleet(f: &crate::api::types::FleetStatus) -> String {
    let mut out = format!("fleet, as seen from {}\n", f.node);
    let backends: std::collections::BTreeSet<&String> =
        f.nodes.iter().flat_map(|n| n.live_flows.keys()).collect();
    let _ = write!(out, "{:<16} {:>10} ", "NODE", "APPLIED");
    for b in &backends {
        let _ = write!(out, "{b:>10} ");
    }
    out.push('\n');
    for n in &f.nodes {
        let _ = write!(out, "{:<16} {:>10} ", n.node, n.applied);
        for b in &backends {
            let c = n.live_flows.get(*b).map_or("-".to_string(), u64::to_string);
            let _ = write!(out, "{c:>10} ");
        }
        if n.counted_at_ms.is_none() {
            out.push_str("(no report yet)");
        }
        for (b, i) in &n.imported {
            let _ = write!(out, "({b}: {i} imported from other nodes' drain sets) ");
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\n{:<16} {:<10} {:>10} BY",
        "BACKEND", "ADMIN", "REVISION"
    );
    for a in &f.admin {
        let by = a.requested_by.as_deref().unwrap_or("-");
        let _ = writeln!(
            out,
            "{:<16} {:<10} {:>10} {by}",
            a.backend, a.state, a.revision
        );
    }
    out
}
