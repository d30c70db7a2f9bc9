//! A packet's flow key in its family's table: IPv4 flows in `FLOWS4` under
//! a 16-byte key, IPv6 flows in `FLOWS` under a 40-byte one. A hash lookup
//! hashes and compares the whole key, so the compact key is what makes the
//! IPv4 established path cheap.

use lb_common::flow::{FlowInfo, FlowKey, FlowKey4};

use crate::program::{
    bounds::{flow_key4, widen4},
    maps::{FLOWS, FLOWS4},
    packet::Packet,
};

#[derive(Clone, Copy)]
pub enum Key {
    V4(FlowKey4),
    V6(FlowKey),
}

impl Key {
    #[inline(always)]
    pub fn of(packet: &Packet) -> Self {
        let k = &packet.key;
        if packet.v4 {
            // The IPv4 addresses are the last words of the IPv4-mapped ones.
            Key::V4(flow_key4(
                packet.src()[3],
                packet.dst()[3],
                k.sport_be,
                k.dport_be,
                k.proto,
            ))
        } else {
            Key::V6(*k)
        }
    }

    /// The flow's entry, if it has one.
    #[inline(always)]
    pub fn entry(&self) -> Option<*mut FlowInfo> {
        match self {
            Key::V4(k) => FLOWS4.get_ptr_mut(k),
            Key::V6(k) => FLOWS.get_ptr_mut(k),
        }
    }

    /// Inserts the flow's entry. An insert can only fail for lack of memory;
    /// the packet still goes to its pick, which the next packet finds again.
    #[inline(always)]
    pub fn insert(&self, info: &FlowInfo) {
        let _ = match self {
            Key::V4(k) => FLOWS4.insert(k, info, 0),
            Key::V6(k) => FLOWS.insert(k, info, 0),
        };
    }

    /// The 5-tuple as one key type for both families (`DRAIN_FLOWS`' key).
    #[inline(always)]
    pub fn wide(&self) -> FlowKey {
        match self {
            Key::V4(k) => widen4(k),
            Key::V6(k) => *k,
        }
    }

    /// The Maglev hash: the same for a flow whatever table holds it.
    #[inline(always)]
    pub fn hash(&self) -> u32 {
        self.wide().hash()
    }
}
