//! Deterministic tests of what the tests above found at times (2b, 2c).

use super::*;

/// A client in the client namespace, written in Python for what curl cannot
/// do: bind a given source port, and leave no TIME_WAIT behind (an abortive
/// close, RST) unless the connection is on `want`, in which case it keeps the
/// connection open until the server resets it (or 15 s). Prints the backend
/// that answered `GET /`, then "reset" or "closed".
const PORT_CLIENT: &str = r#"
import socket, struct, sys
port, want, vip = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[4], port))
s.settimeout(5)
s.connect((vip, 80))
s.sendall(b"GET / HTTP/1.1\r\nHost: lb\r\n\r\n")
data = b""
while b"\r\n\r\n" not in data:
    data += s.recv(4096)
head, body = data.split(b"\r\n\r\n", 1)
n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
while len(body) < n:
    body += s.recv(4096)
print(body.decode(), flush=True)
if body.decode() != want:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    sys.exit(0)
s.settimeout(15)
try:
    print("closed" if s.recv(1) == b"" else "data", flush=True)
except ConnectionResetError:
    print("reset", flush=True)
"#;

/// The scenario behind failures of test 2 under keep-alive load, made
/// deterministic. With direct server return the LB sees only the client's
/// packets, so a connection the *backend* resets (Uvicorn does, when it
/// closes a keep-alive connection whose next request already arrived during
/// its shutdown) never shows a FIN or RST to the LB: its flow entry stays
/// "live". Then (a) the drain counts it as in flight until
/// flow_idle_timeout and ends "forced" at its deadline; (b) a new connection
/// from the same client port (ports get reused under load) matches the stale
/// entry and is sent to the draining backend, which accepts it (or, once it
/// has stopped, refuses it: a failed request).
///
/// What lb does: (b) a SYN whose sequence number differs from the one that
/// opened the entry is a new connection and is picked from the live table;
/// (a) with the backend still running (`--no-signal`) nothing tells lb the
/// connection died, so by the contract it is live until `flow_idle_timeout`,
/// set short here: the drain must end "drained" once it expires, before the
/// deadline. (When the signalled backend process exits, the drain ends at once:
/// see the drain tests.)
#[test]
fn e2e_2b_drain_backend_reset_flow() {
    println!(
        "== e2e 2b: a connection reset by the backend, then its client port reused during a drain"
    );
    let spec = ConfigSpec {
        flow_idle_timeout: Some(Duration::from_secs(3)),
        ..ConfigSpec::default()
    };
    let (lab, daemon) = up("e2ereset", 3, false, &spec);
    let python = paths::venv().join("bin").join("python3");
    let python = python.to_string_lossy().into_owned();
    let (vip, me) = (lab.vip().to_string(), lab.client_host().ipv4.to_string());
    let web2 = lab.backend("web-2").unwrap();
    let run = |port: u16, want: &str, log: &std::path::Path| {
        let port = port.to_string();
        let cmd = lab
            .client_ns()
            .exec(&[&python, "-c", PORT_CLIENT, &port, want, &vip, &me]);
        lab.spawn("port client", cmd, Some(log))
            .expect("python runs")
    };
    let lines = |log: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    };

    // Two client ports whose connections lb sends to web-2, each reset by
    // web-2 (as Uvicorn's shutdown does), straight to the client.
    let mut stale = Vec::new();
    let mut ports = (41000u16..).step_by(2);
    for i in 0..40 {
        if stale.len() == 2 {
            break;
        }
        let port = ports.next().unwrap();
        let log = lab.dir().join(format!("port-client-{i}.log"));
        let p = run(port, "web-2", &log);
        let deadline = Instant::now() + Duration::from_secs(5);
        while lines(&log).is_empty() && Instant::now() < deadline && p.is_running() {
            thread::sleep(Duration::from_millis(20));
        }
        if lines(&log).first().map(String::as_str) != Some("web-2") {
            let _ = p.wait_timeout(Duration::from_secs(5));
            continue;
        }
        let dport = format!("dport = :{port}");
        web2.ns()
            .run(&["ss", "-K", "-t", "dst", &me, &dport])
            .expect("ss -K in web-2's namespace");
        p.wait_timeout(Duration::from_secs(5)).unwrap();
        let said = lines(&log);
        assert_eq!(said, ["web-2", "reset"], "port {port}: reset by web-2");
        stale.push(port);
    }
    assert_eq!(stale.len(), 2, "two client ports on web-2 within 40 tries");
    let ours: Vec<Flow> = flows(&daemon, Some("web-2"))
        .into_iter()
        .filter(|f| stale.iter().any(|p| f.client == format!("{me}:{p}")))
        .collect();
    println!(
        "  client ports {stale:?}: connections on web-2, reset by web-2; their flows in lb: {:?}",
        ours.iter()
            .map(|f| (&f.client, &f.state, f.idle_s))
            .collect::<Vec<_>>()
    );

    // Drain web-2 (left running: --no-signal), then a new connection from
    // the first port.
    lb_ok(
        &daemon,
        &["drain", "web-2", "--no-signal", "--timeout", "10s"],
    );
    let t_drain = unix_time();
    let drain_started = Instant::now();
    let log2 = lab.dir().join("port-client-reuse.log");
    let p = run(stale[0], "", &log2);
    p.wait_timeout(Duration::from_secs(10)).unwrap();
    let answered = lines(&log2).first().cloned().unwrap_or_default();
    let accepted = connections(web2, &me, t_drain, f64::INFINITY).len();
    println!(
        "  a new connection from port {} during the drain was answered by {answered:?}; web-2 accepted {accepted} connections after the drain began",
        stale[0]
    );

    // web-2 holds no connection of ours any more, yet the drain waits for
    // the second port's flow.
    let out = daemon
        .lb_timeout(&["drain", "web-2", "--wait"], Duration::from_secs(20))
        .expect("lb drain --wait runs");
    let st = daemon.backend_status("web-2").unwrap();
    println!(
        "  lb drain web-2 --wait: {} {} after the drain began; outcome {}, forced flows {}",
        out.status,
        secs(drain_started.elapsed()),
        st["drain"]["outcome"],
        st["drain"]["forced_flows"]
    );
    let failures = [
        (answered != "web-1" && answered != "web-3")
            .then(|| format!("a new connection went to draining web-2 (answered by {answered:?})")),
        (accepted != 0).then(|| format!("web-2 accepted {accepted} connection(s) while draining")),
        (st["drain"]["outcome"] != "drained").then(|| {
            format!(
                "the drain ended {} with {} flow(s) forced, though web-2 held no connection",
                st["drain"]["outcome"], st["drain"]["forced_flows"]
            )
        }),
    ];
    let failures: Vec<String> = failures.into_iter().flatten().collect();
    assert!(failures.is_empty(), "{}", failures.join("; "));
    down(lab, daemon);
}

