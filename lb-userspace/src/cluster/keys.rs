//! The key layout in etcd (docs/fleet.md, "What etcd holds"). Every key the
//! fleet reads or writes is built and parsed here, nowhere else.
//!
//! ```text
//! <prefix>/nodes/<node>                         NodeInfo      node's lease (liveness)
//! <prefix>/live/<node>                          NodeReport    node's lease
//! <prefix>/admin/<backend>                      AdminState    no lease
//! <prefix>/action/<backend>/<revision>/claim    ActionClaim   claimant's lease
//! <prefix>/action/<backend>/<revision>/result   ActionResult  no lease
//! <prefix>/drainset/<backend>/<revision>/nodes/<node>        DrainSetManifest  no lease
//! <prefix>/drainset/<backend>/<revision>/chunks/<node>/<i>   drain-set chunk   no lease
//! ```
//!
//! Node and backend names never contain `/` (checked where they enter), so
//! a key splits back into its parts unambiguously.

use super::model::{KeyPrefix, NodeName, Revision};

#[derive(Clone, Debug)]
pub struct Keys {
    prefix: KeyPrefix,
}

impl Keys {
    pub fn new(prefix: KeyPrefix) -> Self {
        Self { prefix }
    }

    fn dir(&self, name: &str) -> String {
        format!("{}/{name}/", self.prefix.as_str())
    }

    /// `<prefix>/nodes/`: every live node's liveness key.
    pub fn nodes_dir(&self) -> String {
        self.dir("nodes")
    }

    pub fn node(&self, node: &NodeName) -> String {
        format!("{}{node}", self.nodes_dir())
    }

    /// `<prefix>/live/`: every live node's report.
    pub fn live_dir(&self) -> String {
        self.dir("live")
    }

    pub fn live(&self, node: &NodeName) -> String {
        format!("{}{node}", self.live_dir())
    }

    /// `<prefix>/admin/`: every backend's admin state.
    pub fn admin_dir(&self) -> String {
        self.dir("admin")
    }

    pub fn admin(&self, backend: &str) -> String {
        format!("{}{backend}", self.admin_dir())
    }

    fn action(&self, backend: &str, drain: Revision) -> String {
        format!("{}{backend}/{drain}", self.dir("action"))
    }

    /// Who runs drain `drain`'s shutdown action.
    pub fn claim(&self, backend: &str, drain: Revision) -> String {
        format!("{}/claim", self.action(backend, drain))
    }

    /// What drain `drain`'s shutdown action did.
    pub fn result(&self, backend: &str, drain: Revision) -> String {
        format!("{}/result", self.action(backend, drain))
    }

    /// Every node's drain set of the drain written at `drain`.
    pub fn drain_sets(&self, backend: &str, drain: Revision) -> String {
        format!("{}{backend}/{drain}/", self.dir("drainset"))
    }

    /// The manifests (one per node that published its set) of that drain.
    pub fn drain_set_manifests(&self, backend: &str, drain: Revision) -> String {
        format!("{}nodes/", self.drain_sets(backend, drain))
    }

    pub fn drain_set_manifest(&self, backend: &str, drain: Revision, node: &NodeName) -> String {
        format!("{}{node}", self.drain_set_manifests(backend, drain))
    }

    /// `node`'s chunks of that drain's set.
    pub fn drain_set_chunks(&self, backend: &str, drain: Revision, node: &NodeName) -> String {
        format!("{}chunks/{node}/", self.drain_sets(backend, drain))
    }

    pub fn drain_set_chunk(
        &self,
        backend: &str,
        drain: Revision,
        node: &NodeName,
        index: u32,
    ) -> String {
        format!("{}{index:05}", self.drain_set_chunks(backend, drain, node))
    }

    /// The last segment of `key` if it is directly under `dir` (a node name
    /// under `nodes/` or `live/`, a backend under `admin/`).
    pub fn leaf<'k>(dir: &str, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(dir).filter(|rest| !rest.contains('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let k = Keys::new(KeyPrefix::new("/prod/lb").unwrap());
        let n = NodeName::new("lb-2").unwrap();
        assert_eq!(k.node(&n), "/prod/lb/nodes/lb-2");
        assert_eq!(k.live(&n), "/prod/lb/live/lb-2");
        assert_eq!(k.admin("web-2"), "/prod/lb/admin/web-2");
        assert_eq!(
            k.claim("web-2", Revision(42)),
            "/prod/lb/action/web-2/42/claim"
        );
        assert_eq!(
            k.result("web-2", Revision(42)),
            "/prod/lb/action/web-2/42/result"
        );
        assert_eq!(
            k.drain_set_manifest("web-2", Revision(42), &n),
            "/prod/lb/drainset/web-2/42/nodes/lb-2"
        );
        assert_eq!(
            k.drain_set_chunk("web-2", Revision(42), &n, 3),
            "/prod/lb/drainset/web-2/42/chunks/lb-2/00003"
        );
        assert!(
            k.drain_set_chunk("web-2", Revision(42), &n, 0)
                .starts_with(&k.drain_sets("web-2", Revision(42)))
        );
        assert!(!k.drain_sets("web-2", Revision(4)).contains("/42/"));
        assert_eq!(Keys::leaf(&k.admin_dir(), &k.admin("web-2")), Some("web-2"));
        assert_eq!(Keys::leaf(&k.nodes_dir(), &k.node(&n)), Some("lb-2"));
        assert_eq!(Keys::leaf(&k.admin_dir(), "/prod/lb/admin/a/b"), None);
        assert_eq!(Keys::leaf(&k.admin_dir(), "/other/admin/web-2"), None);
        // One fleet's prefix is never a prefix of another's directories.
        let other = Keys::new(KeyPrefix::new("/prod/lb2").unwrap());
        assert!(!other.admin("web-2").starts_with(&k.admin_dir()));
    }
}
