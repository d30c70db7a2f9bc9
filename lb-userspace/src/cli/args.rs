//! The command line (README.md, "The `lb` command"): commands, flags and their help.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;

/// `--config FILE` of the commands that read the config file.
#[derive(Debug, Args, Clone)]
pub struct ConfigArg {
    /// The TOML config file.
    #[arg(
        long,
        value_name = "FILE",
        env = "LB_CONFIG",
        default_value = crate::config::DEFAULT_CONFIG
    )]
    pub config: PathBuf,
}

const EXAMPLES: &str = "\
Examples:
  lb daemon --config /etc/lb/lb.toml   run the daemon in the foreground
  lb status                            VIPs, backends, health, live flows, rates
  lb drain web-2 --wait                take web-2 out gracefully, follow it to the end
  lb enable web-2                      put web-2 back in service
  lb reload                            re-read the config file

Exit status: 0 ok, 1 the operation failed (or the daemon is not running),
2 bad usage or a bad config file.";

/// An XDP L4 load balancer that drains backends without losing a request.
#[derive(Debug, Parser)]
#[command(name = "lb", version, after_help = EXAMPLES)]
#[command(
    long_about = "An XDP L4 load balancer that drains backends without losing a request.\n\n\
    `lb daemon` runs the load balancer; every other command talks to it over its \
    control socket (HTTP/JSON, see docs/api.md)."
)]
pub struct Cli {
    /// The daemon's control socket (`lb daemon` itself uses its config's).
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "LB_SOCKET",
        // The daemon's own default, so both find each other unconfigured.
        default_value = crate::config::DEFAULT_SOCKET
    )]
    pub socket: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

/// `--json` for the commands that print something.
#[derive(Debug, Args, Clone, Copy)]
pub struct Output {
    /// Print the API's JSON answer (pretty) instead of text, for scripts.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Withdraw every VIP from BGP, then wait until no flow uses this node.
    Drain(Output),
    /// Announce the VIPs again (those with a usable backend).
    Enable(Output),
    /// This node's mode, what it announces, its live flows.
    Status(Output),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub output: Output,
    /// With [cluster]: every live node's report and the fleet's admin states, from etcd.
    #[arg(long)]
    pub fleet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon in the foreground.
    #[command(after_help = "\
Loads the XDP program on the configured interface (or adopts the one a previous
daemon pinned, so restarting the daemon does not touch traffic), serves the
control socket and metrics, runs health checks and drains. Stop it with
SIGTERM or Ctrl-C: the data plane stays attached; `lb teardown` removes it.

Example:
  lb daemon --config /etc/lb/lb.toml

Exits 2 if the config file is invalid, naming the file, line and key, or if
someone other than root and the daemon's user can write it or its directory.")]
    Daemon {
        #[command(flatten)]
        config: ConfigArg,
        /// Log lines as text (colour only on a terminal) or as JSON objects.
        #[arg(long, value_name = "FORMAT", default_value = "text")]
        log_format: crate::logging::LogFormat,
    },

    /// Check the config file and what it refers to, like `nginx -t`.
    #[command(after_help = "\
Validates the file as `lb daemon` would, then checks this host: the interface
exists (in this network namespace), pin_root is on a bpffs, the metrics
address is one of this host's, and pid files sit in directories only their
owner can write. Touches nothing: no maps, pins or sockets.

Prints \"ok\" and a summary, exit 0; or the problem with file:line:key, exit 2.

Examples:
  lb check
  lb check --config /etc/lb/lb.toml.new && mv /etc/lb/lb.toml.new /etc/lb/lb.toml")]
    Check(ConfigArg),

    /// Show VIPs and backends: state, health, live flows, rates.
    #[command(after_help = "\
One block per VIP, one row per backend. PKT/S and NEW/S are packets and new
flows per second over the daemon's last status interval; LIVE counts
connections in flight. A draining backend also shows its drain's progress and
the outcome of its last shutdown or on_drain action.

Examples:
  lb status
  lb status --json | jq '.vips[].backends[] | {name, state, live_flows}'
  lb status --fleet                   # [cluster]: every node's report and the admin states in etcd")]
    Status(StatusArgs),

