//! The flow tables (LRU hashes): which backend each connection is pinned to.
//! IPv4 flows live in `FLOWS4`, keyed by the compact [`FlowKey4`] (16 bytes:
//! a hash lookup hashes and compares 24 fewer bytes than with the 40-byte
//! key); IPv6 flows in `FLOWS`, keyed by [`FlowKey`]. Both hold [`FlowInfo`].
//! User space sees one table of [`FlowKey`]s (IPv4 as IPv4-mapped).

use crate::addr::{Addr16, v4_mapped};

/// Key of `FLOWS`: the client-to-VIP 5-tuple as seen on the wire.
///
/// Only client-to-VIP packets cross the balancer (backends reply directly to the
/// client), so `src` is always the client and `dst` always the VIP.
///
/// 4-aligned (no padding: 40 bytes either way) so that the program reads and
/// writes its addresses as whole words, not byte by byte.
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FlowKey {
    pub src: Addr16,
    pub dst: Addr16,
    /// Network byte order.
    pub sport_be: u16,
    /// Network byte order.
    pub dport_be: u16,
    pub proto: u8,
    pub _pad: [u8; 3],
}
const _: () =
    assert!(core::mem::size_of::<FlowKey>() == 40 && core::mem::align_of::<FlowKey>() == 4);

/// Key of `FLOWS4`: an IPv4 client-to-VIP 5-tuple as seen on the wire;
/// 4-aligned like [`FlowKey`].
#[repr(C, align(4))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey4 {
    pub src: [u8; 4],
    pub dst: [u8; 4],
    /// Network byte order.
    pub sport_be: u16,
    /// Network byte order.
    pub dport_be: u16,
    pub proto: u8,
    pub _pad: [u8; 3],
}
const _: () =
    assert!(core::mem::size_of::<FlowKey4>() == 16 && core::mem::align_of::<FlowKey4>() == 4);

impl FlowKey4 {
    /// Builds a key from wire-order fields.
    #[inline(always)]
    pub const fn new(src: [u8; 4], dst: [u8; 4], sport_be: u16, dport_be: u16, proto: u8) -> Self {
        Self {
            src,
            dst,
            sport_be,
            dport_be,
            proto,
            _pad: [0; 3],
        }
    }

    /// The same 5-tuple as a [`FlowKey`] (addresses IPv4-mapped).
    #[inline(always)]
    pub const fn widen(&self) -> FlowKey {
        FlowKey::new(
            v4_mapped(self.src),
            v4_mapped(self.dst),
            self.sport_be,
            self.dport_be,
            self.proto,
        )
    }
}

/// The client sent a FIN: the connection is closing and no longer counts as in flight.
pub const FLOW_F_FIN: u32 = 1 << 0;
/// The client sent an RST.
pub const FLOW_F_RST: u32 = 1 << 1;
/// The client has sent at least one segment with payload (its first request).
pub const FLOW_F_PAYLOAD: u32 = 1 << 2;
/// Either closing bit. A DSR flow's entry loses them again when the client
/// sends a packet (no FIN, RST or SYN) that cannot be the closed
/// connection's: one whose sequence number lies outside
/// [`FIN_RETRANSMIT_WINDOW`] before the FIN or RST that closed it to
/// [`FIN_SEGMENT_MAX`] after it (where the closed connection's retransmitted
/// data and last ACKs lie). That is a later connection on the same 5-tuple
/// whose SYN went to another balancer, moved here by the router's ECMP. Left
/// closing, it would not count as live and a drain could end under it.
pub const FLOW_F_CLOSING: u32 = FLOW_F_FIN | FLOW_F_RST;

/// How far before its FIN a client's data may still be retransmitted: 4 MiB,
/// Linux's largest send buffer by default (`tcp_wmem`), which bounds what a
/// client has in flight. With [`FIN_SEGMENT_MAX`], a later connection's
/// random sequence numbers fall in the window around a FIN about 1 time in
/// 1,000 (it then still counts as closed).
pub const FIN_RETRANSMIT_WINDOW: u32 = 4 << 20;

