//! Hostile input to the control API, through the real router into the real
//! core (without a data plane): random and malicious bodies, huge, negative
//! and non-numeric durations, odd names, unknown fields, oversized bodies.
//! Never a panic, never a 5xx, and the daemon still answers afterwards.

use std::{
    io::{Read as _, Write as _},
    os::unix::net::UnixStream,
    path::Path,
};

use rand::{Rng as _, SeedableRng as _, rngs::StdRng};

use super::test_daemon::TestDaemon;

/// Sends one raw request; returns the status code.
fn send(socket: &Path, request: &[u8]) -> u16 {
    let mut stream = UnixStream::connect(socket).expect("the daemon still accepts connections");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    // A server may answer (413) and close before an oversized body is read.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no HTTP answer to {:?}: {text:?}",
                String::from_utf8_lossy(&request[..request.len().min(200)])
            )
        })
}

fn request(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "{method} {path} HTTP/1.1\r\nHost: lb\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

const TIMEOUTS: &[&str] = &[
    "\"18446744073709551615s\"",
    "\"-1s\"",
    "\"NaNs\"",
    "\"infs\"",
    "\"1e400s\"",
    "\"0s\"",
    "\"720h\"",
    "\"721h\"",
    "\"0.000000001s\"",
    "\"99999999999999999999999999999h\"",
    "\"\"",
    "18446744073709551615",
    "-1",
    "1e308",
    "null",
    "true",
    "[\"30s\"]",
    "{\"s\": 1}",
    "\"30s\\u0000\"",
];

const NAMES: &[&str] = &[
    "web-1",
    "web-2",
    "web-3",
    "",
    "..",
    "%2e%2e%2fetc%2fpasswd",
    "%00",
    "%FF%FE",
    "%E2%98%83",
    "a%20b",
    "web-1%0d%0aX-Injected:%201",
];

fn name(rng: &mut StdRng) -> String {
    match rng.random_range(0..10) {
        0 => "x".repeat(rng.random_range(100..5000)),
        _ => NAMES[rng.random_range(0..NAMES.len())].to_owned(),
    }
}

fn body(rng: &mut StdRng) -> Vec<u8> {
    let timeout = TIMEOUTS[rng.random_range(0..TIMEOUTS.len())];
    match rng.random_range(0..8) {
        0 => format!("{{\"timeout\": {timeout}}}").into_bytes(),
        1 => format!("{{\"timeout\": {timeout}, \"no_signal\": true}}").into_bytes(),
        2 => format!("{{\"timeout\": {timeout}, \"force\": 1}}").into_bytes(),
        3 => (0..rng.random_range(0..200))
            .map(|_| rng.random())
            .collect(),
        4 => "[".repeat(rng.random_range(1..10_000)).into_bytes(),
        5 => vec![b'{'; 200 * 1024],
        6 => format!("{{\"no_signal\": {timeout}}}").into_bytes(),
        _ => Vec::new(),
    }
}

#[test]
fn hostile_requests_never_panic_the_core_nor_get_a_5xx() {
    let lb = TestDaemon::start("fuzz-api");
    let mut rng = StdRng::seed_from_u64(0x1b_13);
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..400 {
        let name = name(&mut rng);
        let (method, path, body) = match rng.random_range(0..8) {
            0 => ("POST", format!("/v1/backends/{name}/drain"), body(&mut rng)),
            1 => (
                "POST",
                format!("/v1/backends/{name}/enable"),
                body(&mut rng),
            ),
            2 => ("POST", format!("/v1/backends/{name}/disable"), Vec::new()),
            3 => ("GET", format!("/v1/backends/{name}"), Vec::new()),
            4 => {
                let q = [
                    "limit=0",
                    "limit=-1",
                    "limit=99999999999999999999",
                    "after=zz",
                    "backend=",
                    "x=1",
                    "limit=5",
                ];
                (
                    "GET",
                    format!(
                        "/v1/flows?{}&backend={name}",
                        q[rng.random_range(0..q.len())]
                    ),
                    Vec::new(),
                )
            }
            5 => ("PUT", "/v1/status".to_owned(), body(&mut rng)),
            6 => ("GET", "/v1/status".to_owned(), Vec::new()),
            _ => ("POST", "/v1/reload".to_owned(), body(&mut rng)),
        };
        let status = send(&lb.socket, &request(method, &path, &body));
        assert!(
            (200..500).contains(&status),
            "{method} {} answered {status}",
            &path[..path.len().min(100)]
        );
        *seen.entry(status).or_insert(0u32) += 1;
    }
    println!("answers by status: {seen:?}");
    // Still alive, still consistent.
    assert_eq!(send(&lb.socket, &request("GET", "/v1/status", b"")), 200);
    assert!(
        seen.keys().any(|s| *s >= 400),
        "the hostile input was refused somewhere"
    );
}
