//! Attach, detach, re-attach, busy, takeover, and detach without hangup.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};

use super::{WATCHDOG, control, expect_eof, read_until, terminal_info};
use crate::container::Container;

/// True while process `pid` exists.
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Host pid of the getty started in the container on tty2, once it runs.
fn find_getty(container: &Container) -> Result<i32> {
    let deadline = Instant::now() + WATCHDOG;
    loop {
        let out = container.sh_ok("for p in /proc/[0-9]*; do grep -q getty $p/cmdline 2>/dev/null && echo ${p#/proc/}; done; true")?;
        if let Some(pid) = out.split_whitespace().next() {
            // The pid inside the container; map it to the host through NSpid.
            let inner: i32 = pid.parse()?;
            for entry in std::fs::read_dir("/proc")? {
                let name = entry?.file_name();
                let Some(host) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
                let Ok(status) = std::fs::read_to_string(format!("/proc/{host}/status")) else { continue };
                let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap_or("");
                let ids: Vec<&str> = nspid.split_whitespace().skip(1).collect();
                if ids.len() == 2 && ids[1] == inner.to_string() && status.contains("getty") {
                    return Ok(host);
                }
            }
        }
        ensure!(Instant::now() < deadline, "getty never started in the container");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Attach, detach and attach again work; a second attacher gets EBUSY; a
/// takeover gives the old attacher EOF; detaching sends no SIGHUP (a getty
/// survives), while a hangup does end it.
pub fn attach_detach_takeover() -> Result<()> {
    let control = control()?;
    let container = Container::start("attach")?;
    let nsid = container.register(&control)?;

    let first = control.attach(nsid, 0, false, None)?;
    let busy = control.attach(nsid, 0, false, None);
    ensure!(
        matches!(&busy, Err(e) if e.raw_os_error() == Some(libc::EBUSY)),
        "second attach without takeover: {busy:?}"
    );
    drop(first);
    ensure!(!terminal_info(&control, nsid, 0)?.attached, "still attached after close");

    let mut again = control.attach(nsid, 0, false, None)?;
    container.sh_ok("echo after-reattach > /dev/console")?;
    read_until(&mut again, b"after-reattach")?;

    let mut taker = control.attach(nsid, 0, true, None)?;
    expect_eof(&mut again)?;
    container.sh_ok("echo after-takeover > /dev/console")?;
    read_until(&mut taker, b"after-takeover")?;
    drop(again);
    ensure!(terminal_info(&control, nsid, 0)?.attached, "closing the old attach detached the new one");

    // A getty on tty2 survives an attach and detach.
    let mut getty = container.spawn("exec setsid getty -l /bin/sh 38400 tty2")?;
    let getty_pid = find_getty(&container)?;
    let attach2 = control.attach(nsid, 1, false, None)?;
    std::thread::sleep(Duration::from_millis(200));
    drop(attach2);
    std::thread::sleep(Duration::from_millis(500));
    ensure!(alive(getty_pid), "getty (pid {getty_pid}) died after a detach");

    // A hangup does reach it, so the check above can fail.
    control.hangup(nsid, Some(1))?;
    let deadline = Instant::now() + WATCHDOG;
    while alive(getty_pid) {
        ensure!(Instant::now() < deadline, "getty survived a hangup");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = getty.wait();
    drop(taker);
    container.stop()
}
