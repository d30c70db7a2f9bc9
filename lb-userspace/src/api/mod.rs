//! The control API: HTTP/JSON over a Unix socket (see `docs/api.md`).

pub mod control;
pub mod types;
pub mod client;
pub mod routes;
pub mod server;

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;
