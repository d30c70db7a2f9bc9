//! Prometheus metrics: the status the control API reports, in the text
//! exposition format (version 0.0.4), served on a TCP address and on the
//! control socket. The metric list is in `docs/api.md`.
//!
//! Rendered from [`Status`] on every scrape rather than kept in a registry:
//! the counters live in the BPF maps, the daemon sums them anyway for status,
//! and one source means `lb status` and Prometheus never disagree.

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use crate::api::control::Control;
use crate::api::routes::ApiError;
use crate::api::types::{BackendStatus, Status, VipStatus};

pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Backend states, each one series of `lb_backend_state`.
const STATES: [&str; 4] = ["active", "draining", "drained", "down"];
/// Health results, each one series of `lb_backend_health`.
const HEALTHS: [&str; 4] = ["healthy", "unhealthy", "unknown", "unchecked"];
const DROP_REASONS: [&str; 3] = ["malformed", "fragment", "no_backend"];

/// The whole exposition for `status`.
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
        "Packets sent to the draining backend by the previous table generation.",
        |b| b.counters.second_chance,
    );
    per_backend(
        &mut out,
        "lb_backend_live_flows",
        "gauge",
        "Connections in flight to the backend.",
        |b| b.live_flows,
    );
    per_backend(
        &mut out,
        "lb_backend_drain_forced_flows_total",
        "counter",
        "Flows still live at the deadline of the latest drain, forced off (resets when a drain starts).",
        |b| b.drain.as_ref().map_or(0, |d| d.forced_flows),
    );
    out.one_of(
        &backends,
        "lb_backend_state",
        "state",
        "1 for the backend's current state (active, draining, drained, down), else 0.",
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

/// Label pairs of one series; values are escaped when written.
type Labels = Vec<(&'static str, String)>;

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

/// Text being built; writing to a String cannot fail.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// A family of one series without labels.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl Value) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// A gauge with one series per possible value of `label`: 1 for the
    /// backend's current value, 0 for the others, so a query can select on
    /// the label (`lb_backend_state{state="draining"} == 1`). A value this
    /// version does not list still shows, as the one set to 1.
    fn one_of(
        &mut self,
        backends: &[&BackendStatus],
        name: &str,
        label: &'static str,
        help: &str,
        known: &[&str],
        current: fn(&BackendStatus) -> &str,
    ) {
        self.family(name, "gauge", help);
        for b in backends {
            let current = current(b);
            let extra = (!known.contains(&current)).then_some(current);
            for value in known.iter().copied().chain(extra) {
                let mut labels = backend_labels(b);
                labels.push((label, value.to_owned()));
                self.sample(name, &labels, u64::from(value == current));
            }
        }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, String)], value: impl Value) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (key, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{key}=\"{}\"", escape(val));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", value.text());
    }
}

trait Value {
    fn text(&self) -> String;
}
impl Value for u64 {
    fn text(&self) -> String {
        self.to_string()
    }
}
impl Value for f64 {
    fn text(&self) -> String {
        match *self {
            v if v.is_nan() => "NaN".to_owned(),
            v if v.is_infinite() => if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned(),
            v => v.to_string(),
        }
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// `GET /metrics`, on the TCP address and on the control socket.
pub async fn handler<C: Control>(State(control): State<Arc<C>>) -> Response {
    match control.status().await {
        Ok(status) => ([(CONTENT_TYPE, CONTENT_TYPE_TEXT)], render(&status)).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
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
