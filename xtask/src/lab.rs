//! The demo lab of `cargo xtask run` (no arguments): client, LB and backend
//! namespaces on a bridge, with `lb` attached in the LB namespace and
//! Gunicorn/Uvicorn/FastAPI backends from the lab venv (all from `lb-lab`,
//! the harness the end-to-end tests use). Prints what to try, keeps the
//! backends running (a Gunicorn that a drain stopped is started again, as a
//! process supervisor would), and tears everything down on Ctrl-C.
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::atomic::{AtomicI32, Ordering},
    time::Duration,
};

use anyhow::{Context as _, Result, bail};
use lb_lab::{ConfigSpec, Daemon, Lab, LabSpec, netns};

/// Where the daemon serves Prometheus metrics, inside the LB namespace.
const METRICS: &str = "127.0.0.1:9464";

/// Runs the demo lab with the `lb` binary at `lb` until Ctrl-C.
pub fn run_lab(lb: &Path) -> Result<()> {
    if !lb_lab::is_root() {
        bail!("the demo lab needs root (network namespaces, XDP); run `cargo xtask run` as root");
    }
    // Namespaces of an earlier demo killed with SIGKILL (their pid is gone).
    for ns in lb_lab::remove_stale("demo")? {
        println!("removed a stale namespace of an earlier demo: {ns}");
    }
    println!(
        "bringing the lab up: namespaces, 5 Gunicorn + Uvicorn + FastAPI backends (3 DSR, 2 NAT)..."
    );
    // Until the lab is up, Ctrl-C is lb-lab's: it tears down what exists.
    // web-1..3 behind the DSR VIPs, web-4..5 (Gunicorn on :8000, nothing
    // else on the host) behind the NAT VIPs.
    let lab = Lab::up_nat(
        LabSpec {
            prefix: "demo".into(),
            backends: 5,
            ipv6: true,
        },
        2,
    )?;
    let spec = ConfigSpec {
        metrics: Some(METRICS.parse::<SocketAddr>()?),
        ..ConfigSpec::default()
    };
    let daemon = Daemon::start(&lab, lb, &spec)?;
    daemon.wait_ready(Duration::from_secs(30))?;
    daemon.wait_all_active(Duration::from_secs(30))?;
    // From here on Ctrl-C is ours: an orderly teardown.
    let signals = install_signal_pipe()?;

    let status = daemon.lb(&["status"])?;
    println!("\n{}", String::from_utf8_lossy(&status.stdout).trim_end());
    print_guide(&lab, &daemon, lb);

    let outcome = supervise(&lab, &daemon, signals);
    let torn = teardown(lab, daemon);
    outcome.and(torn)
}

