//! Events the daemon counts for Prometheus that the BPF maps do not hold:
//! drain outcomes, shutdown/on_drain actions, health checks, reloads, and
//! how full the flow tables are. Process-wide atomics (and small maps behind
//! a std Mutex, never held across an await), so that the code where an event
//! happens records it with one line, `counters::global().drain_ended(...)`,
//! whoever owns the daemon's state. Every counter here only goes up.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// Upper bounds (seconds) of the health-check latency histogram: from a
/// loopback connect to the default 500 ms timeout and beyond.
pub const HEALTH_BUCKETS: [f64; 11] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// How a drain ended, as `lb status` names it.
pub const DRAIN_OUTCOMES: [&str; 3] = ["drained", "forced", CANCELLED];
/// The outcome label of a drain that `lb enable` or `lb disable` ended: the
/// drain's record goes with it, so no `DrainOutcome` names it.
pub const CANCELLED: &str = "cancelled";

/// One backend's health checks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HealthStats {
    pub failures: u64,
    /// Checks that took at most `HEALTH_BUCKETS[i]` (not cumulative here).
    pub buckets: [u64; HEALTH_BUCKETS.len()],
    pub count: u64,
    pub sum_seconds: f64,
}

/// The data plane's table sizes, set when it is opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tables {
    pub max_flows: u64,
    pub max_drain_flows: u64,
    /// The pinned DRAIN_FLOWS map, counted when scraped.
    pub drain_flows_pin: Option<PathBuf>,
}

#[derive(Debug, Default)]
pub struct Counters {
    drains: [AtomicU64; DRAIN_OUTCOMES.len()],
    /// Flows forced off at drain deadlines, per backend name.
    forced_flows: Mutex<BTreeMap<String, u64>>,
    /// (kind, ok) -> count.
    actions: Mutex<BTreeMap<(String, bool), u64>>,
    health: Mutex<BTreeMap<String, HealthStats>>,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    last_reload_ok: AtomicBool,
    /// f64 bits of the unix time of the last successful config load.
    last_reload_ok_at: AtomicU64,
    flow_entries: AtomicU64,
    /// Connections imported from other nodes' drain sets, for the drains
    /// running here (a fleet).
    drain_flows_imported: AtomicU64,
    tables: Mutex<Tables>,
}

static GLOBAL: Counters = Counters::new();

/// The daemon's counters.
pub fn global() -> &'static Counters {
    &GLOBAL
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding it leaves plain numbers: still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Counters {
    pub const fn new() -> Self {
        Self {
            drains: [const { AtomicU64::new(0) }; DRAIN_OUTCOMES.len()],
            forced_flows: Mutex::new(BTreeMap::new()),
            actions: Mutex::new(BTreeMap::new()),
            health: Mutex::new(BTreeMap::new()),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            last_reload_ok: AtomicBool::new(false),
            last_reload_ok_at: AtomicU64::new(0),
            flow_entries: AtomicU64::new(0),
            drain_flows_imported: AtomicU64::new(0),
            tables: Mutex::new(Tables {
                max_flows: 0,
                max_drain_flows: 0,
                drain_flows_pin: None,
            }),
        }
    }

    /// The data plane is open with these sizes, from a config that loaded.
    pub fn started(&self, max_flows: u32, max_drain_flows: u32, drain_flows_pin: PathBuf) {
        *lock(&self.tables) = Tables {
            max_flows: max_flows.into(),
            max_drain_flows: max_drain_flows.into(),
            drain_flows_pin: Some(drain_flows_pin),
        };
        self.last_reload_ok.store(true, Relaxed);
        self.last_reload_ok_at.store(unix_now().to_bits(), Relaxed);
    }

    /// A drain of `backend` ended with `outcome` ("drained", "forced",
    /// "cancelled"), forcing `forced_flows` connections off.
    pub fn drain_ended(&self, backend: &str, outcome: &str, forced_flows: u64) {
        if let Some(i) = DRAIN_OUTCOMES.iter().position(|o| *o == outcome) {
            self.drains[i].fetch_add(1, Relaxed);
        }
        *lock(&self.forced_flows)
            .entry(backend.to_owned())
            .or_default() += forced_flows;
    }

    /// A shutdown or on_drain action (`kind`) finished.
    pub fn action(&self, kind: &str, ok: bool) {
        *lock(&self.actions)
            .entry((kind.to_owned(), ok))
            .or_default() += 1;
    }

    /// A health check of `backend` took `took` and passed or failed.
    pub fn health_check(&self, backend: &str, took: Duration, ok: bool) {
        let secs = took.as_secs_f64();
        let mut health = lock(&self.health);
        let stats = health.entry(backend.to_owned()).or_default();
        stats.count += 1;
        stats.sum_seconds += secs;
        stats.failures += u64::from(!ok);
        if let Some(i) = HEALTH_BUCKETS.iter().position(|le| secs <= *le) {
            stats.buckets[i] += 1;
        }
    }

    /// A reload (API or SIGHUP) succeeded or was refused.
    pub fn reload(&self, ok: bool) {
        if ok {
            self.reloads_ok.fetch_add(1, Relaxed);
            self.last_reload_ok_at.store(unix_now().to_bits(), Relaxed);
        } else {
            self.reloads_failed.fetch_add(1, Relaxed);
        }
        self.last_reload_ok.store(ok, Relaxed);
    }

    /// A whole-table count read `entries` entries of FLOWS.
    pub fn flow_table(&self, entries: u64) {
        self.flow_entries.store(entries, Relaxed);
    }

    /// The drains running here hold this many imported connections.
    pub fn drain_flows_imported(&self, n: u64) {
        self.drain_flows_imported.store(n, Relaxed);
    }

    /// A copy of everything, for one scrape.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            drains: std::array::from_fn(|i| self.drains[i].load(Relaxed)),
            forced_flows: lock(&self.forced_flows).clone(),
            actions: lock(&self.actions).clone(),
            health: lock(&self.health).clone(),
            reloads_ok: self.reloads_ok.load(Relaxed),
            reloads_failed: self.reloads_failed.load(Relaxed),
            last_reload_ok: self.last_reload_ok.load(Relaxed),
            last_reload_ok_at: f64::from_bits(self.last_reload_ok_at.load(Relaxed)),
            flow_entries: self.flow_entries.load(Relaxed),
            drain_flow_entries: None,
            drain_flows_imported: self.drain_flows_imported.load(Relaxed),
            tables: lock(&self.tables).clone(),
        }
    }
}

