//! The control API: HTTP/JSON over a Unix socket (see `docs/api.md`).

pub mod client;
pub mod control;
pub mod routes;
pub mod server;
pub mod types;

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;
