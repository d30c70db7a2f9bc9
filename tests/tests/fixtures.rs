//! The fixture table: every behaviour of the XDP program as rows of
//! {description, map changes, input frame, expected verdict, expected output
//! bytes, expected counter deltas, expected flow entry}, run in order through
//! BPF_PROG_TEST_RUN against one data plane in the standard state
//! (`lb_tests::standard`). A row whose description starts with "(after" relies
//! on the state the rows before it left.
//!
//! Run: `cargo test -p lb-tests --test fixtures -- --nocapture` (as root).

// The rows live in `fixtures/`, one file per concern.
#[path = "fixtures/addresses.rs"]
mod addresses;
#[path = "fixtures/flows.rs"]
mod flows;
#[path = "fixtures/forwarding.rs"]
mod forwarding;
#[path = "fixtures/handshakes.rs"]
mod handshakes;
#[path = "fixtures/icmp.rs"]
mod icmp;
#[path = "fixtures/macs.rs"]
mod macs;
#[path = "fixtures/malformed.rs"]
mod malformed;
#[path = "fixtures/passes.rs"]
mod passes;
#[path = "fixtures/reopened.rs"]
mod reopened;

use lb_common::{flow::FlowKey, vip::PROTO_TCP};
use lb_tests::{
    dataplane::{SMALL, pick},
    standard::{self, Ports},
    table::{self, Row},
};

/// Slots per Maglev half in the fixtures.
const M: u32 = SMALL.maglev_size;

/// The backend `key` picks from a table of `ids` (the harness's table layout).
fn picks(ids: &[u32], key: &FlowKey) -> u32 {
    pick(ids, key, M).expect("a non-empty table picks a backend")
}

/// The key of a TCP packet from the IPv4 client to the TCP VIP.
fn key4(sport: u16) -> FlowKey {
    table::key(standard::CLIENT4, standard::VIP4, sport, 80, PROTO_TCP)
}

#[test]
fn fixture_table() {
    let mut dp = standard::dataplane().expect("loading the program (root needed)");
    let mut ports = Ports::default();
    let rows: Vec<Row> = [
        passes::rows(),
        forwarding::rows(&mut ports),
        malformed::rows(&mut ports),
        flows::rows(&mut ports),
        reopened::rows(&mut ports),
        addresses::rows(&mut ports),
        handshakes::rows(&mut ports),
        icmp::rows(&mut ports),
        macs::rows(&mut ports),
    ]
    .concat();
    let n = table::run_table(&mut dp, &rows);
    println!("{n} fixture rows passed");
}
