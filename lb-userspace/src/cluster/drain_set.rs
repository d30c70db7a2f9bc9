//! The compact encoding of a node's drain set (docs/fleet.md, "Shared drain
//! sets"): the 5-tuples of the connections a node had pinned to a draining
//! backend when the drain began, written to etcd in chunks so that the other
//! nodes can put them into their own `DRAIN_FLOWS`. Pure: no I/O.
//!
//! A chunk is a version byte, then groups. Every flow of a group shares its
//! protocol, VIP address, VIP port and address family, written once in the
//! group's header; each flow then takes only its client's address and port:
//! 6 bytes for IPv4, 18 for IPv6 (a plain `FlowKey` is 40).
//!
//! ```text
//! chunk  = 0x01 group*
//! group  = proto:u8 family:u8 (4|6) vip:[u8;16] vport_be:[u8;2] count:u32le flow{count}
//! flow   = src:[u8;4]|[u8;16] sport_be:[u8;2]
//! ```

use std::collections::BTreeMap;

use lb_common::{addr::v4_mapped, flow::FlowKey};

/// Flows per chunk: at most 16384 * 18 bytes (IPv6) = 288 KiB, well under
/// etcd's 1.5 MiB request limit, and few requests for 100k flows.
pub const FLOWS_PER_CHUNK: usize = 16_384;

const VERSION: u8 = 1;
const GROUP_HEADER: usize = 1 + 1 + 16 + 2 + 4;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("empty drain-set chunk")]
    Empty,
    #[error("drain-set chunk of version {0}, this lb reads version {VERSION}")]
    Version(u8),
    #[error("drain-set chunk cut short at byte {0}")]
    Truncated(usize),
    #[error("drain-set chunk has address family {0} (expected 4 or 6)")]
    Family(u8),
}

/// What a group's flows share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Group {
    proto: u8,
    v4: bool,
    vip: [u8; 16],
    vport_be: u16,
}

fn is_v4_mapped(a: &[u8; 16]) -> bool {
    a[..10].iter().all(|b| *b == 0) && a[10] == 0xff && a[11] == 0xff
}

/// Encodes `keys` into chunks of at most [`FLOWS_PER_CHUNK`] flows each.
/// No keys: no chunk.
pub fn encode(keys: &[FlowKey]) -> Vec<Vec<u8>> {
    keys.chunks(FLOWS_PER_CHUNK).map(encode_chunk).collect()
}

fn encode_chunk(keys: &[FlowKey]) -> Vec<u8> {
    let mut groups: BTreeMap<Group, Vec<&FlowKey>> = BTreeMap::new();
    for k in keys {
        let g = Group {
            proto: k.proto,
            v4: is_v4_mapped(&k.src),
            vip: k.dst,
            vport_be: k.dport_be,
        };
        groups.entry(g).or_default().push(k);
    }
    let mut out = Vec::with_capacity(1 + groups.len() * GROUP_HEADER + keys.len() * 18);
    out.push(VERSION);
    for (g, flows) in groups {
        out.push(g.proto);
        out.push(if g.v4 { 4 } else { 6 });
        out.extend_from_slice(&g.vip);
        out.extend_from_slice(&g.vport_be.to_ne_bytes());
        out.extend_from_slice(&(flows.len() as u32).to_le_bytes());
        for k in flows {
            out.extend_from_slice(if g.v4 { &k.src[12..] } else { &k.src[..] });
            out.extend_from_slice(&k.sport_be.to_ne_bytes());
        }
    }
    out
}

