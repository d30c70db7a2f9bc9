//! A real systemd as PID 1 of a throw-away container (systemd-nspawn), for
//! the unit test: this machine's own PID 1 is not systemd, and on one where
//! it is, the test must not touch the host's services either.
//!
//! The container boots the host's own tree through an overlay whose upper
//! layer is a tmpfs (installing the package there writes nothing to the
//! host; nspawn refuses `--directory=/` with `--volatile=overlay`), into
//! `sysinit.target` only (journald and the basics, none of the host's
//! enabled services), in the network namespace the test owns. nspawn runs in
//! its own mount namespace with a tmpfs on /run/systemd (its lock and
//! propagation directories go there, not into the host's /run) and in its
//! own cgroup (its `payload`/`supervisor` cgroups go under it). The
//! container's /sys/fs/bpf is a bpffs instance of its own, mounted here, so
//! pins are visible from the test and vanish when it is unmounted.
//! Everything is undone on drop, also when the test fails.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    thread,
    time::{Duration, Instant},
};

/// How long systemd gets to boot, and to halt before it is killed.
const BOOT: Duration = Duration::from_mins(1);
const HALT: Duration = Duration::from_secs(30);

pub struct Container {
    name: String,
    dir: PathBuf,
    /// Mount points on the host, in mounting order (unmounted in reverse).
    mounts: Vec<PathBuf>,
    /// The cgroups made for nspawn (one per hierarchy), removed on drop.
    cgroups: Vec<PathBuf>,
    nspawn: Option<Child>,
    init: u32,
}

