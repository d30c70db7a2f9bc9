//! Builds the reference XDP programs (`lb-bench-ebpf`) into OUT_DIR, where
//! `src/` embeds them. The `lb` program itself comes embedded in
//! `lb-userspace`, built by its own build.rs.
fn main() -> anyhow::Result<()> {
    lb_ebpf_build::build("lb-bench-ebpf")
}
