//! The TOML configuration (see docs/config.md): parsing, defaults and
//! validation, all before anything touches the kernel.
//!
//! ```toml
//! [daemon]
//! interface = "eth0"
//!
//! [[vip]]
//! name = "web"
//! address = "198.51.100.10"
//! port = 80
//! protocol = "tcp"
//!
//! [[vip.backend]]
//! name = "web-1"
//! address = "203.0.113.11"
//! shutdown = { signal = "TERM", pid_file = "/run/web-1.pid" }
//! ```
//!
//! Unknown keys are errors. Every error names the file, the 1-based line and
//! the dotted key path (`vip[0].backend[1].address`), and the CLI exits with
//! status 2 on it ([`ConfigError::exit_code`]).
//!
//! The pipeline: serde reads the text into [`raw`] types shaped like the file
//! (syntax and type errors are located by toml's spans), then [`validate`]
//! fills in defaults and checks what types cannot (uniqueness, families,
//! ranges), naming the offending key; only then is the text parsed again with
//! spans ([`locate`]) to turn a key path or an offset into a line.
//!
//! Imports run one way. At the bottom, [`model`] (what the daemon reads) and
//! [`raw`] (what serde reads), which check nothing, and [`check`] (the checks
//! several sections share); above them one checker per section
//! ([`action`], [`backend`], [`cluster`], [`nat`]); [`validate`] on top,
//! checking `[daemon]` and calling the others in file order.

mod action;
mod backend;
mod check;
pub mod cluster;
pub mod duration;
mod error;
mod locate;
pub mod mac;
mod model;
pub mod nat;
mod raw;
pub mod refs;
pub mod trust;
mod validate;

use std::path::Path;

pub use action::MAX_PID;
pub use check::MAX_NAME_LEN;
pub use error::ConfigError;
pub use model::*;

/// Where commands that take `--config` look when it is not given and
/// `$LB_CONFIG` is not set.
pub const DEFAULT_CONFIG: &str = "/etc/lb/lb.toml";

/// Reads and validates the config file at `path`, refusing a file that
/// someone other than root and the reading user could write ([`trust`]).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_text(path).and_then(|text| parse(&text, path))
}

/// The text of a config file that may be trusted.
pub(crate) fn load_text(path: &Path) -> Result<String, ConfigError> {
    if let Some(message) = trust::untrusted(path, nix::unistd::geteuid().as_raw()) {
        return Err(ConfigError::Untrusted {
            path: path.to_owned(),
            message,
        });
    }
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Parses and validates `text`; `path` is only used in error messages.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let raw: raw::RawConfig =
        toml::from_str(text).map_err(|e| ConfigError::from_toml(&e, text, path))?;
    validate::validate(raw).map_err(|p| ConfigError::from_problem(p, text, path))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_cluster;
#[cfg(test)]
mod tests_errors;
#[cfg(test)]
mod tests_fuzz;
#[cfg(test)]
mod tests_invalid;
