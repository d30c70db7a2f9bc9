//! The JSON bodies of the control API (`docs/api.md`). The CLI prints them with
//! `--json` as they are, so these field names are part of the contract.

use serde::{Deserialize, Serialize};

mod fleet;
pub use fleet::{FleetAdminStatus, FleetDrainStatus, FleetNodeStatus, FleetStatus, NodeStatus};

/// `GET /v1/status`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub interface: String,
    /// The XDP mode the program is attached in: "native" or "generic".
    pub xdp_mode: String,
    /// True when this daemon adopted a pinned data plane instead of loading one.
    pub adopted: bool,
    /// The lb binary's version.
    #[serde(default)]
    pub version: String,
    /// The running XDP program's tag (a hash of its instructions, 16 hex
    /// digits, as `bpftool prog` shows it); empty once torn down.
    #[serde(default)]
    pub program_tag: String,
    /// What this daemon did to the program at start: "loaded" (a fresh data
    /// plane), "kept" (adopted as it ran), "replaced" (adopted, and this
    /// binary's different program swapped in atomically on the pinned link)
    /// or "reattached" (adopted; the link was not attached to the interface,
    /// so the program was attached again).
    #[serde(default)]
    pub program_at_start: String,
    /// The tag of the program this daemon replaced at start, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_program_tag: Option<String>,
    /// Seconds since the daemon started.
    pub uptime_s: f64,
    pub vips: Vec<VipStatus>,
    /// Packets that were not for a VIP and passed to the kernel.
    pub passed_packets: u64,
    /// Of those, malformed ones.
    pub passed_malformed: u64,
    /// The addresses NAT VIPs' connections come from (`daemon.nat_source`,
    /// or the interface's); empty without a NAT VIP.
    #[serde(default)]
    pub nat_sources: Vec<String>,
    /// Packets to a NAT source at a port of NAT's range without a
    /// translation, passed to the kernel (the host's own, or late replies).
    #[serde(default)]
    pub nat_untranslated: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct VipStatus {
    pub name: String,
    pub address: String,
    pub port: u16,
    /// "tcp" or "udp".
    pub protocol: String,
    /// "dsr" or "nat" (config `forward`).
    #[serde(default = "dsr")]
    pub forward: String,
    pub counters: Traffic,
    pub drops: Drops,
    /// Flows moved off a DOWN backend.
    pub repicked: u64,
    /// Handshakes whose first ACK made a flow entry (SYNs count in
    /// `counters.new_flows`: a SYN flood shows as the gap).
    #[serde(default)]
    pub confirmed: u64,
    /// Packets without a flow entry forwarded unrecorded: the per-CPU budget
    /// of entries without a handshake was spent (an ACK flood).
    #[serde(default)]
    pub unrecorded: u64,
    /// NAT VIPs: replies translated, and what went wrong (all 0 for DSR).
    #[serde(default)]
    pub nat: NatCounters,
    pub backends: Vec<BackendStatus>,
}

/// A NAT VIP's counters, summed over CPUs.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct NatCounters {
    /// Backends' replies translated back and sent to the client.
    pub reply_packets: u64,
    pub reply_bytes: u64,
    /// New flows dropped: no source port free for their backend (DNAT: their
    /// reply 5-tuple held by another VIP's flow).
    pub no_port: u64,
    /// Translated packets passed to the kernel: the next hop's neighbour
    /// entry was missing (the kernel forwards them and resolves it).
    pub no_neighbour: u64,
    /// Translated packets dropped: no route.
    pub no_route: u64,
}

