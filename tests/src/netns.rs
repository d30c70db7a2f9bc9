//! The tests' own network namespaces: the lab's [`Netns`] (deleted when
//! dropped, also when a test panics), named `lbt-<pid>-<role>` so concurrent
//! runs cannot collide and anything left behind by a killed run says whose
//! it was. Nothing here touches the host's own namespace: interfaces are
//! created directly inside the test namespaces (`ip -n NS link add ... peer
//! ... netns OTHER`).

use anyhow::Result;
pub use lb_lab::Netns;

/// `lbt-<pid>-<role>`.
pub fn unique_name(role: &str) -> String {
    format!("lbt-{}-{role}", std::process::id())
}

/// Creates `lbt-<pid>-<role>`, `lo` up.
pub fn create(role: &str) -> Result<Netns> {
    Netns::create(&unique_name(role))
}

/// True while a namespace of this name exists (true too when `ip netns
/// list` cannot be read: a caller waiting for it to go keeps waiting).
pub fn exists(name: &str) -> bool {
    lb_lab::netns::list().map_or(true, |names| names.iter().any(|n| n == name))
}

/// Lists the namespaces this process created that still exist (should be none
/// once every [`Netns`] is dropped).
pub fn leftovers() -> Result<Vec<String>> {
    let prefix = unique_name("");
    Ok(lb_lab::netns::list()?
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect())
}

/// Runs `f` on a thread inside `ns` ([`Netns::run_inside`]) and hands back
/// its result: the sockets it opens and the XDP programs it attaches belong
/// to `ns`.
pub fn run_in<T: Send>(ns: &Netns, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    ns.run_inside(f)?
}
