//! Long streams through the fleet's router, and where the nodes' flow
//! tables say they run.

use std::{collections::BTreeMap, time::Duration};

use lb_lab::{Daemon, Lab, LoadRun, Request, Response, client::InFlight};
use lb_tests::lab_support::{flows_json, poll};

/// 12 long streams to each of `urls` through the router (each request times
/// out after `timeout`); once all are in the nodes' flow tables: the
/// requests, each node's streams (see [`stream_flows`]) and the index of the
/// node that carries the most.
pub(crate) fn place_streams(
    lab: &Lab,
    daemons: &[Daemon],
    urls: &[String],
    timeout: Duration,
) -> (Vec<InFlight>, Vec<BTreeMap<String, String>>, usize) {
    let streams: Vec<InFlight> = urls
        .iter()
        .flat_map(|url| (0..12).map(move |_| url))
        .map(|url| lab.spawn_request(Request::get(url.clone()).timeout(timeout)))
        .collect();
    let want = streams.len();
    let placed: Vec<BTreeMap<String, String>> = poll(
        "the streams in the flow tables",
        Duration::from_secs(10),
        || {
            let p: Vec<BTreeMap<String, String>> = daemons.iter().map(stream_flows).collect();
            (p.iter().map(BTreeMap::len).sum::<usize>() >= want).then_some(p)
        },
    );
    let busiest = (0..placed.len())
        .max_by_key(|&i| placed[i].len())
        .expect("three nodes");
    (streams, placed, busiest)
}

/// The node's live flows (hey's closed ones excluded) to the VIP from the client: client address:port ->
/// backend.
pub(crate) fn stream_flows(d: &Daemon) -> BTreeMap<String, String> {
    live_flows(d, |_| true)
}

/// [`stream_flows`] that carried a packet in the last `within`: a stream
/// sends a line every second or two, so it is always among them, while a
/// stale entry (its connection moved to another node, or closed through
/// another node) or a finished load's leftover is not.
pub(crate) fn active_stream_flows(d: &Daemon, within: Duration) -> BTreeMap<String, String> {
    live_flows(d, |f| {
        f["idle_s"]
            .as_f64()
            .is_some_and(|idle| idle < within.as_secs_f64())
    })
}

/// The node's live flows that `keep` accepts: client address:port -> backend.
fn live_flows(d: &Daemon, keep: impl Fn(&serde_json::Value) -> bool) -> BTreeMap<String, String> {
    flows_json(d, None)
        .iter()
        .filter(|f| f["state"] == "live" && keep(f))
        .filter_map(|f| {
            Some((
                f["client"].as_str()?.to_owned(),
                f["backend"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Joins the loads: every request answered (no error, no non-2xx), and
/// enough of them that the check means something.
pub(crate) fn assert_loads_lost_nothing(loads: impl IntoIterator<Item = LoadRun>) {
    for run in loads {
        let r = run.join().expect("load");
        println!(
            "{:?}: {} requests, {} failed",
            r.tool,
            r.requests,
            r.errors.total() + r.non_2xx
        );
        assert_eq!(r.errors.total() + r.non_2xx, 0, "{}", r.raw);
        assert!(r.requests >= 20, "too few requests: {}", r.raw);
    }
}

/// Joins a stream, which must have completed, whole (its 10 lines), on one
/// backend: the response and that backend's name.
pub(crate) fn whole_stream(stream: InFlight) -> (Response, String) {
    let resp = stream.join().expect("stream");
    assert!(resp.ok(), "a stream broke: {resp:?}");
    assert_eq!(resp.body.lines().count(), 10, "incomplete: {:?}", resp.body);
    let backends: std::collections::BTreeSet<&str> = resp
        .body
        .lines()
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(
        backends.len(),
        1,
        "one stream, one backend: {:?}",
        resp.body
    );
    let backend = backends.first().copied().unwrap_or_default().to_owned();
    (resp, backend)
}
