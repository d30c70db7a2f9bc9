//! Network namespaces for end-to-end tests, deleted when dropped (also when a
//! test panics), and a way to run code inside one.
//!
//! Names are `lbt-<pid>-<role>` so concurrent runs cannot collide and anything
//! left behind by a killed run says whose it was. Nothing here touches the
//! host's own namespace: interfaces are created directly inside the test
//! namespaces (`ip -n NS link add ... peer ... netns OTHER`).

use std::{fs::File, process::Command, thread};

use anyhow::{Context, Result, bail};
use nix::sched::{CloneFlags, setns};

/// A named network namespace (`/run/netns/NAME`), deleted on drop.
pub struct Netns {
    name: String,
}

/// `lbt-<pid>-<role>`.
pub fn unique_name(role: &str) -> String {
    format!("lbt-{}-{role}", std::process::id())
}

/// Runs a command, failing with its stderr when it fails.
pub fn run(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Netns {
    /// Creates `lbt-<pid>-<role>`.
    pub fn create(role: &str) -> Result<Self> {
        let name = unique_name(role);
        run("ip", &["netns", "add", &name])?;
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS...`
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// `ip netns exec NAME PROGRAM ARGS...`
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<String> {
        let mut all = vec!["netns", "exec", self.name.as_str(), program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// `sysctl -w KEY=VALUE` inside the namespace (`net.*` keys are per namespace).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.exec("sysctl", &["-q", "-w", &format!("{key}={value}")])?;
        Ok(())
    }

    /// The MAC address of `dev` inside the namespace.
    pub fn mac(&self, dev: &str) -> Result<String> {
        let out = self.ip(&["-br", "link", "show", "dev", dev])?;
        out.split_whitespace()
            .nth(2)
            .map(str::to_owned)
            .with_context(|| format!("no MAC in {out:?}"))
    }

    /// Moves the calling thread into this namespace. Only ever call it on a
    /// thread made for the purpose: the thread stays there.
    pub fn enter_current_thread(&self) -> Result<()> {
        let path = format!("/run/netns/{}", self.name);
        let fd = File::open(&path).with_context(|| format!("opening {path}"))?;
        setns(&fd, CloneFlags::CLONE_NEWNET).with_context(|| format!("setns into {path}"))?;
        Ok(())
    }

    /// Runs `f` on a fresh thread inside this namespace and waits for it.
    /// Sockets and XDP attachments made there belong to this namespace (and
    /// stay there when handed back to other threads).
    pub fn run_in<T: Send>(&self, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
        thread::scope(|s| {
            s.spawn(|| {
                self.enter_current_thread()?;
                f()
            })
            .join()
            .unwrap_or_else(|_| bail!("thread in {} panicked", self.name))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes its interfaces (and their veth peers
        // in other namespaces), which also detaches any XDP program on them.
        if let Err(e) = run("ip", &["netns", "del", &self.name]) {
            eprintln!("warning: could not delete namespace {}: {e:#}", self.name);
        }
    }
}

/// Lists the namespaces this process created that still exist (should be none
/// once every [`Netns`] is dropped).
pub fn leftovers() -> Result<Vec<String>> {
    let prefix = unique_name("");
    Ok(run("ip", &["netns", "list"])?
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&prefix))
        .map(str::to_owned)
        .collect())
}
