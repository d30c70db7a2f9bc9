//! Part 6's section of the report.

use super::Report;
use crate::{
    Part,
    report::{Md, Results, f},
    stats::Summary,
};

fn row(what: &str, s: &Summary, digits: usize, unit: &str) -> [String; 4] {
    [
        what.to_owned(),
        format!("{} {unit}", f(s.median, digits)),
        format!("{} {unit}", f(s.max, digits)),
        format!("{}-{} {unit}", f(s.min, digits), f(s.max, digits)),
    ]
}

/// Renders the section; false if the results do not hold it.
pub fn render(results: &Results, md: &mut Md) -> bool {
    let Some(r) = results.get::<Report>(Part::Fleet) else {
        return false;
    };
    md.run(&r.run);
    md.line(format!(
        "{} LB nodes behind the lab's router (BIRD 2, ECMP with L4 hash), each announcing the VIP \
         through its own BIRD, etcd 3.4 in its namespace, 3 Gunicorn + Uvicorn + FastAPI backends \
         (docs/fleet.md). Every drain is `lb drain web-2 --no-signal`, issued on each node in turn, \
         and undone with `lb enable web-2` before the next.",
        r.nodes
    ));
    md.blank();
    let c = &r.last_close;
    md.table(
        ["what", "median", "worst", "range"],
        &[
            row(
                &format!("flip spread across the nodes (latest minus earliest `drain.started_at`), {} drains, nothing in flight", r.flip.rounds),
                &r.flip.spread_ms,
                1,
                "ms",
            ),
            row(
                "`lb drain` command started to the last node's flip",
                &r.flip.command_to_last_flip_ms,
                1,
                "ms",
            ),
            row(
                &format!("fleet-wide last close of web-2's streams to DRAINED on the first node ({} drains, {} streams of {} s each)", c.rounds, c.streams, f(c.stream_seconds, 0)),
                &c.first_node_ms,
                0,
                "ms",
            ),
            row("... to DRAINED on the last node", &c.last_node_ms, 0, "ms"),
            row(
                "etcd unary requests per drain (command to DRAINED everywhere)",
                &r.etcd.unary_per_drain,
                0,
                "",
            ),
            row(
                "etcd stream messages per drain (keepalives, watches)",
                &r.etcd.stream_messages_per_drain,
                0,
                "",
            ),
            row("that drain's length", &r.etcd.drain_seconds, 2, "s"),
        ],
    );
    let by_method: Vec<String> = r
        .etcd
        .unary_by_method
        .iter()
        .map(|m| format!("{} {}", m.method, f(m.per_drain, 1)))
        .collect();
    md.line(format!(
        "etcd requests per drain by method (median): {}. With the nodes idle etcd serves {} unary \
         requests and {} stream messages per second (leases, reports). Source: {}.",
        by_method.join(", "),
        f(r.etcd.idle_unary_per_s, 1),
        f(r.etcd.idle_stream_messages_per_s, 1),
        r.etcd.source
    ));
    md.blank();
    super::drain_set::render(&r.drain_set, md);
    true
}
