//! Part `fleet` (docs/fleet.md): what running several nodes costs. Each case
//! lives in a file of its own; this file only gathers them.
//!
//! - [`drain_set`]: the shared drain set at 10k and 100k flows per node.

pub mod drain_set;

use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::{
    Ctx,
    report::{Md, RunInfo},
    stats::round,
};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub run: RunInfo,
    pub drain_set: drain_set::DrainSetReport,
}

pub const KEYS: &[(&str, &str)] = drain_set::KEYS;

pub fn run(ctx: &Ctx) -> Result<Report> {
    let started = Instant::now();
    let drain_set = drain_set::run()?;
    let mut r = Report {
        run: ctx.run_info(0.0),
        drain_set,
    };
    r.run.seconds = round(started.elapsed().as_secs_f64(), 1);
    Ok(r)
}

pub fn render(r: &Report, md: &mut Md) {
    md.run(&r.run);
    drain_set::render(&r.drain_set, md);
}
