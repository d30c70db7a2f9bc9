//! Named network namespaces (`/run/netns/NAME`), deleted on drop, and the
//! command helpers the rest of the lab uses.
//!
//! Two ways in, because they differ in what the process sees (docs/toolchain.md):
//! `ip netns exec` also gives the process a fresh `/sys` (right for the
//! backends and the load tools), while `nsenter --net=` changes only the
//! network namespace, so the host's `/sys/fs/bpf` stays visible (right for
//! the lb daemon, whose pins must outlive it).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

/// A network namespace this lab created; deleted when dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// `ip netns add NAME`, then `lo` up.
    pub fn create(name: &str) -> Result<Netns> {
        run(Command::new("ip").args(["netns", "add", name]))?;
        let ns = Netns {
            name: name.to_owned(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/NAME`.
    pub fn path(&self) -> PathBuf {
        Path::new("/run/netns").join(&self.name)
    }

    /// `ip netns exec NAME ARGS...` (fresh /sys inside), not yet run.
    pub fn exec(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).args(args);
        c
    }

    /// `nsenter --net=/run/netns/NAME -- ARGS...` (host's /sys/fs/bpf stays
    /// visible), not yet run.
    pub fn nsenter(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.path().display()))
            .arg("--")
            .args(args);
        c
    }

    /// Runs ARGS inside (`ip netns exec`), failing with its stderr; returns stdout.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        run(&mut self.exec(args))
    }

    /// `ip -n NAME ARGS...`, failing with its stderr; returns stdout.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        run(Command::new("ip").args(["-n", &self.name]).args(args))
    }

    /// `sysctl -w` of several keys at once (`net.*` keys are per namespace).
    pub fn sysctl(&self, settings: &[(&str, &str)]) -> Result<()> {
        let pairs: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args = vec!["sysctl", "-q", "-w"];
        args.extend(pairs.iter().map(String::as_str));
        self.run(&args).map(drop)
    }

    /// The MAC address of `dev` inside the namespace.
    pub fn mac(&self, dev: &str) -> Result<String> {
        let out = self.ip(&["-j", "link", "show", "dev", dev])?;
        let v: serde_json::Value = serde_json::from_str(&out).context("parsing `ip -j link`")?;
        v[0]["address"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no MAC for {dev} in {}", self.name))
    }

    /// [`Self::mac`] as octets.
    pub fn mac_octets(&self, dev: &str) -> Result<crate::mac::Mac> {
        crate::mac::parse(&self.mac(dev)?)
    }

    /// Runs `f` on a new thread that has entered this namespace (only the
    /// network namespace: setns(2) acts on the calling thread alone), so
    /// the sockets it opens, and those of any thread it spawns (a tokio
    /// runtime's), live inside. How a test talks to a server that listens
    /// only in a lab namespace.
    pub fn run_inside<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        let file = std::fs::File::open(self.path())
            .with_context(|| format!("opening {}", self.path().display()))?;
        std::thread::scope(|s| {
            let inside = s.spawn(move || {
                use std::os::fd::AsRawFd as _;
                // SAFETY: a valid namespace fd; affects only this thread.
                if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(std::io::Error::last_os_error())
                        .context("setns into the lab namespace");
                }
                Ok(f())
            });
            // A panic inside (a failed assertion) stays a panic outside.
            match inside.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Deletes it now, reporting failure (drop ignores errors).
    pub fn delete(self) -> Result<()> {
        let mut this = std::mem::ManuallyDrop::new(self);
        delete(&std::mem::take(&mut this.name))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = delete(&self.name) {
            eprintln!("lb-lab: {e:#}");
        }
    }
}

/// `ip netns del NAME` unless it is already gone. Processes still inside keep
/// the namespace alive, so callers kill them first.
pub fn delete(name: &str) -> Result<()> {
    if !Path::new("/run/netns").join(name).exists() {
        return Ok(());
    }
    run(Command::new("ip").args(["netns", "del", name])).map(drop)
}

/// The names `ip netns list` shows.
pub fn list() -> Result<Vec<String>> {
    let out = run(Command::new("ip").args(["netns", "list"]))?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// Runs a command to completion; fails with its stderr (and the command line)
/// when it exits non-zero; returns its stdout.
pub fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
