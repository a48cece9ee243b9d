//! The few `bpf(2)` calls that aya does not offer: `BPF_PROG_QUERY` with
//! `BPF_F_QUERY_EFFECTIVE`, cgroup links (`BPF_LINK_CREATE`, `BPF_LINK_DETACH`),
//! pinning those links; plus bpffs helpers.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;

/// `BPF_PROG_QUERY` command number from `<linux/bpf.h>`.
const BPF_PROG_QUERY: libc::c_long = 16;
/// `BPF_OBJ_PIN` command number.
const BPF_OBJ_PIN: libc::c_long = 6;
/// `BPF_OBJ_GET` command number.
const BPF_OBJ_GET: libc::c_long = 7;
/// `BPF_LINK_CREATE` command number.
const BPF_LINK_CREATE: libc::c_long = 28;
/// `BPF_LINK_DETACH` command number.
const BPF_LINK_DETACH: libc::c_long = 34;
/// `BPF_CGROUP_DEVICE` attach type.
const BPF_CGROUP_DEVICE: u32 = 6;
/// `BPF_F_QUERY_EFFECTIVE`: list the programs that run for the cgroup, including
/// those inherited from its ancestors.
const BPF_F_QUERY_EFFECTIVE: u32 = 1;
/// `BPF_FS_MAGIC` from `<linux/magic.h>`.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// The `query` member of `union bpf_attr`, padded to the size of the union's
/// members that the kernel reads for this command.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
    prog_attach_flags: u64,
    link_ids: u64,
    link_attach_flags: u64,
    revision: u64,
}

/// The `obj_pin` member of `union bpf_attr`, used by `BPF_OBJ_PIN` and `BPF_OBJ_GET`.
#[repr(C)]
#[derive(Default)]
struct ObjGetAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
    path_fd: i32,
    _pad: u32,
}

/// The `link_create` member of `union bpf_attr`, zero-padded over the
/// type-specific part that cgroup links leave unused.
#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    unused: [u64; 6],
}

/// The `link_detach` member of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct LinkDetachAttr {
    link_fd: u32,
}

/// Ids of the device programs of the cgroup at `cgroup_dir`: those attached to it,
/// or with `effective` those that run for it (its own and inherited ones).
pub fn device_programs(cgroup_dir: &Path, effective: bool) -> io::Result<Vec<u32>> {
    let cgroup = File::open(cgroup_dir)?;
    // A cgroup takes at most 64 programs per attach type (BPF_CGROUP_MAX_PROGS), and
    // the effective list adds those of its ancestors. On ENOSPC the kernel returns
    // the count, so the query is retried with room for it.
    let mut capacity = 64u32;
    loop {
        let mut ids = vec![0u32; capacity as usize];
        let mut attr = QueryAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            query_flags: if effective { BPF_F_QUERY_EFFECTIVE } else { 0 },
            prog_ids: ids.as_mut_ptr() as u64,
            prog_cnt: capacity,
            ..QueryAttr::default()
        };
        // `prog_ids` points to `prog_cnt` writable u32s in `ids`.
        match bpf(BPF_PROG_QUERY, &mut attr) {
            Ok(_) => {
                ids.truncate(attr.prog_cnt as usize);
                return Ok(ids);
            }
            Err(error)
                if error.raw_os_error() == Some(libc::ENOSPC) && attr.prog_cnt > capacity =>
            {
                capacity = attr.prog_cnt;
            }
            Err(error) => return Err(error),
        }
    }
}

fn bpf<T>(command: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: every caller passes a `#[repr(C)]` prefix of `union bpf_attr` for
    // `command`, zero-filled where unused, whose pointers outlive the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_bpf, command, attr as *mut T, std::mem::size_of::<T>()) };
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

/// Attaches the device program `program` to the cgroup `cgroup` with a new BPF
/// link. Cgroup links always join the cgroup's other programs, as
/// `BPF_F_ALLOW_MULTI` does; the kernel fails with `EPERM` when a program was
/// attached there without that flag.
pub fn link_create(program: BorrowedFd<'_>, cgroup: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: program.as_raw_fd() as u32,
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        ..LinkCreateAttr::default()
    };
    let fd = bpf(BPF_LINK_CREATE, &mut attr)?;
    // SAFETY: BPF_LINK_CREATE returned a new file descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Pins a BPF object at `path` on a bpf filesystem.
pub fn pin(object: BorrowedFd<'_>, path: &Path) -> io::Result<()> {
    let path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let mut attr = ObjGetAttr {
        pathname: path.as_ptr() as u64,
        bpf_fd: object.as_raw_fd() as u32,
        ..ObjGetAttr::default()
    };
    bpf(BPF_OBJ_PIN, &mut attr).map(drop)
}

/// Opens a pinned BPF object (program, map or link).
pub fn open_pinned(path: &Path) -> io::Result<OwnedFd> {
    let path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))?;
    let mut attr = ObjGetAttr { pathname: path.as_ptr() as u64, ..ObjGetAttr::default() };
    let ret = bpf(BPF_OBJ_GET, &mut attr)?;
    // SAFETY: on success BPF_OBJ_GET returns a new file descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

/// Detaches a BPF link from its target while it stays pinned: what another
/// manager does when it removes a program it did not create.
pub fn detach_link(link: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = LinkDetachAttr { link_fd: link.as_raw_fd() as u32 };
    bpf(BPF_LINK_DETACH, &mut attr).map(drop)
}

/// Names of the loaded programs with the given ids; ids that have gone are left out.
pub fn program_names(ids: &[u32]) -> BTreeMap<u32, String> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|info| ids.contains(&info.id()))
        .map(|info| (info.id(), info.name_as_str().unwrap_or("?").to_owned()))
        .collect()
}

/// True when `path` is on a bpf filesystem.
pub fn is_bpffs(path: &Path) -> io::Result<bool> {
    let stat = nix::sys::statfs::statfs(path).map_err(io::Error::from)?;
    Ok(stat.filesystem_type().0 as i64 == BPF_FS_MAGIC)
}

/// Mounts a bpf filesystem at `path`, as bpftool and systemd do at `/sys/fs/bpf`.
pub fn mount_bpffs(path: &Path) -> io::Result<()> {
    nix::mount::mount(
        Some("bpf"),
        path,
        Some("bpf"),
        nix::mount::MsFlags::MS_NOSUID
            | nix::mount::MsFlags::MS_NODEV
            | nix::mount::MsFlags::MS_NOEXEC,
        Some("mode=0700"),
    )
    .map_err(io::Error::from)
}
