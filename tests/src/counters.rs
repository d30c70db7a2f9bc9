//! Counter snapshots and their differences: a fixture row names the counters
//! it expects to move, and every other counter must stay where it was.

use std::fmt;

use anyhow::Result;
use lb_common::stats::Counters;
use lb_userspace::dataplane::{load::Sizes, maps::Maps};

/// Which counter slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Vip(u32),
    Backend(u32),
    Global,
}

/// Which field of [`Counters`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Packets,
    Bytes,
    NewFlows,
    ClosedFlows,
    SecondChance,
    Repicked,
    DropMalformed,
    DropFragment,
    DropNoBackend,
    Confirmed,
    Unrecorded,
    ReplyPackets,
    ReplyBytes,
    NatNoPort,
    NatNoNeigh,
    NatNoRoute,
    NatUntranslated,
}

impl Field {
    pub const ALL: [Field; 17] = [
        Field::Packets,
        Field::Bytes,
        Field::NewFlows,
        Field::ClosedFlows,
        Field::SecondChance,
        Field::Repicked,
        Field::DropMalformed,
        Field::DropFragment,
        Field::DropNoBackend,
        Field::Confirmed,
        Field::Unrecorded,
        Field::ReplyPackets,
        Field::ReplyBytes,
        Field::NatNoPort,
        Field::NatNoNeigh,
        Field::NatNoRoute,
        Field::NatUntranslated,
    ];

    pub fn of(self, c: &Counters) -> u64 {
        match self {
            Field::Packets => c.packets,
            Field::Bytes => c.bytes,
            Field::NewFlows => c.new_flows,
            Field::ClosedFlows => c.closed_flows,
            Field::SecondChance => c.second_chance,
            Field::Repicked => c.repicked,
            Field::DropMalformed => c.drop_malformed,
            Field::DropFragment => c.drop_fragment,
            Field::DropNoBackend => c.drop_no_backend,
            Field::Confirmed => c.confirmed,
            Field::Unrecorded => c.unrecorded,
            Field::ReplyPackets => c.reply_packets,
            Field::ReplyBytes => c.reply_bytes,
            Field::NatNoPort => c.nat_no_port,
            Field::NatNoNeigh => c.nat_no_neigh,
            Field::NatNoRoute => c.nat_no_route,
            Field::NatUntranslated => c.nat_untranslated,
        }
    }
}

/// One counter's change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delta {
    pub scope: Scope,
    pub field: Field,
    pub by: u64,
}

impl fmt::Display for Delta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = match self.scope {
            Scope::Vip(v) => format!("vip{v}"),
            Scope::Backend(b) => format!("backend{b}"),
            Scope::Global => "global".into(),
        };
        write!(f, "{scope}.{:?}+{}", self.field, self.by)
    }
}

/// Every counter slot of the program, summed over CPUs.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub vips: Vec<Counters>,
    pub backends: Vec<Counters>,
    pub global: Counters,
}

impl Snapshot {
    pub fn read(maps: &Maps, sizes: &Sizes) -> Result<Self> {
        let vips = (0..sizes.max_vips)
            .map(|i| Maps::sum(&maps.vip_stats, i))
            .collect::<Result<_, _>>()?;
        let backends = (0..sizes.max_backends)
            .map(|i| Maps::sum(&maps.backend_stats, i))
            .collect::<Result<_, _>>()?;
        let global = Maps::sum(&maps.global_stats, 0)?;
        Ok(Self {
            vips,
            backends,
            global,
        })
    }

    pub fn get(&self, scope: Scope) -> Counters {
        match scope {
            Scope::Vip(v) => self.vips[v as usize],
            Scope::Backend(b) => self.backends[b as usize],
            Scope::Global => self.global,
        }
    }

    fn scopes(&self) -> impl Iterator<Item = Scope> + '_ {
        (0..self.vips.len() as u32)
            .map(Scope::Vip)
            .chain((0..self.backends.len() as u32).map(Scope::Backend))
            .chain([Scope::Global])
    }

    /// Every counter that moved from `before` to `self`, in a fixed order.
    pub fn since(&self, before: &Snapshot) -> Vec<Delta> {
        let mut out = Vec::new();
        for scope in self.scopes() {
            let (a, b) = (before.get(scope), self.get(scope));
            for field in Field::ALL {
                let by = field.of(&b).wrapping_sub(field.of(&a));
                if by != 0 {
                    out.push(Delta { scope, field, by });
                }
            }
        }
        out
    }

    /// Sum of one field over all VIPs.
    pub fn vip_total(&self, field: Field) -> u64 {
        self.vips.iter().map(|c| field.of(c)).sum()
    }
}

/// Sorts deltas the way [`Snapshot::since`] lists them, so lists compare equal.
pub fn normalise(mut deltas: Vec<Delta>) -> Vec<Delta> {
    let rank = |d: &Delta| {
        let s = match d.scope {
            Scope::Vip(v) => u64::from(v),
            Scope::Backend(b) => 1_000 + u64::from(b),
            Scope::Global => 1_000_000,
        };
        let f = Field::ALL.iter().position(|f| *f == d.field).unwrap_or(0) as u64;
        s * 16 + f
    };
    // Merge duplicates (a row may list the same counter twice).
    deltas.sort_by_key(rank);
    let mut out: Vec<Delta> = Vec::new();
    for d in deltas {
        match out.last_mut() {
            Some(last) if last.scope == d.scope && last.field == d.field => last.by += d.by,
            _ => out.push(d),
        }
    }
    out.retain(|d| d.by != 0);
    out
}
