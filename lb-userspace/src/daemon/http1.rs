//! A minimal HTTP/1.1 client for health checks and HTTP actions: plain `http://`
//! only, one request per connection, status line read, body discarded. Enough
//! for a GET /health or a POST /shutdown, without a full client stack.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// A parsed `http://host:port/path` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
}

/// Parses a plain-HTTP URL whose host is an IP address.
pub fn parse_url(url: &str) -> Result<Url, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr: SocketAddr = authority
        .parse()
        .or_else(|_| format!("{authority}:80").parse())
        .or_else(|_| {
            authority
                .strip_prefix('[')
                .and_then(|a| a.strip_suffix(']'))
                .ok_or(())
                .and_then(|a| format!("[{a}]:80").parse().map_err(|_| ()))
        })
        .map_err(|()| format!("{url:?}: the host must be an IP address (with an optional port)"))?;
    Ok(Url {
        addr,
        host: authority.to_string(),
        path: path.to_string(),
    })
}

/// Sends `method path` to `addr` and returns the response's status code.
pub async fn request(
    addr: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<u16, String> {
    tokio::time::timeout(timeout, async {
        let mut stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: lb\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut buf = Vec::with_capacity(256);
        let mut chunk = [0u8; 256];
        while !buf.windows(2).any(|w| w == b"\r\n") && buf.len() < 4096 {
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        parse_status(&buf).ok_or_else(|| "no HTTP status line in the answer".to_string())
    })
    .await
    .map_err(|_| format!("no answer within {timeout:?}"))?
}

fn parse_status(buf: &[u8]) -> Option<u16> {
    let line = buf.split(|b| *b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://203.0.113.11:9000/shutdown").unwrap();
        assert_eq!(u.addr, "203.0.113.11:9000".parse().unwrap());
        assert_eq!(u.path, "/shutdown");
        let u = parse_url("http://203.0.113.11").unwrap();
        assert_eq!(u.addr, "203.0.113.11:80".parse().unwrap());
        assert_eq!(u.path, "/");
        let u = parse_url("http://[2001:db8::1]/x").unwrap();
        assert_eq!(u.addr, "[2001:db8::1]:80".parse().unwrap());
        assert!(parse_url("https://203.0.113.11/").is_err());
        assert!(parse_url("http://web-1/").is_err());
    }

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(parse_status(b"HTTP/1.0 500 x\r\n\r\n"), Some(500));
        assert_eq!(parse_status(b"SSH-2.0\r\n"), None);
    }
}
