//! `mknod`: creates `/dev/console` and `/dev/tty0` .. `/dev/tty12` as device nodes
//! in a container, through `/proc/PID/root` of its init.
//!
//! Only real nodes (5:1, 4:N) reach vtty. Runtimes that bind a devpts pty over
//! them (runc and crun with `terminal: true`, LXC's tty setup) bypass vtty, so such
//! mounts are reported and left alone. Every path is resolved inside the
//! container's root (`RESOLVE_IN_ROOT`) and no call follows a symlink in the last
//! component, so a container cannot redirect the writes to the host.

use std::ffi::CString;
use std::fmt;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};

use anyhow::Context as _;

use crate::container::Container;
use crate::exit::{self, ExitCode};
use crate::fail;
use crate::policy::devices::{Device, TtyName, all_tty_names};

/// Group id of `tty` in the container (Debian, Fedora and Alpine all use 5).
pub const TTY_GID: u32 = 5;

/// One node to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeSpec {
    /// The device.
    pub device: Device,
    /// Permission bits: 0600 for the console, 0620 for ttyN.
    pub mode: u32,
    /// Owner group inside the container: 0 for the console, `tty` (5) for ttyN.
    pub gid: u32,
}

/// Lists the nodes `mknod` creates.
pub fn node_specs() -> Vec<NodeSpec> {
    all_tty_names()
        .into_iter()
        .map(|name| match name {
            TtyName::Console => NodeSpec { device: name.device(), mode: 0o600, gid: 0 },
            TtyName::Tty(_) => NodeSpec { device: name.device(), mode: 0o620, gid: TTY_GID },
        })
        .collect()
}

/// The result for one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeResult {
    /// The node did not exist and was created.
    Created,
    /// A wrong entry was replaced (`--replace`).
    Replaced {
        /// The entry that was there.
        was: String,
    },
    /// The right device node exists already.
    Present,
    /// A wrong entry exists and was left alone.
    Kept {
        /// The entry that is there.
        found: String,
    },
    /// A mount covers the path, so the container's opens of it never reach vtty.
    Covered {
        /// The mount's file system type and source.
        mount: String,
    },
}

/// The result of `mknod` for one container.
#[derive(Clone, Debug)]
pub struct MknodReport {
    /// The container, as `container CTID`.
    pub container: String,
    /// Each node with its result.
    pub nodes: Vec<(NodeSpec, NodeResult)>,
}

impl MknodReport {
    /// True when a mount covers any of the nodes.
    pub fn covered(&self) -> bool {
        self.nodes.iter().any(|(_, result)| matches!(result, NodeResult::Covered { .. }))
    }
}

impl fmt::Display for MknodReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (spec, result) in &self.nodes {
            let path = format!("/dev/{}", spec.device.name);
            let node = format!("{} {:04o} gid {}", spec.device.rule(), spec.mode, spec.gid);
            match result {
                NodeResult::Created => writeln!(f, "{path}: created ({node})")?,
                NodeResult::Replaced { was } => writeln!(f, "{path}: replaced {was} ({node})")?,
                NodeResult::Present => writeln!(f, "{path}: present")?,
                NodeResult::Kept { found } => writeln!(
                    f,
                    "{path}: left alone: {found}, not {node}; pass --replace to replace it"
                )?,
                NodeResult::Covered { mount } => writeln!(
                    f,
                    "{path}: a {mount} mount covers it, so the container's opens never reach vtty; \
                     configure the runtime to create device nodes instead (OCI: terminal false and \
                     no bind mount of /dev/console; LXC: lxc.tty.max = 0 and lxc.pty.max without a \
                     console bind)"
                )?,
            }
        }
        Ok(())
    }
}

/// Creates the nodes in `container`; with `replace`, replaces wrong entries too.
pub fn mknod(container: &Container, replace: bool) -> exit::Result<MknodReport> {
    let pid = container.init_pid;
    let root = open_path(libc::AT_FDCWD, &format!("/proc/{pid}/root"), 0)
        .with_context(|| format!("failed to open /proc/{pid}/root of {container}'s init"))?;
    let dev =
        open_path(root.as_raw_fd(), "dev", libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS)
            .map_err(|error| {
                if error.raw_os_error() == Some(libc::ENOENT) {
                    fail!(
                        ExitCode::NotFound,
                        "{container} has no /dev directory; create it in the container first"
                    )
                } else {
                    exit::Error::new(
                        ExitCode::Failure,
                        anyhow::Error::new(error)
                            .context(format!("failed to open /dev of {container}")),
                    )
                }
            })?;
    let mounts = fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .with_context(|| format!("failed to read /proc/{pid}/mountinfo"))?;
    let uid = map_id(&format!("/proc/{pid}/uid_map"), 0)?;
    let mut nodes = Vec::new();
    for spec in node_specs() {
        let gid = map_id(&format!("/proc/{pid}/gid_map"), spec.gid)?;
        let result =
            make_node(&dev, &spec, uid, gid, replace, covering_mount(&mounts, &spec.device.name))
                .with_context(|| {
                format!("failed to create /dev/{} in {container}", spec.device.name)
            })?;
        nodes.push((spec, result));
    }
    Ok(MknodReport { container: container.to_string(), nodes })
}

