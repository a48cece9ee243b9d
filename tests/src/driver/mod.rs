//! Guest tests of the vtty driver, against real containers.

use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use vtty_ctl::driver::{ContainerInfo, Control, TerminalInfo};

pub mod attach;
pub mod badinput;
pub mod isolation;
pub mod lifetime;
pub mod mapping;
pub mod output;
pub mod stress;

/// Upper bound for any single wait in these tests: only turns a hang into a
/// failure, never a measure of speed.
pub const WATCHDOG: Duration = Duration::from_secs(60);

/// Opens `/dev/vtty`.
pub fn control() -> Result<Control> {
    Control::open().context("open /dev/vtty (is the vtty module loaded?)")
}

/// The driver's record of container `nsid`.
pub fn container_info(control: &Control, nsid: u64) -> Result<ContainerInfo> {
    control
        .list()?
        .into_iter()
        .find(|c| c.nsid == nsid)
        .with_context(|| format!("container nsid {nsid} not listed by the driver"))
}

/// The driver's record of terminal `index` of container `nsid`.
pub fn terminal_info(control: &Control, nsid: u64, index: u32) -> Result<TerminalInfo> {
    let info = container_info(control, nsid)?;
    info.terminals.get(index as usize).cloned().context("terminal index out of range")
}

/// Waits up to `timeout` for `file` to become readable; false on timeout.
pub fn wait_readable(file: &File, timeout: Duration) -> Result<bool> {
    let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
    let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    let ready = poll(&mut fds, PollTimeout::from(millis)).context("poll the attach file")?;
    Ok(ready > 0)
}

/// Reads from an attach file until `pattern` appears; returns everything read.
pub fn read_until(file: &mut File, pattern: &[u8]) -> Result<Vec<u8>> {
    let start = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(pattern.len()).any(|w| w == pattern) {
        if start.elapsed() > WATCHDOG {
            bail!(
                "watchdog: {:?} never arrived; got {:?}",
                String::from_utf8_lossy(pattern),
                String::from_utf8_lossy(&seen)
            );
        }
        if !wait_readable(file, Duration::from_millis(500))? {
            continue;
        }
        let n = file.read(&mut buf).context("read the attach file")?;
        if n == 0 {
            bail!("EOF before {:?}; got {:?}", String::from_utf8_lossy(pattern), String::from_utf8_lossy(&seen));
        }
        seen.extend_from_slice(&buf[..n]);
    }
    Ok(seen)
}

/// Reads exactly `count` bytes from an attach file.
pub fn read_exact(file: &mut File, count: usize) -> Result<Vec<u8>> {
    let start = Instant::now();
    let mut data = Vec::with_capacity(count);
    let mut buf = [0u8; 4096];
    while data.len() < count {
        if start.elapsed() > WATCHDOG {
            bail!("watchdog: read {} of {count} bytes", data.len());
        }
        if !wait_readable(file, Duration::from_millis(500))? {
            continue;
        }
        let want = buf.len().min(count - data.len());
        let n = file.read(&mut buf[..want]).context("read the attach file")?;
        if n == 0 {
            bail!("EOF after {} of {count} bytes", data.len());
        }
        data.extend_from_slice(&buf[..n]);
    }
    Ok(data)
}

/// True when nothing is readable within `quiet`.
pub fn stays_quiet(file: &File, quiet: Duration) -> Result<bool> {
    Ok(!wait_readable(file, quiet)?)
}

/// Reads until EOF (read returns 0); fails on data or the watchdog.
pub fn expect_eof(file: &mut File) -> Result<()> {
    let start = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        if start.elapsed() > WATCHDOG {
            bail!("watchdog: no EOF on the attach file");
        }
        if !wait_readable(file, Duration::from_millis(500))? {
            continue;
        }
        match file.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => continue,
            Err(err) => return Err(err).context("read the attach file"),
        }
    }
}

/// A shell prefix that opens `device` as fd 3 in raw mode (no output
/// processing), so byte counts are exact.
pub fn raw(device: &str) -> String {
    format!("exec 3<>{device} && stty raw -echo <&3 && ")
}

/// Lines of the kernel log that report a warning, a bug or a lockdep splat.
pub fn kernel_problems() -> Result<Vec<String>> {
    let output = std::process::Command::new("/bin/busybox").arg("dmesg").output()?;
    let log = String::from_utf8_lossy(&output.stdout);
    Ok(log
        .lines()
        .filter(|line| {
            ["WARNING:", "BUG:", "Oops", "possible circular locking", "possible recursive locking",
             "inconsistent lock state", "sleeping function called from invalid context", "general protection"]
                .iter()
                .any(|needle| line.contains(needle))
        })
        .map(str::to_owned)
        .collect())
}

/// A guest test: its name and its body.
pub type GuestTest = (&'static str, fn() -> Result<()>);

/// The driver tests, by name. The stress test unloads and reloads the module, so
/// it runs last.
pub const TESTS: &[GuestTest] = &[
    ("driver_isolation_between_containers", isolation::isolation_between_containers),
    ("driver_console_redirection_per_container", isolation::console_redirection_per_container),
    ("driver_output_dropped_when_detached", output::output_dropped_when_detached),
    ("driver_output_lossless_when_attached", output::output_lossless_when_attached),
    ("driver_stalled_attacher_releases_writer", output::stalled_attacher_releases_writer),
    ("driver_attach_detach_takeover", attach::attach_detach_takeover),
    ("driver_ttys_reach_distinct_terminals", mapping::ttys_reach_distinct_terminals),
    ("driver_unregistered_namespaces_unchanged", mapping::unregistered_namespaces_unchanged),
    ("driver_init_exit_ends_container", lifetime::init_exit_ends_container),
    ("driver_unregister_fails_closed", lifetime::unregister_fails_closed),
    ("driver_bad_input_rejected", badinput::bad_input_rejected),
    ("driver_stress_parallel_lifecycle", stress::stress_parallel_lifecycle),
];
