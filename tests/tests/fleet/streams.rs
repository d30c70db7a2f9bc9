//! Long streams through the fleet's router, and where the nodes' flow
//! tables say they run.

use std::{collections::BTreeMap, time::Duration};

use lb_lab::{Daemon, Lab, Request, client::InFlight};
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
    flows_json(d, None)
        .iter()
        .filter(|f| f["state"] == "live")
        .filter_map(|f| {
            Some((
                f["client"].as_str()?.to_owned(),
                f["backend"].as_str()?.to_owned(),
            ))
        })
        .collect()
}
