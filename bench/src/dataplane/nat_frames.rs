//! The NAT cases' frames, IPv4 TCP, with their transport checksums computed
//! from scratch (the packet builder leaves them zero; NAT updates them
//! incrementally, so they must be right going in and are checked coming out).

use std::net::IpAddr;

use super::{
    nat_setup::{BACKEND_PORT, NAT_SOURCE, VIP_PORT, backend_addr},
    setup::{VIP4, backend_mac},
};
use crate::packet::{CLIENT_MAC, L4, Mac, Spec};

/// The Internet checksum of `bytes`.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The TCP segment of an untagged IPv4 frame, with its pseudo-header.
fn pseudo_and_segment(frame: &[u8]) -> Vec<u8> {
    let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let seg = &frame[14 + ihl..14 + total];
    let mut v = frame[26..34].to_vec();
    v.extend_from_slice(&[0, frame[23]]);
    v.extend_from_slice(&(seg.len() as u16).to_be_bytes());
    v.extend_from_slice(seg);
    v
}

/// `spec`'s frame from `src` to `dst` MAC, TCP checksum filled in.
pub fn build(spec: &Spec, dst: Mac, src: Mac) -> Vec<u8> {
    let mut f = spec.build();
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    let at = 14 + 20 + 16;
    f[at..at + 2].copy_from_slice(&[0, 0]);
    let sum = checksum(&pseudo_and_segment(&f));
    f[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    f
}

/// True when the IPv4 header and TCP checksums of `frame` are right.
pub fn checksums_ok(frame: &[u8]) -> bool {
    frame.len() >= 54 && checksum(&frame[14..34]) == 0 && checksum(&pseudo_and_segment(frame)) == 0
}

/// A client's segment to the VIP, as it arrives at the balancer.
pub fn request(client: IpAddr, port: u16, flags: u8, payload: usize, lb_mac: Mac) -> Vec<u8> {
    build(
        &client_spec(client, port, flags, payload),
        lb_mac,
        CLIENT_MAC,
    )
}

fn client_spec(client: IpAddr, port: u16, flags: u8, payload: usize) -> Spec {
    Spec {
        src: client,
        dst: IpAddr::V4(VIP4),
        sport: port,
        dport: VIP_PORT,
        l4: L4::Tcp { flags },
        payload,
        vlan: None,
    }
}

/// What the request leaves as: nat_source:nport → backend:8000, from the
/// backend side's MAC to the backend's.
pub fn translated(
    client: IpAddr,
    port: u16,
    flags: u8,
    payload: usize,
    nport: u16,
    backend: u32,
    out_mac: Mac,
) -> Vec<u8> {
    let spec = Spec {
        src: IpAddr::V4(NAT_SOURCE),
        dst: backend_addr(backend),
        sport: nport,
        dport: BACKEND_PORT,
        ..client_spec(client, port, flags, payload)
    };
    build(&spec, backend_mac(backend), out_mac)
}

/// The backend's reply to nat_source:nport, as it arrives at the balancer.
pub fn reply(backend: u32, nport: u16, flags: u8, payload: usize, lb_mac: Mac) -> Vec<u8> {
    let spec = Spec {
        src: backend_addr(backend),
        dst: IpAddr::V4(NAT_SOURCE),
        sport: BACKEND_PORT,
        dport: nport,
        l4: L4::Tcp { flags },
        payload,
        vlan: None,
    };
    build(&spec, lb_mac, backend_mac(backend))
}

/// What the reply leaves as: VIP:80 → client, to the client's MAC.
pub fn reply_out(client: IpAddr, port: u16, flags: u8, payload: usize, out_mac: Mac) -> Vec<u8> {
    let spec = Spec {
        src: IpAddr::V4(VIP4),
        dst: client,
        sport: VIP_PORT,
        dport: port,
        ..client_spec(client, port, flags, payload)
    };
    build(&spec, CLIENT_MAC, out_mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_frames_have_right_checksums() {
        let c: IpAddr = "192.0.2.1".parse().unwrap();
        for f in [
            request(c, 1024, 0x02, 0, [2; 6]),
            request(c, 1024, 0x18, 100, [2; 6]),
            translated(c, 1024, 0x18, 100, 2001, 3, [2; 6]),
            reply(3, 2001, 0x18, 100, [2; 6]),
        ] {
            assert!(checksums_ok(&f));
            let mut bad = f.clone();
            bad[40] ^= 1;
            assert!(!checksums_ok(&bad));
        }
    }
}
