//! Bad input to the control device: each case gets its errno and changes nothing.

use std::fs::File;
use std::os::fd::AsRawFd;

use anyhow::{Context, Result, ensure};

use vtty_common::abi;

use super::control;
use crate::container::{Container, pidfd_open};

/// Issues `request` with `arg` on `file`; returns the errno, or 0 on success.
fn raw_ioctl<T>(file: &File, request: u32, arg: &mut T) -> i32 {
    // SAFETY: `arg` is a live value of the type `request` expects.
    let ret = unsafe { libc::ioctl(file.as_raw_fd(), request as libc::Ioctl, arg as *mut T) };
    if ret < 0 { std::io::Error::last_os_error().raw_os_error().unwrap_or(0) } else { 0 }
}

fn register_arg(pidfd: i32, name: &[u8]) -> abi::vtty_register {
    let mut field = [0u8; abi::VTTY_NAME_LEN];
    let len = name.len().min(abi::VTTY_NAME_LEN);
    field[..len].copy_from_slice(&name[..len]);
    abi::vtty_register { pidfd, flags: 0, nsid: 0, name: field }
}

/// Runs `f` in a forked child with `uid` 65534 and no capabilities; returns the
/// errno `f` reports. The child only makes syscalls on memory that exists before
/// the fork.
fn errno_as_nobody(f: impl Fn() -> i32) -> Result<i32> {
    // SAFETY: the child calls setresuid, `f` (plain ioctls) and _exit only.
    let pid = unsafe { libc::fork() };
    ensure!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: dropping to an unprivileged uid clears the effective
        // capabilities.
        let code = if unsafe { libc::setresuid(65534, 65534, 65534) } != 0 { 255 } else { f() };
        // SAFETY: ends the child without running destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: reaps our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    ensure!(libc::WIFEXITED(status), "child did not exit normally");
    Ok(libc::WEXITSTATUS(status))
}

pub fn bad_input_rejected() -> Result<()> {
    let control = control()?;
    let file = File::options().read(true).write(true).open("/dev/vtty").context("open /dev/vtty")?;
    let container = Container::start("badinput")?;
    let nsid = container.register(&control)?;
    let listed_before = control.list()?;

    // A pidfd of a host task: EINVAL (not in a container).
    let host = pidfd_open(std::process::id() as i32)?;
    let mut arg = register_arg(host.as_raw_fd(), b"host");
    ensure!(raw_ioctl(&file, abi::VTTY_IOC_REGISTER, &mut arg) == libc::EINVAL, "host pidfd not EINVAL");

    // A pidfd of an exited task: ESRCH.
    let mut child = std::process::Command::new("/bin/busybox").arg("true").spawn()?;
    let exited = pidfd_open(child.id() as i32)?;
    child.wait()?;
    let mut arg = register_arg(exited.as_raw_fd(), b"gone");
    ensure!(raw_ioctl(&file, abi::VTTY_IOC_REGISTER, &mut arg) == libc::ESRCH, "exited pidfd not ESRCH");

    // A descriptor that is not a pidfd: EBADF.
    let mut arg = register_arg(file.as_raw_fd(), b"notpid");
    ensure!(raw_ioctl(&file, abi::VTTY_IOC_REGISTER, &mut arg) == libc::EBADF, "non-pidfd not EBADF");

    // A process that is not pid 1 of its namespace: EINVAL.
    let mut sleeper = container.spawn("exec sleep 1000")?;
    std::thread::sleep(std::time::Duration::from_millis(200));
    let inner = pidfd_open(sleeper.id() as i32)?;
    let mut arg = register_arg(inner.as_raw_fd(), b"notinit");
    let errno = raw_ioctl(&file, abi::VTTY_IOC_REGISTER, &mut arg);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    ensure!(errno == libc::EINVAL, "non-init pidfd gave errno {errno}");

    // Names: 64 bytes without NUL, empty, with a space; nonzero flags.
    let pidfd = container.pidfd()?;
    for (label, name) in [("64 bytes", &[b'a'; 64][..]), ("empty", b""), ("space", b"a b")] {
        let mut arg = register_arg(pidfd.as_raw_fd(), name);
        let errno = raw_ioctl(&file, abi::VTTY_IOC_REGISTER, &mut arg);
        ensure!(errno == libc::EINVAL, "name {label}: errno {errno}, not EINVAL");
    }
    let mut arg = register_arg(pidfd.as_raw_fd(), b"flags");
    arg.flags = 1;
    ensure!(raw_ioctl(&file, abi::VTTY_IOC_REGISTER, &mut arg) == libc::EINVAL, "flags not EINVAL");
    let mut arg = register_arg(pidfd.as_raw_fd(), b"again");
    ensure!(raw_ioctl(&file, abi::VTTY_IOC_REGISTER, &mut arg) == libc::EEXIST, "second register not EEXIST");

    // Attach: invalid index, unknown flags, unknown nsid.
    let mut attach = abi::vtty_attach { nsid, index: 12, flags: 0, stall_timeout_ms: 0, reserved: 0 };
    ensure!(raw_ioctl(&file, abi::VTTY_IOC_ATTACH, &mut attach) == libc::EINVAL, "index 12 not EINVAL");
    attach.index = 0;
    attach.flags = 0x80;
    ensure!(raw_ioctl(&file, abi::VTTY_IOC_ATTACH, &mut attach) == libc::EINVAL, "bad flags not EINVAL");
    attach.flags = 0;
    attach.nsid = 1;
    ensure!(raw_ioctl(&file, abi::VTTY_IOC_ATTACH, &mut attach) == libc::ENOENT, "unknown nsid not ENOENT");
    let mut hangup = abi::vtty_hangup { nsid, index: 12, reserved: 0 };
    ensure!(raw_ioctl(&file, abi::VTTY_IOC_HANGUP, &mut hangup) == libc::EINVAL, "hangup index 12 not EINVAL");
    let mut unregister = abi::vtty_container { nsid: 1 };
    ensure!(raw_ioctl(&file, abi::VTTY_IOC_UNREGISTER, &mut unregister) == libc::ENOENT, "unregister unknown not ENOENT");

    // An unknown ioctl: ENOTTY.
    let mut dummy = 0u64;
    let unknown = abi::vtty_ioc(1, 99, 8);
    ensure!(raw_ioctl(&file, unknown, &mut dummy) == libc::ENOTTY, "unknown ioctl not ENOTTY");

    // Without CAP_SYS_ADMIN: EPERM for every request.
    let fd = file.as_raw_fd();
    let errno = errno_as_nobody(|| {
        let mut list = abi::vtty_list { entries: 0, capacity: 0, count: 0 };
        // SAFETY: `list` is a live vtty_list.
        let ret = unsafe { libc::ioctl(fd, abi::VTTY_IOC_LIST as libc::Ioctl, &mut list) };
        if ret < 0 { std::io::Error::last_os_error().raw_os_error().unwrap_or(0) } else { 0 }
    })?;
    ensure!(errno == libc::EPERM, "list without CAP_SYS_ADMIN: errno {errno}");

    // Nothing changed.
    let listed_after = control.list()?;
    ensure!(listed_after == listed_before, "bad input changed the registry");
    container.stop()
}
