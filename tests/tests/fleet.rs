//! The fleet (docs/fleet.md), root only: the cluster store against a real
//! etcd (Debian's etcd-server) in a test namespace, and the 3-node lab: a
//! router running BIRD 2 with ECMP in front of three LB nodes, each running
//! the real `lb daemon` and its own BIRD, real Gunicorn + Uvicorn + FastAPI
//! backends, real load. And the store while etcd is down and back.
//!
//! Run: cargo xtask test -- fleet
//! (or: cargo build -p lb-userspace --bin lb &&
//!      cargo test -p lb-tests --test fleet -- --test-threads=1 --nocapture)

#[path = "fleet/admin.rs"]
mod admin;
#[path = "fleet/daemons.rs"]
mod daemons;
#[path = "fleet/drain.rs"]
mod drain;
#[path = "fleet/ecmp.rs"]
mod ecmp;
#[path = "fleet/node.rs"]
mod node;
#[path = "fleet/node_death.rs"]
mod node_death;
#[path = "fleet/outage.rs"]
mod outage;
#[path = "fleet/routing.rs"]
mod routing;
#[path = "fleet/store.rs"]
mod store;
#[path = "fleet/streams.rs"]
mod streams;
#[path = "fleet/support.rs"]
mod support;
