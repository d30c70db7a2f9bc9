//! The fault matrix (root only): each fault happens to the real `lb` daemon
//! and XDP program in front of three real Gunicorn + Uvicorn + FastAPI
//! backends, under keep-alive GET (wrk), fresh-connection GET (hey) and POST
//! (hey) load, with long streams (`/stream?seconds=N`) open on the affected
//! backend. Each prints its requests, failures and streams completed;
//! docs/operations.md ("What survives what") quotes them.
//!
//! Run: cargo xtask test -- faults
//! (or: cargo build -p lb-userspace --bin lb, plus target/debug/lb-upgrade as
//! `cargo xtask test` builds it, then
//! cargo test -p lb-tests --test faults -- --test-threads=1 --nocapture)

mod backend_crash;
mod control;
mod daemon_restart;
// The drain tests' helpers, for the control-plane faults (control.rs); this
// suite uses only part of them.
#[allow(dead_code)]
#[path = "../drain/support.rs"]
mod drain_support;
mod health_blip;
mod interface;
mod supervision;
mod support;
mod upgrade;
