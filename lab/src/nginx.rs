//! Nginx from Debian's packages, run by the benchmarks inside one of the lab's
//! namespaces only: its own config, pid file, logs and temp dirs under the
//! lab dir, `daemon off` (the master is the bench's child, in its own process
//! group, killed at the end and at the lab's teardown), listening on the
//! namespace's own addresses. Never started in the host's namespace.
//!
//! Used as the trivial backends (`return 200` in each backend namespace), as
//! the HTTP reverse proxy and the stream (L4) proxy in the LB namespace, and
//! as the proxy of the Nginx drain procedure.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail, ensure};

use crate::{Lab, Netns, proc::Proc};

/// Where Debian's dynamic modules live; the stream module is
/// `libnginx-mod-stream`.
pub const STREAM_MODULE: &str = "/usr/lib/nginx/modules/ngx_stream_module.so";

/// One Nginx master (and its workers) in a namespace.
pub struct Nginx {
    name: String,
    ns: String,
    dir: PathBuf,
    proc: Proc,
}

impl Nginx {
    /// Writes `conf` (the body of nginx.conf; the bench adds `daemon off`, the
    /// pid file, the error log and the temp paths), checks it with `nginx -t`,
    /// starts the master in `ns` and waits until every one of `ports` listens
    /// there.
    pub fn start(lab: &Lab, ns: &Netns, name: &str, conf: &str, ports: &[u16]) -> Result<Nginx> {
        ensure!(
            lab.namespaces().iter().any(|n| n == ns.name()),
            "nginx only runs inside the lab's namespaces"
        );
        let dir = lab.dir().join(format!("nginx-{name}"));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        write_conf(&dir, conf)?;
        let (prefix, conf_path, err) = paths(&dir);
        let out = ns
            .exec(&[
                "nginx", "-t", "-q", "-p", &prefix, "-e", &err, "-c", &conf_path,
            ])
            .output()
            .context("running nginx -t (Debian package nginx-light)")?;
        ensure!(
            out.status.success(),
            "nginx -t for {name}: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
        );
        let cmd = ns.exec(&["nginx", "-p", &prefix, "-e", &err, "-c", &conf_path]);
        let proc = lab.spawn(&format!("nginx {name}"), cmd, Some(&dir.join("stdout.log")))?;
        let nginx = Nginx {
            name: name.to_owned(),
            ns: ns.name().to_owned(),
            dir,
            proc,
        };
        nginx.wait_listening(ports, Duration::from_secs(10))?;
        Ok(nginx)
    }

    /// The master's pid.
    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }

    pub fn error_log(&self) -> PathBuf {
        self.dir.join("error.log")
    }

    /// The master's children: its workers (during a reload, old and new).
    pub fn workers(&self) -> Vec<u32> {
        children(self.pid())
    }

    /// Rewrites the config and runs `nginx -s reload` (SIGHUP to the master:
    /// new workers start with the new config, old ones finish what they have
    /// and exit). Returns once the signal is sent, as `nginx -s reload` does.
    pub fn reload(&self, conf: &str) -> Result<()> {
        ensure!(self.proc.is_running(), "nginx {} is not running", self.name);
        write_conf(&self.dir, conf)?;
        let (prefix, conf_path, err) = paths(&self.dir);
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args([
                "nginx", "-q", "-p", &prefix, "-e", &err, "-c", &conf_path, "-s", "reload",
            ])
            .output()
            .context("running nginx -s reload")?;
        ensure!(
            out.status.success(),
            "nginx -s reload ({}): {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// Waits (bounded) until the master has exactly `n` workers again, e.g.
    /// after a reload once the old workers are gone.
    pub fn wait_workers(&self, n: usize, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let w = self.workers();
            if w.len() == n {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "nginx {}: {} workers after {timeout:?}, want {n}",
                    self.name,
                    w.len()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_listening(&self, ports: &[u16], timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            ensure!(
                self.proc.is_running(),
                "nginx {} exited at start: {}",
                self.name,
                std::fs::read_to_string(self.error_log()).unwrap_or_default()
            );
            let out = Command::new("ip")
                .args(["netns", "exec", &self.ns, "ss", "-ltnH"])
                .output()
                .context("running ss")?;
            let text = String::from_utf8_lossy(&out.stdout);
            let listening = |p: u16| {
                text.lines().any(|l| {
                    l.split_whitespace()
                        .nth(3)
                        .is_some_and(|a| a.ends_with(&format!(":{p}")))
                })
            };
            if ports.iter().all(|&p| listening(p)) && !self.workers().is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "nginx {} not listening on {ports:?} after {timeout:?}",
                    self.name
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGQUIT (graceful stop), bounded; then SIGKILL to the group.
    pub fn stop(self) {
        let _ = self.proc.signal(libc::SIGQUIT);
        if !matches!(self.proc.wait_timeout(Duration::from_secs(5)), Ok(Some(_))) {
            self.proc.kill();
        }
    }
}

fn paths(dir: &Path) -> (String, String, String) {
    (
        format!("{}/", dir.display()),
        dir.join("nginx.conf").display().to_string(),
        dir.join("error.log").display().to_string(),
    )
}

/// The whole nginx.conf: the bench's own settings, then `body`.
fn write_conf(dir: &Path, body: &str) -> Result<()> {
    let d = dir.display();
    let mut text = String::new();
    let _ = write!(
        text,
        "# Written by lb-bench; runs inside a lab namespace only.\n\
         daemon off;\nmaster_process on;\nuser root root;\n\
         pid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         worker_rlimit_nofile 65536;\n"
    );
    text.push_str(body);
    let temp = format!(
        "client_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n"
    );
    // The temp paths belong in the http block, which every body has.
    let text = text.replacen("http {\n", &format!("http {{\n{temp}"), 1);
    let path = dir.join("nginx.conf");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// The children of `pid` (/proc/PID/task/PID/children, else a /proc scan).
pub fn children(pid: u32) -> Vec<u32> {
    if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        return s
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| ppid(p) == Some(pid))
        .collect()
}

/// The parent of `pid`, from /proc/PID/stat (the field after the command,
/// which may itself hold spaces and parentheses).
fn ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// A trivial backend: `return 200` on `port` of every address of its
/// namespace (the VIP on `lo` included), one worker, no access log,
/// keep-alive connections kept as long as the client wants.
pub fn trivial_backend_conf(port: u16) -> String {
    format!(
        "worker_processes 1;\nevents {{ worker_connections 4096; }}\n\
         http {{\n\
         access_log off;\nkeepalive_requests 1000000;\nkeepalive_timeout 75s;\n\
         server {{\n listen {port} reuseport backlog=4096;\n\
         location / {{ default_type text/plain; return 200 \"ok\\n\"; }}\n}}\n}}\n"
    )
}

/// Upstream servers, each `addr:port`, optionally marked `down`.
pub fn servers(addrs: &[(String, bool)], port: u16) -> String {
    addrs
        .iter()
        .map(|(a, down)| format!("  server {a}:{port}{};\n", if *down { " down" } else { "" }))
        .collect()
}
