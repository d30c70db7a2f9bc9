//! The daemon's small state file: what the maps cannot say by themselves.
//! Backend ids (flow entries name backends by id), admin state and drains in
//! progress, so a restarted daemon resumes a drain where it was and never runs
//! a shutdown action twice. Written atomically (temp file + rename) on change.

use std::{
    collections::{BTreeMap, BTreeSet},
    io,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DrainRecord {
    /// Unix time, seconds.
    pub started_at: f64,
    pub timeout_s: f64,
    pub no_signal: bool,
    pub initial_flows: u64,
    pub on_drain_done: bool,
    /// The shutdown action ran (whatever its outcome): never again for this drain.
    pub shutdown_done: bool,
    pub signal: String,
    pub outcome: Option<String>,
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

/// The state file at a path.
#[derive(Clone, Debug)]
pub struct StateFile(pub PathBuf);

impl StateFile {
    /// Reads the file; a missing file is an empty state.
    pub fn load(&self) -> anyhow::Result<Persisted> {
        match std::fs::read(&self.0) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                anyhow::anyhow!(
                    "state file {} is corrupt ({e}); move it away to start afresh",
                    self.0.display()
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Persisted::default()),
            Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", self.0.display()))),
        }
    }

    /// Replaces the file atomically.
    pub fn store(&self, state: &Persisted) -> anyhow::Result<()> {
        let dir = self.0.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = self.0.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(state)?;
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &self.0)?;
        Ok(())
    }
}
