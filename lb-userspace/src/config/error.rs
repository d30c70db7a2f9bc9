//! `ConfigError`: every way a config can be refused, always naming the file,
//! the line and the key, because the person reading it is fixing a file.

use std::{
    io,
    path::{Path, PathBuf},
};

use super::locate::{KeyPath, Locator};

/// A config that cannot be used. The CLI exits with [`ConfigError::exit_code`]
/// (2, "bad usage or bad config") on any of these.
///
/// Displays as, e.g.:
/// ``config error: /etc/lb.toml:12: key `vip[0].backend[1].address`: expected an IPv4 address like the VIP's (198.51.100.10), got "2001:db8::1"``
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("config error: {}: cannot read: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file or its directory can be written by someone other than root
    /// and the daemon's user (see `trust`).
    #[error("config error: {}: refused: {message}", .path.display())]
    Untrusted { path: PathBuf, message: String },
    /// Bad syntax, a wrong type, an unknown key or a value that fails validation.
    #[error("config error: {}:{line}: {}{message}", .path.display(), key_prefix(.key))]
    Invalid {
        path: PathBuf,
        /// 1-based.
        line: usize,
        /// Dotted key path, e.g. `vip[0].backend[1].address`; empty for the
        /// document as a whole.
        key: String,
        /// What was expected and what was found.
        message: String,
    },
}

/// What std's address parsers wanted, by their error message.
fn syntax_hint(message: &str) -> Option<&'static str> {
    Some(match message {
        "invalid IP address syntax" => r#"an IP address like "203.0.113.11" or "2001:db8::11""#,
        "invalid socket address syntax" => {
            r#"an address and port like "127.0.0.1:9464" or "[::1]:9464""#
        }
        _ => return None,
    })
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("key `{key}`: ")
    }
}

impl ConfigError {
    /// The process exit code for a bad config.
    pub const fn exit_code(&self) -> i32 {
        2
    }

    /// 1-based line of the problem, when it is in the text.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Read { .. } | Self::Untrusted { .. } => None,
            Self::Invalid { line, .. } => Some(*line),
        }
    }

    /// Dotted key path of the problem, when it is in the text.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Read { .. } | Self::Untrusted { .. } => None,
            Self::Invalid { key, .. } => Some(key),
        }
    }

    /// A syntax or type error from toml/serde, located by its span.
    pub(super) fn from_toml(err: &toml::de::Error, text: &str, path: &Path) -> Self {
        let locator = Locator::new(text);
        let offset = err.span().map_or(0, |s| s.start);
        let mut key = locator.path_at(offset);
        let mut message = err.message().trim_end().to_owned();
        // serde points a missing field at its table: name the field itself.
        if let Some(field) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            key = key.key(field);
            "required key is missing".clone_into(&mut message);
        } else if let Some(expected) = syntax_hint(&message) {
            // std's address parsers say only "invalid ... syntax": show the value.
            let span = err.span().unwrap_or(0..0);
            let got = text.get(span).unwrap_or("").trim();
            message = format!("expected {expected}, got {got}");
        } else if message == "invalid type: map, expected a sequence" {
            message.push_str(" (write each entry as [[table]], or use an array)");
        } else if locator.syntax_error {
            message = format!("TOML syntax: {message}");
        }
        Self::Invalid {
            path: path.to_owned(),
            line: locator.line_of(offset),
            key: key.to_string(),
            message,
        }
    }

    /// A validation problem, located by its key path.
    pub(super) fn from_problem(problem: Problem, text: &str, path: &Path) -> Self {
        let locator = Locator::new(text);
        Self::Invalid {
            path: path.to_owned(),
            line: locator.line_of_path(&problem.path),
            key: problem.path.to_string(),
            message: problem.message,
        }
    }
}

/// A validation failure before it is located in the text.
#[derive(Debug)]
pub(super) struct Problem {
    pub path: KeyPath,
    pub message: String,
}

impl Problem {
    pub fn new(path: KeyPath, message: impl Into<String>) -> Self {
        Self {
            path,
            message: message.into(),
        }
    }
}
