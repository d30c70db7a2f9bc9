//! Spoofed TCP floods for the lab: raw frames sent from inside a namespace
//! (an `AF_PACKET` socket on its interface) straight at the balancer's MAC,
//! from random sources in 203.0.113.0/24 (documentation addresses, which no
//! lab host uses). Bounded in count and in time.

use std::{
    fs::File,
    net::{IpAddr, Ipv4Addr},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use nix::sched::{CloneFlags, setns};

use crate::{
    packet::{Frame, Mac},
    rng::Rng,
};

/// What to send: `count` segments with TCP `flags` to `vip:port`, from
/// random 203.0.113.x:port sources, addressed to `lb_mac`, out of `iface`
/// in the namespace at `ns_path`; stop early once `limit` has passed.
pub struct Flood<'a> {
    pub ns_path: &'a std::path::Path,
    pub iface: &'a str,
    pub lb_mac: Mac,
    pub vip: Ipv4Addr,
    pub port: u16,
    pub flags: u8,
    pub count: usize,
    pub limit: Duration,
    pub seed: u64,
}

/// The source MAC of every spoofed frame (locally administered).
const SPOOF_MAC: Mac = [0x02, 0xf1, 0x00, 0x00, 0x00, 0x01];

impl Flood<'_> {
    /// Sends the frames; returns how many were sent.
    pub fn send(&self) -> Result<usize> {
        thread::scope(|s| s.spawn(|| self.send_here()).join())
            .map_err(|_| anyhow::anyhow!("the flood thread panicked"))?
    }

    /// On a thread of its own: enters the namespace, then sends.
    fn send_here(&self) -> Result<usize> {
        let ns = File::open(self.ns_path).context("opening the namespace")?;
        setns(&ns, CloneFlags::CLONE_NEWNET).context("setns")?;
        let socket = RawSocket::open(self.iface, self.lb_mac)?;
        let mut rng = Rng::new(self.seed);
        let started = Instant::now();
        let mut sent = 0;
        while sent < self.count && started.elapsed() < self.limit {
            let src = Ipv4Addr::new(203, 0, 113, 1 + rng.below(254) as u8);
            let sport = 1024 + rng.below(60000) as u16;
            let frame = Frame::tcp(
                IpAddr::V4(src),
                IpAddr::V4(self.vip),
                sport,
                self.port,
                self.flags,
            )
            .seq(rng.next_u64() as u32)
            .macs(self.lb_mac, SPOOF_MAC)
            .bytes();
            match socket.send(&frame) {
                Ok(()) => sent += 1,
                // The interface's queue is full: let it drain.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    thread::sleep(Duration::from_micros(200));
                }
                Err(e) => return Err(e).context("sending a spoofed frame"),
            }
        }
        Ok(sent)
    }
}

/// An `AF_PACKET` raw socket bound to one interface.
struct RawSocket {
    fd: std::os::fd::OwnedFd,
    addr: libc::sockaddr_ll,
}

impl RawSocket {
    fn open(iface: &str, dst: Mac) -> Result<Self> {
        let name = std::ffi::CString::new(iface)?;
        // SAFETY: a NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            bail!("no interface {iface} in this namespace");
        }
        // SAFETY: plain socket(2); the result is checked.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error()).context("AF_PACKET socket");
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { std::os::fd::FromRawFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid start.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = libc::c_int::try_from(ifindex)?;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&dst);
        Ok(Self { fd, addr })
    }

    fn send(&self, frame: &[u8]) -> std::io::Result<()> {
        use std::os::fd::AsRawFd as _;
        // SAFETY: the buffer and the address live across the call.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const self.addr).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if n < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}