/// The counters at one instant (plus what the scrape measured itself).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub drains: [u64; DRAIN_OUTCOMES.len()],
    pub forced_flows: BTreeMap<String, u64>,
    pub actions: BTreeMap<(String, bool), u64>,
    pub health: BTreeMap<String, HealthStats>,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    pub last_reload_ok: bool,
    pub last_reload_ok_at: f64,
    pub flow_entries: u64,
    /// Entries of DRAIN_FLOWS, counted at scrape time; none if unreadable.
    pub drain_flow_entries: Option<u64>,
    pub drain_flows_imported: u64,
    pub tables: Tables,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_only_go_up_and_bucket_latencies() {
        let c = Counters::new();
        c.drain_ended("web-2", "forced", 7);
        c.drain_ended("web-2", "drained", 0);
        c.drain_ended("web-2", "forced", 2);
        c.drain_ended("web-1", "cancelled", 0);
        c.action("shutdown", true);
        c.action("shutdown", false);
        c.action("shutdown", true);
        c.health_check("web-1", Duration::from_micros(300), true);
        c.health_check("web-1", Duration::from_millis(30), false);
        c.health_check("web-1", Duration::from_secs(3), false);
        c.reload(true);
        c.reload(false);
        let s = c.snapshot();
        assert_eq!(s.drains, [1, 2, 1]);
        // A new drain adds to the forced flows; nothing resets them.
        assert_eq!(s.forced_flows["web-2"], 9);
        assert_eq!(s.actions[&("shutdown".to_owned(), true)], 2);
        assert_eq!(s.actions[&("shutdown".to_owned(), false)], 1);
        let h = &s.health["web-1"];
        assert_eq!((h.count, h.failures), (3, 2));
        assert_eq!(h.buckets[0], 1, "300 µs <= 0.5 ms");
        assert_eq!(h.buckets[5], 0);
        assert_eq!(h.buckets[6], 1, "30 ms <= 50 ms");
        assert_eq!(
            h.buckets.iter().sum::<u64>(),
            2,
            "3 s is above every bucket"
        );
        assert!((h.sum_seconds - 3.0303).abs() < 1e-9);
        assert_eq!(
            (s.reloads_ok, s.reloads_failed, s.last_reload_ok),
            (1, 1, false)
        );
        assert!(s.last_reload_ok_at > 1.7e9);
    }
}