impl Container {
    /// Boots systemd in the network namespace at `netns` (a path under
    /// /run/netns) and waits until it reports `running`.
    pub fn boot(name: &str, netns: &Path) -> Container {
        let name = format!("{name}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let mut c = Container {
            name,
            dir,
            mounts: Vec::new(),
            cgroups: Vec::new(),
            nspawn: None,
            init: 0,
        };
        let (upper, root, bpf) = (c.dir.join("upper"), c.dir.join("root"), c.dir.join("bpf"));
        c.mount(&["-t", "tmpfs", "-o", "mode=0755", "lb-sd-upper"], &upper);
        for d in ["u", "w"] {
            fs::create_dir(upper.join(d)).unwrap();
        }
        let layers = format!(
            "lowerdir=/,upperdir={},workdir={}",
            upper.join("u").display(),
            upper.join("w").display()
        );
        c.mount(&["-t", "overlay", "-o", &layers, "lb-sd-root"], &root);
        c.mount(&["-t", "bpf", "lb-sd-bpf"], &bpf);
        c.cgroups = own_cgroups()
            .into_iter()
            .map(|parent| parent.join(&c.name))
            .collect();
        for cg in &c.cgroups {
            fs::create_dir(cg).unwrap_or_else(|e| panic!("creating {}: {e}", cg.display()));
        }

        let console = fs::File::create(c.dir.join("console.log")).unwrap();
        let script = "set -e; for c in $LB_SD_CGROUPS; do echo $$ > \"$c/cgroup.procs\"; done; \
                      mkdir -p /run/systemd; mount -t tmpfs lb-sd-run /run/systemd; \
                      exec systemd-nspawn \"$@\"";
        let cgroups: Vec<String> = c.cgroups.iter().map(|p| p.display().to_string()).collect();
        let child = Command::new("unshare")
            .args([
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                script,
                "sh",
            ])
            .args([
                "--quiet",
                "--boot",
                "--register=no",
                "--keep-unit",
                "--link-journal=no",
                "--console=passive",
                // The unit's four, which nspawn's default set lacks (it adds
                // CAP_NET_ADMIN only for networks it makes itself), and bpf(2),
                // which nspawn's own seccomp filter refuses with EPERM
                // otherwise (seen: "failed to create map `FLOWS`: Operation
                // not permitted", also for root in the container).
                "--capability=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN",
                "--system-call-filter=bpf",
            ])
            .arg(format!("--machine={}", c.name))
            .arg(format!("--directory={}", root.display()))
            .arg(format!("--network-namespace-path={}", netns.display()))
            .arg(format!("--bind={}:/sys/fs/bpf", bpf.display()))
            .args(["--", "systemd.unit=sysinit.target"])
            .env("LB_SD_CGROUPS", cgroups.join(" "))
            .stdin(Stdio::null())
            .stdout(console.try_clone().unwrap())
            .stderr(console)
            .spawn()
            .expect("unshare + systemd-nspawn (package systemd-container) run");
        let nspawn = child.id();
        c.nspawn = Some(child);
        c.init = c.wait_for("systemd as the container's PID 1", || {
            let kids = fs::read_to_string(format!("/proc/{nspawn}/task/{nspawn}/children")).ok()?;
            kids.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok())
                .find(|p| {
                    fs::read_to_string(format!("/proc/{p}/comm"))
                        .is_ok_and(|s| s.trim() == "systemd")
                })
        });
        let state = c.wait_for("systemctl is-system-running", || {
            let out = c.exec(&["systemctl", "is-system-running"]);
            let state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            matches!(state.as_str(), "running" | "degraded").then_some(state)
        });
        let failed = c.ok(&["systemctl", "--failed", "--no-legend", "--plain"]);
        assert_eq!(state, "running", "units failed at boot:\n{failed}");
        c
    }

    /// The container's / as the host sees it (writes go to the tmpfs layer).
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// The container's /sys/fs/bpf as the host sees it.
    pub fn bpffs(&self) -> PathBuf {
        self.dir.join("bpf")
    }

    /// `args` inside the container (all its namespaces, its root), as root.
    pub fn exec(&self, args: &[&str]) -> Output {
        Command::new("nsenter")
            .arg(format!("--target={}", self.init))
            .args(["--all", "--"])
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LANG", "C.UTF-8")
            .env("SYSTEMD_COLORS", "0")
            .env("SYSTEMD_PAGER", "")
            .stdin(Stdio::null())
            .output()
            .expect("nsenter runs")
    }

    /// `args` inside the container; panics with its output and the end of
    /// the journal unless it exits 0.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.exec(args);
        if !out.status.success() {
            let journal = self.exec(&["journalctl", "-n", "40", "--no-pager"]);
            panic!(
                "{args:?} in the container: {}\n{}{}\njournal:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&journal.stdout)
            );
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `systemctl show -p KEY --value UNIT`.
    pub fn property(&self, unit: &str, key: &str) -> String {
        self.ok(&["systemctl", "show", "-p", key, "--value", unit])
            .trim()
            .to_owned()
    }

    /// What systemd printed on the container's console.
    pub fn console(&self) -> String {
        fs::read_to_string(self.dir.join("console.log")).unwrap_or_default()
    }

    fn wait_for<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + BOOT;
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {BOOT:?} waiting for {what}; console:\n{}",
                self.console()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn mount(&mut self, args: &[&str], at: &Path) {
        fs::create_dir_all(at).unwrap();
        let out = Command::new("mount").args(args).arg(at).output().unwrap();
        assert!(
            out.status.success(),
            "mount {args:?} {}: {}",
            at.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        self.mounts.push(at.to_owned());
    }

    /// Halts systemd (nspawn turns SIGTERM into a clean shutdown), or kills
    /// every process of the container when it does not halt in time.
    fn halt(&mut self) {
        let Some(mut child) = self.nspawn.take() else {
            return;
        };
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id().cast_signed()),
            nix::sys::signal::Signal::SIGTERM,
        );
        let deadline = Instant::now() + HALT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        eprintln!("the container did not halt in {HALT:?}: killing it");
        for cg in &self.cgroups {
            let _ = fs::write(cg.join("cgroup.kill"), "1");
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        self.halt();
        for at in self.mounts.iter().rev() {
            let out = Command::new("umount").arg(at).output();
            if !out.as_ref().is_ok_and(|o| o.status.success()) {
                eprintln!("umount {}: {out:?}; detaching it lazily", at.display());
                let _ = Command::new("umount").arg("-l").arg(at).status();
            }
        }
        for cg in &self.cgroups {
            remove_cgroup(cg);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// This process's cgroup in each hierarchy nspawn uses: the cgroup2 one and,
/// on a hybrid host like this one, the v1 `name=systemd` one.
fn own_cgroups() -> Vec<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    let (mut found, mut seen) = (Vec::new(), Vec::new());
    for line in mountinfo.lines() {
        let (fields, fs) = line.split_once(" - ").unwrap();
        let point = fields.split(' ').nth(4).unwrap();
        let mut rest = fs.split(' ');
        let kind = rest.next().unwrap();
        let options = rest.nth(1).unwrap_or("");
        // The controllers field of /proc/self/cgroup for this hierarchy.
        let controllers = match kind {
            "cgroup2" => "",
            "cgroup" if options.split(',').any(|o| o == "name=systemd") => "name=systemd",
            _ => continue,
        };
        if seen.contains(&controllers) {
            continue; // the same hierarchy mounted twice
        }
        seen.push(controllers);
        let path = own
            .lines()
            .find_map(|l| {
                let (_, tail) = l.split_once(':')?;
                let (ctrl, path) = tail.split_once(':')?;
                (ctrl == controllers).then(|| path.to_owned())
            })
            .unwrap_or_else(|| panic!("no {kind} entry in /proc/self/cgroup:\n{own}"));
        found.push(Path::new(point).join(path.trim_start_matches('/')));
    }
    assert!(!found.is_empty(), "no cgroup2 mounted: nspawn needs one");
    found
}

/// Removes `cg` and the cgroups systemd made under it, deepest first.
fn remove_cgroup(cg: &Path) {
    let Ok(entries) = fs::read_dir(cg) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            remove_cgroup(&e.path());
        }
    }
    if let Err(e) = fs::remove_dir(cg) {
        eprintln!("cgroup {} left: {e}", cg.display());
    }
}
