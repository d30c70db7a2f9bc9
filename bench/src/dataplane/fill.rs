//! Filling the flow tables from user space.

use std::net::IpAddr;

use anyhow::{Context as _, Result};
use aya::maps::{HashMap, MapData, MapError};
use lb_common::{
    addr::from_ip,
    flow::{FlowInfo, FlowKey, FlowKey4},
    vip::PROTO_TCP,
};
use lb_userspace::dataplane::{flow_scan::for_each_entry, flows::FlowTables};

use super::setup::{self, FlowMap, VIP4, established};
use crate::{
    clients::{self, Fresh},
    xdp,
};

/// A flow table the benchmark fills and counts: `lb`'s two tables, or a
/// reference's table under the wide or the compact key.
pub trait Table {
    fn put(&mut self, key: FlowKey, info: FlowInfo) -> Result<(), MapError>;
    fn entries(&self) -> std::io::Result<u64>;
}

impl Table for FlowMap {
    fn put(&mut self, key: FlowKey, info: FlowInfo) -> Result<(), MapError> {
        self.insert(key, info, 0)
    }
    fn entries(&self) -> std::io::Result<u64> {
        for_each_entry(self, prefill_key(0), |_, _| {})
    }
}

impl Table for HashMap<MapData, FlowKey4, FlowInfo> {
    fn put(&mut self, key: FlowKey, info: FlowInfo) -> Result<(), MapError> {
        let key = key.narrow().expect("the benchmark's flows are IPv4");
        self.insert(key, info, 0)
    }
    fn entries(&self) -> std::io::Result<u64> {
        let blank = FlowKey4::new([0; 4], [0; 4], 0, 0, 0);
        for_each_entry(self, blank, |_, _| {})
    }
}

impl Table for FlowTables {
    fn put(&mut self, key: FlowKey, info: FlowInfo) -> Result<(), MapError> {
        self.insert(key, info, 0)
    }
    fn entries(&self) -> std::io::Result<u64> {
        self.for_each(|_, _| {})
    }
}

/// The key of prefilled flow `i`: client `i` to the TCP VIP.
pub fn prefill_key(i: u32) -> FlowKey {
    let (addr, port) = clients::v4(i);
    FlowKey::new(
        from_ip(addr),
        from_ip(IpAddr::V4(VIP4)),
        port.to_be(),
        80u16.to_be(),
        PROTO_TCP,
    )
}

/// Inserts prefilled flows `range` into `map` (backend `i % 10`).
pub fn fill(map: &mut impl Table, range: std::ops::Range<u32>) -> Result<()> {
    for i in range {
        map.put(prefill_key(i), established(i % setup::BACKENDS))
            .context("filling a flow table")?;
    }
    Ok(())
}

/// Fills the per-CPU LRU table evenly: each CPU's share of the entries is
/// only reachable from that CPU, so each share is filled from its CPU.
pub fn fill_pcpu(map: &mut FlowMap, range: std::ops::Range<u32>) -> Result<()> {
    let cpus = xdp::online_cpus() as u32;
    let per = range.len() as u32 / cpus;
    for cpu in 0..cpus {
        xdp::pin_to_cpu(cpu as usize)?;
        let start = range.start + cpu * per;
        let end = if cpu + 1 == cpus {
            range.end
        } else {
            start + per
        };
        fill(map, start..end)?;
    }
    xdp::unpin()
}

/// Inserts `n` flows of fresh clients into `map`, from the calling CPU.
pub fn fill_fresh(map: &mut impl Table, fresh: &mut Fresh, n: u32) -> Result<()> {
    for _ in 0..n {
        let key = prefill_key(fresh.next());
        map.put(key, established(0))
            .context("filling a flow table")?;
    }
    Ok(())
}

/// Entries in a flow table (one batched pass).
pub fn count(map: &impl Table) -> Result<u64> {
    map.entries().context("reading a flow table")
}
