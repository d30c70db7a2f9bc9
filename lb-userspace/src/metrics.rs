//! Prometheus metrics: the status the control API reports, in the text
//! exposition format (version 0.0.4), served on a TCP address and on the
//! control socket. The metric list is in `docs/api.md`.
//!
//! Rendered from [`Status`] on every scrape rather than kept in a registry:
//! the counters live in the BPF maps, the daemon sums them anyway for status,
//! and one source means `lb status` and Prometheus never disagree.

pub mod counters;
mod exposition;
mod families;
mod process;

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use axum::{
    extract::State,
    http::header::CONTENT_TYPE,
    response::{IntoResponse, Response},
};

use self::{
    counters::Snapshot,
    exposition::{Exposition, Labels},
    process::Process,
};
use crate::api::{
    control::Control,
    error::ApiError,
    types::{BackendStatus, Status, VipStatus},
};

pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Backend states, each one series of `lb_backend_state`.
const STATES: [&str; 5] = ["active", "draining", "drained", "unhealthy", "down"];
/// Health results, each one series of `lb_backend_health`.
const HEALTHS: [&str; 4] = ["healthy", "unhealthy", "unknown", "unchecked"];
const DROP_REASONS: [&str; 3] = ["malformed", "fragment", "no_backend"];

/// The whole exposition: `status` (the maps), the daemon's counters and the
/// process.
pub fn render_all(status: &Status, snapshot: &Snapshot, process: Option<&Process>) -> String {
    let mut out = Exposition {
        text: render(status),
    };
    families::render(&mut out, status, snapshot, process);
    out.text
}

/// The families that come from `status`.
pub fn render(status: &Status) -> String {
    let mut out = Exposition::default();
    out.single("lb_up", "gauge", "1 while the daemon answers.", 1u64);
    out.single(
        "lb_adopted",
        "gauge",
        "1 if the daemon adopted a pinned data plane instead of loading one.",
        u64::from(status.adopted),
    );
    out.single(
        "lb_uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
        status.uptime_s,
    );
    out.single(
        "lb_passed_packets_total",
        "counter",
        "Packets not for a VIP, passed to the kernel.",
        status.passed_packets,
    );
    out.single(
        "lb_passed_malformed_total",
        "counter",
        "Passed packets that were malformed.",
        status.passed_malformed,
    );

    let vips: Vec<&VipStatus> = status.vips.iter().collect();
    let per_vip = |out: &mut Exposition, name, help, value: fn(&VipStatus) -> u64| {
        out.family(name, "counter", help);
        for vip in &vips {
            out.sample(name, &vip_labels(vip), value(vip));
        }
    };
    per_vip(
        &mut out,
        "lb_vip_packets_total",
        "Packets received for the VIP.",
        |v| v.counters.packets,
    );
    per_vip(
        &mut out,
        "lb_vip_bytes_total",
        "Bytes received for the VIP.",
        |v| v.counters.bytes,
    );
    per_vip(
        &mut out,
        "lb_vip_new_flows_total",
        "Flows the VIP assigned to a backend.",
        |v| v.counters.new_flows,
    );
    per_vip(
        &mut out,
        "lb_vip_repicked_total",
        "Flows moved off a DOWN backend.",
        |v| v.repicked,
    );
    per_vip(
        &mut out,
        "lb_vip_confirmed_total",
        "Handshakes whose first ACK made a flow entry (a SYN flood: new flows far above this).",
        |v| v.confirmed,
    );
    per_vip(
        &mut out,
        "lb_vip_unrecorded_total",
        "Packets without a flow entry forwarded unrecorded: this CPU's budget of entries without a handshake was spent (an ACK flood).",
        |v| v.unrecorded,
    );
    per_vip(
        &mut out,
        "lb_vip_nat_reply_packets_total",
        "NAT: backends' replies translated and sent to the client.",
        |v| v.nat.reply_packets,
    );
    per_vip(
        &mut out,
        "lb_vip_nat_no_port_total",
        "NAT: new flows dropped because no source port was free for their backend (DNAT: because another VIP's flow holds their reply 5-tuple).",
        |v| v.nat.no_port,
    );
    per_vip(
        &mut out,
        "lb_vip_nat_no_neighbour_total",
        "NAT: translated packets passed to the kernel, the next hop's neighbour entry missing.",
        |v| v.nat.no_neighbour,
    );
    per_vip(
        &mut out,
        "lb_vip_nat_no_route_total",
        "NAT: translated packets dropped for want of a route.",
        |v| v.nat.no_route,
    );
    out.family(
        "lb_vip_drops_total",
        "counter",
        "Packets for the VIP dropped, by reason.",
    );
    for vip in &vips {
        let counts = [
            vip.drops.malformed,
            vip.drops.fragment,
            vip.drops.no_backend,
        ];
        for (reason, count) in DROP_REASONS.into_iter().zip(counts) {
            let mut labels = vip_labels(vip);
            labels.push(("reason", reason.to_owned()));
            out.sample("lb_vip_drops_total", &labels, count);
        }
    }

    let backends: Vec<&BackendStatus> = vips.iter().flat_map(|v| &v.backends).collect();
    let per_backend = |out: &mut Exposition, name, kind, help, value: fn(&BackendStatus) -> u64| {
        out.family(name, kind, help);
        for b in &backends {
            out.sample(name, &backend_labels(b), value(b));
        }
    };
    per_backend(
        &mut out,
        "lb_backend_packets_total",
        "counter",
        "Packets forwarded to the backend.",
        |b| b.counters.packets,
    );
    per_backend(
        &mut out,
        "lb_backend_bytes_total",
        "counter",
        "Bytes forwarded to the backend.",
        |b| b.counters.bytes,
    );
    per_backend(
        &mut out,
        "lb_backend_new_flows_total",
        "counter",
        "Flows assigned to the backend.",
        |b| b.counters.new_flows,
    );
    per_backend(
        &mut out,
        "lb_backend_closed_flows_total",
        "counter",
        "Flows of the backend closed by the client.",
        |b| b.counters.closed_flows,
    );
    per_backend(
        &mut out,
        "lb_backend_second_chance_total",
        "counter",
        "Packets of a draining backend's recorded connections sent back to it after their flow entry was lost.",
        |b| b.counters.second_chance,
    );
    per_backend(
        &mut out,
        "lb_backend_live_flows",
        "gauge",
        "Connections in flight to the backend.",
        |b| b.live_flows,
    );
    out.one_of(
        &backends,
        "lb_backend_state",
        "state",
        "1 for the backend's current state (active, draining, drained, unhealthy, down), else 0.",
        &STATES,
        |b| &b.state,
    );
    out.one_of(
        &backends,
        "lb_backend_health",
        "health",
        "1 for the backend's health (healthy, unhealthy, unknown: no result yet, \
         unchecked: no health check), else 0.",
        &HEALTHS,
        |b| &b.health,
    );
    out.text
}

