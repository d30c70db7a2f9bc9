//! `lb-bench`, run by `cargo xtask bench [PART...]`: measures `lb` against
//! what users would pick instead and against the least any program could do,
//! and writes docs/benchmarks.json, docs/benchmarks.md and docs/bench/*.png.
//!
//! Parts: `dataplane` (cost per packet, BPF_PROG_TEST_RUN), `maglev` (table
//! builds), `e2e` (the lab, end to end), `drain` (against the Nginx
//! procedure), `flowtable` (memory, eviction, what a drain sees), `fleet`
//! (three nodes behind a router: flip spread, last close to DRAINED, etcd
//! requests per drain, the shared drain set's cost). `e2e` and
//! `drain` are hooks for now: they report "not measured yet".
mod clients;
mod dataplane;
mod drain;
mod e2e;
mod fleet;
mod flowtable;
mod keys;
mod machine;
mod maglev;
mod packet;
mod plot;
mod report;
mod stats;
mod template;
mod xdp;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

use anyhow::{Context as _, Result, bail};
use clap::{Parser, ValueEnum};
use serde::Serialize;

use crate::{
    machine::Machine,
    report::{Md, Results, RunInfo},
};

#[derive(Parser)]
#[command(
    name = "lb-bench",
    about = "lb's benchmarks (run through `cargo xtask bench`)"
)]
struct Args {
    /// Parts to run, in this order; none means all.
    #[arg(value_enum)]
    parts: Vec<Part>,
    /// Directory of benchmarks.md, benchmarks.json and bench/*.png.
    #[arg(long, default_value_os_t = default_docs())]
    docs: PathBuf,
    /// Render benchmarks.md from benchmarks.json without measuring anything.
    #[arg(long)]
    render_only: bool,
}

fn default_docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("docs"), |root| root.join("docs"))
}

/// One part of the benchmark: one top-level key of the JSON, one section of
/// the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Part {
    Dataplane,
    Maglev,
    E2e,
    Drain,
    Flowtable,
    Fleet,
}

impl Part {
    /// In report order.
    pub const ALL: [Part; 6] = [
        Part::Dataplane,
        Part::Maglev,
        Part::E2e,
        Part::Drain,
        Part::Flowtable,
        Part::Fleet,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Part::Dataplane => "dataplane",
            Part::Maglev => "maglev",
            Part::E2e => "e2e",
            Part::Drain => "drain",
            Part::Flowtable => "flowtable",
            Part::Fleet => "fleet",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Part::Dataplane => "1. Data plane: cost per packet",
            Part::Maglev => "2. Maglev tables",
            Part::E2e => "3. End to end in the lab",
            Part::Drain => "4. Drain: lb against the Nginx procedure",
            Part::Flowtable => "5. Flow table",
            Part::Fleet => "6. Fleet: one drain across three nodes",
        }
    }

    /// The part's JSON keys and what each holds, for the part's keys table
    /// (a section with keys of its own, such as part 3's NAT section, shows
    /// them under itself).
    pub fn keys(self) -> &'static [keys::Keys] {
        match self {
            Part::Dataplane => &[keys::DATAPLANE],
            Part::Maglev => &[keys::MAGLEV],
            Part::E2e => &[keys::E2E],
            Part::Drain => &[keys::DRAIN],
            Part::Flowtable => &[keys::FLOWTABLE],
            Part::Fleet => &[keys::FLEET, keys::FLEET_DRAIN_SET],
        }
    }

    /// Whether the part needs root (BPF programs and maps, namespaces).
    fn needs_root(self) -> bool {
        !matches!(self, Part::Maglev)
    }

    /// Measures the part. `None`: the part has no measurement yet.
    fn run(self, ctx: &Ctx) -> Result<Option<serde_json::Value>> {
        fn value(r: impl Serialize) -> Result<Option<serde_json::Value>> {
            Ok(Some(serde_json::to_value(r)?))
        }
        match self {
            Part::Dataplane => value(dataplane::run(ctx)?),
            Part::Maglev => value(maglev::run(ctx)?),
            Part::E2e => e2e::run(ctx),
            Part::Drain => drain::run(ctx),
            Part::Flowtable => value(flowtable::run(ctx)?),
            Part::Fleet => fleet::run(ctx),
        }
    }

    /// Renders the part's section; false if the results do not hold it.
    fn render(self, results: &Results, md: &mut Md) -> bool {
        match self {
            Part::Dataplane => results
                .get(self)
                .map(|r| dataplane::render(&r, md))
                .is_some(),
            Part::Maglev => results.get(self).map(|r| maglev::render(&r, md)).is_some(),
            Part::E2e => e2e::render(results, md),
            Part::Drain => drain::render(results, md),
            Part::Flowtable => results
                .get(self)
                .map(|r| {
                    let insert = results
                        .get::<dataplane::report::Report>(Part::Dataplane)
                        .and_then(|d| flowtable::InsertCost::of(&d));
                    flowtable::render(&r, insert.as_ref(), md);
                })
                .is_some(),
            Part::Fleet => fleet::render(results, md),
        }
    }
}

/// What every part gets: how it was started and where its plots go.
pub struct Ctx {
    /// The command line to report, e.g. `cargo xtask bench dataplane`.
    pub command: String,
    /// docs/bench: the PNG plots.
    pub plots: PathBuf,
    pub machine: Machine,
}

impl Ctx {
    pub fn run_info(&self, seconds: f64) -> RunInfo {
        RunInfo {
            date: machine::today(),
            command: self.command.clone(),
            machine: self.machine.clone(),
            seconds: stats::round(seconds, 1),
        }
    }
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<()> {
    let json = args.docs.join("benchmarks.json");
    let md = args.docs.join("benchmarks.md");
    let mut results = Results::load(&json);
    let write = |results: &Results| -> Result<()> {
        results.save(&json)?;
        report::write_atomic(&md, report::render(results).as_bytes())
    };
    if args.render_only {
        write(&results)?;
        println!("rendered {}", md.display());
        return Ok(());
    }
    let parts = if args.parts.is_empty() {
        Part::ALL.to_vec()
    } else {
        args.parts.clone()
    };
    if parts.iter().any(|p| p.needs_root()) && !nix::unistd::geteuid().is_root() {
        bail!(
            "parts {} load BPF programs and need root; run `cargo xtask bench` as root",
            parts
                .iter()
                .filter(|p| p.needs_root())
                .map(|p| p.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let plots = args.docs.join("bench");
    std::fs::create_dir_all(&plots).with_context(|| format!("creating {}", plots.display()))?;
    let command = std::iter::once("cargo xtask bench")
        .chain(args.parts.iter().map(|p| p.name()))
        .collect::<Vec<_>>()
        .join(" ");
    let ctx = Ctx {
        command,
        plots,
        machine: Machine::probe(),
    };
    let mut failed = Vec::new();
    for part in parts {
        println!("==> bench {}", part.name());
        let started = Instant::now();
        match part.run(&ctx) {
            Ok(Some(value)) => {
                results.set(part, value);
                // Written after every part, so a later failure keeps this one.
                write(&results)?;
                println!(
                    "{}: done in {:.0} s",
                    part.name(),
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(None) => println!("{}: not measured yet (no benchmark for it)", part.name()),
            Err(e) => {
                eprintln!("{}: FAILED: {e:#}", part.name());
                failed.push(part.name());
            }
        }
    }
    write(&results)?;
    println!("wrote {} and {}", json.display(), md.display());
    if !failed.is_empty() {
        bail!("parts failed: {}", failed.join(", "));
    }
    Ok(())
}