    /// Stop sending new connections to a backend and let its connections finish.
    #[command(after_help = "\
At once, in the kernel, the backend gets no new connections; its existing ones
stay pinned to it. Then its shutdown action runs (as configured: at start,
after signal_delay, or once idle), and the drain ends when its live
connections reach zero (drained) or at the timeout (forced: the rest move).

With --wait, follows the drain with a progress bar and exits 0 if it drained,
1 if it was forced or cancelled. Ctrl-C stops waiting; the drain goes on.

Examples:
  lb drain web-2 --wait
  lb drain web-2 --wait --timeout 2m
  lb drain web-2 --no-signal          # drain, but leave the process running")]
    Drain(DrainArgs),

    /// Put a backend back in service (ACTIVE): cancels a drain, undoes disable.
    #[command(after_help = "Example:\n  lb enable web-2")]
    Enable {
        /// The backend's name, as in the config (`lb status` lists them).
        name: String,
        #[command(flatten)]
        output: Output,
    },

    /// Take a backend down at once (admin DOWN): its flows move to others.
    #[command(after_help = "\
Unlike drain, existing connections are not kept: their next packet goes to
another backend, which resets TCP connections. Use drain to stop gracefully.

Example:
  lb disable web-2")]
    Disable {
        /// The backend's name, as in the config (`lb status` lists them).
        name: String,
        #[command(flatten)]
        output: Output,
    },

    /// Re-read the config file; unchanged backends keep their flows.
    #[command(after_help = "\
Prints which backends were added, removed, changed and left unchanged. An
invalid config changes nothing and is reported (exit 2).

Example:
  lb reload")]
    Reload(Output),

    /// List live flows (connections the balancer is tracking).
    #[command(after_help = "\
Lists every flow, fetching the daemon's pages one after another. With --limit,
shows the first N and says how many more there are.

Examples:
  lb flows
  lb flows --backend web-2
  lb flows --limit 20")]
    Flows {
        /// Only the flows of this backend.
        #[arg(long, value_name = "NAME")]
        backend: Option<String>,
        /// Show at most N flows (and say how many more there are).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        limit: Option<u64>,
        #[command(flatten)]
        output: Output,
    },

    /// [cluster]: this node behind the router (withdraw it from BGP, put it back).
    #[command(
        subcommand,
        after_help = "\
Examples:
  lb node drain     # withdraw every VIP, wait until no flow uses this node
  lb node enable    # announce again
  lb node status"
    )]
    Node(NodeCommand),

    /// Detach the XDP program and remove every pin: traffic to the VIPs stops.
    #[command(after_help = "\
The running daemon does it and then stops (starting it again attaches afresh,
with an empty flow table). With --config, a data plane whose daemon is not
running is removed directly: the config names the interface and pin_root.

Examples:
  lb teardown
  lb teardown --config /etc/lb/lb.toml")]
    Teardown {
        /// When no daemon answers, remove the data plane this config describes
        /// (default: $LB_CONFIG, else /etc/lb/lb.toml if it exists).
        #[arg(long, value_name = "FILE", env = "LB_CONFIG")]
        config: Option<PathBuf>,
        #[command(flatten)]
        output: Output,
    },

    /// Print a shell completion script.
    #[command(after_help = "\
Examples:
  lb completions bash > /etc/bash_completion.d/lb
  lb completions zsh > \"${fpath[1]}/_lb\"
  lb completions fish > ~/.config/fish/completions/lb.fish")]
    Completions {
        /// The shell to complete for.
        shell: Shell,
    },

    /// Write the manual pages (lb.1 and one per command) into DIR.
    #[command(hide = true)]
    Man(ManArgs),
}

/// Manual pages for the package (`cargo xtask dist`); not for users.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Where to write lb.1 and one page per command (lb-drain.1, ...).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct DrainArgs {
    /// The backend's name, as in the config (`lb status` lists them).
    pub name: String,

    /// Follow the drain until it ends; exit 0 if drained, 1 if forced or cancelled.
    #[arg(long)]
    pub wait: bool,

    /// Deadline for this drain instead of the backend's drain_timeout, e.g. 45s, 2m, 500ms.
    #[arg(long, value_name = "DUR", value_parser = duration)]
    pub timeout: Option<String>,

    /// Do not run the backend's shutdown action (leave the process running).
    #[arg(long)]
    pub no_signal: bool,

    #[command(flatten)]
    pub output: Output,
}

/// Checks a duration as the daemon will read it, but passes it on as written.
fn duration(text: &str) -> Result<String, String> {
    crate::config::duration::parse_duration(text).map(|_| text.to_owned())
}
