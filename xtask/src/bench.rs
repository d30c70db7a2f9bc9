//! `cargo xtask bench`: the benchmarks, written to docs/benchmarks.md.
use anyhow::{Result, bail};

pub fn run() -> Result<()> {
    bail!("cargo xtask bench: not implemented yet")
}
