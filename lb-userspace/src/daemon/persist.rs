//! The daemon's small state file: what the maps cannot say by themselves.
//! Backend ids (flow entries name backends by id), admin state and drains in
//! progress, so a restarted daemon resumes a drain where it was and never runs
//! a shutdown action twice.
//!
//! The record is derived from the model each time it is saved
//! (`Model::to_persisted`), never kept beside it. Writes are atomic and
//! durable (temp file, fsync, rename, fsync of the directory). Reading never
//! fails the daemon: a file that does not parse is moved aside and the daemon
//! starts without drain records; a drain record with values out of bounds is
//! dropped. Both are logged as errors.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{self, Write as _},
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{Deserialize, Serialize};

use crate::{
    api::types::{DrainOutcome, SignalState},
    config::duration::MAX_DURATION,
};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Persisted {
    pub vip_ids: BTreeMap<String, u32>,
    pub backend_ids: BTreeMap<String, u32>,
    /// Where the next new backend id search starts, so a removed backend's id is
    /// not handed out again while stale flow entries may still name it.
    pub next_backend_id: u32,
    /// The XDP mode the data plane was attached in, for status after adoption.
    pub xdp_mode: Option<String>,
    /// Backends disabled by `lb disable`.
    pub disabled: BTreeSet<String>,
    pub drains: BTreeMap<String, DrainRecord>,
}

/// A drain as it stands, enough to resume it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DrainRecord {
    /// Unix time, seconds.
    pub started_at: f64,
    /// The deadline, after `started_at`; at most `MAX_DURATION`.
    #[serde(rename = "timeout_s", with = "secs")]
    pub timeout: Duration,
    pub no_signal: bool,
    pub initial_flows: u64,
    pub on_drain_done: bool,
    /// The shutdown action ran (whatever its outcome): never again for this drain.
    pub shutdown_done: bool,
    pub signal: SignalState,
    pub outcome: Option<DrainOutcome>,
    pub forced_flows: u64,
    /// Unix time the drain ended, once it has.
    #[serde(default)]
    pub finished_at: Option<f64>,
    /// The local process the shutdown signal went to, watched for its exit.
    #[serde(default)]
    pub signalled_pid: Option<u32>,
    /// Flows still counted live when that process exited: connections it
    /// closed or reset without the client telling us (direct server return
    /// hides the backend's packets). Not forced: nothing was in flight.
    #[serde(default)]
    pub flows_at_exit: u64,
}

impl DrainRecord {
    /// A drain starting at `started_at` (unix seconds).
    pub fn new(started_at: f64, timeout: Duration, no_signal: bool) -> Self {
        Self {
            started_at,
            timeout,
            no_signal,
            initial_flows: 0,
            on_drain_done: false,
            shutdown_done: false,
            signal: SignalState::Pending,
            outcome: None,
            forced_flows: 0,
            finished_at: None,
            signalled_pid: None,
            flows_at_exit: 0,
        }
    }

    /// Why a record read from disk cannot be used, if it cannot.
    fn problem(&self) -> Option<String> {
        let time_ok = |t: f64| t.is_finite() && t >= 0.0;
        if !time_ok(self.started_at) {
            return Some(format!("started_at {} is not a unix time", self.started_at));
        }
        if self.finished_at.is_some_and(|t| !time_ok(t)) {
            return Some(format!(
                "finished_at {:?} is not a unix time",
                self.finished_at
            ));
        }
        if self.signalled_pid.is_some_and(|pid| pid <= 1) {
            return Some(format!(
                "signalled_pid {:?} is not a process to watch",
                self.signalled_pid
            ));
        }
        None
    }
}

/// A `Duration` as float seconds, bounded by `MAX_DURATION` when read.
mod secs {
    use super::{Deserialize, Duration, MAX_DURATION};

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v)
            .ok()
            .filter(|d| *d <= MAX_DURATION)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{v} seconds is not a duration in 0..={}",
                    MAX_DURATION.as_secs()
                ))
            })
    }
}

/// The file as read, drain records still unchecked one by one.
#[derive(Deserialize)]
struct RawPersisted {
    #[serde(default)]
    vip_ids: BTreeMap<String, u32>,
    #[serde(default)]
    backend_ids: BTreeMap<String, u32>,
    #[serde(default)]
    next_backend_id: u32,
    #[serde(default)]
    xdp_mode: Option<String>,
    #[serde(default)]
    disabled: BTreeSet<String>,
    #[serde(default)]
    drains: BTreeMap<String, serde_json::Value>,
}

/// The state file at a path.
#[derive(Clone, Debug)]
pub struct StateFile(pub PathBuf);

