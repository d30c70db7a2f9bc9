//! The Debian package that `cargo xtask dist` builds: metadata, contents,
//! the unit verified and scored by systemd-analyze in a scratch root where
//! the package is unpacked (`dpkg -x`; this machine's PID 1 is not systemd,
//! so the unit cannot be started here). `cargo xtask test` builds the
//! package and passes its path in LB_DEB. Run: cargo xtask test -- package

use std::{
    path::PathBuf,
    process::{Command, Output},
};

/// The exposure score (0 best, 10 worst) the unit must stay at or under.
const MAX_EXPOSURE: f64 = 2.5;

fn deb() -> PathBuf {
    let deb = std::env::var_os("LB_DEB")
        .map(PathBuf::from)
        .expect("LB_DEB is not set: run these through `cargo xtask test -- package`");
    assert!(deb.is_file(), "no package at {}", deb.display());
    deb
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The package unpacked under a scratch directory, with the host's unit
/// files beside it (the targets lb.service refers to); removed on drop.
struct Unpacked(PathBuf);

impl Unpacked {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("lb-pkg-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let u = Self(dir);
        run(Command::new("dpkg").arg("-x").arg(deb()).arg(&u.0));
        u
    }
    fn path(&self, p: &str) -> PathBuf {
        self.0.join(p.trim_start_matches('/'))
    }
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn package_metadata_and_contents() {
    let info = text(&run(Command::new("dpkg-deb").arg("--info").arg(deb())));
    for field in [
        "Package: lb",
        "Architecture: ",
        "Depends: libc6 (>= 2.",
        "adduser",
        // NAT's guard table (docs/forwarding.md).
        "Recommends: nftables",
        "Section: net",
        " postinst ",
        " prerm ",
        " postrm ",
        " conffiles ",
    ] {
        assert!(
            info.contains(field),
            "no {field:?} in dpkg-deb --info:\n{info}"
        );
    }
    let contents = text(&run(Command::new("dpkg-deb").arg("--contents").arg(deb())));
    for (mode, path) in [
        ("-rwxr-xr-x root/root", "./usr/bin/lb"),
        ("-rw-r--r-- root/root", "./lib/systemd/system/lb.service"),
        ("-rwxr-xr-x root/root", "./usr/libexec/lb/prepare-pins"),
        ("-rw-r--r-- root/root", "./etc/lb/lb.toml"),
        ("-rw-r--r-- root/root", "./usr/share/man/man1/lb.1.gz"),
        ("-rw-r--r-- root/root", "./usr/share/man/man1/lb-check.1.gz"),
        ("-rw-r--r-- root/root", "./usr/share/man/man1/lb-drain.1.gz"),
        (
            "-rw-r--r-- root/root",
            "./usr/share/bash-completion/completions/lb",
        ),
        (
            "-rw-r--r-- root/root",
            "./usr/share/zsh/vendor-completions/_lb",
        ),
        (
            "-rw-r--r-- root/root",
            "./usr/share/fish/vendor_completions.d/lb.fish",
        ),
        ("-rw-r--r-- root/root", "./usr/share/doc/lb/README.md"),
        ("-rw-r--r-- root/root", "./usr/share/doc/lb/copyright"),
    ] {
        let line = contents
            .lines()
            .find(|l| l.ends_with(&format!(" {path}")))
            .unwrap_or_else(|| panic!("{path} not in the package:\n{contents}"));
        assert!(line.starts_with(mode), "{path}: {line}");
    }
    let unpacked = Unpacked::new("conffiles");
    let control = unpacked.path("DEBIAN");
    run(Command::new("dpkg-deb")
        .arg("--control")
        .arg(deb())
        .arg(&control));
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    assert_eq!(conffiles, "/etc/lb/lb.toml\n");
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    assert!(postinst.contains("adduser --system"), "{postinst}");
    // Maintainer scripts start nothing the admin did not ask for.
    for script in ["postinst", "prerm", "postrm"] {
        let body = std::fs::read_to_string(control.join(script)).unwrap();
        for starts in ["systemctl start", "systemctl enable", "systemctl restart "] {
            assert!(!body.contains(starts), "{script} runs `{starts}`");
        }
        run(Command::new("sh").arg("-n").arg(control.join(script)));
    }
}

#[test]
fn package_binary_man_pages_and_completions_work() {
    let u = Unpacked::new("files");
    let lb = u.path("/usr/bin/lb");
    let version = text(&run(Command::new(&lb).arg("--version")));
    assert!(version.starts_with("lb "), "{version}");
    let man = text(&run(Command::new("gzip")
        .arg("-dc")
        .arg(u.path("/usr/share/man/man1/lb-check.1.gz"))));
    assert!(man.contains(".TH lb-check 1"), "{man:.300}");
    assert!(man.contains("nginx"), "{man:.300}");
    let bash =
        std::fs::read_to_string(u.path("/usr/share/bash-completion/completions/lb")).unwrap();
    assert!(bash.contains("complete -F _lb"), "{bash:.200}");
    let zsh = std::fs::read_to_string(u.path("/usr/share/zsh/vendor-completions/_lb")).unwrap();
    assert!(zsh.starts_with("#compdef lb"), "{zsh:.200}");
    let fish =
        std::fs::read_to_string(u.path("/usr/share/fish/vendor_completions.d/lb.fish")).unwrap();
    assert!(fish.contains("complete -c lb"), "{fish:.200}");
    // The shipped config passes the permission check and parses: in a network
    // namespace with only `lo`, `lb check` stops at its interface (eth0).
    let config = u.path("/etc/lb/lb.toml");
    let out = Command::new("unshare")
        .args(["--net", "--"])
        .arg(&lb)
        .arg("check")
        .env("LB_CONFIG", &config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let expected = format!(
        "lb: config error: {}:5: key `daemon.interface`: no network interface \"eth0\"",
        config.display()
    );
    assert!(err.starts_with(&expected), "{err}");
}

#[test]
fn package_unit_verifies_and_is_hardened() {
    let u = Unpacked::new("unit");
    // The targets and slices the unit names, from the host's systemd.
    let units = u.path("/lib/systemd/system");
    run(Command::new("cp")
        .arg("-rn")
        .arg("/lib/systemd/system/.")
        .arg(&units));
    let unit = units.join("lb.service");
    let root = format!("--root={}", u.0.display());
    run(Command::new("systemd-analyze")
        .args(["verify", "--man=no", &root])
        .arg(&unit));
    let body = std::fs::read_to_string(&unit).unwrap();
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "ExecStartPre=/usr/bin/lb check",
        "ExecReload=/usr/bin/lb reload",
        "User=lb",
        "CapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_PERFMON CAP_KILL\n",
        "AmbientCapabilities=CAP_BPF CAP_NET_ADMIN CAP_PERFMON CAP_KILL\n",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
    ] {
        assert!(body.contains(line), "lb.service lacks {line:?}");
    }
    assert!(
        !body.contains("CAP_SYS_ADMIN"),
        "lb.service grants CAP_SYS_ADMIN"
    );
    let security = run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager", &root])
        .arg(&unit));
    let report = text(&security);
    let score = exposure(&report).unwrap_or_else(|| panic!("no score in:\n{report}"));
    println!("systemd-analyze security: lb.service exposure {score}");
    assert!(
        score <= MAX_EXPOSURE,
        "exposure {score} > {MAX_EXPOSURE}:\n{report}"
    );
    // A unit that lost its hardening would score far worse: the check can fail.
    let bare = u.path("/lib/systemd/system/bare.service");
    std::fs::write(&bare, "[Service]\nExecStart=/usr/bin/lb daemon\n").unwrap();
    let bare_report = text(&run(Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager", &root])
        .arg(&bare)));
    assert!(exposure(&bare_report).unwrap() > MAX_EXPOSURE * 2.0);
}

/// `→ Overall exposure level for lb.service: 1.9 OK`.
fn exposure(report: &str) -> Option<f64> {
    let line = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))?;
    let after = line.rsplit_once(": ")?.1;
    after.split_whitespace().next()?.parse().ok()
}
