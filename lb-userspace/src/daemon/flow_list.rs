//! `GET /v1/flows`: one page of the flow table, listed off the core loop.
//!
//! Pages are in a fixed order (by flow key), so a cursor is simply the last
//! key of a page: the next page is the keys after it. A page costs one pass
//! over the table and memory for one page, whatever the table's size.

use std::{
    collections::{BTreeMap, BinaryHeap},
    net::{IpAddr, SocketAddr},
};

use lb_common::{
    addr::to_ip,
    flow::{FLOW_F_NAT, FlowInfo, FlowKey},
    nat::NatForward,
    vip::PROTO_UDP,
};

use super::{
    drain,
    flow_pins::FlowPins,
    live::{self, IdleTimeouts},
    state::State,
};
use crate::api::{
    control::{ControlError, ControlResult},
    types::{FlowPage, FlowView},
};

/// Flows a page holds unless asked for fewer.
pub const DEFAULT_PAGE: usize = 1000;
/// Most flows one page may hold.
pub const MAX_PAGE: usize = 10_000;

/// The order of flows, and the cursor's content.
type Order = ([u8; 16], [u8; 16], u16, u16, u8);

fn order(key: &FlowKey) -> Order {
    (key.src, key.dst, key.sport(), key.dport(), key.proto)
}

/// A cursor as text: the key's fields in hex, fixed width.
fn cursor(o: &Order) -> String {
    let hex = |b: &[u8]| b.iter().map(|b| format!("{b:02x}")).collect::<String>();
    format!(
        "{}{}{:04x}{:04x}{:02x}",
        hex(&o.0),
        hex(&o.1),
        o.2,
        o.3,
        o.4
    )
}

/// Reads a cursor back; None if it is not one.
pub fn parse_cursor(text: &str) -> Option<Order> {
    if text.len() != 74 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok();
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    for i in 0..16 {
        src[i] = byte(i)?;
        dst[i] = byte(16 + i)?;
    }
    let port = |at: usize| u16::from_str_radix(text.get(at..at + 4)?, 16).ok();
    Some((
        src,
        dst,
        port(64)?,
        port(68)?,
        u8::from_str_radix(text.get(72..74)?, 16).ok()?,
    ))
}

/// A flow of the page being built, ordered by its key alone.
struct Entry(Order, FlowKey, FlowInfo);

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

/// One page picked in one pass over the table, in any order: the `limit`
/// smallest keys after the cursor, and how many flows were offered.
struct PagePicker {
    limit: usize,
    after: Option<Order>,
    total: u64,
    after_cursor: usize,
    /// A max-heap of the smallest keys so far.
    smallest: BinaryHeap<Entry>,
}

impl PagePicker {
    fn new(limit: usize, after: Option<Order>) -> PagePicker {
        PagePicker {
            limit: limit.clamp(1, MAX_PAGE),
            after,
            total: 0,
            after_cursor: 0,
            smallest: BinaryHeap::new(),
        }
    }

    fn offer(&mut self, key: &FlowKey, info: &FlowInfo) {
        self.total += 1;
        let o = order(key);
        if self.after.is_some_and(|a| o <= a) {
            return;
        }
        self.after_cursor += 1;
        if self.smallest.len() < self.limit {
            self.smallest.push(Entry(o, *key, *info));
        } else if self.smallest.peek().is_some_and(|top| o < top.0) {
            self.smallest.pop();
            self.smallest.push(Entry(o, *key, *info));
        }
    }

    /// The page in key order, the total, and the cursor of the next page
    /// when flows are left after this one.
    fn finish(self) -> (Vec<Entry>, u64, Option<String>) {
        let page = self.smallest.into_sorted_vec();
        let next = page
            .last()
            .filter(|_| self.after_cursor > page.len())
            .map(|e| cursor(&e.0));
        (page, self.total, next)
    }
}

/// What a listing needs from the core: a snapshot of names and settings.
pub struct FlowLister {
    /// None without a data plane: the table is empty.
    pub pins: Option<FlowPins>,
    pub backend: Option<u32>,
    pub backend_names: BTreeMap<u32, String>,
    pub vip_names: BTreeMap<(IpAddr, u16, u8), String>,
    pub idle: IdleTimeouts,
}

impl FlowLister {
    /// A snapshot of `state` for a listing of `backend`'s flows (all with None).
    pub fn new(
        state: &State,
        pins: Option<FlowPins>,
        backend: Option<&str>,
    ) -> ControlResult<Self> {
        let model = &state.model;
        let backend = match backend {
            Some(name) => Some(
                model
                    .backends
                    .get(name)
                    .ok_or_else(|| ControlError::UnknownBackend(name.to_string()))?
                    .id,
            ),
            None => None,
        };
        Ok(FlowLister {
            pins: pins.filter(|_| state.dataplane.is_some()),
            backend,
            backend_names: state.names_by_id(),
            vip_names: model
                .vips
                .iter()
                .map(|v| {
                    let key = (v.cfg.address, v.cfg.port, v.cfg.protocol.number());
                    (key, v.cfg.name.clone())
                })
                .collect(),
            idle: drain::idle_timeouts(&model.config.daemon),
        })
    }