/// The drain duration shown by `lb status`: a drain that ended at once, read
/// 3 s later.
#[test]
fn e2e_2c_status_shows_drain_duration() {
    println!("== e2e 2c: the drain duration in lb status");
    let (lab, daemon) = up("e2edur", 2, false, &ConfigSpec::default());
    let t = Instant::now();
    let out = lb_ok(&daemon, &["drain", "web-2", "--no-signal", "--wait"]);
    let took = t.elapsed();
    thread::sleep(Duration::from_secs(3));
    let text = lb_ok(&daemon, &["status"]);
    let note = text
        .lines()
        .find(|l| l.contains("drain: drained after"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    println!(
        "  lb drain web-2 --no-signal --wait took {}: {}",
        secs(took),
        out.trim()
    );
    println!("  lb status 3 s later: {note:?}");
    let shown = note
        .split("drained after ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|d| {
            d.strip_suffix("ms")
                .map(|n| n.parse::<f64>().ok().map(|v| v / 1000.0))
                .or_else(|| d.strip_suffix('s').map(|n| n.parse::<f64>().ok()))
                .flatten()
        })
        .unwrap_or_else(|| panic!("no drain duration in `lb status`:\n{text}"));
    assert!(
        shown <= took.as_secs_f64() + 1.0,
        "`lb status` says the drain took {shown} s; it took {}",
        secs(took)
    );
    down(lab, daemon);
}
