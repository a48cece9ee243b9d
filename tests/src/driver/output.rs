//! The container's output: dropped and counted with no attacher, lossless while
//! the attacher reads, dropped again once the attacher stalls.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use super::{WATCHDOG, control, raw, read_exact, terminal_info};
use crate::container::Container;

const MIB: u64 = 1024 * 1024;

/// Checks that 1 MiB written to /dev/console with no attacher returns in full and
/// grows the drop total by exactly 1 MiB, and that output before an attach is
/// dropped.
pub fn output_dropped_when_detached() -> Result<()> {
    let control = control()?;
    let container = Container::start("drop")?;
    let nsid = container.register(&control)?;

    let before = terminal_info(&control, nsid, 0)?;
    let script = format!("{}head -c {MIB} /dev/zero >&3 && echo wrote", raw("/dev/console"));
    let output = container.sh_ok(&script)?;
    ensure!(output.trim() == "wrote", "the writer did not finish: {output:?}");
    let after = terminal_info(&control, nsid, 0)?;
    ensure!(after.dropped - before.dropped == MIB, "dropped grew by {}, not {MIB}", after.dropped - before.dropped);
    ensure!(after.written - before.written == MIB, "written grew by {}", after.written - before.written);
    ensure!(after.delivered == before.delivered, "bytes were delivered with nobody attached");

    // Bytes written before an attach are dropped, byte for byte, and never
    // replayed to the attacher.
    container.sh_ok(&format!("{}printf early-bytes >&3", raw("/dev/console")))?;
    let mid = terminal_info(&control, nsid, 0)?;
    ensure!(mid.dropped - after.dropped == 11, "'early-bytes' counted {} dropped", mid.dropped - after.dropped);
    let mut attach = control.attach(nsid, 0, false, None)?;
    container.sh_ok(&format!("{}printf late-bytes >&3", raw("/dev/console")))?;
    let seen = read_exact(&mut attach, 10)?;
    ensure!(seen == b"late-bytes", "attacher read {:?}", String::from_utf8_lossy(&seen));
    container.stop()
}

/// 1 MiB of random data arrives complete and in order, also when the attacher
/// reads slowly; input from the attacher reaches the container's read.
pub fn output_lossless_when_attached() -> Result<()> {
    let control = control()?;
    let container = Container::start("lossless")?;
    let nsid = container.register(&control)?;
    let data_path = "/tmp/lossless.data";
    let status = std::process::Command::new("/bin/busybox")
        .args(["sh", "-c", &format!("head -c {MIB} /dev/urandom > {data_path}")])
        .status()?;
    ensure!(status.success(), "could not create {data_path}");
    let expected = std::fs::read(data_path)?;

    for (label, pause) in [("fast", None), ("slow", Some(Duration::from_millis(2)))] {
        let mut attach = control.attach(nsid, 0, false, Some(60_000))?;
        let before = terminal_info(&control, nsid, 0)?;
        let mut writer = container.spawn(&format!("{}cat {data_path} >&3", raw("/dev/console")))?;
        let mut received = Vec::with_capacity(expected.len());
        let mut buf = [0u8; 1024];
        let start = Instant::now();
        while received.len() < expected.len() {
            ensure!(start.elapsed() < WATCHDOG, "{label}: watchdog after {} bytes", received.len());
            if let Some(pause) = pause {
                std::thread::sleep(pause);
            }
            let n = attach.read(&mut buf).context("read the attach file")?;
            ensure!(n > 0, "{label}: EOF after {} bytes", received.len());
            received.extend_from_slice(&buf[..n]);
        }
        let status = writer.wait()?;
        ensure!(status.success(), "{label}: the container's writer failed");
        ensure!(received == expected, "{label}: received data differs from what was written");
        let after = terminal_info(&control, nsid, 0)?;
        ensure!(after.dropped == before.dropped, "{label}: {} bytes dropped while attached", after.dropped - before.dropped);
        ensure!(after.delivered - before.delivered == MIB, "{label}: delivered grew by {}", after.delivered - before.delivered);
    }

    // Input: the attacher types a line, the container's read returns it.
    let mut attach = control.attach(nsid, 1, false, None)?;
    let mut reader = container.spawn("exec 3<>/dev/tty2 && stty -echo <&3 && read line <&3 && echo \"got:$line\" > /tmp/input.out")?;
    let deadline = Instant::now() + WATCHDOG;
    loop {
        let info = terminal_info(&control, nsid, 1)?;
        if info.open_count > 0 {
            break;
        }
        ensure!(Instant::now() < deadline, "the container never opened tty2");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Wait until stty has run, then type.
    std::thread::sleep(Duration::from_millis(300));
    attach.write_all(b"typed-by-host\r").context("write to the attach file")?;
    let status = reader.wait()?;
    ensure!(status.success(), "the container's read failed");
    let line = std::fs::read_to_string("/tmp/input.out")?;
    ensure!(line.trim() == "got:typed-by-host", "container read {line:?}");
    let _ = std::fs::remove_file(data_path);
    container.stop()
}

/// A forked reader that copies an attach file to `out` with raw syscalls only,
/// so that the test can stop it with SIGSTOP.
struct ForkedReader {
    pid: libc::pid_t,
}

impl ForkedReader {
    fn start(attach: &File, out: &File) -> Result<Self> {
        let (input, output) = (attach.as_raw_fd(), out.as_raw_fd());
        // SAFETY: after fork the child only calls read, write and _exit on
        // descriptors and a stack buffer that exist before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            bail!("fork failed: {}", std::io::Error::last_os_error());
        }
        if pid == 0 {
            let mut buf = [0u8; 4096];
            loop {
                // SAFETY: `buf` is a valid stack buffer.
                let n = unsafe { libc::read(input, buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    // SAFETY: ends the child without running the parent's destructors.
                    unsafe { libc::_exit(0) };
                }
                // SAFETY: writes the `n` bytes just read.
                unsafe { libc::write(output, buf.as_ptr().cast(), n as usize) };
            }
        }
        Ok(Self { pid })
    }

    fn signal(&self, signal: i32) {
        // SAFETY: plain syscall on our child.
        unsafe { libc::kill(self.pid, signal) };
    }
}

impl Drop for ForkedReader {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
        let mut status = 0;
        // SAFETY: reaps our child.
        unsafe { libc::waitpid(self.pid, &mut status, 0) };
    }
}