    /// Up to `limit` flows after `after`, and how many match in all.
    pub fn page(&self, limit: usize, after: Option<Order>) -> Result<FlowPage, ControlError> {
        let Some(pins) = &self.pins else {
            return Ok(FlowPage::default());
        };
        let flows = pins
            .open_flows()
            .map_err(|e| ControlError::Internal(format!("{e:#}")))?;
        let mut picker = PagePicker::new(limit, after);
        live::scan(&flows, |key, info| {
            if self.backend.is_none_or(|id| info.backend_id == id) {
                picker.offer(key, info);
            }
        });
        let (page, total, next) = picker.finish();
        let now = live::monotonic_ns();
        // Only the page's NAT flows are looked up, so a page costs `limit` lookups at most.
        let nat_fwd = page
            .iter()
            .any(|e| e.2.flags & FLOW_F_NAT != 0)
            .then(|| pins.open_nat_fwd())
            .transpose()
            .map_err(|e| ControlError::Internal(format!("{e:#}")))?;
        let flows = page
            .iter()
            .map(|e| {
                let mut view = self.view(&e.1, &e.2, now);
                view.nat = nat_fwd.as_ref().and_then(|m| nat_source(m, &e.1, &e.2));
                view
            })
            .collect();
        Ok(FlowPage { total, flows, next })
    }

    fn view(&self, key: &FlowKey, info: &FlowInfo, now: u64) -> FlowView {
        let dst = to_ip(key.dst);
        let state = if live::is_closed(info) {
            "closing"
        } else if live::is_live(key, info, now, self.idle) {
            "live"
        } else {
            "idle"
        };
        FlowView {
            client: SocketAddr::new(to_ip(key.src), key.sport()).to_string(),
            vip: self
                .vip_names
                .get(&(dst, key.dport(), key.proto))
                .cloned()
                .unwrap_or_else(|| SocketAddr::new(dst, key.dport()).to_string()),
            backend: self
                .backend_names
                .get(&info.backend_id)
                .cloned()
                .unwrap_or_else(|| format!("#{}", info.backend_id)),
            protocol: if key.proto == PROTO_UDP { "udp" } else { "tcp" }.to_string(),
            age_s: now.saturating_sub(info.created_ns) as f64 / 1e9,
            idle_s: now.saturating_sub(info.last_seen_ns) as f64 / 1e9,
            state: state.to_string(),
            nat: None,
        }
    }
}

/// `nat_source:port` of a NAT flow whose translation is for its backend;
/// None for a DNAT flow (its translation keeps the client's own address and
/// port, which is what its backend sees).
fn nat_source(
    nat_fwd: &aya::maps::HashMap<aya::maps::MapData, FlowKey, NatForward>,
    key: &FlowKey,
    info: &FlowInfo,
) -> Option<String> {
    if info.flags & FLOW_F_NAT == 0 {
        return None;
    }
    let fwd = nat_fwd.get(key, 0).ok()?;
    let dnat = fwd.nat_addr == key.src && fwd.nat_port_be == key.sport_be;
    (fwd.backend_id == info.backend_id && !dnat)
        .then(|| SocketAddr::new(to_ip(fwd.nat_addr), u16::from_be(fwd.nat_port_be)).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_keep_the_order() {
        let a = ([1; 16], [2; 16], 40000, 80, 6);
        let b = ([1; 16], [2; 16], 40001, 80, 6);
        assert_eq!(parse_cursor(&cursor(&a)), Some(a));
        assert!(cursor(&a) < cursor(&b));
        for bad in ["", "zz", &"g".repeat(74), &"0".repeat(73)] {
            assert_eq!(parse_cursor(bad), None, "{bad}");
        }
    }

    /// Issue 13: `lb flows` once stopped silently at 10,000. Pages followed
    /// by their cursors list every flow exactly once, in order, whatever
    /// order each pass over the table sees them in.
    #[test]
    fn pages_followed_by_cursors_list_every_flow_once() {
        use rand::{SeedableRng as _, seq::SliceRandom as _};
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        let mut keys: Vec<FlowKey> = (0..25_000u32)
            .map(|i| FlowKey {
                src: {
                    let mut a = [0u8; 16];
                    a[..4].copy_from_slice(&[10, 0, (i >> 16) as u8, (i >> 8) as u8]);
                    a
                },
                dst: [198, 51, 100, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                sport_be: (i as u16).to_be(),
                dport_be: 80u16.to_be(),
                proto: 6,
                _pad: [0; 3],
            })
            .collect();
        let info = FlowInfo::default();
        let (mut seen, mut after, mut pages) = (Vec::new(), None, 0);
        loop {
            keys.shuffle(&mut rng);
            let mut picker = PagePicker::new(DEFAULT_PAGE, after);
            for k in &keys {
                picker.offer(k, &info);
            }
            let (page, total, next) = picker.finish();
            assert_eq!(total, 25_000);
            pages += 1;
            seen.extend(page.iter().map(|e| e.0));
            match next {
                Some(c) => after = Some(parse_cursor(&c).expect("a cursor")),
                None => break,
            }
        }
        assert_eq!(pages, 25);
        let mut want: Vec<Order> = keys.iter().map(order).collect();
        want.sort_unstable();
        assert_eq!(seen, want, "every flow once, in key order");
    }
}