/// Reads one chunk back into flow keys.
pub fn decode_chunk(bytes: &[u8]) -> Result<Vec<FlowKey>, DecodeError> {
    let (&version, mut rest) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let mut out = Vec::new();
    let take = |n: usize, rest: &mut &[u8]| -> Result<Vec<u8>, DecodeError> {
        if rest.len() < n {
            return Err(DecodeError::Truncated(bytes.len() - rest.len()));
        }
        let (head, tail) = rest.split_at(n);
        *rest = tail;
        Ok(head.to_vec())
    };
    while !rest.is_empty() {
        let h = take(GROUP_HEADER, &mut rest)?;
        let (proto, family) = (h[0], h[1]);
        let v4 = match family {
            4 => true,
            6 => false,
            f => return Err(DecodeError::Family(f)),
        };
        let vip: [u8; 16] = h[2..18].try_into().unwrap_or_default();
        let vport_be = u16::from_ne_bytes([h[18], h[19]]);
        let count = u32::from_le_bytes([h[20], h[21], h[22], h[23]]) as usize;
        let addr_len = if v4 { 4 } else { 16 };
        let body = take(count.saturating_mul(addr_len + 2), &mut rest)?;
        for flow in body.chunks_exact(addr_len + 2) {
            let src = if v4 {
                v4_mapped([flow[0], flow[1], flow[2], flow[3]])
            } else {
                flow[..16].try_into().unwrap_or_default()
            };
            let sport_be = u16::from_ne_bytes([flow[addr_len], flow[addr_len + 1]]);
            out.push(FlowKey::new(src, vip, sport_be, vport_be, proto));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use lb_common::vip::{PROTO_TCP, PROTO_UDP};

    use super::*;

    fn v4(i: u32, port: u16) -> FlowKey {
        let src = v4_mapped([192, 0, 2, (i % 250) as u8]);
        FlowKey::new(
            src,
            v4_mapped([198, 51, 100, 10]),
            (10_000 + i as u16).to_be(),
            port.to_be(),
            PROTO_TCP,
        )
    }

    fn v6(i: u16) -> FlowKey {
        let mut src = [0u8; 16];
        src[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        src[14..].copy_from_slice(&i.to_be_bytes());
        let mut vip = src;
        vip[15] = 10;
        FlowKey::new(src, vip, (30_000 + i).to_be(), 53u16.to_be(), PROTO_UDP)
    }

    fn sorted(mut v: Vec<FlowKey>) -> Vec<FlowKey> {
        v.sort_by_key(|k| (k.proto, k.dst, k.dport_be, k.src, k.sport_be));
        v
    }

    #[test]
    fn round_trips_mixed_families_vips_and_protocols() {
        let mut keys: Vec<FlowKey> = (0..500).map(|i| v4(i, 80)).collect();
        keys.extend((0..50).map(|i| v4(i, 443)));
        keys.extend((0..30).map(v6));
        let chunks = encode(&keys);
        assert_eq!(chunks.len(), 1);
        let back = decode_chunk(&chunks[0]).unwrap();
        assert_eq!(sorted(back), sorted(keys));
    }

    #[test]
    fn ipv4_flows_take_six_bytes_each() {
        let keys: Vec<FlowKey> = (0..1000).map(|i| v4(i, 80)).collect();
        let chunks = encode(&keys);
        assert_eq!(chunks[0].len(), 1 + GROUP_HEADER + 1000 * 6);
    }

    #[test]
    fn splits_into_chunks_that_each_decode_alone() {
        let keys: Vec<FlowKey> = (0..(FLOWS_PER_CHUNK as u32 * 2 + 7))
            .map(|i| v4(i, 80))
            .collect();
        let chunks = encode(&keys);
        assert_eq!(chunks.len(), 3);
        let back: Vec<FlowKey> = chunks
            .iter()
            .flat_map(|c| decode_chunk(c).unwrap())
            .collect();
        assert_eq!(sorted(back), sorted(keys));
        assert!(encode(&[]).is_empty());
    }

    #[test]
    fn refuses_malformed_chunks() {
        assert_eq!(decode_chunk(&[]), Err(DecodeError::Empty));
        assert_eq!(decode_chunk(&[9]), Err(DecodeError::Version(9)));
        let good = encode(&[v4(1, 80), v4(2, 80)]).remove(0);
        assert!(matches!(
            decode_chunk(&good[..good.len() - 1]),
            Err(DecodeError::Truncated(_))
        ));
        let mut bad_family = good.clone();
        bad_family[2] = 5;
        assert_eq!(decode_chunk(&bad_family), Err(DecodeError::Family(5)));
        // A count far beyond the bytes present is refused, not allocated.
        let mut huge = good;
        huge[21..25].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            decode_chunk(&huge),
            Err(DecodeError::Truncated(_))
        ));
    }
}
