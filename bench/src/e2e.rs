//! Part 3, end to end in the lab: a hook for now.
//!
//! To fill it: make [`run`] return `Ok(Some(value))` with the figures under
//! the keys below (the JSON is merged, so the other parts keep theirs), and
//! [`render`] write the section from `results.get(Part::E2e)`. The data
//! plane's own CPU per request comes from the kernel's run-time statistics
//! (`crate::xdp::RunTimeStats`, `crate::xdp::prog_stats`); `lb-bench-ebpf`'s
//! `xdp_pass` program is there for native-mode XDP_TX on veth peers
//! (`dataplane::setup::Refs::load(1024)` loads it with small maps; attach it
//! through the object's `program_mut`).

use anyhow::Result;

use crate::{
    Ctx,
    report::{Md, Results},
};

pub const KEYS: &[(&str, &str)] = &[
    (
        "e2e.static.lb_vs_direct_rps",
        "requests/s through lb over clients straight to the backends, trivial backends (target at least 0.95)",
    ),
    (
        "e2e.static.lb_vs_direct_cpu",
        "whole-machine CPU per request through lb over direct, trivial backends (target at most 1.1)",
    ),
];

pub fn run(_ctx: &Ctx) -> Result<Option<serde_json::Value>> {
    Ok(None)
}

/// False while there is nothing to render.
pub fn render(_results: &Results, _md: &mut Md) -> bool {
    false
}
