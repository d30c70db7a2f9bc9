//! VIP announcement through BIRD 2 (docs/fleet.md, "BGP"): lb owns one small
//! include file of static routes, one per announced VIP, and asks BIRD to
//! re-read its configuration over BIRD's control socket (what `birdc
//! configure` does, without needing birdc). BIRD's BGP sessions then export
//! those routes to the router (the operator's `bird.conf` includes the file
//! and exports `where proto = "<protocol>4"` / `"<protocol>6"`).
//!
//! Declarative and idempotent: [`BirdControl::set_announced`] writes the
//! whole set (atomically: a temporary file renamed over the old one), then
//! reconfigures; applying the same set twice changes nothing in BIRD.
//! A soft reconfiguration of a static protocol adds and withdraws only the
//! routes that changed; BGP sessions stay up. [`BirdControl::announce`] and
//! [`BirdControl::withdraw`] read the file back and rewrite it: one owner
//! (the daemon's loop) calls them, never two tasks at once.

use std::{
    collections::BTreeSet,
    fmt::Write as _,
    net::IpAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader},
    net::UnixStream,
};

/// How long BIRD may take to answer a reconfiguration.
pub const BIRD_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum BgpError {
    #[error("writing {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("BIRD control socket {}: {source} (is BIRD running with `-s` there?)", .socket.display())]
    Socket {
        socket: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("BIRD control socket {}: no answer within {BIRD_TIMEOUT:?}", .socket.display())]
    Timeout { socket: PathBuf },
    #[error("BIRD refused `{command}`: {reply}")]
    Refused { command: String, reply: String },
}

/// Where lb's routes go and how BIRD is reached (`[cluster.bgp]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BirdControl {
    /// BIRD's control socket (`bird -s`).
    pub socket: PathBuf,
    /// The file lb rewrites; `bird.conf` includes it at top level.
    pub include: PathBuf,
    /// Protocol name stem: lb writes `<protocol>4` (IPv4) and `<protocol>6`.
    pub protocol: String,
}

impl BirdControl {
    /// Announces exactly `vips` (withdrawing any other VIP announced before).
    pub async fn set_announced(&self, vips: &BTreeSet<IpAddr>) -> Result<(), BgpError> {
        write_atomically(&self.include, &render(&self.protocol, vips)).await?;
        self.command("configure").await.map(drop)
    }

    /// The VIPs the include file announces now (empty when it does not exist).
    pub async fn announced(&self) -> Result<BTreeSet<IpAddr>, BgpError> {
        match tokio::fs::read_to_string(&self.include).await {
            Ok(text) => Ok(parse_rendered(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
            Err(source) => Err(BgpError::Write {
                path: self.include.clone(),
                source,
            }),
        }
    }

    /// Adds `vip` to the announced set.
    pub async fn announce(&self, vip: IpAddr) -> Result<(), BgpError> {
        let mut set = self.announced().await?;
        set.insert(vip);
        self.set_announced(&set).await
    }

    /// Removes `vip` from the announced set.
    pub async fn withdraw(&self, vip: IpAddr) -> Result<(), BgpError> {
        let mut set = self.announced().await?;
        set.remove(&vip);
        self.set_announced(&set).await
    }

    /// Sends one command over the control socket; returns BIRD's reply text.
    pub async fn command(&self, command: &str) -> Result<String, BgpError> {
        let socket = self.socket.clone();
        tokio::time::timeout(BIRD_TIMEOUT, exchange(&self.socket, command))
            .await
            .map_err(|_| BgpError::Timeout { socket })?
    }
}

async fn exchange(socket: &Path, command: &str) -> Result<String, BgpError> {
    let io = |source| BgpError::Socket {
        socket: socket.to_owned(),
        source,
    };
    let stream = UnixStream::connect(socket).await.map_err(io)?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    // The greeting ("0001 BIRD 2.0.12 ready."), then our command's reply.
    read_reply(&mut lines).await.map_err(io)?;
    write
        .write_all(format!("{command}\n").as_bytes())
        .await
        .map_err(io)?;
    let (code, text) = read_reply(&mut lines).await.map_err(io)?;
    if reply_ok(code) {
        Ok(text)
    } else {
        Err(BgpError::Refused {
            command: command.to_owned(),
            reply: text,
        })
    }
}

/// Reads one reply: lines `DDDD-text` (more follow), ` text` (continuation)
/// and a last `DDDD text`. Returns the last code and all the text.
async fn read_reply(
    lines: &mut tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
) -> std::io::Result<(u16, String)> {
    let mut text = Vec::new();
    loop {
        let Some(line) = lines.next_line().await? else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "BIRD closed the control socket mid-reply",
            ));
        };
        let (code, last, rest) = parse_line(&line);
        text.push(rest.to_owned());
        if let (Some(code), true) = (code, last) {
            return Ok((code, text.join("\n")));
        }
    }
}

