//! The `lb` command line: `lb daemon` runs the daemon, every other command is
//! a client of its control API. Exit codes (README.md, "The `lb` command"): 0 ok,
//! 1 the operation failed, 2 bad usage or bad config.

mod args;
mod check;
mod flows;
mod node;
mod show;
mod table;
mod wait;

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    process::ExitCode,
};

pub use args::{Cli, Command, ConfigArg, DrainArgs, Output};
use clap::{CommandFactory, Parser};
use serde::Serialize;

use crate::api::{
    client::{Client, ClientError},
    types::{DrainRequest, TeardownReport},
};

/// What the process exits with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Failed = 1,
    /// Bad usage or bad config. (clap exits 2 on its own for usage errors.)
    Usage = 2,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// Where a command writes; the tests pass buffers.
pub struct Term<'a> {
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    /// Whether `err` is a terminal (a progress bar) or not (plain lines).
    pub err_tty: bool,
}

/// The binary's whole `main`: parses the arguments (exiting 2 on bad usage)
/// and runs the command. `daemon` is `lb_userspace::daemon::run`.
pub fn main(daemon: impl FnOnce(PathBuf) -> anyhow::Result<()>) -> ExitCode {
    run(Cli::parse(), daemon)
}

/// Runs a parsed command line on the process's stdout and stderr.
pub fn run(cli: Cli, daemon: impl FnOnce(PathBuf) -> anyhow::Result<()>) -> ExitCode {
    // Not locked for the whole run: the daemon's threads log to stdout.
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let err_tty = err.is_terminal();
    let mut term = Term {
        out: &mut out,
        err: &mut err,
        err_tty,
    };
    run_with(cli, daemon, &mut term).into()
}

/// Runs a parsed command line, writing to `term`.
pub fn run_with(
    cli: Cli,
    daemon: impl FnOnce(PathBuf) -> anyhow::Result<()>,
    term: &mut Term<'_>,
) -> Exit {
    match cli.command {
        Command::Daemon { config, log_format } => {
            crate::logging::init(log_format);
            run_daemon(daemon, config.config, term)
        }
        Command::Check(config) => check::run(&config.config, term),
        Command::Man(args) => match clap_mangen::generate_to(Cli::command(), &args.dir) {
            Ok(()) => Exit::Ok,
            Err(e) => {
                let _ = writeln!(
                    term.err,
                    "lb: writing man pages to {}: {e}",
                    args.dir.display()
                );
                Exit::Failed
            }
        },
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "lb", term.out);
            Exit::Ok
        }
        command => {
            let client = Client::new(cli.socket);
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = writeln!(term.err, "lb: cannot start the async runtime: {e}");
                    return Exit::Failed;
                }
            };
            match runtime.block_on(client_command(&client, command, term)) {
                Ok(exit) => exit,
                Err(e) => report(&e, term),
            }
        }
    }
}

fn run_daemon(
    daemon: impl FnOnce(PathBuf) -> anyhow::Result<()>,
    config: PathBuf,
    term: &mut Term<'_>,
) -> Exit {
    let Err(e) = daemon(config) else {
        return Exit::Ok;
    };
    // A bad config is exit 2, wherever it sits in the chain of causes; its
    // message already names the file, line and key.
    let config_error = e
        .chain()
        .find_map(|cause| cause.downcast_ref::<crate::config::ConfigError>());
    if let Some(config_error) = config_error {
        let _ = writeln!(term.err, "lb: {config_error}");
        return Exit::Usage;
    }
    let _ = writeln!(term.err, "lb: {e:#}");
    Exit::Failed
}

/// `lb teardown --config FILE` with no daemon: removes the pins the config
/// points at. Removing the link's pin detaches the program once nothing else
/// holds it.
fn offline_teardown(config: &std::path::Path) -> anyhow::Result<TeardownReport> {
    let config = crate::config::load(config)?;
    let daemon = &config.daemon;
    let unpinned = crate::dataplane::teardown_pins(&daemon.pin_root, &daemon.interface)?;
    crate::daemon::lock::remove_lock_file(&daemon.pin_root, &daemon.interface);
    // The NAT guard's table lives in the daemon's network namespace: removed
    // only from there (where the interface is), never from another's.
    if nix::net::if_::if_nametoindex(daemon.interface.as_str()).is_ok() {
        crate::dataplane::nat_guard::remove_on_teardown(&daemon.interface);
    }
    // A new deployment must not inherit an old drain.
    crate::daemon::persist::StateFile(daemon.state_file.clone())
        .remove()
        .map_err(|e| anyhow::anyhow!("removing {}: {e}", daemon.state_file.display()))?;
    Ok(TeardownReport {
        interface: daemon.interface.clone(),
        detached: unpinned.iter().any(|p| p == crate::dataplane::pins::LINK),
        unpinned,
    })
}