/// How far after its FIN segment's sequence number the closed connection's
/// last ACKs may lie: past the FIN's own payload (one segment, at most 64
/// KiB) and the FIN itself.
pub const FIN_SEGMENT_MAX: u32 = 1 << 16;
/// NAT flows only (the balancer sees the replies): the backend sent a FIN.
/// Set by the reply path on the client's flow entry.
pub const FLOW_F_SERVER_FIN: u32 = 1 << 3;
/// NAT flows only: the backend sent an RST.
pub const FLOW_F_SERVER_RST: u32 = 1 << 4;
/// NAT flows only: the flow has a translation (set with its first
/// translated packet), so `FLOW_F_SERVER_*` are meaningful. A NAT TCP flow
/// is over when both sides sent FIN, or either sent RST.
pub const FLOW_F_NAT: u32 = 1 << 5;

/// Value of `FLOWS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlowInfo {
    /// Index into `BACKENDS`.
    pub backend_id: u32,
    /// `FLOW_F_*` bits.
    pub flags: u32,
    /// CLOCK_MONOTONIC to the tick (`bpf_ktime_get_coarse_ns()`, a few ms
    /// behind the exact clock) at the flow's first packet.
    pub created_ns: u64,
    /// The same clock at the flow's latest packet.
    pub last_seen_ns: u64,
    /// While the flow is open: the sequence number of the client's SYN that
    /// opened it (0 when the entry was made by a later packet). With direct
    /// server return the balancer never sees a backend's RST, so a connection
    /// the backend reset leaves its entry behind; a SYN with another sequence
    /// number on that entry is a new connection reusing the 5-tuple, not a
    /// retransmission, and is picked anew instead of following the stale
    /// entry. Once the client sent FIN or RST (no SYN is a retransmission
    /// then): the sequence number of the segment that closed the flow, which
    /// tells the closed connection's last segments from a later connection's
    /// on the same 5-tuple (see `FLOW_F_CLOSING`).
    pub client_seq: u32,
    /// The VIP the flow belongs to (its counters), so that a packet of a known
    /// flow needs no `VIPS` lookup.
    pub vip_id: u32,
}
const _: () = assert!(core::mem::size_of::<FlowInfo>() == 32);

/// Slots of `HANDSHAKES` (a power of two): one per `FlowKey::hash() % N`.
pub const HANDSHAKE_SLOTS: u32 = 1 << 16;

/// Value of `HANDSHAKES`, an array indexed by the flow hash: the pick of a
/// SYN that missed the flow table, kept until the handshake's first ACK
/// makes it a flow entry (with this very backend, even if the tables flipped
/// in between). A later SYN hashing to the same slot overwrites it: a SYN
/// flood churns this array, never `FLOWS`/`FLOWS4`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Handshake {
    /// The 5-tuple, IPv4 as IPv4-mapped; all zero in an unused slot.
    pub key: FlowKey,
    /// The entry the first ACK makes.
    pub info: FlowInfo,
}
const _: () = assert!(core::mem::size_of::<Handshake>() == 72);

/// Slot of `key` in `HANDSHAKES`, from its flow hash.
#[inline(always)]
pub const fn handshake_slot(hash: u32) -> u32 {
    hash & (HANDSHAKE_SLOTS - 1)
}

impl FlowInfo {
    /// True once the client sent FIN or RST.
    #[inline(always)]
    pub const fn is_closing(&self) -> bool {
        self.flags & FLOW_F_CLOSING != 0
    }
}

impl FlowKey {
    /// Builds a key from wire-order fields.
    #[inline(always)]
    pub const fn new(src: Addr16, dst: Addr16, sport_be: u16, dport_be: u16, proto: u8) -> Self {
        Self {
            src,
            dst,
            sport_be,
            dport_be,
            proto,
            _pad: [0; 3],
        }
    }

