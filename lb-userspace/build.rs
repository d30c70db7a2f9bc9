//! Builds the XDP program (`lb-ebpf`) into OUT_DIR; `src/dataplane/object.rs`
//! embeds it.
fn main() -> anyhow::Result<()> {
    lb_ebpf_build::build("lb-ebpf")
}
