//! Live-connection accounting: the count falls as connections end, and the
//! drain ends with the last of them.

use std::{
    io::{ErrorKind, Read as _, Write as _},
    net::Shutdown,
    thread,
    time::Duration,
};

use lb_lab::{BackendOpts, ConfigSpec};
use nix::sys::socket::{setsockopt, sockopt};

use crate::support::{self, TARGET, exit_code, lab, now, poll, start_daemon};

/// The live count falls as connections end by the client's FIN, by its RST
/// and by the idle timeout, and the drain ends within 1 s of the last one,
/// long before its deadline.
#[test]
fn drain_live_count_falls_by_fin_rst_and_idle_timeout() {
    const IDLE_S: f64 = 4.0;
    let lab = lab("drn-live");
    let spec = ConfigSpec {
        flow_idle_timeout: Some(Duration::from_secs_f64(IDLE_S)),
        backend: BackendOpts {
            drain_timeout: Some(Duration::from_mins(1)),
            ..BackendOpts::default()
        },
        ..ConfigSpec::default()
    };
    let daemon = start_daemon(&lab, &spec);
    // A request the backend will not answer for a minute: the connection stays
    // open from both sides. TCP keepalive (1 s) keeps the flow from idling out
    // until we let it.
    let request = format!(
        "GET /slow?seconds=60 HTTP/1.1\r\nHost: {}\r\n\r\n",
        lab.vip()
    );
    let ours = support::place_connections(&lab, &daemon, 3, |c| {
        setsockopt(c, sockopt::KeepAlive, &true).unwrap();
        setsockopt(c, sockopt::TcpKeepIdle, &1).unwrap();
        setsockopt(c, sockopt::TcpKeepInterval, &1).unwrap();
        (&*c).write_all(request.as_bytes()).unwrap();
    });
    let mut ours = ours.into_iter();
    let (fin, rst, idle) = (
        ours.next().unwrap(),
        ours.next().unwrap(),
        ours.next().unwrap(),
    );
    let idle_client = idle.local_addr().unwrap().to_string();

    thread::scope(|s| {
        let waiter = s.spawn(|| {
            let o = daemon
                .lb_timeout(
                    &["drain", TARGET, "--wait", "--no-signal"],
                    Duration::from_secs(75),
                )
                .unwrap();
            (o, now())
        });
        let b = poll(
            "the drain with 3 live flows",
            Duration::from_secs(5),
            || {
                let b = daemon.backend_status(TARGET).ok()?;
                (b["state"] == "draining" && b["live_flows"] == 3).then_some(b)
            },
        );
        let started = b["drain"]["started_at"].as_f64().unwrap();
        assert_eq!(b["drain"]["initial_flows"], 3, "{b:#}");

        let live_is = |n: u64| {
            poll(&format!("live flows = {n}"), Duration::from_secs(5), || {
                let b = daemon.backend_status(TARGET).ok()?;
                let live = b["live_flows"].as_u64()?;
                assert!(live >= n, "live fell to {live}, below {n}: {b:#}");
                (live == n).then(now)
            })
        };
        let t = now();
        fin.shutdown(Shutdown::Write).unwrap();
        let fin_delay = live_is(2) - t;
        setsockopt(
            &rst,
            sockopt::Linger,
            &libc::linger {
                l_onoff: 1,
                l_linger: 0,
            },
        )
        .unwrap();
        let t = now();
        drop(rst);
        let rst_delay = live_is(1) - t;

        // The third goes quiet: no keepalive probes, no packets at all. Once
        // `lb flows` shows it idle for longer than a probe interval, its last
        // packet's time is known.
        setsockopt(&idle, sockopt::KeepAlive, &false).unwrap();
        let last_seen = poll("the third connection idle", Duration::from_secs(5), || {
            let t0 = now();
            let f = support::flows(&daemon, Some(TARGET));
            let t1 = now();
            let idle_s =
                f.iter().find(|x| x["client"] == idle_client.as_str())?["idle_s"].as_f64()?;
            (idle_s >= 1.5).then_some(f64::midpoint(t0, t1) - idle_s)
        });
        let expiry = last_seen + IDLE_S;
        let mut last_live = 0.0;
        let drained_at = poll("DRAINED", Duration::from_secs(10), || {
            let b = daemon.backend_status(TARGET).ok()?;
            let t = now();
            if b["live_flows"] == 1 {
                last_live = t;
            }
            (b["state"] == "drained").then_some((t, b))
        });
        let (t_drained, b) = drained_at;
        let (out, waited) = waiter.join().unwrap();
        println!(
            "live 3 -> 2 by FIN in {:.0} ms, 2 -> 1 by RST in {:.0} ms; 1 -> 0 by idle timeout ({IDLE_S} s): last packet at +{:.3} s, expiry at +{:.3} s, live 1 last seen at {:+.0} ms from expiry, DRAINED {:+.0} ms after expiry (at +{:.3} s of a 60 s deadline); `lb drain --wait` exited {} {:.0} ms after DRAINED",
            fin_delay * 1e3,
            rst_delay * 1e3,
            last_seen - started,
            expiry - started,
            (last_live - expiry) * 1e3,
            (t_drained - expiry) * 1e3,
            t_drained - started,
            exit_code(&out),
            (waited - t_drained) * 1e3
        );
        assert!(fin_delay <= 1.0 && rst_delay <= 1.0);
        assert!(
            t_drained >= expiry - 0.15,
            "drained {:.3} s before the idle flow expired",
            expiry - t_drained
        );
        assert!(
            t_drained <= expiry + 1.0,
            "drained {:.3} s after the idle flow expired",
            t_drained - expiry
        );
        assert_eq!(b["drain"]["outcome"], "drained", "{b:#}");
        assert_eq!(b["drain"]["forced_flows"], 0);
        assert_eq!(b["drain"]["signal"], "skipped");
        assert_eq!(
            exit_code(&out),
            0,
            "lb drain --wait: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(waited - t_drained <= 1.0);
    });
    drop(fin);
    drop(idle);
}

/// A keep-alive connection that the backend closes on SIGTERM and to which
/// the client then sends a request (as a client does that does not watch its
/// idle connections, or whose request crosses the close): the backend
/// answers with an RST that goes straight to the client (direct server
/// return), and the client's stack sends nothing more. The connection is over
/// at both ends, so the drain must end DRAINED, not count the flow as live
/// until the flow idle timeout (120 s) and be forced at its deadline. Under
/// keep-alive load the same happens by chance (hey's connections, in
/// `drain_sends_sigterm_once_...` and `drain_under_load_...`).
#[test]
fn drain_ends_when_the_backend_resets_a_keepalive_connection() {
    let lab = lab("drn-rst");
    let spec = ConfigSpec {
        backend: BackendOpts {
            drain_timeout: Some(Duration::from_secs(10)),
            ..BackendOpts::default()
        },
        ..ConfigSpec::default()
    };
    let daemon = start_daemon(&lab, &spec);
    let web2 = lab.backend(TARGET).unwrap();
    let get = format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", lab.vip());
    let conn = support::place_connections(&lab, &daemon, 1, |_| {})
        .pop()
        .unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
    (&conn).write_all(get.as_bytes()).unwrap();
    assert_eq!(support::read_response(&conn).unwrap(), TARGET);

    // Followed by the one `lb drain --wait` that starts it.
    let (t_eof, t_rst, (run, done)) = thread::scope(|s| {
        let waiter = s.spawn(|| {
            let o = daemon
                .lb_timeout(&["drain", TARGET, "--wait"], Duration::from_secs(40))
                .unwrap();
            (o, now())
        });
        // SIGTERM: the worker closes the idle connection (a FIN the LB does
        // not see).
        let mut buf = [0u8; 256];
        let n = (&conn).read(&mut buf).expect("the backend's FIN");
        assert_eq!(n, 0, "expected the backend to close the idle connection");
        let t_eof = now();
        (&conn).write_all(get.as_bytes()).unwrap();
        // The RST: in CLOSE_WAIT the socket reports it as EPIPE, else ECONNRESET.
        let err = poll("the backend's RST", Duration::from_secs(3), || {
            conn.take_error().unwrap()
        });
        assert!(
            matches!(
                err.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
            ),
            "{err}"
        );
        let t_rst = now();
        drop(conn); // a reset socket closes without a packet
        (t_eof, t_rst, waiter.join().unwrap())
    });
    let b = daemon.backend_status(TARGET).unwrap();
    let started = b["drain"]["started_at"].as_f64().unwrap();
    let sigterms = web2.sigterm_events().unwrap();
    println!(
        "SIGTERM at +{:.3} s, backend closed the idle connection at +{:.3} s, reset the next request at +{:.3} s; drain ended at +{:.3} s: exit {}, outcome {}, forced_flows {} (deadline 10 s, flow idle timeout 120 s)",
        sigterms.first().map_or(f64::NAN, |t| t - started),
        t_eof - started,
        t_rst - started,
        done - started,
        exit_code(&run),
        b["drain"]["outcome"],
        b["drain"]["forced_flows"]
    );
    assert_eq!(
        (exit_code(&run), b["drain"]["outcome"].as_str()),
        (0, Some("drained")),
        "the drain of a backend with no connection left must end DRAINED\n{}\n{b:#}",
        String::from_utf8_lossy(&run.stderr)
    );
}
