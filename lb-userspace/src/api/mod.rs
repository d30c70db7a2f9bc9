//! The control API: HTTP/JSON over a Unix socket (see `docs/api.md`).

pub mod client;
pub mod control;
pub mod error;
pub mod guard;
pub mod routes;
pub mod server;
pub mod types;

#[cfg(test)]
pub(crate) mod test_daemon;
#[cfg(test)]
pub(crate) mod test_samples;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_fuzz;
