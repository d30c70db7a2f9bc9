//! Running external commands with error messages that name the command.
use std::{
    ffi::OsStr,
    process::{Command, Stdio},
};

use anyhow::{Context as _, Result, bail};

pub trait CmdExt {
    /// Runs with inherited stdio; fails unless it exits 0.
    fn run(&mut self) -> Result<()>;
    /// For checks: stdout if the program exists and exits 0, else `None`.
    fn probe(&mut self) -> Option<String>;
    /// The command as a shell line, for messages.
    fn display(&self) -> String;
}

impl CmdExt for Command {
    fn run(&mut self) -> Result<()> {
        let line = self.display();
        let status = self
            .status()
            .with_context(|| format!("cannot start `{line}`"))?;
        if !status.success() {
            bail!("`{line}` failed ({status})");
        }
        Ok(())
    }

    fn probe(&mut self) -> Option<String> {
        let out = self
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn display(&self) -> String {
        let envs = self
            .get_envs()
            .filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), quote(v?))));
        let words = std::iter::once(quote(self.get_program())).chain(self.get_args().map(quote));
        let mut line = envs.chain(words).collect::<Vec<_>>().join(" ");
        if let Some(dir) = self.get_current_dir() {
            line = format!("cd {} && {line}", quote(dir.as_os_str()));
        }
        line
    }
}

/// Single-quotes a word if the shell would otherwise split or expand it.
fn quote(word: &OsStr) -> String {
    let s = word.to_string_lossy();
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::CmdExt as _;

    #[test]
    fn display_quotes_only_what_the_shell_would_split() {
        let mut c = Command::new("apt-get");
        c.env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "it's", "a b", ""]);
        assert_eq!(
            c.display(),
            r"DEBIAN_FRONTEND=noninteractive apt-get install -y 'it'\''s' 'a b' ''"
        );
    }
}
