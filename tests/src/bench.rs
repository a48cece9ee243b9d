//! The bench's own guest tests. They need no vtty driver: they prove that the guest
//! kernel loads Rust modules and runs aya programs on kernel tracepoints.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::process::Command;

use anyhow::{Context, Result, ensure};
use aya::Ebpf;
use aya::maps::PerCpuArray;
use aya::programs::TracePoint;
use nix::kmod::{DeleteModuleFlags, ModuleInitFlags, delete_module, finit_module};

use crate::harness::Test;

pub const TESTS: &[Test] = &[
    ("rust_minimal_loads_and_unloads", rust_minimal_loads_and_unloads),
    ("tracepoint_counts_exec_events", tracepoint_counts_exec_events),
];

/// The kernel's Rust sample module, which the bench builds and puts in the initramfs.
const RUST_MINIMAL_PATH: &str = "/lib/modules/rust_minimal.ko";
const RUST_MINIMAL: &str = "rust_minimal";

/// Tells whether `/proc/modules` lists a module.
fn module_loaded(name: &str) -> Result<bool> {
    let text = std::fs::read_to_string("/proc/modules").context("reading /proc/modules")?;
    Ok(text.lines().any(|line| line.split_whitespace().next() == Some(name)))
}

/// New records of the kernel log, read through `/dev/kmsg` from the point it was
/// opened.
struct KernelLog(File);

impl KernelLog {
    fn open() -> Result<Self> {
        let mut file = File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .context("opening /dev/kmsg")?;
        file.seek(SeekFrom::End(0)).context("seeking to the end of /dev/kmsg")?;
        Ok(Self(file))
    }

    /// Returns the messages logged since the last call, without their
    /// `level,sequence,time,flags;` prefix.
    fn read_new(&mut self) -> Result<Vec<String>> {
        let mut messages = Vec::new();
        let mut record = vec![0u8; 8192];
        loop {
            // Each read returns one record.
            match self.0.read(&mut record) {
                Ok(0) => break,
                Ok(length) => {
                    let text = String::from_utf8_lossy(&record[..length]);
                    let message = text.split_once(';').map_or(&*text, |(_, message)| message);
                    messages.push(message.trim_end().to_owned());
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                // A record overwritten before it was read; the next read continues.
                Err(error) if error.raw_os_error() == Some(libc::EPIPE) => {}
                Err(error) => return Err(error).context("reading /dev/kmsg"),
            }
        }
        Ok(messages)
    }
}

fn rust_minimal_loads_and_unloads() -> Result<()> {
    ensure!(
        !module_loaded(RUST_MINIMAL)?,
        "{RUST_MINIMAL} is already loaded before the test; unload it with `rmmod {RUST_MINIMAL}`"
    );
    let mut kernel_log = KernelLog::open()?;
    let module = File::open(RUST_MINIMAL_PATH).with_context(|| format!("opening {RUST_MINIMAL_PATH}"))?;
    finit_module(&module, c"", ModuleInitFlags::empty())
        .with_context(|| format!("finit_module({RUST_MINIMAL_PATH})"))?;
    let listed = module_loaded(RUST_MINIMAL)?;
    let init_messages = kernel_log.read_new()?;
    // Unload before checking, so that a failed check leaves no module behind.
    let unloaded = delete_module(c"rust_minimal", DeleteModuleFlags::O_NONBLOCK);

    ensure!(listed, "{RUST_MINIMAL} is missing from /proc/modules after finit_module");
    ensure!(
        init_messages.iter().any(|message| message.contains("Rust minimal sample (init)")),
        "the module's init did not log `Rust minimal sample (init)`; the kernel logged {init_messages:?}"
    );
    unloaded.with_context(|| format!("delete_module({RUST_MINIMAL})"))?;
    ensure!(
        !module_loaded(RUST_MINIMAL)?,
        "{RUST_MINIMAL} is still in /proc/modules after delete_module"
    );
    let exit_messages = kernel_log.read_new()?;
    ensure!(
        exit_messages.iter().any(|message| message.contains("Rust minimal sample (exit)")),
        "the module's exit did not log `Rust minimal sample (exit)`; the kernel logged {exit_messages:?}"
    );
    Ok(())
}

/// Execs the test triggers; the count must reach at least this many.
const EXECS: u64 = 8;

fn exec_count(counts: &PerCpuArray<&aya::maps::MapData, u64>) -> Result<u64> {
    let values = counts.get(&0, 0).context("reading EXEC_COUNT[0]")?;
    Ok(values.iter().sum())
}

fn tracepoint_counts_exec_events() -> Result<()> {
    let mut ebpf = Ebpf::load(vtty_ctl::objects::SELFTEST).context("loading the self-test eBPF object")?;
    let program: &mut TracePoint = ebpf
        .program_mut("count_exec")
        .context("the self-test object has no program count_exec")?
        .try_into()
        .context("count_exec is not a tracepoint program")?;
    program.load().context("loading count_exec into the kernel")?;
    program
        .attach("sched", "sched_process_exec")
        .context("attaching count_exec to sched:sched_process_exec")?;
    let map = ebpf.map("EXEC_COUNT").context("the self-test object has no map EXEC_COUNT")?;
    let counts: PerCpuArray<_, u64> = PerCpuArray::try_from(map).context("EXEC_COUNT is not a per-CPU array of u64")?;

    let before = exec_count(&counts)?;
    ensure!(before == 0, "EXEC_COUNT is {before} before any exec was triggered; expected 0");
    for run in 0..EXECS {
        let status = Command::new("/bin/true")
            .status()
            .with_context(|| format!("running /bin/true (exec {run})"))?;
        ensure!(status.success(), "/bin/true exited with {status}");
    }
    let after = exec_count(&counts)?;
    ensure!(
        after >= EXECS,
        "EXEC_COUNT is {after} after {EXECS} execs of /bin/true; expected at least {EXECS}"
    );
    Ok(())
}
