//! Part 6's section of the report.

use super::Report;
use crate::{
    Part,
    report::{Md, Results, f},
    stats::Summary,
    template::fill,
};

/// A table row's figures: median, worst, range.
fn cells(s: &Summary, digits: usize, unit: &str) -> String {
    format!(
        "{m} {unit} | {x} {unit} | {n}-{x} {unit}",
        m = f(s.median, digits),
        x = f(s.max, digits),
        n = f(s.min, digits),
    )
}

/// Renders the section; false if the results do not hold it.
pub fn render(results: &Results, md: &mut Md) -> bool {
    let Some(r) = results.get::<Report>(Part::Fleet) else {
        return false;
    };
    let c = &r.last_close;
    let e = &r.etcd;
    let by_method: Vec<String> = e
        .unary_by_method
        .iter()
        .map(|m| format!("{} {}", m.method, f(m.per_drain, 1)))
        .collect();
    md.0.push_str(&fill(
        include_str!("../../templates/fleet.md"),
        &[
            ("run", r.run.line()),
            ("nodes", r.nodes.to_string()),
            ("flip_rounds", r.flip.rounds.to_string()),
            ("flip_spread", cells(&r.flip.spread_ms, 1, "ms")),
            (
                "command_to_last_flip",
                cells(&r.flip.command_to_last_flip_ms, 1, "ms"),
            ),
            ("close_rounds", c.rounds.to_string()),
            ("close_streams", c.streams.to_string()),
            ("stream_seconds", f(c.stream_seconds, 0)),
            ("first_node", cells(&c.first_node_ms, 0, "ms")),
            ("last_node", cells(&c.last_node_ms, 0, "ms")),
            ("unary_per_drain", cells(&e.unary_per_drain, 0, "")),
            (
                "stream_messages_per_drain",
                cells(&e.stream_messages_per_drain, 0, ""),
            ),
            ("drain_seconds", cells(&e.drain_seconds, 2, "s")),
            ("by_method", by_method.join(", ")),
            ("idle_unary", f(e.idle_unary_per_s, 1)),
            ("idle_stream", f(e.idle_stream_messages_per_s, 1)),
            ("source", e.source.clone()),
        ],
    ));
    super::drain_set::render(&r.drain_set, md);
    true
}
