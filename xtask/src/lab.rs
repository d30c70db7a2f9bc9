//! The demo lab of `cargo xtask run` (no arguments): client, LB and backend
//! namespaces on a bridge, with `lb` attached in the LB namespace and
//! Gunicorn/Uvicorn/FastAPI backends from the lab venv.
use std::path::Path;

use anyhow::{Result, bail};

/// Runs the demo lab with the `lb` binary at `lb`. Not built yet.
pub fn run_lab(lb: &Path) -> Result<()> {
    bail!(
        "the demo lab is not built yet; to run {} on a real NIC: cargo xtask run -- --config FILE",
        lb.display()
    )
}
