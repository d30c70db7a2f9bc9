//! What the parser makes of a frame: a [`Packet`], or why not
//! ([`ParseError`]).

use lb_common::flow::FlowKey;

use crate::program::bounds::{dst_words, src_words};

/// TCP flag bits (the flags byte of the TCP header).
pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;

/// IANA protocol numbers of ICMP and ICMPv6.
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_ICMPV6: u8 = 58;

/// Stands for "TCP or UDP, not known which" in [`ParseError::malformed`].
pub const PROTO_UNKNOWN: u8 = 0;

/// What the rest of the program needs from a well-formed TCP or UDP packet.
pub struct Packet {
    /// The 5-tuple, client to VIP (IPv4 addresses IPv4-mapped).
    pub key: FlowKey,
    /// IPv4 or IPv6.
    pub v4: bool,
    /// TCP flags byte; 0 for UDP.
    pub tcp_flags: u8,
    /// The segment carries payload (for TCP: data beyond the header).
    pub has_payload: bool,
    /// An ICMP "fragmentation needed" or ICMPv6 "packet too big" about the
    /// VIP-to-client packet whose 5-tuple `key` holds, turned around (see
    /// icmp.rs): it only follows an existing flow.
    pub icmp_error: bool,
    /// TCP sequence number (host order); 0 for UDP.
    pub seq: u32,
    /// Bytes in the frame, for the byte counters.
    pub frame_len: u32,
    /// Offsets of the network and transport headers (NAT rewrites them).
    pub l3: u16,
    pub l4: u16,
}

impl Packet {
    /// The source address as words.
    #[inline(always)]
    pub fn src(&self) -> [u32; 4] {
        src_words(&self.key)
    }

    /// The destination address as words.
    #[inline(always)]
    pub fn dst(&self) -> [u32; 4] {
        dst_words(&self.key)
    }
}

/// What went wrong, without data.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ParseErrorKind {
    /// Not IPv4/IPv6, or not TCP/UDP: nothing for us.
    NotOurs,
    /// Malformed before the destination address is known.
    Unparsable,
    /// Truncated or malformed after the destination address is known.
    Malformed,
    /// A non-first fragment.
    Fragment,
}

/// Why a packet could not be parsed into a [`Packet`].
///
/// A plain struct rather than an enum with data: every field is always
/// initialised, so the compiler never packs undefined bytes into the value,
/// which the verifier rejects ("R7 !read_ok").
#[derive(Clone, Copy)]
pub struct ParseError {
    pub kind: ParseErrorKind,
    /// The destination as words, for `Malformed` and `Fragment`.
    pub dst: [u32; 4],
    /// TCP, UDP, or [`PROTO_UNKNOWN`] when a cut hid it (inside IPv6
    /// extension headers).
    pub proto: u8,
}

impl ParseError {
    pub const NOT_OURS: Self = Self::new(ParseErrorKind::NotOurs, [0; 4], PROTO_UNKNOWN);
    pub const UNPARSABLE: Self = Self::new(ParseErrorKind::Unparsable, [0; 4], PROTO_UNKNOWN);

    const fn new(kind: ParseErrorKind, dst: [u32; 4], proto: u8) -> Self {
        Self { kind, dst, proto }
    }

    pub const fn malformed(dst: [u32; 4], proto: u8) -> Self {
        Self::new(ParseErrorKind::Malformed, dst, proto)
    }

    pub const fn fragment(dst: [u32; 4], proto: u8) -> Self {
        Self::new(ParseErrorKind::Fragment, dst, proto)
    }
}