/// One control-socket line: its code (None for a ` text` continuation),
/// whether it ends the reply, and its text.
fn parse_line(line: &str) -> (Option<u16>, bool, &str) {
    let code = line.get(..4).and_then(|c| c.parse::<u16>().ok());
    match (code, line.as_bytes().get(4)) {
        (Some(c), Some(b' ')) => (Some(c), true, &line[5..]),
        (Some(c), Some(b'-')) => (Some(c), false, &line[5..]),
        (Some(c), None) => (Some(c), true, ""),
        _ => (None, false, line.strip_prefix(' ').unwrap_or(line)),
    }
}

/// BIRD's reply codes: 0xxx success, 1xxx/2xxx data, 8xxx run-time
/// errors, 9xxx parse errors.
fn reply_ok(code: u16) -> bool {
    code < 8000
}

/// The include file for `vips`: two static protocols (one per family, as
/// BIRD 2 channels are per family), one blackhole route per VIP. Blackhole
/// because the route only exists to be exported: BGP announces it with this
/// node as next hop, and the data plane answers for the VIP.
pub fn render(protocol: &str, vips: &BTreeSet<IpAddr>) -> String {
    let mut out = String::from(
        "# Written by lb ([cluster.bgp]): the VIPs this node announces. Do not edit:\n\
         # lb rewrites it on every change.\n",
    );
    for (suffix, channel, v4) in [("4", "ipv4", true), ("6", "ipv6", false)] {
        let _ = writeln!(out, "protocol static {protocol}{suffix} {{\n    {channel};");
        for vip in vips.iter().filter(|v| v.is_ipv4() == v4) {
            let len = if v4 { 32 } else { 128 };
            let _ = writeln!(out, "    route {vip}/{len} blackhole;");
        }
        out.push_str("}\n");
    }
    out
}

/// The VIPs a file written by [`render`] announces.
pub fn parse_rendered(text: &str) -> BTreeSet<IpAddr> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("route "))
        .filter_map(|r| r.split_once('/'))
        .filter_map(|(addr, _)| addr.parse().ok())
        .collect()
}

async fn write_atomically(path: &Path, text: &str) -> Result<(), BgpError> {
    let err = |source| BgpError::Write {
        path: path.to_owned(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    tokio::fs::write(&tmp, text).await.map_err(err)?;
    tokio::fs::rename(&tmp, path).await.map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_route_per_vip_per_family_and_reads_it_back() {
        let vips: BTreeSet<IpAddr> = ["198.51.100.10", "2001:db8:100::10", "203.0.113.5"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let text = render("lb_vips", &vips);
        assert!(text.contains(
            "protocol static lb_vips4 {\n    ipv4;\n    route 198.51.100.10/32 blackhole;\n    route 203.0.113.5/32 blackhole;\n}\n"
        ));
        assert!(text.contains(
            "protocol static lb_vips6 {\n    ipv6;\n    route 2001:db8:100::10/128 blackhole;\n}\n"
        ));
        assert_eq!(parse_rendered(&text), vips);
        // Nothing announced: both protocols stay, empty (BIRD withdraws).
        let empty = render("lb_vips", &BTreeSet::new());
        assert!(empty.contains("protocol static lb_vips4 {\n    ipv4;\n}\n"));
        assert!(parse_rendered(&empty).is_empty());
    }

    #[test]
    fn control_socket_lines() {
        assert_eq!(
            parse_line("0001 BIRD 2.0.12 ready."),
            (Some(1), true, "BIRD 2.0.12 ready.")
        );
        assert_eq!(
            parse_line("0002-Reading configuration from /etc/bird.conf"),
            (Some(2), false, "Reading configuration from /etc/bird.conf")
        );
        assert_eq!(parse_line(" more text"), (None, false, "more text"));
        assert_eq!(
            parse_line("0003 Reconfigured"),
            (Some(3), true, "Reconfigured")
        );
        assert!(reply_ok(3));
        assert!(!reply_ok(8002));
        assert!(!reply_ok(9001));
    }
}
