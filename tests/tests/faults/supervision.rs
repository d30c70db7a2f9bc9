//! A task the daemon cannot do without fails (here its metrics address is
//! already taken in its namespace): the daemon exits non-zero, so that
//! systemd restarts it, instead of running half-alive; the data plane it
//! programmed before goes on forwarding, pinned.

use std::{
    process::{Child, Stdio},
    time::Duration,
};

use lb_lab::{ConfigSpec, Daemon, Request};
use lb_tests::lab_support::{lb_binary, poll};

use crate::drain_support::lab;

const METRICS: &str = "127.0.0.1:9464";

/// A listener holding the metrics port in the LB namespace, killed on drop.
struct PortHolder(Child);

impl Drop for PortHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn faults_a_failed_essential_task_stops_the_daemon_not_the_traffic() {
    let lab = lab("flt-sup");
    let holder = PortHolder(
        lab.lb_ns()
            .nsenter(&[
                "python3",
                "-c",
                "import socket, time\n\
                 s = socket.socket()\n\
                 s.bind(('127.0.0.1', 9464))\n\
                 s.listen()\n\
                 time.sleep(120)",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 holds the metrics port"),
    );
    poll("the metrics port taken", Duration::from_secs(10), || {
        let out = lab.lb_ns().run(&["ss", "-Hltn", "sport = :9464"]).ok()?;
        (!out.trim().is_empty()).then_some(())
    });

    let spec = ConfigSpec {
        metrics: Some(METRICS.parse().unwrap()),
        ..ConfigSpec::default()
    };
    let daemon = Daemon::start(&lab, &lb_binary(), &spec).expect("daemon starts");
    let status = poll("the daemon exits", Duration::from_secs(30), || {
        daemon.exit_status()
    });
    let log = daemon.log_tail(30);
    assert!(!status.success(), "exited {status}; log:\n{log}");
    assert!(
        log.contains("the metrics server failed"),
        "the log names the failed task:\n{log}"
    );
    drop(holder);

    // The data plane it attached and programmed before stays and serves.
    let mut ok = 0;
    for _ in 0..20 {
        let r = lab
            .request(&Request::get(lab.vip_url("/")).timeout(Duration::from_secs(5)))
            .expect("curl runs");
        assert!(
            r.ok(),
            "a request to the VIP after the daemon exited: {r:?}"
        );
        ok += 1;
    }
    println!(
        "daemon exited {status} naming the metrics server; {ok}/20 requests to the VIP served after"
    );
}