fn print_guide(lab: &Lab, daemon: &Daemon, lb: &Path) {
    let lb = shown_path(lb);
    let sock = daemon.socket();
    let lbc = format!("{} --socket {}", lb.display(), sock.display());
    let client = lab.client_ns().name();
    let lbns = lab.lb_ns().name();
    let vip = lab.vip_url("/");
    let vip6 = lab.vip6_url("/").unwrap_or_default();
    let nat = lab
        .nat_vip()
        .map(|v| format!("http://{v}/"))
        .unwrap_or_default();
    let nat6 = lab
        .nat_vip6()
        .map(|v| format!("http://[{v}]/"))
        .unwrap_or_default();
    let c = lab.client_host();
    let first = &lab.backends()[0];
    let web_ns = first.ns().name().trim_end_matches(first.name());
    println!(
        "
The demo lab is up:
  client    namespace {client} ({c4}, {c6})
  lb        namespace {lbns}: XDP ({mode}) on {iface}, control socket {sock}
  VIPs      DSR (forward = \"dsr\"): {vip}  {vip6}
            NAT (forward = \"nat\"): {nat}  {nat6}
  backends  web-1..3 behind the DSR VIPs (web6-1..3 on IPv6): Gunicorn +
            Uvicorn + FastAPI on :80 with the VIP on lo, in {web_ns}web-1..3;
            web-4..5 behind the NAT VIPs (web6-4..5): the same app on :8000
            only, nothing set up on the host; they see the LB's address
  logs      {dir}/ (lb-daemon.log, web-N.log, web-N.access.jsonl)

Try, as root in another terminal (copy-paste):

  {lbc} status
  ip netns exec {client} curl {vip}
  ip netns exec {client} curl -g '{vip6}'
  ip netns exec {client} curl {nat}
  ip netns exec {client} curl -g '{nat6}'
  ip netns exec {client} hey -z 10s -c 8 {vip}
  {lbc} drain web-2 --wait
  {lbc} enable web-2
  {lbc} flows
  ip netns exec {lbns} curl -s http://{METRICS}/metrics

Run the hey load and, while it runs, drain web-2: new connections go to
web-1 and web-3 at once, web-2's open ones finish, its Gunicorn gets SIGTERM
and exits, and hey's summary shows the errors (none expected). The same works
on the NAT VIP with web-4 (`lb flows` shows the NAT source each backend
sees, docs/forwarding.md compares the modes). The demo then
starts web-2's Gunicorn again, as a process supervisor would, and
`enable web-2` puts it back in service. `export LB_SOCKET={sock}`
saves typing --socket.

Ctrl-C here tears everything down: processes, namespaces, the XDP program.",
        c4 = c.ipv4,
        c6 = c.ipv6.map(|a| a.to_string()).unwrap_or_default(),
        mode = daemon.config().daemon.xdp_mode,
        iface = lab.lb_iface(),
        sock = sock.display(),
        dir = lab.dir().display(),
    );
}

/// `lb` relative to the current directory when it is below it (the usual
/// `target/release/lb` from the workspace root), else as given.
pub(crate) fn shown_path(p: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    p.strip_prefix(&cwd)
        .map_or_else(|_| p.to_path_buf(), Path::to_path_buf)
}

/// Waits for Ctrl-C (or SIGTERM, SIGHUP), restarting any backend whose
/// Gunicorn has exited (after a drain's SIGTERM). Errs if the daemon dies.
fn supervise(lab: &Lab, daemon: &Daemon, signals: libc::c_int) -> Result<()> {
    loop {
        if let Some(sig) = wait_signal(signals, Duration::from_secs(1)) {
            println!("\nsignal {sig}: tearing the demo lab down...");
            return Ok(());
        }
        if !daemon.is_running() {
            bail!("the lb daemon exited; its log:\n{}", daemon.log_tail(30));
        }
        restart_exited_backends(lab)?;
    }
}

/// Starts again every backend whose Gunicorn has exited, as a process
/// supervisor would (shared with the fleet demo).
pub(crate) fn restart_exited_backends(lab: &Lab) -> Result<()> {
    for b in lab.backends() {
        if b.is_running() {
            continue;
        }
        println!(
            "[demo] {}'s Gunicorn has exited; starting it again (`lb enable {}` puts it back in service)",
            b.name(),
            b.name()
        );
        b.start()?;
        match b.wait_ready(lb_lab::backend::BACKEND_READY_TIMEOUT) {
            Ok(()) => println!("[demo] {} is up again", b.name()),
            Err(e) => println!("[demo] {} did not come back: {e:#}", b.name()),
        }
    }
    Ok(())
}

/// `lb teardown`, the daemon stopped, the lab down; then checks that no
/// namespace of the lab is left.
fn teardown(lab: Lab, mut daemon: Daemon) -> Result<()> {
    let tag = lab.tag().to_owned();
    match daemon.lb(&["teardown"]) {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            println!(
                "{}",
                text.lines().next().unwrap_or("lb teardown: no answer")
            );
        }
        Err(e) => println!("lb teardown: {e:#}"),
    }
    if let Err(e) = daemon.stop() {
        println!("stopping the daemon: {e:#}");
    }
    drop(daemon);
    lab.down()?;
    let left: Vec<String> = netns::list()?
        .into_iter()
        .filter(|n| n.starts_with(&format!("{tag}-")))
        .collect();
    if !left.is_empty() {
        bail!("namespaces left behind: {}", left.join(" "));
    }
    println!("demo lab removed: no namespace, process or pin of it is left");
    Ok(())
}

static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    // Signal numbers (1..=64) fit a byte.
    let byte = u8::try_from(sig).unwrap_or(u8::MAX);
    // SAFETY: write(2) is async-signal-safe; the fd is set before the handler
    // is installed and never closed.
    unsafe {
        libc::write(
            PIPE_WRITE.load(Ordering::Relaxed),
            (&raw const byte).cast(),
            1,
        )
    };
}

/// Routes SIGINT, SIGTERM and SIGHUP to a pipe (replacing lb-lab's handler,
/// which would tear down and exit at once); returns the pipe's read end.
pub(crate) fn install_signal_pipe() -> Result<libc::c_int> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("pipe2");
    }
    PIPE_WRITE.store(fds[1], Ordering::Relaxed);
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: setting a disposition with a valid, zeroed struct.
        unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            new.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&raw mut new.sa_mask);
            if libc::sigaction(sig, &raw const new, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error()).context("sigaction");
            }
        }
    }
    Ok(fds[0])
}

/// The next signal number from the pipe, or None after `timeout`.
pub(crate) fn wait_signal(fd: libc::c_int, timeout: Duration) -> Option<u8> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&raw mut pfd, 1, timeout.as_millis() as libc::c_int) };
    if n <= 0 {
        return None;
    }
    let mut byte = 0u8;
    // SAFETY: reading one byte into a local.
    let r = unsafe { libc::read(fd, (&raw mut byte).cast(), 1) };
    (r == 1).then_some(byte)
}