impl StateFile {
    /// Reads the file; a missing file is an empty state. A file that is not a
    /// state record (empty after a power loss, corrupt) is moved aside to
    /// `<file>.corrupt-<unix time>` and the daemon starts afresh: the pinned
    /// maps keep every flow, and losing drain records costs less than a
    /// balancer that cannot start. Only an unreadable file (permissions, I/O)
    /// stops the start.
    pub fn load(&self) -> anyhow::Result<Persisted> {
        let bytes = match std::fs::read(&self.0) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Persisted::default()),
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("reading {}", self.0.display())));
            }
        };
        match parse(&bytes) {
            Ok(persisted) => Ok(persisted),
            Err(why) => {
                let aside = self.move_aside();
                tracing::error!(
                    file = %self.0.display(),
                    moved_to = %aside,
                    error = %why,
                    "the state file is corrupt: moved aside; starting without drain records or admin states"
                );
                Ok(Persisted::default())
            }
        }
    }

    fn move_aside(&self) -> String {
        let mut aside = self.0.clone().into_os_string();
        // Unix time is not negative; whole seconds name the file.
        #[allow(clippy::cast_sign_loss)]
        let secs = super::clock::unix_now() as u64;
        aside.push(format!(".corrupt-{secs}"));
        let aside = PathBuf::from(aside);
        match std::fs::rename(&self.0, &aside) {
            Ok(()) => aside.display().to_string(),
            Err(e) => format!("nowhere ({e})"),
        }
    }

    /// Replaces the file atomically and durably.
    pub fn store(&self, state: &Persisted) -> anyhow::Result<()> {
        let dir = self
            .0
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = self.0.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let bytes = serde_json::to_vec_pretty(state)?;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, &self.0)?;
        // The rename is durable only once the directory is.
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    }

    /// Removes the file (`lb teardown`: a new deployment starts afresh).
    pub fn remove(&self) -> io::Result<bool> {
        match std::fs::remove_file(&self.0) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Parses a state file; drain records that do not check out are dropped
/// (logged), so one bad record never keeps the rest from loading.
fn parse(bytes: &[u8]) -> Result<Persisted, String> {
    let raw: RawPersisted = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let mut drains = BTreeMap::new();
    for (name, value) in raw.drains {
        let record = serde_json::from_value::<DrainRecord>(value)
            .map_err(|e| e.to_string())
            .and_then(|r| r.problem().map_or(Ok(r), Err));
        match record {
            Ok(record) => {
                drains.insert(name, record);
            }
            Err(why) => {
                tracing::error!(backend = name, error = %why, "dropping a bad drain record from the state file");
            }
        }
    }
    Ok(Persisted {
        vip_ids: raw.vip_ids,
        backend_ids: raw.backend_ids,
        next_backend_id: raw.next_backend_id,
        xdp_mode: raw.xdp_mode,
        disabled: raw.disabled,
        drains,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> StateFile {
        let dir = std::env::temp_dir().join(format!("lb-state-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        StateFile(dir.join("state.json"))
    }

    #[test]
    fn round_trip_and_atomic_store() {
        let file = temp("rt");
        let mut p = Persisted::default();
        p.drains.insert(
            "web-2".into(),
            DrainRecord::new(1_700_000_000.0, Duration::from_secs(30), true),
        );
        file.store(&p).unwrap();
        assert_eq!(file.load().unwrap(), p);
        let text = std::fs::read_to_string(&file.0).unwrap();
        assert!(text.contains("\"timeout_s\": 30.0"), "{text}");
        assert!(text.contains("\"signal\": \"pending\""), "{text}");
        assert!(file.remove().unwrap());
        std::fs::remove_dir_all(file.0.parent().unwrap()).unwrap();
    }

    #[test]
    fn an_empty_or_corrupt_file_is_moved_aside() {
        for (tag, content) in [
            ("empty", ""),
            ("junk", "{\"vip_ids\": 7"),
            ("nul", "\0\0\0"),
        ] {
            let file = temp(tag);
            std::fs::write(&file.0, content).unwrap();
            assert_eq!(file.load().unwrap(), Persisted::default(), "{tag}");
            assert!(!file.0.exists(), "{tag}: moved away");
            let dir = file.0.parent().unwrap();
            let aside: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            assert!(
                aside.iter().any(|n| n.starts_with("state.json.corrupt-")),
                "{tag}: {aside:?}"
            );
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn bad_drain_records_are_dropped_and_the_rest_kept() {
        let good = r#"{"started_at": 1.0, "timeout_s": 30.0, "no_signal": false,
            "initial_flows": 0, "on_drain_done": true, "shutdown_done": false,
            "signal": "pending", "outcome": null, "forced_flows": 0}"#;
        for bad_timeout in ["1.8446744073709552e19", "-1.0", "1e300"] {
            let bad = good.replace("30.0", bad_timeout);
            let text = format!(
                r#"{{"backend_ids": {{"web-1": 0, "web-2": 1}}, "drains": {{"web-1": {good}, "web-2": {bad}}}}}"#
            );
            let p = parse(text.as_bytes()).unwrap();
            assert_eq!(p.backend_ids.len(), 2);
            assert!(p.drains.contains_key("web-1"), "{bad_timeout}");
            assert!(!p.drains.contains_key("web-2"), "{bad_timeout}");
        }
        let bad = good.replace("\"pending\"", "\"maybe\"");
        let p = parse(format!(r#"{{"drains": {{"web-1": {bad}}}}}"#).as_bytes()).unwrap();
        assert!(p.drains.is_empty());
    }
}
