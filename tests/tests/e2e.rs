//! End to end (root only): the real `lb` daemon in the netns lab, in front of
//! Gunicorn + Uvicorn + FastAPI backends, loaded by hey from the client
//! namespace. Each test prints its figures and asserts exact numbers:
//!
//! 1. spread of new connections over 3 backends (access logs and counters);
//! 2. `lb drain web-2 --wait` under load with slow and streaming requests in
//!    flight on web-2: nothing fails, nothing new reaches web-2;
//! 3. rolling restart of every backend under load: nothing fails;
//! 4. a backend crash (SIGKILL): detected within fall x interval, failures
//!    only on connections that were on it, bounded;
//! 5. a daemon crash (SIGKILL) and restart: nothing fails, flows kept;
//! 6. a 4th backend added by `lb reload` under load;
//! 7. spread and drain over the IPv6 VIP;
//! 8. the LB namespace's own TCP traffic passes untouched.
//!
//! At the end, two deterministic tests of what made 2, 3 and 7 fail at times
//! (2b: a flow reset by the backend stays live in lb, holds a drain to its
//! deadline and takes in a new connection that reuses its client port; 2c:
//! the drain duration `lb status` shows).
//!
//! Needs `target/debug/lb` (`cargo xtask test` builds it). Run:
//! cargo test -p lb-tests --test e2e -- --test-threads=1 --nocapture

#[path = "e2e/support.rs"]
mod support;

#[path = "e2e/backend_crash.rs"]
mod backend_crash;
#[path = "e2e/found.rs"]
mod found;
#[path = "e2e/lb_namespace.rs"]
mod lb_namespace;
#[path = "e2e/load.rs"]
mod load;
#[path = "e2e/restarts.rs"]
mod restarts;
#[path = "e2e/spread_and_drain.rs"]
mod spread_and_drain;

use std::{
    collections::{BTreeMap, BTreeSet},
    thread,
    time::{Duration, Instant},
};

use lb_lab::{Backend, ConfigSpec, Daemon, Lab, LbConfig, Request, client::unix_time, paths};
use load::{DrainCase, drain_under_load, spread};
use support::*;