fn vip_labels(vip: &VipStatus) -> Labels {
    vec![
        ("vip", vip.name.clone()),
        ("address", vip.address.clone()),
        ("port", vip.port.to_string()),
        ("protocol", vip.protocol.clone()),
    ]
}

fn backend_labels(b: &BackendStatus) -> Labels {
    vec![
        ("vip", b.vip.clone()),
        ("backend", b.name.clone()),
        ("address", b.address.clone()),
    ]
}

/// `GET /metrics`, on the TCP address and on the control socket.
pub async fn handler<C: Control>(State(control): State<Arc<C>>) -> Response {
    let status = match control.status().await {
        Ok(status) => status,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut snapshot = counters::global().snapshot();
    let pin = snapshot.tables.drain_flows_pin.clone();
    // Counting DRAIN_FLOWS and reading /proc are blocking, and quick.
    let measured =
        tokio::task::spawn_blocking(move || (pin.and_then(|p| count_entries(&p)), Process::read()))
            .await;
    let (drain_flow_entries, process) = measured.unwrap_or_default();
    snapshot.drain_flow_entries = drain_flow_entries;
    let text = render_all(&status, &snapshot, process.as_ref());
    ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], text).into_response()
}

/// Entries of the pinned hash map at `pin` (DRAIN_FLOWS: small while no
/// drain runs, at most its max_entries).
fn count_entries(pin: &std::path::Path) -> Option<u64> {
    let map = aya::maps::MapData::from_pin(pin).ok()?;
    let map: aya::maps::HashMap<_, lb_common::flow::FlowKey, u32> =
        aya::maps::HashMap::try_from(aya::maps::Map::from_map_data(map).ok()?).ok()?;
    Some(map.keys().count() as u64)
}

/// Serves `GET /metrics` on `addr` until `shutdown` completes.
pub async fn serve_metrics<C: Control>(
    control: Arc<C>,
    addr: SocketAddr,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics address {addr}"))?;
    tracing::info!(%addr, "metrics listening");
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(handler::<C>))
        .with_state(control);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .with_context(|| format!("serving metrics on {addr}"))
}

#[cfg(test)]
mod tests;