/// An error from the daemon or from reaching it, printed once, here.
fn report(e: &ClientError, term: &mut Term<'_>) -> Exit {
    let _ = writeln!(term.err, "lb: {e}");
    match e.api_code() {
        // `lb reload` of an invalid config: a bad config, as for `lb daemon`.
        Some("bad_config") => Exit::Usage,
        _ => Exit::Failed,
    }
}

async fn client_command(
    client: &Client,
    command: Command,
    term: &mut Term<'_>,
) -> Result<Exit, ClientError> {
    match command {
        Command::Status(a) if a.fleet => {
            let fleet = client.get_fleet().await?;
            print(term, a.output, &fleet, show::fleet)
        }
        Command::Status(a) => {
            let status = client.get_status().await?;
            print(term, a.output, &status, show::status)
        }
        Command::Drain(args) => {
            let request = DrainRequest {
                timeout: args.timeout,
                no_signal: args.no_signal,
            };
            let started = client.drain(&args.name, &request).await?;
            if args.wait {
                return wait::follow(client, started, args.output.json, term).await;
            }
            print(term, args.output, &started, show::backend_line)
        }
        Command::Enable { name, output } => {
            let backend = client.enable(&name).await?;
            print(term, output, &backend, show::backend_line)
        }
        Command::Disable { name, output } => {
            let backend = client.disable(&name).await?;
            print(term, output, &backend, show::backend_line)
        }
        Command::Node(command) => node::run(client, command, term).await,
        Command::Reload(o) => {
            let report = client.reload().await?;
            print(term, o, &report, show::reload)
        }
        Command::Flows {
            backend,
            limit,
            output,
        } => {
            let listed = flows::list(client, backend.as_deref(), limit).await?;
            if listed.more > 0 {
                // On stderr, so `--json` stays one array on stdout.
                let _ = writeln!(
                    term.err,
                    "lb: showing {} of {} flows; {} more (raise --limit, or leave it out for all)",
                    listed.flows.len(),
                    listed.total,
                    listed.more
                );
            }
            print(term, output, &listed.flows, |f: &Vec<_>| show::flows(f))
        }
        Command::Teardown { config, output } => {
            let config = config.or_else(|| {
                let default = PathBuf::from(crate::config::DEFAULT_CONFIG);
                default.exists().then_some(default)
            });
            let report = match (client.teardown().await, config) {
                (Err(ClientError::NotRunning { .. }), Some(config)) => {
                    match offline_teardown(&config) {
                        Ok(report) => report,
                        Err(e) => {
                            let _ = writeln!(term.err, "lb: {e:#}");
                            return Ok(Exit::Failed);
                        }
                    }
                }
                (result, _) => result?,
            };
            print(term, output, &report, show::teardown)
        }
        Command::Daemon { .. }
        | Command::Check(_)
        | Command::Man(_)
        | Command::Completions { .. } => {
            unreachable!("handled without a client")
        }
    }
}

/// Prints `body` as pretty JSON with `--json`, else as `human` renders it.
// A Result, as every command's arm returns one.
#[allow(clippy::unnecessary_wraps)]
fn print<T: Serialize>(
    term: &mut Term<'_>,
    output: Output,
    body: &T,
    human: impl FnOnce(&T) -> String,
) -> Result<Exit, ClientError> {
    let text = if output.json {
        let mut json = serde_json::to_string_pretty(body).expect("API bodies always serialize");
        json.push('\n');
        json
    } else {
        human(body)
    };
    // A closed pipe (`lb status | head -1`) is not worth an error.
    let _ = term.out.write_all(text.as_bytes());
    let _ = term.out.flush();
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests;
