//! Containers see only their own consoles, and console redirection stays per
//! container.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::time::Duration;

use anyhow::{Context, Result, ensure};

use super::{control, read_until, stays_quiet, terminal_info};
use crate::container::Container;

/// Two containers write different text to /dev/console; each attacher sees only
/// its own, neither can reach the other's terminals, and a privileged process in
/// a container cannot attach at all.
pub fn isolation_between_containers() -> Result<()> {
    let control = control()?;
    let a = Container::start("iso-a")?;
    let b = Container::start("iso-b")?;
    let nsid_a = a.register(&control)?;
    let nsid_b = b.register(&control)?;
    ensure!(nsid_a != nsid_b, "two containers got the same nsid {nsid_a}");

    let mut attach_a = control.attach(nsid_a, 0, false, None)?;
    let mut attach_b = control.attach(nsid_b, 0, false, None)?;
    a.sh_ok("echo from-container-a > /dev/console")?;
    b.sh_ok("echo from-container-b > /dev/console")?;
    let seen_a = read_until(&mut attach_a, b"from-container-a")?;
    let seen_b = read_until(&mut attach_b, b"from-container-b")?;
    ensure!(!String::from_utf8_lossy(&seen_a).contains("container-b"), "a saw b's output");
    ensure!(!String::from_utf8_lossy(&seen_b).contains("container-a"), "b saw a's output");
    ensure!(stays_quiet(&attach_a, Duration::from_millis(300))?, "a's attacher got more output");

    // The vttys device of the other container's terminal is the caller's own.
    let before = terminal_info(&control, nsid_b, 0)?;
    a.sh_ok("echo via-vttys > /dev/vttys0")?;
    read_until(&mut attach_a, b"via-vttys")?;
    let after = terminal_info(&control, nsid_b, 0)?;
    ensure!(after.written == before.written, "a's write reached b's terminal");

    // A privileged process inside a container cannot use the control device.
    let output = a.sh("exec 4<>/dev/null; ls /dev/vtty 2>&1; echo done")?;
    ensure!(output.status.success());
    let denied = attach_from_container(&a, nsid_b)?;
    ensure!(denied == libc::EPERM, "attach from inside a container got errno {denied}, not EPERM");

    drop(attach_a);
    drop(attach_b);
    a.stop()?;
    b.stop()?;
    Ok(())
}

/// Tries VTTY_IOC_ATTACH from a root process (with every capability) in
/// `container`'s pid namespace, on a control fd opened by the host; returns the
/// errno.
fn attach_from_container(container: &Container, nsid: u64) -> Result<i32> {
    let control = File::options().read(true).write(true).open("/dev/vtty")?;
    let fd = control.as_raw_fd();
    container.run_forked(|| {
        let mut arg = vtty_common::abi::vtty_attach { nsid, index: 0, flags: 0, stall_timeout_ms: 0, reserved: 0 };
        // SAFETY: `arg` is a live vtty_attach.
        let ret = unsafe { libc::ioctl(fd, vtty_common::abi::VTTY_IOC_ATTACH as libc::Ioctl, &mut arg) };
        if ret < 0 { errno() } else { 0 }
    })
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `TIOCCONS` on an open file: redirects the console to it, or clears the
/// redirection when issued on /dev/console itself.
fn tioccons(fd: i32) -> i32 {
    // SAFETY: TIOCCONS takes no argument.
    let ret = unsafe { libc::ioctl(fd, libc::TIOCCONS) };
    if ret < 0 { errno() } else { 0 }
}

/// A host TIOCCONS does not capture a container's console output, and a
/// container's TIOCCONS is refused.
pub fn console_redirection_per_container() -> Result<()> {
    let control = control()?;
    let container = Container::start("redir")?;
    let nsid = container.register(&control)?;
    let mut attach = control.attach(nsid, 0, false, None)?;

    // Redirect the host's console to a pty, as bootlogd does.
    let master = nix::pty::posix_openpt(nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY)?;
    nix::pty::grantpt(&master)?;
    nix::pty::unlockpt(&master)?;
    let slave_path = nix::pty::ptsname_r(&master)?;
    let slave = File::options().read(true).write(true).open(&slave_path)?;
    // SAFETY: `into_raw_fd` hands over the descriptor, which the File then owns.
    let mut master_file = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(master)) };
    let errno = tioccons(slave.as_raw_fd());
    ensure!(errno == 0, "host TIOCCONS on {slave_path} failed with errno {errno}");
    let result = (|| -> Result<()> {
        container.sh_ok("echo container-line > /dev/console")?;
        read_until(&mut attach, b"container-line")?;
        std::fs::write("/dev/console", "host-line\n").context("write the host console")?;
        let mut seen = Vec::new();
        let deadline = std::time::Instant::now() + super::WATCHDOG;
        while !String::from_utf8_lossy(&seen).contains("host-line") {
            ensure!(std::time::Instant::now() < deadline, "host console output never reached the pty");
            if super::wait_readable(&master_file, Duration::from_millis(500))? {
                let mut buf = [0u8; 256];
                let n = master_file.read(&mut buf)?;
                seen.extend_from_slice(&buf[..n]);
            }
        }
        ensure!(
            !String::from_utf8_lossy(&seen).contains("container-line"),
            "the host redirection captured container output: {:?}",
            String::from_utf8_lossy(&seen)
        );
        // TIOCCONS inside the container, on its own /dev/console.
        let errno = container.run_forked(|| {
            // SAFETY: opens a NUL-terminated path.
            let fd = unsafe { libc::open(c"/dev/console".as_ptr(), libc::O_RDWR | libc::O_NOCTTY) };
            if fd < 0 {
                return 200;
            }
            tioccons(fd)
        })?;
        ensure!(errno == libc::EPERM, "TIOCCONS inside the container gave {errno}, not EPERM");
        Ok(())
    })();
    // Clear the host's redirection: TIOCCONS on /dev/console itself.
    let console = File::options().write(true).open("/dev/console")?;
    let reset = tioccons(console.as_raw_fd());
    result?;
    ensure!(reset == 0, "clearing the host redirection failed with errno {reset}");
    container.stop()
}
