//! Counter snapshots, kept by the core about once a second, so that views
//! show per-second rates.

use std::{collections::BTreeMap, time::Instant};

use lb_common::stats::Counters;

/// Counter snapshots, to turn totals into per-second rates.
#[derive(Default)]
pub struct Rates {
    /// (when, packets, new flows) per "vip:<id>" / "backend:<id>": the latest
    /// two snapshots.
    snapshots: BTreeMap<String, [(Instant, u64, u64); 2]>,
}

impl Rates {
    /// Records a snapshot of `key` (called about once a second by the tick loop).
    pub fn record(&mut self, key: String, c: &Counters) {
        let now = (Instant::now(), c.packets, c.new_flows);
        self.snapshots
            .entry(key)
            .and_modify(|s| *s = [s[1], now])
            .or_insert([now, now]);
    }

    /// Packets and new flows per second of `key` between its last two snapshots.
    pub fn per_s(&self, key: &str) -> (f64, f64) {
        let Some([a, b]) = self.snapshots.get(key) else {
            return (0.0, 0.0);
        };
        let dt = b.0.duration_since(a.0).as_secs_f64();
        if dt <= 0.0 {
            return (0.0, 0.0);
        }
        (
            b.1.saturating_sub(a.1) as f64 / dt,
            b.2.saturating_sub(a.2) as f64 / dt,
        )
    }
}
