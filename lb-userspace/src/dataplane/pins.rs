//! The pinned data plane on bpffs: `<pin_root>/<interface>/` holds one file
//! per map (named as in `lb_common::maps`), `link`, the XDP link, and an empty
//! directory `layout-vN` that records the maps' layout version
//! (`lb_common::maps::MAPS_LAYOUT_VERSION`; bpffs holds pins and directories,
//! no regular files). The link is pinned last, so its presence means a
//! complete data plane to adopt.

use std::{
    io,
    path::{Path, PathBuf},
};

/// bpffs' `statfs` magic number.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Name of the pinned XDP link inside the interface's directory.
pub const LINK: &str = "link";
/// Where a new link is pinned before it replaces `link` (a rename, atomic:
/// there is never a moment without a link to adopt). No dot: bpffs refuses
/// names with dots (EPERM, even to unlink one that does not exist).
const LINK_NEW: &str = "link-new";
/// Prefix of the layout marker directory.
const LAYOUT_PREFIX: &str = "layout-v";
/// The layout of pins made before the marker existed.
pub const UNMARKED_LAYOUT_VERSION: u32 = 1;

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

    pub fn link_new(&self) -> PathBuf {
        self.0.join(LINK_NEW)
    }

    /// The maps' layout version recorded with the pins
    /// (`UNMARKED_LAYOUT_VERSION` when none is).
    pub fn layout_version(&self) -> io::Result<u32> {
        let mut found = None;
        for entry in std::fs::read_dir(&self.0)? {
            let name = entry?.file_name();
            if let Some(v) = name.to_str().and_then(|n| n.strip_prefix(LAYOUT_PREFIX)) {
                found = v.parse().ok().or(Some(u32::MAX));
            }
        }
        Ok(found.unwrap_or(UNMARKED_LAYOUT_VERSION))
    }

    /// Records `version` as the maps' layout (replacing any older marker).
    pub fn mark_layout(&self, version: u32) -> io::Result<()> {
        self.remove_layout_markers()?;
        std::fs::create_dir(self.0.join(format!("{LAYOUT_PREFIX}{version}")))
    }

    fn remove_layout_markers(&self) -> io::Result<Vec<String>> {
        let mut removed = Vec::new();
        let entries = match std::fs::read_dir(&self.0) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.starts_with(LAYOUT_PREFIX) {
                std::fs::remove_dir(self.0.join(&name))?;
                removed.push(name);
            }
        }
        Ok(removed)
    }

    /// True when a complete pinned data plane is there.
    pub fn has_link(&self) -> bool {
        self.link().exists()
    }

    /// Removes every pin we own and the directory; returns what was removed.
    pub fn remove_all(&self) -> io::Result<Vec<String>> {
        let mut removed = Vec::new();
        removed.extend(self.remove_layout_markers()?);
        for name in lb_common::maps::ALL.iter().copied().chain([LINK, LINK_NEW]) {
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
