//! The few frames the benchmark sends: Ethernet (optionally one 802.1Q tag),
//! IPv4 or IPv6, TCP or UDP, with correct lengths (the programs check them)
//! and an IPv4 header checksum. Transport checksums are left zero: neither
//! program reads them.

use std::net::IpAddr;

use lb_common::{
    addr::from_ip,
    flow::FlowKey,
    vip::{PROTO_TCP, PROTO_UDP},
};

pub type Mac = [u8; 6];

/// The client's MAC and the balancer's (locally administered).
pub const CLIENT_MAC: Mac = [0x02, 0, 0, 0, 0, 0x01];
pub const LB_MAC: Mac = [0x02, 0, 0, 0, 0, 0x02];

pub const TCP_SYN: u8 = 0x02;
pub const TCP_PSH_ACK: u8 = 0x18;

#[derive(Clone, Copy, Debug)]
pub enum L4 {
    Tcp { flags: u8 },
    Udp,
}

/// One client-to-server frame.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub l4: L4,
    /// Payload bytes after the transport header.
    pub payload: usize,
    /// 802.1Q VLAN id, if tagged.
    pub vlan: Option<u16>,
}

impl Spec {
    pub fn proto(&self) -> u8 {
        match self.l4 {
            L4::Tcp { .. } => PROTO_TCP,
            L4::Udp => PROTO_UDP,
        }
    }

    /// The flow-table key `lb` makes of this frame.
    pub fn key(&self) -> FlowKey {
        FlowKey::new(
            from_ip(self.src),
            from_ip(self.dst),
            self.sport.to_be(),
            self.dport.to_be(),
            self.proto(),
        )
    }

    /// The same frame from another client address and port.
    pub fn with_client(mut self, src: IpAddr, sport: u16) -> Self {
        self.src = src;
        self.sport = sport;
        self
    }

    /// The frame's bytes, addressed from [`CLIENT_MAC`] to [`LB_MAC`].
    pub fn build(&self) -> Vec<u8> {
        let mut l4 = match self.l4 {
            L4::Tcp { flags } => {
                let mut h = vec![0u8; 20];
                h[0..2].copy_from_slice(&self.sport.to_be_bytes());
                h[2..4].copy_from_slice(&self.dport.to_be_bytes());
                h[4..8].copy_from_slice(&1u32.to_be_bytes()); // sequence
                h[12] = 5 << 4; // data offset: 5 words
                h[13] = flags;
                h[14..16].copy_from_slice(&64240u16.to_be_bytes()); // window
                h
            }
            L4::Udp => {
                let mut h = vec![0u8; 8];
                h[0..2].copy_from_slice(&self.sport.to_be_bytes());
                h[2..4].copy_from_slice(&self.dport.to_be_bytes());
                let len = (8 + self.payload) as u16;
                h[4..6].copy_from_slice(&len.to_be_bytes());
                h
            }
        };
        l4.extend((0..self.payload).map(|i| b'a' + (i % 26) as u8));

        let mut frame = Vec::with_capacity(14 + 4 + 40 + l4.len());
        frame.extend_from_slice(&LB_MAC);
        frame.extend_from_slice(&CLIENT_MAC);
        if let Some(id) = self.vlan {
            frame.extend_from_slice(&0x8100u16.to_be_bytes());
            frame.extend_from_slice(&(id & 0x0fff).to_be_bytes());
        }
        match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                frame.extend_from_slice(&0x0800u16.to_be_bytes());
                let mut ip = [0u8; 20];
                ip[0] = 0x45;
                ip[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
                ip[6] = 0x40; // don't fragment
                ip[8] = 64;
                ip[9] = self.proto();
                ip[12..16].copy_from_slice(&src.octets());
                ip[16..20].copy_from_slice(&dst.octets());
                let sum = checksum(&ip);
                ip[10..12].copy_from_slice(&sum.to_be_bytes());
                frame.extend_from_slice(&ip);
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                frame.extend_from_slice(&0x86ddu16.to_be_bytes());
                let mut ip = [0u8; 40];
                ip[0] = 0x60;
                ip[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
                ip[6] = self.proto();
                ip[7] = 64;
                ip[8..24].copy_from_slice(&src.octets());
                ip[24..40].copy_from_slice(&dst.octets());
                frame.extend_from_slice(&ip);
            }
            _ => panic!("mixed address families in {self:?}"),
        }
        frame.extend_from_slice(&l4);
        // Ethernet's minimum frame (without FCS).
        if frame.len() < 60 {
            frame.resize(60, 0);
        }
        frame
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_checksum() {
        let spec = Spec {
            src: "192.0.2.1".parse().unwrap(),
            dst: "198.51.100.10".parse().unwrap(),
            sport: 40000,
            dport: 80,
            l4: L4::Tcp { flags: TCP_PSH_ACK },
            payload: 100,
            vlan: Some(7),
        };
        let f = spec.build();
        assert_eq!(f.len(), 14 + 4 + 20 + 20 + 100);
        assert_eq!(&f[12..14], &[0x81, 0x00]);
        let ip = &f[18..38];
        assert_eq!(checksum(ip), 0, "a header with its checksum sums to 0");
        assert_eq!(u16::from_be_bytes([ip[2], ip[3]]), 140);
        let v6 = Spec {
            src: "2001:db8::1".parse().unwrap(),
            dst: "2001:db8::10".parse().unwrap(),
            l4: L4::Udp,
            payload: 0,
            vlan: None,
            ..spec
        };
        let f = v6.build();
        assert_eq!(f.len(), 14 + 40 + 8);
        assert_eq!(spec.key().proto, PROTO_TCP);
    }
}
