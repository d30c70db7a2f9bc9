//! The daemon seen from outside: its CLI over the control socket, the status
//! it reports, and its Prometheus metrics.

use std::{
    process::{Command, Output},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::{CLI_TIMEOUT, Daemon};
use crate::netns;

impl Daemon {
    /// Runs `lb --socket SOCK ARGS...` (bounded by [`CLI_TIMEOUT`]).
    pub fn lb(&self, args: &[&str]) -> Result<Output> {
        self.lb_timeout(args, CLI_TIMEOUT)
    }

    /// Runs `lb --socket SOCK ARGS...`, killed after `timeout` (for
    /// `drain --wait`). The CLI talks over the Unix socket, so it runs in
    /// the host's namespace.
    pub fn lb_timeout(&self, args: &[&str], timeout: Duration) -> Result<Output> {
        let mut cmd = Command::new("timeout");
        cmd.args(["-k", "2", &format!("{:.3}", timeout.as_secs_f64())])
            .arg(&self.lb)
            .arg("--socket")
            .arg(self.socket())
            .args(args);
        cmd.output().with_context(|| format!("running {cmd:?}"))
    }

    /// `lb status --json`, parsed (see lb-userspace's api::types::Status).
    pub fn status(&self) -> Result<serde_json::Value> {
        let out = self.lb(&["status", "--json"])?;
        if !out.status.success() {
            bail!("lb status: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        serde_json::from_slice(&out.stdout).context("parsing `lb status --json`")
    }

    /// The status entry of backend `name`.
    pub fn backend_status(&self, name: &str) -> Result<serde_json::Value> {
        let s = self.status()?;
        s["vips"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|v| v["backends"].as_array().into_iter().flatten())
            .find(|b| b["name"] == name)
            .cloned()
            .with_context(|| format!("no backend {name:?} in lb status"))
    }

    /// Polls until every backend in the status is healthy and active, at
    /// most `timeout` (health checks need `rise` passes first).
    pub fn wait_all_active(&self, timeout: Duration) -> Result<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.status()?;
            let all = s["vips"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|v| v["backends"].as_array().into_iter().flatten());
            let pending: Vec<String> = all
                .filter(|b| {
                    b["state"] != "active"
                        || !(b["health"] == "healthy" || b["health"] == "unchecked")
                })
                .map(|b| format!("{} {} {}", b["name"], b["state"], b["health"]))
                .collect();
            if pending.is_empty() {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                bail!(
                    "backends not active after {timeout:?}: {}",
                    pending.join(", ")
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Prometheus text from the configured `metrics` address (curl inside
    /// the LB namespace, where it listens).
    pub fn metrics(&self) -> Result<String> {
        let Some(addr) = &self.config.daemon.metrics else {
            bail!("no metrics address in the config")
        };
        netns::run(&mut self.ns.exec(&[
            "curl",
            "-sS",
            "--max-time",
            "5",
            &format!("http://{addr}/metrics"),
        ]))
    }
}
