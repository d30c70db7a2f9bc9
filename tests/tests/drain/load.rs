//! No request lost under load in the default mode (on_drain with
//! `shutdown_when = "idle"`: on_drain.rs).

use super::{assert_drained, default_mode};
use crate::{
    mixed_load::{MixedLoadDrain, drain_under_mixed_load},
    support::{TARGET, assert_no_connection_after_drain, first_requests_since, lab, start_daemon},
};

/// Default mode under load: keep-alive GET (hey: Go retries idempotent
/// requests on reused connections), fresh-connection GET and POST, and long
/// /slow and /stream requests in flight on web-2. Nothing fails.
#[test]
fn drain_under_load_loses_no_request_in_the_default_mode() {
    let lab = lab("drn-load");
    let daemon = start_daemon(&lab, &default_mode());
    let web2 = lab.backend(TARGET).unwrap();

    let MixedLoadDrain {
        run,
        status: b,
        started,
        ..
    } = drain_under_mixed_load(&lab, &daemon, &lab.vip_url("/"), "drain");

    let last_first = first_requests_since(&lab, web2, started - 1.0)
        .iter()
        .map(|e| e.t - started)
        .fold(f64::NEG_INFINITY, f64::max);
    println!(
        "latest first request of a connection on {TARGET}: {last_first:+.3} s from the drain's start"
    );
    assert_no_connection_after_drain(&lab, &daemon, web2, &run);
    assert_drained(&run, &b);
}
