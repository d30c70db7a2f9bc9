//! The real daemon core, without a data plane, serving the control API on a
//! temp socket: what the API and CLI tests talk to. Every answer comes from
//! the same core loop, state and drain logic as in production, so these
//! tests cannot drift from the daemon's behaviour.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use lb_common::flow::FlowKey;
use tokio::sync::oneshot;

use crate::daemon::{model::Model, state::State};

/// Two backends on one VIP; web-2 has a shutdown action (a pid nobody has).
pub const CONFIG: &str = r#"
[daemon]
interface = "eth0"
flow_idle_timeout = "1h"

[[vip]]
name = "web"
address = "198.51.100.10"
port = 80
protocol = "tcp"

[[vip.backend]]
name = "web-1"
address = "203.0.113.11"
mac = "02:00:00:00:00:11"

[[vip.backend]]
name = "web-2"
address = "203.0.113.12"
mac = "02:00:00:00:00:12"
signal_delay = "0s"
"#;

/// web-2 keeps one connection for ever (so its drains are forced at their
/// deadline); web-1 has none (so its drains finish at once).
pub fn stuck_flows() -> BTreeMap<String, Vec<FlowKey>> {
    let key = FlowKey::new(
        lb_common::addr::v4_mapped([192, 0, 2, 7]),
        lb_common::addr::v4_mapped([198, 51, 100, 10]),
        40000u16.to_be(),
        80u16.to_be(),
        lb_common::vip::PROTO_TCP,
    );
    BTreeMap::from([("web-2".to_owned(), vec![key])])
}

/// A unique socket path under the temp dir.
pub fn temp_socket(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir()
        .join(format!("lb-test-{}-{tag}-{n}", std::process::id()))
        .join("lb.sock")
}

/// A core for `config_text`, with no data plane and no state file.
pub fn state(config_text: &str) -> State {
    let config = crate::config::parse(config_text, Path::new("test.toml")).expect("valid config");
    let model = Model::new(config, Default::default(), 64, 1024, Default::default()).expect("ids");
    State {
        model,
        dataplane: None,
        torn_down: false,
        synced: Default::default(),
        saver: None,
        tracked: Default::default(),
        collecting: Default::default(),
        exited: Default::default(),
        fleet: None,
        xdp_mode: "native".into(),
        adopted: false,
        rates: Default::default(),
        started: Instant::now(),
    }
}

/// A core serving on its own thread and runtime, so a test can call blocking
/// code (the CLI builds its own runtime) while it runs.
pub struct TestDaemon {
    pub socket: PathBuf,
    pub config_path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl TestDaemon {
    pub fn start(tag: &str) -> Self {
        Self::start_with(tag, CONFIG)
    }

    pub fn start_with(tag: &str, config_text: &str) -> Self {
        let socket = temp_socket(tag);
        let dir = socket.parent().unwrap().to_owned();
        std::fs::create_dir_all(&dir).unwrap();
        let config_path = dir.join("lb.toml");
        std::fs::write(&config_path, config_text).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let (path, state, cfg) = (socket.clone(), state(config_text), config_path.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let started = crate::daemon::start_core(state, None, cfg, stuck_flows());
                let handle = started.handle;
                let listener = super::server::bind(&path, super::server::MODE_FULL, None).await?;
                let _ = ready_tx.send(());
                let shutdown = async move {
                    let _ = stopped.await;
                };
                super::server::serve_on(
                    listener,
                    &path,
                    Arc::new(handle),
                    super::guard::Access::Full,
                    shutdown,
                )
                .await
            })
        });
        ready.recv().expect("the test daemon started");
        TestDaemon {
            socket,
            config_path,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for TestDaemon {
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
