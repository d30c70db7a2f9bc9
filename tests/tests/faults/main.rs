//! The fault matrix (root only): each fault happens to the real `lb` daemon
//! and XDP program in front of real Gunicorn + Uvicorn + FastAPI backends,
//! on a DSR VIP (three backends, the VIP on `lo`) and a NAT VIP (two
//! backends on `:8000`, nothing else) side by side, so every fault is applied
//! once and checked on both modes: under keep-alive GET (wrk),
//! fresh-connection GET (hey) and POST (hey) load on each VIP, with long
//! streams (`/stream?seconds=N`) open on each VIP's affected backend (web-2,
//! web-5). Each prints its requests, failures and streams completed per
//! mode; docs/operations.md ("What survives what") quotes them.
//!
//! Run: cargo xtask test -- faults
//! (or: cargo build -p lb-userspace --bin lb, plus target/debug/lb-upgrade as
//! `cargo xtask test` builds it, then
//! cargo test -p lb-tests --test faults -- --test-threads=1 --nocapture)

mod backend_crash;
mod control;
mod daemon_restart;
// The drain tests' lab helper, for the supervision fault; this suite uses
// only part of them.
#[allow(dead_code)]
#[path = "../drain/support.rs"]
mod drain_support;
mod health_blip;
mod interface;
mod load;
mod streams;
mod supervision;
mod support;
mod upgrade;
