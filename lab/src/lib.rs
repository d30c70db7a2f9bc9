//! The netns test lab (ARCHITECTURE.md, "Tests, by what they prove"), shared by the integration
//! tests, the `cargo xtask run` demo and the benchmarks.
//!
//! [`Lab::up`] builds a switch namespace with a bridge, a client, an LB and
//! N backend namespaces, each backend running the real stack (Gunicorn +
//! Uvicorn workers + FastAPI, or gthread workers + a WSGI app, from
//! `target/lab-venv`, with the lb_drain package of `integrations/python`). [`Daemon`] runs the
//! real `lb` binary in the LB namespace; [`load`] drives wrk and hey from the
//! client namespace; [`client`] makes single bounded requests.
//!
//! Safety: packets never leave namespaces this crate creates; interfaces are
//! created inside them (never in the host's namespace); only documentation
//! addresses are used; everything started is stopped and every namespace
//! deleted on drop, on panic, and on Ctrl-C/SIGTERM ([`guard`]). Needs root.

pub mod access;
pub mod addr;
pub mod backend;
pub mod bird;
pub mod client;
pub mod config;
pub mod daemon;
pub mod etcd;
pub mod etcd_metrics;
pub mod fleet;
pub mod guard;
pub mod gunicorn;
pub mod host;
pub mod load;
pub mod mac;
pub mod netns;
pub mod nginx;
pub mod paths;
pub mod proc;
mod router;
pub mod scenario;
pub mod stale;
pub mod topology;
mod up;
mod wiring;

pub use access::AccessEntry;
pub use backend::Backend;
pub use client::{Request, Response};
pub use config::{BackendOpts, ConfigSpec, LbConfig};
pub use daemon::{Daemon, RunAs};
pub use etcd::{Etcd, EtcdLab};
pub use fleet::{Fleet, FleetNode, FleetSpec};
pub use gunicorn::{App, DRAIN_PATH};
pub use host::Host;
pub use load::{LoadResult, LoadRun, LoadSpec, Tool};
pub use netns::Netns;
pub use stale::remove_stale;
pub use topology::{Lab, LabSpec};

/// True when running as root (everything here needs it). Tests use it to
/// skip with a message instead of failing on an unprivileged machine.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
