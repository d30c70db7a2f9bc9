//! The pinned data plane on bpffs: `<pin_root>/<interface>/` holds one file
//! per map (named as in `lb_common::maps`) and `link`, the XDP link. The link is
//! pinned last, so its presence means a complete data plane to adopt.

use std::{
    io,
    path::{Path, PathBuf},
};

/// bpffs' `statfs` magic number.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Name of the pinned XDP link inside the interface's directory.
pub const LINK: &str = "link";

/// The directory of one interface's data plane.
#[derive(Clone, Debug)]
pub struct PinDir(pub PathBuf);

impl PinDir {
    pub fn new(pin_root: &Path, interface: &str) -> Self {
        Self(pin_root.join(interface))
    }

    pub fn link(&self) -> PathBuf {
        self.0.join(LINK)
    }

    pub fn map(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// True when a complete pinned data plane is there.
    pub fn has_link(&self) -> bool {
        self.link().exists()
    }

    /// Removes every pin we own and the directory; returns what was removed.
    pub fn remove_all(&self) -> io::Result<Vec<String>> {
        let mut removed = Vec::new();
        for name in lb_common::maps::ALL.iter().copied().chain([LINK]) {
            match std::fs::remove_file(self.map(name)) {
                Ok(()) => removed.push(name.to_string()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        match std::fs::remove_dir(&self.0) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(removed)
    }
}

/// Fails unless `dir` (or its closest existing ancestor) is on a bpffs.
pub fn check_bpffs(dir: &Path) -> Result<(), String> {
    let mut probe = dir;
    while !probe.exists() {
        probe = probe.parent().unwrap_or(Path::new("/"));
    }
    let stat =
        nix::sys::statfs::statfs(probe).map_err(|e| format!("statfs {}: {e}", probe.display()))?;
    if stat.filesystem_type().0 as i64 != BPF_FS_MAGIC {
        return Err(format!(
            "{} is not on a bpf filesystem, so maps and the XDP link cannot be pinned there; \
             mount one (`mount -t bpf bpf /sys/fs/bpf`) or set daemon.pin_root to a bpffs directory",
            probe.display()
        ));
    }
    Ok(())
}
