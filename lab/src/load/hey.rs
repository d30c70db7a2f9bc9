//! hey: arguments and output parsing (status code and error distributions,
//! latency percentiles).

use std::{path::Path, time::Duration};

use anyhow::{Context as _, Result};

use super::{Errors, LoadResult, LoadSpec, Tool, secs};

pub(super) fn args(spec: &LoadSpec, stem: &Path) -> Result<Vec<String>> {
    let mut a: Vec<String> = vec![
        "hey".into(),
        "-z".into(),
        format!("{}ms", spec.duration.as_millis().max(1)),
        "-c".into(),
        spec.connections.to_string(),
        "-t".into(),
        secs(spec.timeout).trim_end_matches('s').to_owned(),
    ];
    if !spec.keepalive {
        a.push("-disable-keepalive".into());
    }
    if let Some(len) = spec.post_body {
        let body = stem.with_extension("body");
        std::fs::write(&body, vec![b'x'; len])
            .with_context(|| format!("writing {}", body.display()))?;
        a.extend([
            "-m".into(),
            "POST".into(),
            "-T".into(),
            "application/octet-stream".into(),
        ]);
        a.extend(["-D".into(), body.display().to_string()]);
    }
    a.push(spec.url.clone());
    Ok(a)
}

/// Sorts one of hey's error messages (Go's net/http wording) into a kind.
fn kind(msg: &str) -> fn(&mut Errors) -> &mut u64 {
    let m = msg.to_ascii_lowercase();
    if m.contains("timeout") || m.contains("deadline exceeded") {
        |e| &mut e.timeout
    } else if m.contains("dial tcp") || m.contains("connect:") {
        |e| &mut e.connect
    } else if m.contains("broken pipe") || m.contains("write:") {
        |e| &mut e.write
    } else if m.contains("read:")
        || m.contains("reset")
        || m.ends_with("eof")
        || m.contains("server closed")
    {
        |e| &mut e.read
    } else {
        |e| &mut e.other
    }
}

/// Parses e.g.
/// ```text
/// Summary:
///   Total:    2.0012 secs
/// Latency distribution:
///   50% in 0.0027 secs
///   99% in 0.0058 secs
/// Status code distribution:
///   [200]    2846 responses
/// Error distribution:
///   [12]    Get "http://198.51.100.10/": dial tcp ...: connect: connection refused
/// ```
pub(super) fn parse(raw: &str) -> Result<LoadResult> {
    let mut r = LoadResult {
        tool: Tool::Hey,
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
        if let Some(t) = line.strip_prefix("Total:") {
            let s = t.trim().trim_end_matches("secs").trim();
            r.duration = Duration::from_secs_f64(s.parse().context("hey's Total")?);
            found = true;
        } else if let Some((p, rest)) = line.split_once("% in ") {
            let v: f64 = rest
                .trim_end_matches("secs")
                .trim()
                .parse()
                .unwrap_or(f64::NAN);
            match p {
                "50" => r.latency_p50_ms = v * 1000.0,
                "99" => r.latency_p99_ms = v * 1000.0,
                _ => {}
            }
        } else if let Some(rest) = line.strip_prefix('[') {
            let Some((n, tail)) = rest.split_once(']') else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            let tail = tail.trim();
            if let Some(count) = tail.strip_suffix("responses") {
                // "[200]\t2846 responses": n is the status code.
                let count: u64 = count.trim().parse().unwrap_or(0);
                let code = u16::try_from(n).unwrap_or(0);
                *r.status_codes.entry(code).or_default() += count;
                r.requests += count;
                if !(200..300).contains(&code) {
                    r.non_2xx += count;
                }
            } else {
                // "[12]\tGet ...: message": n is the count.
                *kind(tail)(&mut r.errors) += n;
                r.error_messages.push((n, tail.to_owned()));
            }
        }
    }
    anyhow::ensure!(found, "no \"Total:\" line");
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hey() {
        let raw = "\nSummary:\n  Total:\t2.0000 secs\n  Slowest:\t0.0081 secs\n  Requests/sec:\t1422.1637\n\nLatency distribution:\n  10% in 0.0015 secs\n  50% in 0.0027 secs\n  99% in 0.0058 secs\n\nStatus code distribution:\n  [200]\t2846 responses\n  [503]\t4 responses\n\nError distribution:\n  [3]\tGet \"http://198.51.100.10/\": dial tcp 198.51.100.10:80: connect: connection refused\n  [2]\tGet \"http://198.51.100.10/\": read tcp 198.51.100.1:4000->198.51.100.10:80: read: connection reset by peer\n  [1]\tGet \"http://198.51.100.10/\": EOF\n  [1]\tGet \"http://198.51.100.10/\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)\n  [1]\tPost \"http://198.51.100.10/\": write tcp 198.51.100.1:4001->198.51.100.10:80: write: broken pipe\n";
        let r = parse(raw).unwrap();
        assert_eq!(r.requests, 2850);
        assert_eq!(r.non_2xx, 4);
        assert_eq!(
            r.errors,
            Errors {
                connect: 3,
                read: 3,
                write: 1,
                timeout: 1,
                other: 0
            }
        );
        assert!((r.latency_p50_ms - 2.7).abs() < 1e-9);
        assert!((r.latency_p99_ms - 5.8).abs() < 1e-9);
        assert!((r.rps() - 1425.0).abs() < 1e-9);
        assert_eq!(r.error_messages.len(), 5);
    }
}
