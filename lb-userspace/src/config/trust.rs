//! Whether a config file may be trusted: it names commands and processes the
//! daemon runs or signals (with CAP_KILL), so whoever can write it can act as
//! the daemon. Like sshd's StrictModes, the file and its directory must be
//! owned by root or by the user reading them, and writable by nobody else
//! (a directory with the sticky bit, like /tmp, is accepted: others cannot
//! replace a file they do not own in it).

use std::{os::unix::fs::MetadataExt as _, path::Path};

/// Write permission for the group or for others.
const GROUP_OR_OTHER_WRITE: u32 = 0o022;
const STICKY: u32 = 0o1000;

/// Why `path` (the config file) must not be used, or `None` if it may.
/// `uid` is the effective user reading it.
pub fn untrusted(path: &Path, uid: u32) -> Option<String> {
    // Reading it reports a missing or unreadable file better.
    let Ok(file) = std::fs::metadata(path) else {
        return None;
    };
    if let Some(why) = unsafe_owner_or_mode(&file, uid, false) {
        return Some(format!("{why}; {}", fix(path, false)));
    }
    let parent = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => parent.to_owned(),
        None => Path::new(".").to_owned(),
    };
    let dir = std::fs::metadata(&parent).ok()?;
    unsafe_owner_or_mode(&dir, uid, true).map(|why| {
        format!(
            "its directory {}: {why}; {}",
            parent.display(),
            fix(&parent, true)
        )
    })
}

fn unsafe_owner_or_mode(meta: &std::fs::Metadata, uid: u32, is_dir: bool) -> Option<String> {
    let mode = meta.mode() & 0o7777;
    if meta.uid() != 0 && meta.uid() != uid {
        return Some(format!(
            "owned by uid {}, neither root nor the daemon's user (uid {uid}), who could \
             make the daemon run any command",
            meta.uid()
        ));
    }
    if mode & GROUP_OR_OTHER_WRITE != 0 && !(is_dir && mode & STICKY != 0) {
        return Some(format!(
            "writable by {} (mode {mode:04o}), who could make the daemon run any command",
            if mode & 0o002 != 0 {
                "others"
            } else {
                "its group"
            }
        ));
    }
    None
}

fn fix(path: &Path, is_dir: bool) -> String {
    format!(
        "fix with `chmod go-w {}`{}",
        path.display(),
        if is_dir {
            ""
        } else {
            " (and check who owns it)"
        }
    )
}

#[cfg(test)]
mod tests {
    use std::{os::unix::fs::PermissionsExt as _, path::PathBuf};

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lb-trust-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn me() -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    #[test]
    fn a_private_file_in_a_private_directory_is_trusted() {
        let dir = scratch("ok");
        let file = dir.join("lb.toml");
        std::fs::write(&file, "").unwrap();
        for mode in [0o600, 0o640, 0o644, 0o400] {
            chmod(&file, mode);
            assert_eq!(untrusted(&file, me()), None, "mode {mode:o}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn group_or_world_writable_files_are_refused() {
        let dir = scratch("file");
        let file = dir.join("lb.toml");
        std::fs::write(&file, "").unwrap();
        chmod(&file, 0o664);
        let why = untrusted(&file, me()).expect("group-writable refused");
        assert!(why.contains("writable by its group (mode 0664)"), "{why}");
        assert!(why.contains("chmod go-w"), "{why}");
        chmod(&file, 0o646);
        let why = untrusted(&file, me()).expect("world-writable refused");
        assert!(why.contains("writable by others (mode 0646)"), "{why}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_writable_directory_is_refused_unless_sticky() {
        let dir = scratch("dir");
        let file = dir.join("lb.toml");
        std::fs::write(&file, "").unwrap();
        chmod(&file, 0o644);
        chmod(&dir, 0o777);
        let why = untrusted(&file, me()).expect("world-writable directory refused");
        assert!(
            why.starts_with(&format!("its directory {}", dir.display())),
            "{why}"
        );
        chmod(&dir, 0o1777);
        assert_eq!(untrusted(&file, me()), None);
        chmod(&dir, 0o755);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_owned_by_someone_else_is_refused() {
        let dir = scratch("owner");
        let file = dir.join("lb.toml");
        std::fs::write(&file, "").unwrap();
        chmod(&file, 0o644);
        // As root, hand the file to another user; otherwise ask as another user.
        let (owner, reader) = if me() == 0 {
            let other = nix::unistd::Uid::from_raw(12345);
            nix::unistd::chown(&file, Some(other), None).unwrap();
            (12345, 0)
        } else {
            (me(), me() + 1)
        };
        let why = untrusted(&file, reader).expect("someone else's file refused");
        assert!(why.contains(&format!("owned by uid {owner}")), "{why}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
