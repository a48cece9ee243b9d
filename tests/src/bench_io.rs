//! Benchmarks of the driver against a devpts pty pair, in the same guest and run.
//!
//! Each case times the same workload twice: through a vtty terminal and through a
//! pty pair, both written by busybox `head` in raw mode. The result is the ratio
//! of the two medians, so the speed of the (emulated) machine cancels out.

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, IntoRawFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use crate::container::Container;
use crate::driver::{control, raw, terminal_info};

/// Bytes each run writes.
const BYTES: u64 = 8 * 1024 * 1024;
/// Runs per side; the median is reported.
const RUNS: usize = 3;

/// One benchmark result.
pub struct Measurement {
    /// What was measured.
    pub name: &'static str,
    /// Median wall time through vtty.
    pub vtty: Duration,
    /// Median wall time through the pty pair.
    pub peer: Duration,
}

impl Measurement {
    /// vtty's time over the pty pair's time: below 1 means vtty was faster.
    pub fn ratio(&self) -> f64 {
        self.vtty.as_secs_f64() / self.peer.as_secs_f64()
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Reads `count` bytes from `file`, failing on EOF.
fn drain(file: &mut File, count: u64) -> Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    while total < count {
        let n = file.read(&mut buf).context("read")?;
        ensure!(n > 0, "EOF after {total} of {count} bytes");
        total += n as u64;
    }
    Ok(())
}

/// Times `head -c BYTES /dev/zero` into a pty slave in raw mode while this
/// process reads the master.
fn pty_run() -> Result<Duration> {
    let master = nix::pty::posix_openpt(nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY)?;
    nix::pty::grantpt(&master)?;
    nix::pty::unlockpt(&master)?;
    let slave_path = nix::pty::ptsname_r(&master)?;
    // SAFETY: takes over the descriptor from `master`.
    let mut master = unsafe { File::from_raw_fd(master.into_raw_fd()) };
    let slave = File::options().read(true).write(true).open(&slave_path)?;
    let start = Instant::now();
    let mut writer = Command::new("/bin/busybox")
        .args(["sh", "-c", &format!("stty raw -echo && head -c {BYTES} /dev/zero")])
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave))
        .spawn()
        .context("spawn the pty writer")?;
    drain(&mut master, BYTES)?;
    let elapsed = start.elapsed();
    ensure!(writer.wait()?.success(), "the pty writer failed");
    Ok(elapsed)
}

/// Runs every benchmark.
pub fn run() -> Result<Vec<Measurement>> {
    let control = control()?;
    let container = Container::start("bench")?;
    let nsid = container.register(&control)?;
    let script = format!("{}head -c {BYTES} /dev/zero >&3", raw("/dev/console"));

    // Output to an attached reader: every byte delivered.
    let mut vtty = Vec::new();
    let mut peer = Vec::new();
    for _ in 0..RUNS {
        let mut attach = control.attach(nsid, 0, false, Some(60_000))?;
        let start = Instant::now();
        let mut writer = container.spawn(&script)?;
        drain(&mut attach, BYTES)?;
        vtty.push(start.elapsed());
        ensure!(writer.wait()?.success(), "the container's writer failed");
        drop(attach);
        peer.push(pty_run()?);
    }
    let attached = Measurement { name: "attached output, 8 MiB", vtty: median(vtty), peer: median(peer) };

    // Output nobody reads: vtty drops it, the pty pair needs a reader.
    let mut vtty = Vec::new();
    let mut peer = Vec::new();
    for _ in 0..RUNS {
        let before = terminal_info(&control, nsid, 0)?.dropped;
        let start = Instant::now();
        container.sh_ok(&script)?;
        vtty.push(start.elapsed());
        let dropped = terminal_info(&control, nsid, 0)?.dropped - before;
        ensure!(dropped == BYTES, "dropped {dropped} bytes, not {BYTES}");
        peer.push(pty_run()?);
    }
    let detached = Measurement { name: "unread output, 8 MiB", vtty: median(vtty), peer: median(peer) };
    container.stop()?;
    Ok(vec![attached, detached])
}

/// Prints one `bench` line per measurement, the format `cargo xtask bench` parses.
pub fn print(measurements: &[Measurement]) {
    for m in measurements {
        println!(
            "bench name={:?} vtty_ms={:.1} pty_ms={:.1} ratio={:.3}",
            m.name,
            m.vtty.as_secs_f64() * 1000.0,
            m.peer.as_secs_f64() * 1000.0,
            m.ratio()
        );
    }
}
