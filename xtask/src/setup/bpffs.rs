//! The BPF filesystem at /sys/fs/bpf, where the daemon pins its maps and XDP
//! link. These machines boot without it mounted.
use std::{fs, process::Command};

use anyhow::{Context as _, Result};

use super::Ctx;
use crate::cmd::CmdExt as _;

const MOUNT_POINT: &str = "/sys/fs/bpf";

pub fn ensure(ctx: &mut Ctx) -> Result<()> {
    if mounted()? {
        println!("ok: bpffs mounted at {MOUNT_POINT}");
        return Ok(());
    }
    let mut mount = Command::new("mount");
    mount.args(["-t", "bpf", "bpf", MOUNT_POINT]);
    if !ctx.root {
        ctx.need_root("bpffs", &mount.display());
        return Ok(());
    }
    println!("installing: bpffs at {MOUNT_POINT}");
    mount.run()
}

/// Reads the mount table instead of running `mountpoint`, to also check the
/// filesystem type.
fn mounted() -> Result<bool> {
    let mounts = fs::read_to_string("/proc/self/mounts").context("reading /proc/self/mounts")?;
    Ok(mounts.lines().any(|line| {
        let mut fields = line.split_whitespace().skip(1);
        fields.next() == Some(MOUNT_POINT) && fields.next() == Some("bpf")
    }))
}
