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
        bpf_fd: fd.as_raw_fd() as u32,
        info_len: std::mem::size_of::<LinkInfoPrefix>() as u32,
        info: &mut info as *mut LinkInfoPrefix as u64,
    };
    // SAFETY: `attr` is a valid `bpf_attr` prefix for this command; `info`
    // points at a live buffer of `info_len` bytes that the kernel fills.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_OBJ_GET_INFO_BY_FD,
            &mut attr as *mut InfoAttr,
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
            &mut attr as *mut ObjAttr,
            std::mem::size_of::<ObjAttr>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this fd, and nobody else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}
