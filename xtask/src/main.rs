//! `cargo xtask`: the project's one entry point for setting up a machine,
//! building, running, testing, linting and benchmarking (see README.md).
mod bench;
mod build;
mod cmd;
mod dist;
mod fleet_demo;
mod lab;
mod lint;
mod paths;
mod run;
mod setup;
mod steps;
mod test;
mod test_python;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Build, run and test lb"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install every missing prerequisite (Debian packages, bpf-linker, the
    /// deb-rust toolchain, bpffs, the lab's Python venv); idempotent.
    Setup,
    /// Build target/release/lb with the XDP program embedded.
    Build {
        /// Build target/debug/lb instead.
        #[arg(long)]
        debug: bool,
    },
    /// Without ARGS: the demo lab. `-- --fleet`: the 3-node fleet demo behind
    /// a router. With other ARGS: `lb daemon ARGS` on a real NIC.
    Run {
        /// `--fleet`, or arguments for `lb daemon`, e.g. `-- --config lb.toml`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Every test: unit tests, then the root-only integration tests.
    Test {
        /// Only the unit tests (no root needed).
        #[arg(long)]
        unit_only: bool,
        /// Test-name filters passed to the test binaries, e.g. `-- drain`.
        #[arg(last = true)]
        filter: Vec<String>,
    },
    /// The Debian package target/dist/lb_<version>_<arch>.deb (release build).
    Dist,
    /// rustfmt and clippy (with -D warnings), including the eBPF crate.
    Lint,
    /// The benchmarks, written to docs/benchmarks.md and docs/benchmarks.json.
    Bench {
        /// Parts to run: dataplane, maglev, e2e, drain, flowtable, fleet; none means all.
        parts: Vec<String>,
    },
}

fn main() -> ExitCode {
    paths::ensure_cargo_bin_on_path();
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the cause chain on one line; anyhow's Debug form
            // would add a backtrace whenever RUST_BACKTRACE is set, which only
            // buries the message of a failed command.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Setup => setup::run(setup::Scope::Full),
        Command::Build { debug } => build::run(debug).map(drop),
        Command::Run { args } => run::run(&args),
        Command::Test { unit_only, filter } => test::run(unit_only, &filter),
        Command::Dist => dist::run().map(drop),
        Command::Lint => lint::run(),
        Command::Bench { parts } => bench::run(&parts),
    }
}
