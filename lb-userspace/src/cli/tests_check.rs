//! `lb check` and the `--config` default, through the real command line.

use std::os::unix::fs::PermissionsExt as _;

use super::*;
use crate::cli::Command;

fn no_daemon_here(_: PathBuf) -> anyhow::Result<()> {
    panic!("lb check must not start the daemon")
}

/// A private directory with `lb.toml`; removed on drop.
struct ConfigDir(PathBuf);

impl ConfigDir {
    fn new(name: &str, text: &str, mode: u32) -> Self {
        let dir = std::env::temp_dir().join(format!("lb-cli-check-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let d = Self(dir);
        std::fs::write(d.file(), text).unwrap();
        std::fs::set_permissions(d.file(), std::fs::Permissions::from_mode(mode)).unwrap();
        d
    }
    fn file(&self) -> PathBuf {
        self.0.join("lb.toml")
    }
    fn check(&self) -> Ran {
        run_args(
            &["lb", "check", "--config", self.file().to_str().unwrap()],
            no_daemon_here,
        )
    }
}

impl Drop for ConfigDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn check_refuses_a_bad_config_with_file_line_and_key() {
    let d = ConfigDir::new(
        "bad",
        "[daemon]\ninterface = \"lo\"\nxdp_mode = \"turbo\"\n",
        0o644,
    );
    let ran = d.check();
    assert_eq!(ran.exit, Exit::Usage, "{}", ran.err);
    let expected = format!(
        "lb: config error: {}:3: key `daemon.xdp_mode`: ",
        d.file().display()
    );
    assert!(ran.err.starts_with(&expected), "{}", ran.err);
    assert_eq!(ran.out, "");
}

#[test]
fn check_refuses_an_interface_this_namespace_lacks() {
    let d = ConfigDir::new("iface", "[daemon]\ninterface = \"lb-no-such0\"\n", 0o644);
    let ran = d.check();
    assert_eq!(ran.exit, Exit::Usage, "{}", ran.err);
    let expected = format!(
        "lb: config error: {}:2: key `daemon.interface`: no network interface \"lb-no-such0\"",
        d.file().display()
    );
    assert!(ran.err.starts_with(&expected), "{}", ran.err);
}

#[test]
fn check_refuses_a_nat_source_the_interface_lacks() {
    let d = ConfigDir::new(
        "nat",
        "[daemon]\ninterface = \"lo\"\nnat_source = \"192.0.2.99\"\n\n\
         [[vip]]\nname = \"web\"\naddress = \"198.51.100.10\"\nport = 80\nprotocol = \"tcp\"\n\
         forward = \"nat\"\n",
        0o644,
    );
    let ran = d.check();
    assert_eq!(ran.exit, Exit::Usage, "{}", ran.err);
    let expected = format!(
        "lb: config error: {}:3: key `daemon.nat_source`: 192.0.2.99 is not an address of interface lo",
        d.file().display()
    );
    assert!(ran.err.starts_with(&expected), "{}", ran.err);
}

#[test]
fn check_and_daemon_refuse_a_world_writable_config() {
    let d = ConfigDir::new("mode", "[daemon]\ninterface = \"lo\"\n", 0o666);
    let ran = d.check();
    assert_eq!(ran.exit, Exit::Usage, "{}", ran.err);
    assert!(
        ran.err.contains("refused: writable by others (mode 0666)"),
        "{}",
        ran.err
    );
    // The daemon's path: `daemon::run` loads with `config::load`, which refuses
    // the same file; the CLI turns that into exit 2.
    let file = d.file();
    let ran = run_args(&["lb", "daemon", "--config", file.to_str().unwrap()], |p| {
        crate::config::load(&p)?;
        Ok(())
    });
    assert_eq!(ran.exit, Exit::Usage, "{}", ran.err);
    assert!(ran.err.contains("refused"), "{}", ran.err);
}

#[test]
fn config_defaults_to_etc_lb_unless_lb_config_is_set() {
    // Only meaningful when the test's own environment leaves LB_CONFIG unset;
    // the integration test `service_check_cli` covers LB_CONFIG itself.
    if std::env::var_os("LB_CONFIG").is_some() {
        return;
    }
    let default = Path::new(crate::config::DEFAULT_CONFIG);
    assert_eq!(default, Path::new("/etc/lb/lb.toml"));
    match Cli::try_parse_from(["lb", "check"]).unwrap().command {
        Command::Check(c) => assert_eq!(c.config, default),
        other => panic!("{other:?}"),
    }
    match Cli::try_parse_from(["lb", "daemon"]).unwrap().command {
        Command::Daemon { config, log_format } => {
            assert_eq!(config.config, default);
            assert_eq!(log_format, crate::logging::LogFormat::Text);
        }
        other => panic!("{other:?}"),
    }
    match Cli::try_parse_from(["lb", "daemon", "--log-format", "json"])
        .unwrap()
        .command
    {
        Command::Daemon { log_format, .. } => {
            assert_eq!(log_format, crate::logging::LogFormat::Json);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn man_pages_cover_every_visible_command() {
    let dir = std::env::temp_dir().join(format!("lb-cli-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ran = run_args(&["lb", "man", dir.to_str().unwrap()], no_daemon_here);
    assert_eq!(ran.exit, Exit::Ok, "{}", ran.err);
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    let expected = [
        "lb-check.1",
        "lb-completions.1",
        "lb-daemon.1",
        "lb-disable.1",
        "lb-drain.1",
        "lb-enable.1",
        "lb-flows.1",
        "lb-node-drain.1",
        "lb-node-enable.1",
        "lb-node-status.1",
        "lb-node.1",
        "lb-reload.1",
        "lb-status.1",
        "lb-teardown.1",
        "lb.1",
    ];
    assert_eq!(pages, expected);
    let check = std::fs::read_to_string(dir.join("lb-check.1")).unwrap();
    assert!(
        check.starts_with(".ie \\n(.g .ds Aq"),
        "not roff: {check:.80}"
    );
    assert!(
        check.contains("nginx"),
        "the after_help text is in the page"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
