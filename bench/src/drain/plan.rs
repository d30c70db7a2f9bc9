//! What part 4 compares: the procedures, the client loads, and the kinds of
//! request whose failures it counts.

use std::time::Duration;

use lb_lab::{LoadSpec, Tool};
use serde::{Deserialize, Serialize};

/// The backend every run drains.
pub const TARGET: &str = "web-2";
/// Seconds the loads run; the drain command comes once web-2 has served some
/// of them, and the long requests end ~5 s after they start.
pub const LOAD_SECONDS: u64 = 9;
/// Connections per load process.
pub const CONNECTIONS: u32 = 3;
/// Long requests of each kind started before the loads.
pub const LONG_EACH: usize = 6;
pub const LONG_PATHS: [&str; 2] = ["/slow?seconds=5", "/stream?seconds=5"];

/// The procedures compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Procedure {
    /// Mark web-2 `down`, `nginx -s reload`, SIGTERM its Gunicorn master.
    Nginx,
    /// `lb drain web-2 --wait`, default mode (SIGTERM after signal_delay).
    Lb,
    /// The same with `on_drain` (the app answers `Connection: close`) and
    /// `shutdown_when = "idle"`.
    LbIdle,
}

impl Procedure {
    pub const ALL: [Procedure; 3] = [Procedure::Nginx, Procedure::Lb, Procedure::LbIdle];

    pub fn key(self) -> &'static str {
        match self {
            Procedure::Nginx => "nginx",
            Procedure::Lb => "lb",
            Procedure::LbIdle => "lb_idle",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Procedure::Nginx => "Nginx: mark down + reload + SIGTERM",
            Procedure::Lb => "lb drain --wait (default mode)",
            Procedure::LbIdle => "lb drain --wait (on_drain + shutdown_when idle)",
        }
    }
}

/// A client request's kind: one of the loads', or a long request; the JSON
/// keys are the snake_case names. Declared in the order of those keys, so a
/// map keyed by them lists (and the report renders) in the JSON's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    FreshGet,
    FreshPost,
    KeepaliveGetHey,
    KeepaliveGetWrk,
    /// The long requests; counted as failed when incomplete.
    #[serde(rename = "long_incomplete")]
    Long,
}

/// The client loads, in the order they start and the report lists them.
pub const LOADS: [RequestKind; 4] = [
    RequestKind::KeepaliveGetWrk,
    RequestKind::KeepaliveGetHey,
    RequestKind::FreshGet,
    RequestKind::FreshPost,
];

impl RequestKind {
    pub fn label(self) -> &'static str {
        match self {
            RequestKind::KeepaliveGetWrk => "keep-alive GET, wrk (never retries)",
            RequestKind::KeepaliveGetHey => {
                "keep-alive GET, hey (Go retries a GET whose reused connection closed)"
            }
            RequestKind::FreshGet => "new connection per GET, hey",
            RequestKind::FreshPost => "new connection per 1000-byte POST, hey",
            RequestKind::Long => "long requests",
        }
    }

    /// The load of this kind (not for [`RequestKind::Long`]).
    pub fn load_spec(self, url: &str) -> LoadSpec {
        use RequestKind::{FreshPost, KeepaliveGetHey, KeepaliveGetWrk};
        let tool = if self == KeepaliveGetWrk {
            Tool::Wrk
        } else {
            Tool::Hey
        };
        let mut s = LoadSpec::new(tool, url);
        s.connections = CONNECTIONS;
        s.threads = 1;
        s.duration = Duration::from_secs(LOAD_SECONDS);
        s.keepalive = matches!(self, KeepaliveGetWrk | KeepaliveGetHey);
        s.post_body = (self == FreshPost).then_some(1000);
        s
    }
}
