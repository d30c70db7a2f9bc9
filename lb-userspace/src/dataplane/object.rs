//! The XDP program's object file, built by `build.rs` and embedded in the binary.

/// The ELF object of `lb-ebpf`, aligned as aya's loader wants it.
pub static BYTES: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/lb"));
