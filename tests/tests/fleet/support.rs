//! Running the async cluster code from these synchronous tests: inside a
//! lab namespace (where etcd and BIRD listen), on a runtime of its own.

use std::future::Future;

use lb_lab::Netns;

/// Runs the future `make` returns on a fresh single-threaded tokio runtime,
/// on a thread inside `ns` (its sockets are opened there).
pub fn block_on_inside<T: Send, F: Future<Output = T>>(
    ns: &Netns,
    make: impl FnOnce() -> F + Send,
) -> T {
    ns.run_inside(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(make())
    })
    .expect("entering the namespace")
}
