//! The check helper: a child process placed in a container's cgroups that learns
//! the kernel's real device decision there.
//!
//! Device programs have no test run, so the only way to learn what every v2
//! program and the v1 rules decide together is to make the access from inside the
//! cgroups. The helper:
//! - is cloned with `CLONE_INTO_CGROUP` into the v2 cgroup (v2 only; v1 rejects it);
//! - writes its pid (`0`) into the v1 devices cgroup's `cgroup.procs` itself;
//! - calls `faccessat2(node, R_OK, AT_EACCESS)` and then `W_OK` on a node of every
//!   device, which runs the device cgroup check without opening the device;
//! - calls `mknodat` for every device to test `m`.
//!
//! The nodes sit in a private tmpfs: a detached mount made with `fsopen` and
//! `fsmount` that no path in any mount namespace reaches. The parent creates them
//! before the helper joins the cgroups, so that a denied `m` cannot hide the `r`
//! and `w` results. vtty-ctl runs as root, so DAC checks cannot turn the cgroup's
//! `EPERM` into `EACCES`. A frozen cgroup freezes the helper, so the parent waits
//! with a timeout and then kills it.
//!
//! After the clone the child runs only raw system calls on memory prepared before
//! it, because in a multi-threaded parent (a test harness, say) another thread may
//! have held the allocator's lock at the moment of the clone.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::devices::{Access, Device};
use crate::cgroup::Cgroup;

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const CLONE_PIDFD: u64 = 0x1000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` of `clone3(2)`, as far as this file uses it.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// The kernel's decision for one access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The call succeeded.
    Allowed,
    /// `EPERM`: a device cgroup denied it.
    Denied,
    /// Another errno, which tells nothing about the device cgroups.
    Failed(i32),
}

impl Outcome {
    fn from_errno(errno: i32) -> Self {
        match errno {
            0 => Self::Allowed,
            libc::EPERM => Self::Denied,
            other => Self::Failed(other),
        }
    }
}

/// The helper's result for one device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// `faccessat2(R_OK)`.
    pub read: Outcome,
    /// `faccessat2(W_OK)`.
    pub write: Outcome,
    /// `mknodat`.
    pub mknod: Outcome,
}

impl Decision {
    /// Returns the access bits whose calls succeeded.
    pub fn allowed(&self) -> Access {
        [(self.read, Access::READ), (self.write, Access::WRITE), (self.mknod, Access::MKNOD)]
            .into_iter()
            .filter(|(outcome, _)| *outcome == Outcome::Allowed)
            .fold(Access::NONE, |access, (_, bit)| access.union(bit))
    }

    /// Returns the first errno other than `EPERM`, which makes the decision unknown.
    pub fn failure(&self) -> Option<i32> {
        [self.read, self.write, self.mknod].into_iter().find_map(|outcome| match outcome {
            Outcome::Failed(errno) => Some(errno),
            _ => None,
        })
    }
}

/// Device nodes in a private tmpfs, made before any helper runs.
pub struct NodeDir {
    mount: OwnedFd,
    devices: Vec<Device>,
    access_names: Vec<CString>,
    mknod_names: Vec<CString>,
}

impl NodeDir {
    /// Mounts a detached tmpfs and creates one node per device in it.
    pub fn create(devices: &[Device]) -> anyhow::Result<Self> {
        let mount =
            private_tmpfs().context("failed to create a private tmpfs for the probe nodes")?;
        let mut access_names = Vec::with_capacity(devices.len());
        let mut mknod_names = Vec::with_capacity(devices.len());
        for (i, device) in devices.iter().enumerate() {
            let name = CString::new(format!("node{i}")).context("node name")?;
            mknod(&mount, &name, device).with_context(|| {
                format!(
                    "failed to create a probe node for {device}; vtty-ctl's own device cgroup must \
                     allow mknod of it"
                )
            })?;
            access_names.push(name);
            mknod_names.push(CString::new(format!("mknod{i}")).context("node name")?);
        }
        Ok(Self { mount, devices: devices.to_vec(), access_names, mknod_names })
    }

    /// Returns the devices, in the order of the helper's decisions.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }
}

fn private_tmpfs() -> io::Result<OwnedFd> {
    let fstype = c"tmpfs";
    // SAFETY: fsopen takes a NUL-terminated file system name and flags.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    if fs < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fsopen returned a new file descriptor that we own.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as RawFd) };
    // SAFETY: FSCONFIG_CMD_CREATE takes no key, value or aux argument.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fsmount takes the configured file system descriptor, flags and mount
    // attributes (none: the mount is not nodev, so its nodes are real devices).
    let mount = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
    if mount < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fsmount returned a new file descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(mount as RawFd) })
}

fn mknod(dir: &OwnedFd, name: &CString, device: &Device) -> io::Result<()> {
    let dev = libc::makedev(device.major, device.minor);
    // SAFETY: `name` is NUL-terminated and `dir` is an open directory.
    let ret = unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), libc::S_IFCHR | 0o600, dev) };
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// Runs the helper in `v2` and `v1` (each optional: without one the helper stays
/// in vtty-ctl's own cgroup of that hierarchy) and returns one decision per
/// device of `nodes`.
pub fn probe(
    nodes: &NodeDir,
    v2: Option<&Cgroup>,
    v1: Option<&Cgroup>,
    timeout: Duration,
) -> anyhow::Result<Vec<Decision>> {
    let v2_dir = v2
        .map(|cgroup| {
            OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
                .open(&cgroup.dir)
                .with_context(|| format!("failed to open {}", cgroup.dir.display()))
        })
        .transpose()?;
    let v1_procs = v1
        .map(|cgroup| {
            OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(cgroup.file("cgroup.procs"))
                .with_context(|| {
                    format!("failed to open {}", cgroup.file("cgroup.procs").display())
                })
        })
        .transpose()?;

    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two file descriptors into `fds`.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error()).context("pipe2 failed");
    }
    // SAFETY: pipe2 returned two new file descriptors that we own.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };

    // Slot 0 is the errno of joining the v1 cgroup, then three per device.
    let mut results = vec![0i32; 1 + 3 * nodes.devices.len()];
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags: CLONE_PIDFD,
        pidfd: &mut pidfd as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if let Some(dir) = &v2_dir {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = dir.as_raw_fd() as u64;
    }

    // SAFETY: clone3 with a zero stack forks like fork(2). The child only runs
    // `child_main`, which makes raw system calls on memory allocated before this
    // point and never returns.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid == 0 {
        child_main(nodes, v1_procs.as_ref(), &mut results, &writer);
    }
    if pid < 0 {
        let error = io::Error::last_os_error();
        let target = v2.map_or_else(|| "the helper".to_owned(), |cgroup| cgroup.to_string());
        return Err(error).with_context(|| format!("failed to start a helper process in {target}"));
    }
    drop(writer);
    // SAFETY: clone3 with CLONE_PIDFD stored a new pidfd that we own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };

    let read = read_results(&reader, &mut results, timeout);
    let exited = reap(&pidfd, read.is_err());
    let bytes = read?;
    exited.with_context(|| format!("helper process {pid} did not exit"))?;
    if bytes != results.len() * 4 {
        bail!("helper process {pid} ended after {bytes} bytes of its result");
    }
    if results[0] != 0 {
        let cgroup = v1.map_or_else(String::new, |c| c.to_string());
        return Err(io::Error::from_raw_os_error(results[0]))
            .with_context(|| format!("the helper could not join {cgroup}"));
    }
    Ok(results[1..]
        .chunks_exact(3)
        .map(|chunk| Decision {
            read: Outcome::from_errno(chunk[0]),
            write: Outcome::from_errno(chunk[1]),
            mknod: Outcome::from_errno(chunk[2]),
        })
        .collect())
}

/// The helper process. Runs only raw system calls and `_exit`.
fn child_main(
    nodes: &NodeDir,
    v1_procs: Option<&File>,
    results: &mut [i32],
    writer: &OwnedFd,
) -> ! {
    let errno = || io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
    let mount = nodes.mount.as_raw_fd();
    let mut joined = true;
    if let Some(procs) = v1_procs {
        // SAFETY: writes one byte from a static string to an open file.
        let written = unsafe { libc::write(procs.as_raw_fd(), c"0".as_ptr().cast(), 1) };
        if written != 1 {
            results[0] = errno();
            joined = false;
        }
    }
    if joined {
        for (i, (access, mknod)) in nodes.access_names.iter().zip(&nodes.mknod_names).enumerate() {
            for (slot, mode) in [(1 + 3 * i, libc::R_OK), (2 + 3 * i, libc::W_OK)] {
                // SAFETY: faccessat2 takes a directory fd, a NUL-terminated name, a
                // mode and flags; raw so that libc never emulates AT_EACCESS.
                let ret = unsafe {
                    libc::syscall(
                        libc::SYS_faccessat2,
                        mount,
                        access.as_ptr(),
                        mode,
                        libc::AT_EACCESS,
                    )
                };
                results[slot] = if ret == 0 { 0 } else { errno() };
            }
            let device = &nodes.devices[i];
            let dev = libc::makedev(device.major, device.minor);
            // SAFETY: mknodat takes a directory fd, a NUL-terminated name, a mode
            // and a device number.
            let ret = unsafe { libc::mknodat(mount, mknod.as_ptr(), libc::S_IFCHR | 0o600, dev) };
            results[3 + 3 * i] = if ret == 0 { 0 } else { errno() };
            if ret == 0 {
                // SAFETY: as above; removes the node just made.
                unsafe { libc::unlinkat(mount, mknod.as_ptr(), 0) };
            }
        }
    }
    let bytes = results.len() * 4;
    // SAFETY: `results` is valid for `bytes` bytes; the result is small enough for
    // one atomic pipe write.
    unsafe {
        libc::write(writer.as_raw_fd(), results.as_ptr().cast(), bytes);
        libc::_exit(0)
    }
}

/// Reads the helper's result into `results` until EOF or the timeout; returns the
/// number of bytes read.
fn read_results(reader: &OwnedFd, results: &mut [i32], timeout: Duration) -> anyhow::Result<usize> {
    let deadline = Instant::now() + timeout;
    let total = results.len() * 4;
    let buffer = results.as_mut_ptr().cast::<u8>();
    let mut filled = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!(
                "the helper process gave no answer within {} ms; a frozen cgroup freezes it \
                 (check cgroup.freeze and freezer.state)",
                timeout.as_millis()
            );
        }
        let mut poll = libc::pollfd { fd: reader.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let millis = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: `poll` is one valid pollfd.
        let ready = unsafe { libc::poll(&mut poll, 1, millis) };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error).context("poll failed");
        }
        if ready == 0 {
            continue;
        }
        // SAFETY: `buffer` points to `total` writable bytes of `results`; we read
        // at most `total - filled` bytes past `filled`.
        let count =
            unsafe { libc::read(reader.as_raw_fd(), buffer.add(filled).cast(), total - filled) };
        if count < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(error).context("failed to read the helper's result");
        }
        if count == 0 || filled + count as usize == total {
            return Ok(filled + count as usize);
        }
        filled += count as usize;
    }
}

/// Waits for the helper to exit, killing it first when `kill` is set. Gives up
/// after a bounded wait so that a helper stuck in a frozen v1 cgroup cannot hang
/// vtty-ctl.
fn reap(pidfd: &OwnedFd, kill: bool) -> io::Result<()> {
    if kill {
        // SAFETY: pidfd_send_signal takes a pidfd, a signal, a null siginfo and flags.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                pidfd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<u8>(),
                0,
            )
        };
    }
    let mut poll = libc::pollfd { fd: pidfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // A pidfd polls readable once the process has exited.
    // SAFETY: `poll` is one valid pollfd.
    let ready = unsafe { libc::poll(&mut poll, 1, 10_000) };
    if ready <= 0 {
        return Err(io::Error::new(io::ErrorKind::TimedOut, "the helper process is still running"));
    }
    // SAFETY: `info` is a writable siginfo_t; P_PIDFD waits for the pidfd's process.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let ret = unsafe {
        libc::waitid(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t, &mut info, libc::WEXITED)
    };
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
}
