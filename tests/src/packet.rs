//! A small packet builder for the fixtures and the fuzzer.
//!
//! Ethernet (optionally one 802.1Q/802.1ad tag), ARP, IPv4 (options, fragment
//! fields), IPv6 (extension headers, fragment header), TCP (flags, options,
//! payload), UDP, ICMPv4 echo and ICMPv6 neighbour solicitation, with correct
//! lengths and checksums. [`Frame::build`] also says where every header starts
//! and ends, so a test can cut a frame inside any header.
//!
//! No external crate: the program under test only reads a handful of fields, and
//! a builder we can read in one sitting is easier to trust than one we can't.

mod wire;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub type Mac = [u8; 6];

pub const ETH_P_IPV4: u16 = 0x0800;
pub const ETH_P_ARP: u16 = 0x0806;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_P_8021Q: u16 = 0x8100;
pub const ETH_P_8021AD: u16 = 0x88a8;

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;
const EXT_HOP_BY_HOP: u8 = 0;
const EXT_ROUTING: u8 = 43;
const EXT_FRAGMENT: u8 = 44;
const EXT_DEST_OPTS: u8 = 60;

/// TCP flag bits.
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// Default MACs: the client's and the balancer's (locally administered).
pub const CLIENT_MAC: Mac = [0x02, 0, 0, 0, 0, 0x01];
pub const LB_MAC: Mac = [0x02, 0, 0, 0, 0, 0x02];

#[derive(Clone, Debug)]
pub struct Frame {
    pub dst: Mac,
    pub src: Mac,
    pub vlan: Option<Vlan>,
    pub net: Net,
    /// Zero padding appended up to this many bytes (60 = Ethernet's minimum without FCS).
    pub pad_to: usize,
}

#[derive(Clone, Copy, Debug)]
pub struct Vlan {
    pub tpid: u16,
    pub tci: u16,
}

#[derive(Clone, Debug)]
pub enum Net {
    Ipv4(Ipv4),
    Ipv6(Ipv6),
    Arp(Arp),
    /// Any other EtherType, payload as given.
    Raw {
        ether_type: u16,
        bytes: Vec<u8>,
    },
}

#[derive(Clone, Debug)]
pub struct Ipv4 {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub id: u16,
    pub dont_fragment: bool,
    pub more_fragments: bool,
    /// In 8-byte units.
    pub fragment_offset: u16,
    /// Option bytes; zero-padded (end of option list) to a multiple of 4.
    pub options: Vec<u8>,
    pub l4: L4,
}

#[derive(Clone, Debug)]
pub struct Ipv6 {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub hop_limit: u8,
    /// Extension headers in wire order.
    pub ext: Vec<Ext>,
    pub l4: L4,
}

#[derive(Clone, Debug)]
pub enum Ext {
    /// Option bytes; PadN-padded so the header is a multiple of 8 bytes.
    HopByHop(Vec<u8>),
    DestOpts(Vec<u8>),
    /// Type-specific data after the first 4 bytes, zero-padded to 8n + 4.
    Routing {
        routing_type: u8,
        segments_left: u8,
        data: Vec<u8>,
    },
    Fragment {
        /// In 8-byte units.
        offset: u16,
        more: bool,
        id: u32,
    },
}

#[derive(Clone, Debug)]
pub enum L4 {
    Tcp(Tcp),
    Udp(Udp),
    /// ICMPv4 type 8 in IPv4, ICMPv6 type 128 in IPv6.
    IcmpEcho {
        id: u16,
        seq: u16,
        data: Vec<u8>,
    },
    /// ICMPv6 type 135 (IPv6 only).
    NeighbourSolicitation {
        target: Ipv6Addr,
        source_mac: Mac,
    },
    /// Any protocol, bytes as given (no checksum).
    Raw {
        proto: u8,
        bytes: Vec<u8>,
    },
}

#[derive(Clone, Debug)]
pub struct Tcp {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    /// Option bytes; zero-padded (end of option list) to a multiple of 4.
    pub options: Vec<u8>,
    pub payload: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct Udp {
    pub sport: u16,
    pub dport: u16,
    pub payload: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct Arp {
    /// 1 request, 2 reply.
    pub op: u16,
    pub sender_mac: Mac,
    pub sender_ip: Ipv4Addr,
    pub target_mac: Mac,
    pub target_ip: Ipv4Addr,
}

/// Where each header of a built frame starts (byte offsets into the frame).
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// Start of the VLAN tag (its TPID, offset 12), if any.
    pub vlan: Option<usize>,
    /// Start of the network header (after Ethernet and the tag).
    pub l3: usize,
    /// End of the fixed network header (20 for IPv4, 40 for IPv6, 28 for ARP).
    pub l3_fixed_end: usize,
    /// Start of each IPv6 extension header.
    pub ext: Vec<usize>,
    /// Start of the transport header (after IPv4 options or IPv6 extension headers).
    pub l4: usize,
    /// End of the fixed transport header (TCP 20, UDP 8).
    pub l4_fixed_end: usize,
    /// Start of the payload (after TCP options).
    pub payload: usize,
    /// End of the IP packet (before any Ethernet padding).
    pub end: usize,
}

impl Frame {
    /// A frame from the client's MAC to the balancer's.
    pub fn new(net: Net) -> Self {
        Self {
            dst: LB_MAC,
            src: CLIENT_MAC,
            vlan: None,
            net,
            pad_to: 0,
        }
    }