    /// The compact key of an IPv4 flow (both addresses IPv4-mapped), or `None`.
    pub fn narrow(&self) -> Option<FlowKey4> {
        const PREFIX: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
        if self.src[..12] != PREFIX || self.dst[..12] != PREFIX {
            return None;
        }
        let v4 = |a: &Addr16| [a[12], a[13], a[14], a[15]];
        Some(FlowKey4::new(
            v4(&self.src),
            v4(&self.dst),
            self.sport_be,
            self.dport_be,
            self.proto,
        ))
    }

    /// Client port in host byte order.
    pub const fn sport(&self) -> u16 {
        u16::from_be(self.sport_be)
    }

    /// VIP port in host byte order.
    pub const fn dport(&self) -> u16 {
        u16::from_be(self.dport_be)
    }

    /// Hash of the 5-tuple that picks the Maglev slot.
    ///
    /// It lives here, beside the key, because both sides need the very same
    /// function: the program to pick, user space and the tests to predict a pick.
    /// MurmurHash3's 32-bit mixing over the key's ten 32-bit words: cheap in BPF
    /// (no loops the verifier has to unroll beyond ten steps, no tables) and well
    /// spread in the low bits that `% M` keeps.
    #[inline(always)]
    pub fn hash(&self) -> u32 {
        let mut h = FLOW_HASH_SEED;
        let mut i = 0;
        while i < 16 {
            h = murmur_round(h, word(&self.src, i));
            h = murmur_round(h, word(&self.dst, i));
            i += 4;
        }
        h = murmur_round(h, u32::from(self.sport_be) << 16 | u32::from(self.dport_be));
        h = murmur_round(h, u32::from(self.proto));
        murmur_finish(h, 40)
    }
}

const FLOW_HASH_SEED: u32 = 0x6c62_0001;

#[inline(always)]
const fn word(bytes: &[u8; 16], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[inline(always)]
const fn murmur_round(h: u32, k: u32) -> u32 {
    let k = k
        .wrapping_mul(0xcc9e_2d51)
        .rotate_left(15)
        .wrapping_mul(0x1b87_3593);
    (h ^ k)
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

#[inline(always)]
const fn murmur_finish(h: u32, len: u32) -> u32 {
    let mut h = h ^ len;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::v4_mapped;

    fn key(sport: u16) -> FlowKey {
        FlowKey::new(
            v4_mapped([192, 0, 2, 1]),
            v4_mapped([198, 51, 100, 10]),
            sport.to_be(),
            80u16.to_be(),
            6,
        )
    }

    #[test]
    fn hash_is_deterministic_and_depends_on_every_field() {
        let base = key(40000);
        assert_eq!(base.hash(), key(40000).hash());
        let mut variants = [base; 5];
        variants[0].src[15] ^= 1;
        variants[1].dst[15] ^= 1;
        variants[2].sport_be ^= 1;
        variants[3].dport_be ^= 1;
        variants[4].proto = 17;
        for v in variants {
            assert_ne!(v.hash(), base.hash(), "{v:?}");
        }
    }

    #[test]
    fn an_ipv4_key_narrows_and_widens_back() {
        let k = key(40000);
        let narrow = k.narrow().expect("an IPv4 key");
        assert_eq!(narrow.src, [192, 0, 2, 1]);
        assert_eq!(narrow.widen(), k);
        let mut v6 = k;
        v6.src[0] = 0x20;
        assert_eq!(v6.narrow(), None);
    }

    #[test]
    fn hash_spreads_source_ports_evenly_over_a_prime_table() {
        const M: u32 = 65537;
        const BUCKETS: usize = 16;
        let mut counts = [0u32; BUCKETS];
        let n = 64_000u32;
        for p in 0..n {
            let slot = key(1024 + p as u16).hash() % M;
            counts[(slot as usize * BUCKETS) / M as usize] += 1;
        }
        let mean = n / BUCKETS as u32;
        for c in counts {
            assert!(c.abs_diff(mean) < mean / 10, "{counts:?}");
        }
    }
}
