//! wrk: arguments and output parsing (`--latency` for the percentiles).

use std::{path::Path, time::Duration};

use anyhow::{Context as _, Result};

use super::{Errors, LoadResult, LoadSpec, Tool, parse_ms, secs};

pub(super) fn args(spec: &LoadSpec, stem: &Path) -> Result<Vec<String>> {
    let threads = spec.threads.clamp(1, spec.connections);
    let mut a: Vec<String> = vec![
        "wrk".into(),
        "-t".into(),
        threads.to_string(),
        "-c".into(),
        spec.connections.to_string(),
        "-d".into(),
        secs(spec.duration),
        "--timeout".into(),
        secs(spec.timeout),
        "--latency".into(),
    ];
    if !spec.keepalive {
        a.extend(["-H".into(), "Connection: close".into()]);
    }
    if let Some(len) = spec.post_body {
        // wrk sends a body only through a Lua script.
        let script = stem.with_extension("lua");
        std::fs::write(
            &script,
            format!(
                "wrk.method = \"POST\"\nwrk.body = string.rep(\"x\", {len})\n\
                 wrk.headers[\"Content-Type\"] = \"application/octet-stream\"\n"
            ),
        )
        .with_context(|| format!("writing {}", script.display()))?;
        a.extend(["-s".into(), script.display().to_string()]);
    }
    a.push(spec.url.clone());
    Ok(a)
}

/// Parses e.g.
/// ```text
///   Latency Distribution
///      50%    2.61ms
///      99%    5.23ms
///   2913 requests in 2.00s, 3.09MB read
///   Socket errors: connect 0, read 5, write 0, timeout 0
///   Non-2xx or 3xx responses: 12
/// ```
pub(super) fn parse(raw: &str) -> Result<LoadResult> {
    let mut r = LoadResult {
        tool: Tool::Wrk,
        requests: 0,
        non_2xx: 0,
        errors: Errors::default(),
        latency_p50_ms: f64::NAN,
        latency_p99_ms: f64::NAN,
        duration: Duration::ZERO,
        status_codes: Default::default(),
        error_messages: Vec::new(),
        started_at: 0.0,
        raw: raw.to_owned(),
    };
    let mut found = false;
    for line in raw.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => r.latency_p50_ms = parse_ms(v).unwrap_or(f64::NAN),
            ["99%", v] => r.latency_p99_ms = parse_ms(v).unwrap_or(f64::NAN),
            [n, "requests", "in", d, ..] => {
                r.requests = n.parse().context("request count")?;
                let d = d.trim_end_matches(',');
                r.duration = Duration::from_secs_f64(parse_ms(d).context("run duration")? / 1000.0);
                found = true;
            }
            ["Socket", "errors:", rest @ ..] => {
                // "connect 0, read 5, write 0, timeout 0"
                for pair in rest.join(" ").split(',') {
                    let mut kv = pair.split_whitespace();
                    let (Some(k), Some(v)) = (kv.next(), kv.next()) else {
                        continue;
                    };
                    let v: u64 = v.parse().unwrap_or(0);
                    match k {
                        "connect" => r.errors.connect = v,
                        "read" => r.errors.read = v,
                        "write" => r.errors.write = v,
                        "timeout" => r.errors.timeout = v,
                        _ => r.errors.other += v,
                    }
                }
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => r.non_2xx = n.parse().unwrap_or(0),
            _ => {}
        }
    }
    anyhow::ensure!(found, "no \"N requests in D\" line");
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_wrk() {
        let raw = "Running 2s test @ http://198.51.100.10/\n  2 threads and 4 connections\n  Latency Distribution\n     50%    2.61ms\n     75%    3.18ms\n     99%  850.00us\n  2913 requests in 2.00s, 3.09MB read\n  Socket errors: connect 1, read 5, write 2, timeout 3\n  Non-2xx or 3xx responses: 12\nRequests/sec:   1455.03\n";
        let r = parse(raw).unwrap();
        assert_eq!(r.requests, 2913);
        assert_eq!(r.non_2xx, 12);
        assert_eq!(
            r.errors,
            Errors {
                connect: 1,
                read: 5,
                write: 2,
                timeout: 3,
                other: 0
            }
        );
        assert!((r.latency_p50_ms - 2.61).abs() < 1e-9);
        assert!((r.latency_p99_ms - 0.85).abs() < 1e-9);
        assert_eq!(r.duration, Duration::from_secs(2));
        assert!((r.rps() - 1456.5).abs() < 1e-6);
    }
}