/// Counters of a VIP or a backend, summed over CPUs.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Traffic {
    pub packets: u64,
    pub bytes: u64,
    pub new_flows: u64,
    pub closed_flows: u64,
    pub second_chance: u64,
    /// Packets per second over the last status interval.
    pub packets_per_s: f64,
    /// New flows per second over the last status interval.
    pub new_flows_per_s: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Drops {
    pub malformed: u64,
    pub fragment: u64,
    pub no_backend: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BackendStatus {
    pub name: String,
    pub vip: String,
    pub address: String,
    /// The port the backend serves on: the VIP's with DSR, its own with NAT.
    #[serde(default)]
    pub port: u16,
    /// The MAC frames are sent to, once known (DSR only: NAT routes by the FIB).
    pub mac: Option<String>,
    pub weight: u32,
    /// "active", "draining", "drained" or "down".
    pub state: String,
    /// "enabled" or "disabled" (admin).
    pub admin: String,
    /// "healthy", "unhealthy", "unknown" (no result yet) or "unchecked" (no health check).
    pub health: String,
    /// Connections in flight: not closed by the client, not idle past the timeout.
    pub live_flows: u64,
    pub counters: Traffic,
    pub drain: Option<DrainStatus>,
    /// The outcome of the latest on_drain or shutdown action.
    pub last_action: Option<ActionOutcome>,
    /// Why the backend cannot take traffic though its state says it could
    /// (e.g. "MAC of 203.0.113.11 unresolved"), else None.
    pub problem: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DrainStatus {
    /// Unix time (seconds) the drain started.
    pub started_at: f64,
    /// Seconds from the start until now, or until the drain ended.
    pub elapsed_s: f64,
    /// The drain's deadline, seconds after its start.
    pub timeout_s: f64,
    /// Live flows when the drain started.
    pub initial_flows: u64,
    pub live_flows: u64,
    /// "pending", "sent", "skipped" (--no-signal or no action) or "failed".
    pub signal: SignalState,
    /// None while running; "drained" or "forced" once over. A drain that
    /// `lb enable` or `lb disable` cancels leaves no record (counted as
    /// `cancelled` in `lb_drains_total`).
    pub outcome: Option<DrainOutcome>,
    /// Flows still live at the deadline and forced off.
    pub forced_flows: u64,
    /// Unix time the drain ended (None while it runs).
    #[serde(default)]
    pub finished_at: Option<f64>,
    /// Flows still counted live when the signalled backend process exited
    /// (closed or reset by it, unseen with direct server return; not forced).
    #[serde(default)]
    pub flows_at_exit: u64,
    /// `[cluster]`: the drain across the fleet, while it runs (None on one
    /// box, and before this node's first read of the other nodes' counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetDrainStatus>,
}

/// Where a drain's shutdown action stands.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SignalState {
    /// Not run yet.
    #[default]
    Pending,
    /// Run (its outcome is in `last_action`).
    Sent,
    /// Not to run: `--no-signal`, or the backend has no shutdown action.
    Skipped,
    /// Ran and failed.
    Failed,
}

impl SignalState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }
}

impl std::fmt::Display for SignalState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a drain ended.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DrainOutcome {
    /// No live connection left (or the signalled process exited).
    Drained,
    /// The deadline passed; the remaining connections were forced off.
    Forced,
}

impl DrainOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Drained => "drained",
            Self::Forced => "forced",
        }
    }
}

impl std::fmt::Display for DrainOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of a backend's actions ran.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    OnDrain,
    Shutdown,
    /// `lb enable` after an HTTP `on_drain` notice: the same URL with
    /// `DELETE`, so the backend stops closing its connections.
    OnDrainUndo,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OnDrain => "on_drain",
            Self::OnDrainUndo => "on_drain_undo",
            Self::Shutdown => "shutdown",
        }
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ActionOutcome {
    /// "on_drain" or "shutdown".
    pub kind: ActionKind,
    /// Unix time (seconds).
    pub at: f64,
    pub ok: bool,
    /// What was done and what came of it, e.g. "SIGTERM to pid 4242 (from /run/web-2.pid)".
    pub detail: String,
}

/// `POST /v1/backends/{name}/drain`. Unknown fields are refused (400).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DrainRequest {
    /// Overrides the backend's drain_timeout, e.g. "45s".
    pub timeout: Option<String>,
    /// Do not run the shutdown action.
    #[serde(default)]
    pub no_signal: bool,
}

/// `POST /v1/reload`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ReloadReport {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    pub unchanged: Vec<String>,
}

/// `GET /v1/flows[?backend=NAME&limit=N&after=CURSOR]`: one page of flows.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct FlowPage {
    /// Flows that match the query in the whole table (this page and the others).
    pub total: u64,
    pub flows: Vec<FlowView>,
    /// The cursor of the next page (`after=`), or None on the last page.
    pub next: Option<String>,
}

/// One flow of a [`FlowPage`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FlowView {
    pub client: String,
    pub vip: String,
    pub backend: String,
    /// "tcp" or "udp".
    pub protocol: String,
    pub age_s: f64,
    pub idle_s: f64,
    /// "live", "closing" (closed: the client's FIN/RST with DSR; the
    /// server's FIN or either RST with NAT) or "idle" (past the idle timeout).
    pub state: String,
    /// NAT flows: the address and port the backend sees the connection come
    /// from (`nat_source:port`), while the translation exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<String>,
}

/// `POST /v1/teardown`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TeardownReport {
    pub interface: String,
    pub detached: bool,
    pub unpinned: Vec<String>,
}

/// Every error body: `{"error": "...", "code": "..."}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ErrorBody {
    pub error: String,
    /// Stable machine-readable code, e.g. "unknown_backend".
    pub code: String,
}

/// `forward` of a status from a daemon older than NAT.
fn dsr() -> String {
    "dsr".to_owned()
}
