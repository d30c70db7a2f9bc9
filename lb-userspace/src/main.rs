//! The `lb` binary. Everything lives in the library (`cli` parses and
//! dispatches, `daemon` runs the load balancer) so tests drive the same code.

use std::process::ExitCode;

fn main() -> ExitCode {
    lb_userspace::cli::main(lb_userspace::daemon::run)
}