    /// An IP packet of the family of `src` (both addresses must be of one family).
    pub fn ip(src: IpAddr, dst: IpAddr, l4: L4) -> Self {
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Self::new(Net::Ipv4(Ipv4 {
                src,
                dst,
                ttl: 64,
                id: 0x1234,
                dont_fragment: true,
                more_fragments: false,
                fragment_offset: 0,
                options: Vec::new(),
                l4,
            })),
            (IpAddr::V6(src), IpAddr::V6(dst)) => Self::new(Net::Ipv6(Ipv6 {
                src,
                dst,
                hop_limit: 64,
                ext: Vec::new(),
                l4,
            })),
            _ => panic!("mixed address families: {src} -> {dst}"),
        }
    }

    /// A TCP segment with `flags` and no payload.
    pub fn tcp(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, flags: u8) -> Self {
        Self::ip(
            src,
            dst,
            L4::Tcp(Tcp {
                sport,
                dport,
                seq: 1000,
                ack: if flags & ACK != 0 { 2000 } else { 0 },
                flags,
                window: 64240,
                options: Vec::new(),
                payload: Vec::new(),
            }),
        )
    }

    pub fn udp(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Self {
        Self::ip(
            src,
            dst,
            L4::Udp(Udp {
                sport,
                dport,
                payload: payload.to_vec(),
            }),
        )
    }

    /// ARP "who has `target_ip`", broadcast.
    pub fn arp_request(sender_mac: Mac, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Self {
        let mut f = Self::new(Net::Arp(Arp {
            op: 1,
            sender_mac,
            sender_ip,
            target_mac: [0; 6],
            target_ip,
        }));
        f.dst = [0xff; 6];
        f.src = sender_mac;
        f
    }

    /// ICMPv4 echo request, or ICMPv6 echo request for IPv6 addresses.
    pub fn echo(src: IpAddr, dst: IpAddr) -> Self {
        let data = b"lb-tests echo".to_vec();
        Self::ip(
            src,
            dst,
            L4::IcmpEcho {
                id: 7,
                seq: 1,
                data,
            },
        )
    }

    /// Neighbour solicitation for `target`, to its solicited-node multicast group.
    pub fn neighbour_solicitation(src: Ipv6Addr, source_mac: Mac, target: Ipv6Addr) -> Self {
        let t = target.octets();
        let group = Ipv6Addr::new(
            0xff02,
            0,
            0,
            0,
            0,
            1,
            0xff00 | u16::from(t[13]),
            u16::from_be_bytes([t[14], t[15]]),
        );
        let mut f = Self::ip(
            IpAddr::V6(src),
            IpAddr::V6(group),
            L4::NeighbourSolicitation { target, source_mac },
        );
        if let Net::Ipv6(ip) = &mut f.net {
            ip.hop_limit = 255;
        }
        f.dst = [0x33, 0x33, 0xff, t[13], t[14], t[15]];
        f.src = source_mac;
        f
    }

    pub fn macs(mut self, dst: Mac, src: Mac) -> Self {
        self.dst = dst;
        self.src = src;
        self
    }

    pub fn vlan(mut self, tpid: u16, tci: u16) -> Self {
        self.vlan = Some(Vlan { tpid, tci });
        self
    }

    pub fn pad_to(mut self, len: usize) -> Self {
        self.pad_to = len;
        self
    }

    /// Sets the TCP or UDP payload.
    pub fn payload(mut self, payload: &[u8]) -> Self {
        match self.l4_mut() {
            Some(L4::Tcp(t)) => t.payload = payload.to_vec(),
            Some(L4::Udp(u)) => u.payload = payload.to_vec(),
            _ => panic!("payload() on a frame without TCP or UDP"),
        }
        self
    }

    /// Sets the TCP sequence number (a new connection's SYN has a new one).
    pub fn seq(mut self, seq: u32) -> Self {
        match self.l4_mut() {
            Some(L4::Tcp(t)) => t.seq = seq,
            _ => panic!("seq() on a frame without TCP"),
        }
        self
    }

    pub fn tcp_options(mut self, options: &[u8]) -> Self {
        match self.l4_mut() {
            Some(L4::Tcp(t)) => t.options = options.to_vec(),
            _ => panic!("tcp_options() on a frame without TCP"),
        }
        self
    }

    pub fn ipv4_options(mut self, options: &[u8]) -> Self {
        match &mut self.net {
            Net::Ipv4(ip) => ip.options = options.to_vec(),
            _ => panic!("ipv4_options() on a non-IPv4 frame"),
        }
        self
    }

    /// IPv4: sets MF and the offset (8-byte units). IPv6: appends a fragment header.
    pub fn fragment(mut self, more: bool, offset: u16) -> Self {
        match &mut self.net {
            Net::Ipv4(ip) => {
                ip.dont_fragment = false;
                ip.more_fragments = more;
                ip.fragment_offset = offset;
            }
            Net::Ipv6(ip) => ip.ext.push(Ext::Fragment {
                offset,
                more,
                id: 0xabcd,
            }),
            _ => panic!("fragment() on a non-IP frame"),
        }
        self
    }

    /// Appends an IPv6 extension header.
    pub fn ext(mut self, ext: Ext) -> Self {
        match &mut self.net {
            Net::Ipv6(ip) => ip.ext.push(ext),
            _ => panic!("ext() on a non-IPv6 frame"),
        }
        self
    }

    fn l4_mut(&mut self) -> Option<&mut L4> {
        match &mut self.net {
            Net::Ipv4(ip) => Some(&mut ip.l4),
            Net::Ipv6(ip) => Some(&mut ip.l4),
            _ => None,
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.build().0
    }

    /// The frame's bytes and where each header is.
    pub fn build(&self) -> (Vec<u8>, Layout) {
        wire::build(self)
    }
}

/// True when the Internet checksum over `bytes` (checksum field included) verifies.
pub fn checksum_ok(bytes: &[u8]) -> bool {
    wire::checksum_ok(bytes)
}