fn make_node(
    dev: &OwnedFd,
    spec: &NodeSpec,
    uid: u32,
    gid: u32,
    replace: bool,
    covered: Option<String>,
) -> io::Result<NodeResult> {
    if let Some(mount) = covered {
        return Ok(NodeResult::Covered { mount });
    }
    let name = cstring(&spec.device.name)?;
    let found = match stat_nofollow(dev, &name)? {
        None => {
            create(dev, &name, spec, uid, gid)?;
            return Ok(NodeResult::Created);
        }
        Some(stat) if is_wanted(&stat, spec) => return Ok(NodeResult::Present),
        Some(stat) => describe(&stat),
    };
    if !replace {
        return Ok(NodeResult::Kept { found });
    }
    // Create under a temporary name and rename over the old entry, so the path
    // never disappears and a directory in the way fails the rename.
    let staged = cstring(&format!(".vtty-{}.new", spec.device.name))?;
    let _ = unlinkat(dev, &staged);
    create(dev, &staged, spec, uid, gid)?;
    // SAFETY: both names are NUL-terminated and `dev` is an open directory.
    let ret =
        unsafe { libc::renameat(dev.as_raw_fd(), staged.as_ptr(), dev.as_raw_fd(), name.as_ptr()) };
    if ret < 0 {
        let error = io::Error::last_os_error();
        let _ = unlinkat(dev, &staged);
        return Err(error);
    }
    Ok(NodeResult::Replaced { was: found })
}

fn is_wanted(stat: &libc::stat, spec: &NodeSpec) -> bool {
    stat.st_mode & libc::S_IFMT == libc::S_IFCHR
        && libc::major(stat.st_rdev) == spec.device.major
        && libc::minor(stat.st_rdev) == spec.device.minor
}

fn describe(stat: &libc::stat) -> String {
    match stat.st_mode & libc::S_IFMT {
        libc::S_IFCHR => {
            format!("character device {}:{}", libc::major(stat.st_rdev), libc::minor(stat.st_rdev))
        }
        libc::S_IFBLK => "a block device".to_owned(),
        libc::S_IFLNK => "a symlink".to_owned(),
        libc::S_IFDIR => "a directory".to_owned(),
        libc::S_IFREG => "a regular file".to_owned(),
        _ => "another file type".to_owned(),
    }
}

fn create(dev: &OwnedFd, name: &CString, spec: &NodeSpec, uid: u32, gid: u32) -> io::Result<()> {
    let device = libc::makedev(spec.device.major, spec.device.minor);
    // SAFETY: `name` is NUL-terminated and `dev` is an open directory.
    if unsafe { libc::mknodat(dev.as_raw_fd(), name.as_ptr(), libc::S_IFCHR | spec.mode, device) }
        < 0
    {
        return Err(io::Error::last_os_error());
    }
    // The umask may have cleared bits; set the mode exactly, never through a symlink.
    // SAFETY: fchmodat2 takes a directory fd, a NUL-terminated name, a mode and flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fchmodat2,
            dev.as_raw_fd(),
            name.as_ptr(),
            spec.mode,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    // SAFETY: fchownat takes a directory fd, a NUL-terminated name, ids and flags.
    let chown = || unsafe {
        libc::fchownat(dev.as_raw_fd(), name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW)
    };
    if ret < 0 || chown() < 0 {
        let error = io::Error::last_os_error();
        let _ = unlinkat(dev, name);
        return Err(error);
    }
    Ok(())
}

