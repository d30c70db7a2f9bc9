//! Part 4, drain: `lb drain` against the Nginx procedure: a hook for now.
//!
//! To fill it: make [`run`] return `Ok(Some(value))` with the figures under
//! the keys below (the JSON is merged, so the other parts keep theirs), and
//! [`render`] write the section from `results.get(Part::Drain)`. The
//! lab's namespaces, backends and Nginx are the e2e part's as well.

use anyhow::Result;

use crate::{
    Ctx,
    report::{Md, Results},
};

pub const KEYS: &[(&str, &str)] = &[
    (
        "drain.lb.failed",
        "failed client requests during an `lb drain` (median over runs)",
    ),
    (
        "drain.nginx.failed",
        "failed client requests during mark down + `nginx -s reload` + SIGTERM (median over runs)",
    ),
];

pub fn run(_ctx: &Ctx) -> Result<Option<serde_json::Value>> {
    Ok(None)
}

/// False while there is nothing to render.
pub fn render(_results: &Results, _md: &mut Md) -> bool {
    false
}
