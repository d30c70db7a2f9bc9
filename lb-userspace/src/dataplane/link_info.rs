//! Which interface a pinned XDP link is attached to.
//!
//! aya 0.14's `LinkInfo` gives the link's program id but keeps the rest of
//! `struct bpf_link_info` private, and the interface index (the `xdp` member
//! of its union) is what tells a live link from one whose interface went
//! away. So this issues `BPF_OBJ_GET_INFO_BY_FD` itself.

use std::{
    io,
    os::fd::{AsRawFd as _, BorrowedFd},
};

/// `enum bpf_cmd`: `BPF_OBJ_GET_INFO_BY_FD`.
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;

/// `struct bpf_link_info`'s fixed head and its union's first 48 bytes (the
/// kernel copies at most `info_len` bytes, so a prefix is enough). For an XDP
/// link the union starts with `__u32 ifindex`, 8-byte aligned at offset 16;
/// it is 0 once the interface is gone (the kernel detaches the link).
#[repr(C)]
#[derive(Default)]
struct LinkInfoPrefix {
    link_type: u32,
    id: u32,
    prog_id: u32,
    /// The union is 8-byte aligned: it starts at offset 16.
    _pad: u32,
    union: [u32; 12],
}

/// The `info` member of `union bpf_attr`.
#[repr(C)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

/// What the kernel says about an XDP link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XdpLinkInfo {
    pub link_id: u32,
    pub prog_id: u32,
    /// The interface it runs on, in the network namespace it was attached
    /// in; 0 when detached.
    pub ifindex: u32,
}

/// Asks the kernel about the link `fd`.
pub fn xdp_link_info(fd: BorrowedFd<'_>) -> io::Result<XdpLinkInfo> {
    let mut info = LinkInfoPrefix::default();
    let mut attr = InfoAttr {
        bpf_fd: fd.as_raw_fd().cast_unsigned(),
        info_len: std::mem::size_of::<LinkInfoPrefix>() as u32,
        info: &raw mut info as u64,
    };
    // SAFETY: `attr` is a valid `bpf_attr` prefix for this command; `info`
    // points at a live buffer of `info_len` bytes that the kernel fills.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_GET_INFO_BY_FD,
            &raw mut attr,
            std::mem::size_of::<InfoAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(XdpLinkInfo {
        link_id: info.id,
        prog_id: info.prog_id,
        ifindex: info.union[0],
    })
}

/// The tag of the program running on the link `fd`, from the link's
/// `/proc/self/fdinfo` entry. Not by looking the program up by id: listing
/// program ids (`BPF_PROG_GET_NEXT_ID`) and opening one by id both need
/// CAP_SYS_ADMIN, which the daemon does not have under its unit, so a
/// restart that adopted the pins failed with EPERM (seen under systemd:
/// tests/tests/systemd.rs). The fdinfo of a link names its program's tag.
pub fn prog_tag(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let path = format!("/proc/self/fdinfo/{}", fd.as_raw_fd());
    let fdinfo = std::fs::read_to_string(&path)?;
    prog_tag_in(&fdinfo).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no prog_tag in {path}: {fdinfo:?}"),
        )
    })
}

/// `prog_tag:\t<16 hex digits>` in a BPF link's fdinfo, as aya's
/// `ProgramInfo::tag` gives it (the tag's bytes, big-endian).
fn prog_tag_in(fdinfo: &str) -> Option<u64> {
    let hex = fdinfo
        .lines()
        .find_map(|l| l.strip_prefix("prog_tag:"))?
        .trim();
    (hex.len() == 16)
        .then(|| u64::from_str_radix(hex, 16).ok())
        .flatten()
}

/// The index of `interface` in this process's network namespace, if it exists.
pub fn ifindex_of(interface: &str) -> Option<u32> {
    let name = std::ffi::CString::new(interface).ok()?;
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

/// `enum bpf_cmd`: `BPF_OBJ_GET`.
const BPF_OBJ_GET: libc::c_long = 7;

/// The `obj` member of `union bpf_attr`.
#[repr(C)]
struct ObjAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

/// Opens the BPF object pinned at `path` (aya's `PinnedLink` does not lend
/// out its fd, which `xdp_link_info` needs).
pub fn open_pinned(path: &std::path::Path) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::{fd::FromRawFd as _, unix::ffi::OsStrExt as _};
    let path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut attr = ObjAttr {
        pathname: path.as_ptr() as u64,
        bpf_fd: 0,
        file_flags: 0,
    };
    // SAFETY: `attr` is a valid `bpf_attr` prefix for this command and
    // `pathname` a NUL-terminated string that outlives the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_GET,
            &raw mut attr,
            std::mem::size_of::<ObjAttr>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this fd, and nobody else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::prog_tag_in;

    #[test]
    fn the_prog_tag_of_a_link_fdinfo() {
        let fdinfo = "pos:\t0\nflags:\t02000000\nmnt_id:\t15\nino:\t1057\n\
                      link_type:\txdp\nlink_id:\t7\nprog_tag:\tceaad95bfaf3daa5\n\
                      prog_id:\t2706\nifindex:\t3\n";
        assert_eq!(prog_tag_in(fdinfo), Some(0xceaa_d95b_faf3_daa5));
        assert_eq!(prog_tag_in("link_type:\txdp\nprog_id:\t1\n"), None);
        assert_eq!(prog_tag_in("prog_tag:\tceaad95b\n"), None);
        assert_eq!(prog_tag_in("prog_tag:\tzzaad95bfaf3daa5\n"), None);
    }
}