fn unlinkat(dev: &OwnedFd, name: &CString) -> io::Result<()> {
    // SAFETY: `name` is NUL-terminated and `dev` is an open directory.
    if unsafe { libc::unlinkat(dev.as_raw_fd(), name.as_ptr(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn stat_nofollow(dev: &OwnedFd, name: &CString) -> io::Result<Option<libc::stat>> {
    // SAFETY: an all-zero `stat` is a valid value to be overwritten.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is NUL-terminated, `dev` is an open directory and `stat` is writable.
    let ret = unsafe {
        libc::fstatat(dev.as_raw_fd(), name.as_ptr(), &mut stat, libc::AT_SYMLINK_NOFOLLOW)
    };
    if ret == 0 {
        return Ok(Some(stat));
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::ENOENT) { Ok(None) } else { Err(error) }
}

fn cstring(text: &str) -> io::Result<CString> {
    CString::new(text)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))
}

/// Opens a directory as an `O_PATH` descriptor with `openat2` and `resolve` flags.
fn open_path(dir: RawFd, path: &str, resolve: u64) -> io::Result<OwnedFd> {
    let path = cstring(path)?;
    // SAFETY: `open_how` is plain integers, valid when zeroed.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    // SAFETY: openat2 takes a directory fd, a NUL-terminated path and an
    // `open_how` of the given size.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat2 returned a new file descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Finds the mount that covers `/dev/NAME` in a mountinfo text and describes it
/// as `FSTYPE (SOURCE)`, or `devpts (pty N)` for a devpts pty.
pub fn covering_mount(mountinfo: &str, name: &str) -> Option<String> {
    let target = format!("/dev/{name}");
    mountinfo
        .lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let mount_point = before.split(' ').nth(4)?;
            let mut after = after.split(' ');
            let (fstype, source) = (after.next()?, after.next()?);
            (mount_point == target).then(|| {
                let root = before.split(' ').nth(3).unwrap_or("/");
                if fstype == "devpts" {
                    format!("devpts (pty {})", root.trim_start_matches('/'))
                } else {
                    format!("{fstype} ({source})")
                }
            })
        })
        .next_back()
}

/// Maps `id` inside the container to the host through a `uid_map` or `gid_map`.
/// A kernel built without user namespaces (`CONFIG_USER_NS`) has no such files,
/// and every id maps to itself.
fn map_id(path: &str, id: u32) -> exit::Result<u32> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound && !user_namespaces_exist() => {
            return Ok(id);
        }
        Err(error) => {
            return Err(anyhow::Error::new(error).context(format!("failed to read {path}")).into());
        }
    };
    parse_id_map(&text, id).ok_or_else(|| {
        fail!(
            ExitCode::Conflict,
            "id {id} is not mapped in {path}, so the container could not own its nodes; map it in \
             the container's user namespace"
        )
    })
}

/// Returns true when the kernel has user namespaces, which is exactly when
/// `/proc/self/uid_map` exists. On such a kernel, a missing map file of a
/// container's init means that the init exited, not the identity mapping.
fn user_namespaces_exist() -> bool {
    fs::symlink_metadata("/proc/self/uid_map").is_ok()
}

/// Maps `id` through the lines `INSIDE OUTSIDE COUNT` of an id map.
pub fn parse_id_map(text: &str, id: u32) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut fields = line.split_whitespace().map(|field| field.parse::<u64>().ok());
        let (inside, outside, count) = (fields.next()??, fields.next()??, fields.next()??);
        let id = u64::from(id);
        (id >= inside && id < inside + count)
            .then(|| u32::try_from(outside + (id - inside)).ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_cover_console_and_ttys() {
        let specs = node_specs();
        assert_eq!(specs.len(), 14);
        let console = specs.iter().find(|s| s.device.name == "console").expect("console");
        assert_eq!((console.mode, console.gid), (0o600, 0));
        assert_eq!((console.device.major, console.device.minor), (5, 1));
        let tty12 = specs.iter().find(|s| s.device.name == "tty12").expect("tty12");
        assert_eq!((tty12.mode, tty12.gid), (0o620, TTY_GID));
        assert_eq!((tty12.device.major, tty12.device.minor), (4, 12));
    }

    #[test]
    fn identity_and_shifted_id_maps() {
        assert_eq!(parse_id_map("         0          0 4294967295\n", 5), Some(5));
        assert_eq!(parse_id_map("0 100000 65536\n", 0), Some(100000));
        assert_eq!(parse_id_map("0 100000 65536\n", 5), Some(100005));
        assert_eq!(parse_id_map("0 100000 1\n", 5), None);
        assert_eq!(parse_id_map("", 0), None);
    }

    #[test]
    fn missing_id_map_is_an_error() {
        // The host kernel has user namespaces, so a missing map means a gone
        // process, never the identity mapping.
        assert!(user_namespaces_exist());
        let error = map_id("/proc/self/no_such_uid_map", 0).expect_err("missing map");
        assert_eq!(error.code(), ExitCode::Failure);
    }

    #[test]
    fn devpts_bind_mount_found() {
        let mountinfo = "\
600 500 0:50 / / rw - overlay overlay rw
610 600 0:60 / /dev rw - tmpfs tmpfs rw
620 610 0:70 /0 /dev/console rw - devpts devpts rw,ptmxmode=666
";
        assert_eq!(covering_mount(mountinfo, "console").as_deref(), Some("devpts (pty 0)"));
        assert_eq!(covering_mount(mountinfo, "tty1"), None);
    }
}
