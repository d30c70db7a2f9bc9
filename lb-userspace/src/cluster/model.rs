//! What the fleet keeps in etcd, as typed values (serialized as JSON), and
//! the names that become parts of its keys. Nothing here does I/O.

use std::{collections::BTreeMap, fmt, time::Duration};

use serde::{Deserialize, Serialize};

/// Longest node name: it appears in etcd keys, logs and `lb status --fleet`.
pub const MAX_NODE_NAME_LEN: usize = 64;

/// A node's name, unique in the fleet: `[A-Za-z0-9._-]{1,64}`, so it can be
/// one segment of an etcd key (never a `/`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeName(String);

impl NodeName {
    pub fn new(name: &str) -> Result<Self, String> {
        check_segment(name, "node name")?;
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NodeName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::new(&s)
    }
}

impl From<NodeName> for String {
    fn from(n: NodeName) -> String {
        n.0
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The same rule as config names (backend names already follow it), so a
/// backend name can be a key segment too.
pub fn check_segment(name: &str, what: &str) -> Result<(), String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > MAX_NODE_NAME_LEN || !name.chars().all(ok) {
        return Err(format!(
            "expected a {what} of 1 to {MAX_NODE_NAME_LEN} characters from A-Z a-z 0-9 . _ -, got {name:?}"
        ));
    }
    Ok(())
}

/// Where the fleet's keys live in etcd: `/` followed by segments, no
/// trailing `/` (default `/lb`), so several fleets can share one etcd.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPrefix(String);

pub const DEFAULT_PREFIX: &str = "/lb";

impl KeyPrefix {
    pub fn new(prefix: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "expected a key prefix like \"/lb\" or \"/prod/lb\" (starts with '/', \
                 segments of A-Z a-z 0-9 . _ -, no trailing '/'), got {prefix:?}"
            )
        };
        let rest = prefix.strip_prefix('/').ok_or_else(bad)?;
        if rest
            .split('/')
            .any(|seg| check_segment(seg, "segment").is_err())
        {
            return Err(bad());
        }
        Ok(Self(prefix.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for KeyPrefix {
    fn default() -> Self {
        Self(DEFAULT_PREFIX.to_owned())
    }
}

/// An operator's decision about one backend, the same on every node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum AdminState {
    /// `lb enable`: takes new flows (when healthy).
    Active,
    /// `lb drain`: no new flows; existing ones finish; the shutdown action
    /// runs once in the fleet.
    Draining(DrainParams),
    /// `lb disable`: admin down, existing flows move too.
    Disabled,
}

/// A drain's parameters, as the node that accepted the command fixed them,
/// so every node runs the same drain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainParams {
    /// The drain's deadline, counted from the moment a node applies it.
    #[serde(with = "millis")]
    pub timeout: Duration,
    /// False for `lb drain --no-signal`: no shutdown action.
    pub signal: bool,
    /// The node whose CLI or API started it.
    pub requested_by: NodeName,
    /// Wall clock of the request (ms since the Unix epoch): for display
    /// only; deadlines are measured on each node's monotonic clock.
    pub requested_at_ms: u64,
}

/// An admin state as read back from etcd, with the revision that wrote it.
/// The revision identifies one drain across the fleet (a new `lb drain` of
/// the same backend is a new put, hence a new revision): claims and results
/// of the shutdown action are keyed by it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminRecord {
    pub backend: String,
    pub state: AdminState,
    pub revision: Revision,
}

/// An etcd revision (the store's logical clock; > 0 for anything written).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Revision(pub i64);

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The value of a node's liveness key (`<prefix>/nodes/<node>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub node: NodeName,
    /// lb's version, to spot a mixed fleet during an upgrade.
    pub version: String,
    pub started_at_ms: u64,
}

/// What one node reports about its own data plane (`<prefix>/live/<node>`),
/// rewritten as its counts change; under the node's lease, so a dead node's
/// report disappears with it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeReport {
    /// Live flows per backend name, as this node's flow table shows them.
    pub live_flows: BTreeMap<String, u64>,
    /// Per draining backend, its flows on this node that are not settled
    /// yet (the drain's settle point is fleet-wide).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unsettled: BTreeMap<String, u64>,
    /// Per draining backend, the connections this node imported from the
    /// other nodes' drain sets (recorded in its `DRAIN_FLOWS`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub imported: BTreeMap<String, u64>,
    /// The highest admin-state revision this node had applied to its data
    /// plane when it counted: a count taken before a drain reached the node
    /// says nothing about that drain.
    pub applied: Revision,
    pub counted_at_ms: u64,
}

/// One node's drain set of one drain, as published
/// (`<prefix>/drainset/<backend>/<revision>/nodes/<node>`), written after
/// its chunks: a reader that sees it can read them all.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainSetManifest {
    pub node: NodeName,
    /// Connections in the set.
    pub flows: u64,
    /// Chunks under `chunks/<node>/`, numbered from 0.
    pub chunks: u32,
    /// Their encoded size, in bytes.
    pub bytes: u64,
    pub published_at_ms: u64,
}

/// The claim of the node that runs a drain's shutdown action
/// (`<prefix>/action/<backend>/<revision>/claim`), under that node's lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionClaim {
    pub node: NodeName,
    pub claimed_at_ms: u64,
}

/// What the shutdown action did (`<prefix>/action/<backend>/<revision>/result`),
/// kept without a lease: once it is there, no node runs the action again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionResult {
    pub node: NodeName,
    pub outcome: ActionOutcome,
    pub finished_at_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", content = "detail", rename_all = "snake_case")]
pub enum ActionOutcome {
    Done,
    Failed(String),
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Durations as integer milliseconds in JSON.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_prefixes_are_key_safe() {
        assert!(NodeName::new("lb-1").is_ok());
        assert!(NodeName::new("lb/1").is_err());
        assert!(NodeName::new("").is_err());
        assert!(NodeName::new(&"a".repeat(65)).is_err());
        assert!(KeyPrefix::new("/lb").is_ok());
        assert!(KeyPrefix::new("/prod/lb-2").is_ok());
        for bad in ["lb", "/", "/lb/", "//lb", "/l b"] {
            assert!(KeyPrefix::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn admin_states_read_as_they_are_written() {
        let drain = AdminState::Draining(DrainParams {
            timeout: Duration::from_millis(30_500),
            signal: true,
            requested_by: NodeName::new("lb-2").unwrap(),
            requested_at_ms: 1_700_000_000_000,
        });
        let json = serde_json::to_string(&drain).unwrap();
        assert_eq!(
            json,
            r#"{"state":"draining","timeout":30500,"signal":true,"requested_by":"lb-2","requested_at_ms":1700000000000}"#
        );
        assert_eq!(serde_json::from_str::<AdminState>(&json).unwrap(), drain);
        assert_eq!(
            serde_json::to_string(&AdminState::Disabled).unwrap(),
            r#"{"state":"disabled"}"#
        );
        // A bad node name in etcd is refused at the boundary.
        assert!(
            serde_json::from_str::<AdminState>(
                r#"{"state":"draining","timeout":1,"signal":true,"requested_by":"a/b","requested_at_ms":0}"#
            )
            .is_err()
        );
        let failed = ActionOutcome::Failed("exit 1".into());
        let json = serde_json::to_string(&failed).unwrap();
        assert_eq!(json, r#"{"outcome":"failed","detail":"exit 1"}"#);
        assert_eq!(
            serde_json::from_str::<ActionOutcome>(&json).unwrap(),
            failed
        );
    }
}
