//! A fake daemon for the tests of the API, the client and the CLI: a fixed
//! VIP with two backends whose drains finish after a few status reads.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::control::{Control, ControlError, ControlResult};
use super::types::*;

/// `web-1` drains to zero; `web-2` keeps a stuck connection and is forced.
pub struct FakeControl {
    backends: Mutex<Vec<BackendStatus>>,
}

pub fn backend(name: &str, address: &str, live: u64) -> BackendStatus {
    BackendStatus {
        name: name.to_owned(),
        vip: "web".to_owned(),
        address: address.to_owned(),
        mac: Some("02:00:00:00:00:11".to_owned()),
        weight: 1,
        state: "active".to_owned(),
        admin: "enabled".to_owned(),
        health: "healthy".to_owned(),
        live_flows: live,
        counters: Traffic {
            packets: 1000,
            bytes: 64_000,
            new_flows: 10,
            closed_flows: 7,
            second_chance: 1,
            packets_per_s: 1234.5,
            new_flows_per_s: 3.0,
        },
        drain: None,
        last_action: None,
        problem: None,
    }
}

pub fn sample_status(backends: Vec<BackendStatus>) -> Status {
    Status {
        interface: "eth0".to_owned(),
        xdp_mode: "native".to_owned(),
        adopted: false,
        uptime_s: 12.5,
        vips: vec![VipStatus {
            name: "web".to_owned(),
            address: "198.51.100.10".to_owned(),
            port: 80,
            protocol: "tcp".to_owned(),
            counters: Traffic::default(),
            drops: Drops {
                malformed: 1,
                fragment: 2,
                no_backend: 3,
            },
            repicked: 4,
            confirmed: 6,
            unrecorded: 7,
            backends,
        }],
        passed_packets: 99,
        passed_malformed: 5,
    }
}

impl FakeControl {
    pub fn new() -> Self {
        let backends = vec![
            backend("web-1", "203.0.113.11", 3),
            backend("web-2", "203.0.113.12", 2),
        ];
        FakeControl {
            backends: Mutex::new(backends),
        }
    }

    fn with<T>(&self, name: &str, f: impl FnOnce(&mut BackendStatus) -> T) -> ControlResult<T> {
        let mut backends = self.backends.lock().unwrap();
        let b = backends
            .iter_mut()
            .find(|b| b.name == name)
            .ok_or_else(|| ControlError::UnknownBackend(name.to_owned()))?;
        Ok(f(b))
    }
}

/// Each read of a draining backend is one step of its drain.
fn step(b: &mut BackendStatus) {
    let Some(drain) = b.drain.as_mut().filter(|d| d.outcome.is_none()) else {
        return;
    };
    drain.elapsed_s += 1.0;
    drain.signal = "sent".to_owned();
    if b.name == "web-2" {
        if drain.elapsed_s >= drain.timeout_s {
            drain.forced_flows = b.live_flows;
            drain.outcome = Some("forced".to_owned());
            b.state = "drained".to_owned();
        }
        return;
    }
    b.live_flows = b.live_flows.saturating_sub(1);
    drain.live_flows = b.live_flows;
    if b.live_flows == 0 {
        drain.outcome = Some("drained".to_owned());
        b.state = "drained".to_owned();
    }
}

impl Control for FakeControl {
    async fn status(&self) -> ControlResult<Status> {
        Ok(sample_status(self.backends.lock().unwrap().clone()))
    }

    async fn backend(&self, name: &str) -> ControlResult<BackendStatus> {
        self.with(name, |b| {
            step(b);
            b.clone()
        })
    }

    async fn drain(&self, name: &str, request: DrainRequest) -> ControlResult<BackendStatus> {
        let timeout_s = match request.timeout.as_deref() {
            None => 30.0,
            Some("3s") => 3.0,
            Some(other) => return Err(ControlError::BadRequest(format!("bad timeout {other:?}"))),
        };
        self.with(name, |b| {
            if b.state == "draining" {
                return Err(ControlError::Conflict(format!(
                    "{name} is already draining"
                )));
            }
            b.state = "draining".to_owned();
            let signal = if request.no_signal {
                "skipped"
            } else {
                "pending"
            };
            b.drain = Some(DrainStatus {
                started_at: 1_700_000_000.0,
                elapsed_s: 0.0,
                timeout_s,
                initial_flows: b.live_flows,
                live_flows: b.live_flows,
                signal: signal.to_owned(),
                outcome: None,
                forced_flows: 0,
                finished_at: None,
                flows_at_exit: 0,
            });
            Ok(b.clone())
        })?
    }

    async fn enable(&self, name: &str) -> ControlResult<BackendStatus> {
        self.with(name, |b| {
            b.state = "active".to_owned();
            b.admin = "enabled".to_owned();
            b.clone()
        })
    }

    async fn disable(&self, name: &str) -> ControlResult<BackendStatus> {
        self.with(name, |b| {
            b.state = "down".to_owned();
            b.admin = "disabled".to_owned();
            b.clone()
        })
    }

    async fn reload(&self) -> ControlResult<ReloadReport> {
        Ok(ReloadReport {
            unchanged: vec!["web-1".to_owned(), "web-2".to_owned()],
            ..ReloadReport::default()
        })
    }

    async fn flows(&self, backend: Option<&str>) -> ControlResult<Vec<FlowView>> {
        let flow = |backend: &str| FlowView {
            client: "192.0.2.7:40000".to_owned(),
            vip: "web".to_owned(),
            backend: backend.to_owned(),
            protocol: "tcp".to_owned(),
            age_s: 3.0,
            idle_s: 0.5,
            state: "live".to_owned(),
        };
        match backend {
            Some(name) => self.with(name, |b| vec![flow(&b.name)]),
            None => Ok(vec![flow("web-1"), flow("web-2")]),
        }
    }

    async fn teardown(&self) -> ControlResult<TeardownReport> {
        Ok(TeardownReport {
            interface: "eth0".to_owned(),
            detached: true,
            unpinned: vec!["/sys/fs/bpf/lb/eth0/FLOWS".to_owned()],
        })
    }
}

/// A unique socket path under the temp dir.
pub fn temp_socket(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir()
        .join(format!("lb-test-{}-{tag}-{n}", std::process::id()))
        .join("lb.sock")
}

/// A fake daemon serving on its own thread and runtime, so a test can call
/// blocking code (the CLI builds its own runtime) while it runs.
pub struct FakeDaemon {
    pub socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl FakeDaemon {
    pub fn start(tag: &str) -> Self {
        let socket = temp_socket(tag);
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let path = socket.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let control = Arc::new(FakeControl::new());
                let shutdown = async move {
                    let _ = stopped.await;
                };
                let server = super::server::serve(control, &path, shutdown);
                tokio::pin!(server);
                // Ready once the socket has its final mode (set right after
                // bind), or at once if serving failed.
                loop {
                    tokio::select! {
                        result = &mut server => { let _ = ready_tx.send(()); return result; }
                        _ = tokio::time::sleep(std::time::Duration::from_millis(5)) => {
                            if is_private(&path) { let _ = ready_tx.send(()); break; }
                        }
                    }
                }
                server.await
            })
        });
        ready.recv().expect("the fake daemon thread started");
        FakeDaemon {
            socket,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

fn is_private(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.permissions().mode() & 0o777 == 0o600)
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(dir) = self.socket.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