/// A stopped attacher releases the container's writer after the stall timeout,
/// later output is dropped with exact counts, and delivery resumes once the
/// attacher reads again.
pub fn stalled_attacher_releases_writer() -> Result<()> {
    let control = control()?;
    let container = Container::start("stall")?;
    let nsid = container.register(&control)?;
    let attach = control.attach(nsid, 0, false, Some(300))?;
    let out_path = "/tmp/stall.out";
    let out = File::create(out_path)?;
    let reader = ForkedReader::start(&attach, &out)?;
    reader.signal(libc::SIGSTOP);

    let before = terminal_info(&control, nsid, 0)?;
    let total: u64 = 200_000;
    let output = container.sh_ok(&format!("{}head -c {total} /dev/zero >&3 && echo released", raw("/dev/console")))?;
    ensure!(output.trim() == "released", "the writer was not released: {output:?}");
    let after = terminal_info(&control, nsid, 0)?;
    let written = after.written - before.written;
    let delivered = after.delivered - before.delivered;
    let dropped = after.dropped - before.dropped;
    ensure!(written == total, "written grew by {written}, not {total}");
    ensure!(delivered == 64 * 1024, "delivered {delivered} bytes, not the 64 KiB attach buffer");
    ensure!(dropped == total - delivered, "dropped {dropped}, not {}", total - delivered);
    ensure!(after.stalled, "the terminal is not marked stalled");

    // More output while stalled is dropped, exactly.
    container.sh_ok(&format!("{}head -c 1000 /dev/zero >&3", raw("/dev/console")))?;
    let stalled = terminal_info(&control, nsid, 0)?;
    ensure!(stalled.dropped - after.dropped == 1000, "stalled output: {} dropped", stalled.dropped - after.dropped);

    // The attacher reads again: the buffered 64 KiB arrive, and new output is delivered.
    reader.signal(libc::SIGCONT);
    let deadline = Instant::now() + WATCHDOG;
    while std::fs::metadata(out_path)?.len() < 64 * 1024 {
        ensure!(Instant::now() < deadline, "the resumed reader never drained the buffer");
        std::thread::sleep(Duration::from_millis(50));
    }
    container.sh_ok(&format!("{}head -c 1000 /dev/zero >&3", raw("/dev/console")))?;
    while std::fs::metadata(out_path)?.len() < 64 * 1024 + 1000 {
        ensure!(Instant::now() < deadline, "output after the stall was not delivered");
        std::thread::sleep(Duration::from_millis(50));
    }
    let resumed = terminal_info(&control, nsid, 0)?;
    ensure!(resumed.dropped == stalled.dropped, "output after resuming was dropped");
    ensure!(!resumed.stalled, "the terminal is still marked stalled");
    drop(reader);
    let _ = std::fs::remove_file(out_path);
    container.stop()
}
