//! Guest tests of the probes against the real driver: exact counts, the event
//! stream, key deletion, pinning and unload.
//!
//! Each test makes its own containers: a busybox shell as pid 1 of new pid and
//! mount namespaces, registered with the driver, opening device nodes 5:1 and 4:N
//! made in a scratch directory, with its terminals in raw mode so that byte counts
//! are exact. The shell runs commands sent over a pipe and answers `ok` for each.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use vtty_common::abi::VTTY_TERMINALS;
use vtty_common::probe::{DETACH_CLOSED, EventKind, TerminalKey, UNREGISTER_IOCTL};
use vtty_ctl::driver::Control;
use vtty_ctl::probes::debugfs::{self, CONTAINERS_FILE};
use vtty_ctl::probes::{Acquire, EventDetail, Origin, ProbeEvent, ProbePaths, Probes};

/// A named guest test.
pub type GuestTest = (&'static str, fn() -> Result<()>);

/// The probe tests, by name.
pub const TESTS: &[GuestTest] = &[
    ("probes_dropped_bytes_match_driver", dropped_bytes_match_driver),
    ("probes_delivered_bytes_match_driver", delivered_bytes_match_driver),
    ("probes_open_close_counts_exact", open_close_counts_exact),
    ("probes_lifecycle_events_in_order", lifecycle_events_in_order),
    ("probes_pins_survive_and_unload", pins_survive_and_unload),
];

/// Watchdog of every wait: far above the expected time, it only turns a hang into
/// a failure.
const WATCHDOG: Duration = Duration::from_secs(60);

/// The container's command loop; `$1` is the directory of its device nodes.
const CONTAINER_SCRIPT: &str = r#"
D="$1"
echo ready
while read -r cmd fd arg; do
  case "$cmd" in
    open) if eval "exec $fd<>\"\$D/$arg\"" && eval "stty raw -echo <&$fd"; then echo ok; else echo "err open $arg"; fi ;;
    write) if eval "head -c $arg /dev/zero >&$fd"; then echo ok; else echo "err write $arg"; fi ;;
    close) if eval "exec $fd>&-"; then echo ok; else echo "err close $fd"; fi ;;
    exit) exit 0 ;;
    *) echo "err unknown command $cmd" ;;
  esac
done
"#;

/// A registered test container.
struct Container {
    name: String,
    nsid: u64,
    init: Pid,
    commands: File,
    replies: BufReader<File>,
    nodes: PathBuf,
    control: Control,
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe().context("pipe(2) failed")
}

impl Container {
    /// Starts a shell as pid 1 of new pid and mount namespaces and registers it.
    fn start(name: &str) -> Result<Self> {
        let nodes = std::env::temp_dir().join(format!("vtty-probes-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&nodes).with_context(|| format!("creating {}", nodes.display()))?;
        make_nodes(&nodes)?;

        let (command_read, command_write) = pipe()?;
        let (reply_read, reply_write) = pipe()?;
        let shell = CString::new("/bin/sh")?;
        let argv = [
            CString::new("sh")?,
            CString::new("-c")?,
            CString::new(CONTAINER_SCRIPT)?,
            CString::new("vtty-container")?,
            CString::new(nodes.to_string_lossy().as_bytes())?,
        ];
        let argv_pointers: Vec<*const libc::c_char> =
            argv.iter().map(|arg| arg.as_ptr()).chain(std::iter::once(std::ptr::null())).collect();
        let (stdin_fd, stdout_fd) = (command_read.as_raw_fd(), reply_write.as_raw_fd());
        let mut stack = vec![0u8; 256 * 1024];
        let child = Box::new(|| {
            // SAFETY: only async-signal-safe calls between clone and exec; the
            // strings and pointer array were built before the clone.
            unsafe {
                libc::dup2(stdin_fd, 0);
                libc::dup2(stdout_fd, 1);
                libc::execv(shell.as_ptr(), argv_pointers.as_ptr());
                libc::_exit(127)
            }
        });
        let flags = nix::sched::CloneFlags::CLONE_NEWPID | nix::sched::CloneFlags::CLONE_NEWNS;
        // SAFETY: the child runs only the closure above, which execs or exits.
        let init = unsafe { nix::sched::clone(child, &mut stack, flags, Some(libc::SIGCHLD)) }
            .context("clone(CLONE_NEWPID | CLONE_NEWNS) failed")?;
        drop(command_read);
        drop(reply_write);

        let commands = File::from(command_write);
        let replies = BufReader::new(File::from(reply_read));
        let control = Control::open().context("opening /dev/vtty failed")?;
        let mut container =
            Self { name: name.to_owned(), nsid: 0, init, commands, replies, nodes, control };
        container.expect_reply("ready")?;

        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, init.as_raw(), 0) };
        ensure!(pidfd >= 0, "pidfd_open({init}) failed: {}", std::io::Error::last_os_error());
        // SAFETY: pidfd_open returned a new descriptor that nothing else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
        container.nsid = container
            .control
            .register(pidfd.as_raw_fd(), name)
            .with_context(|| format!("registering container {name} failed"))?;
        Ok(container)
    }

    fn expect_reply(&mut self, expected: &str) -> Result<()> {
        let mut line = String::new();
        self.replies.read_line(&mut line).context("reading the container's reply failed")?;
        ensure!(
            line.trim() == expected,
            "container {} replied {:?}, expected {expected:?}",
            self.name,
            line.trim()
        );
        Ok(())
    }

    fn run(&mut self, command: &str) -> Result<()> {
        writeln!(self.commands, "{command}")
            .context("sending a command to the container failed")?;
        self.expect_reply("ok").with_context(|| format!("command {command:?}"))
    }

    /// Opens terminal `index` on descriptor `fd` (3..=9) in raw mode.
    fn open(&mut self, fd: u32, index: u32) -> Result<()> {
        self.run(&format!("open {fd} {}", vtty_ctl::driver::terminal_name(index)))
    }

    fn write(&mut self, fd: u32, bytes: usize) -> Result<()> {
        self.run(&format!("write {fd} {bytes}"))
    }

    fn close(&mut self, fd: u32) -> Result<()> {
        self.run(&format!("close {fd}"))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = writeln!(self.commands, "exit 0 0");
        let _ = kill(self.init, Signal::SIGKILL);
        let _ = waitpid(self.init, None);
        let _ = std::fs::remove_dir_all(&self.nodes);
    }
}

/// Makes `console` (5:1) and `tty2`..`tty12` (4:2..4:12) in `dir`.
fn make_nodes(dir: &Path) -> Result<()> {
    let mode = Mode::from_bits_truncate(0o600);
    mknod(&dir.join("console"), SFlag::S_IFCHR, mode, makedev(5, 1)).context("mknod console")?;
    for index in 1..VTTY_TERMINALS {
        let name = vtty_ctl::driver::terminal_name(index);
        mknod(&dir.join(&name), SFlag::S_IFCHR, mode, makedev(4, u64::from(index + 1)))
            .with_context(|| format!("mknod {name}"))?;
    }
    Ok(())
}

/// The probes, loaded for this process unless pinned ones exist.
fn probes() -> Result<Probes> {
    vtty_ctl::probes::open(&ProbePaths::default(), Acquire::ReuseOrLoadPrivate)
        .context("loading the probes failed")
}

/// Checks that the probes' byte totals of `nsid` equal the driver's debugfs totals.
fn assert_match_debugfs(probes: &Probes, nsid: u64) -> Result<()> {
    let driver = debugfs::read_containers(Path::new(CONTAINERS_FILE))?;
    ensure!(driver.contains_key(&nsid), "debugfs does not list nsid {nsid}");
    let mismatches = debugfs::compare(&probes.counters()?, &driver, [nsid]);
    ensure!(mismatches.is_empty(), "probes and driver disagree: {mismatches:?}");
    Ok(())
}

fn dropped_bytes_match_driver() -> Result<()> {
    let probes = probes()?;
    let mut container = Container::start("drop")?;
    container.open(3, 0)?;
    for bytes in [1, 100, 5000] {
        container.write(3, bytes)?;
    }
    let counted =
        probes.counters()?.get(&TerminalKey::new(container.nsid, 0)).copied().unwrap_or_default();
    ensure!(
        counted.bytes_dropped == 5101,
        "dropped {} bytes, wrote 5101 with nobody attached",
        counted.bytes_dropped
    );
    ensure!(counted.bytes_written == 5101, "written {}, expected 5101", counted.bytes_written);
    ensure!(counted.bytes_delivered == 0, "delivered {}, expected 0", counted.bytes_delivered);
    ensure!(counted.writes >= 3, "{} write calls, expected at least 3", counted.writes);
    assert_match_debugfs(&probes, container.nsid)
}

/// Reads exactly `total` bytes from an attach file.
fn read_exactly(attach: &mut File, total: usize) -> Result<()> {
    let deadline = Instant::now() + WATCHDOG;
    let mut received = 0;
    let mut buffer = [0u8; 4096];
    while received < total {
        ensure!(
            Instant::now() < deadline,
            "received {received} of {total} bytes before the watchdog"
        );
        let mut poll = [libc::pollfd { fd: attach.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
        // SAFETY: `poll` is a valid array of one pollfd.
        let ready = unsafe { libc::poll(poll.as_mut_ptr(), 1, 1000) };
        if ready <= 0 {
            continue;
        }
        let read = attach.read(&mut buffer).context("reading the attach file failed")?;
        ensure!(read > 0, "the attach file reached EOF after {received} bytes");
        received += read;
    }
    ensure!(received == total, "received {received} bytes, expected {total}");
    Ok(())
}

fn delivered_bytes_match_driver() -> Result<()> {
    let probes = probes()?;
    let mut container = Container::start("deliver")?;
    container.open(3, 1)?;
    let mut attach =
        container.control.attach(container.nsid, 1, false, None).context("attach failed")?;
    let total = 3000;
    writeln!(container.commands, "write 3 {total}")?;
    read_exactly(&mut attach, total)?;
    container.expect_reply("ok")?;
    let counted =
        probes.counters()?.get(&TerminalKey::new(container.nsid, 1)).copied().unwrap_or_default();
    ensure!(
        counted.bytes_delivered == 3000,
        "delivered {}, the attacher read 3000",
        counted.bytes_delivered
    );
    ensure!(counted.bytes_dropped == 0, "dropped {}, expected 0", counted.bytes_dropped);
    ensure!(counted.attaches == 1, "{} attaches, expected 1", counted.attaches);
    assert_match_debugfs(&probes, container.nsid)
}

fn open_close_counts_exact() -> Result<()> {
    let probes = probes()?;
    let mut first = Container::start("counts-a")?;
    let mut second = Container::start("counts-b")?;
    first.open(3, 0)?;
    first.open(4, 0)?;
    first.open(5, 3)?;
    first.close(4)?;
    second.open(3, 0)?;
    second.close(3)?;

    let counters = probes.counters()?;
    let open_counts = probes.open_counts()?;
    let expected = [(first.nsid, 0, 2, 1, 1), (first.nsid, 3, 1, 0, 1), (second.nsid, 0, 1, 1, 0)];
    for (nsid, index, opens, closes, open_now) in expected {
        let key = TerminalKey::new(nsid, index);
        let counted = counters.get(&key).copied().unwrap_or_default();
        ensure!(
            counted.opens == opens,
            "nsid {nsid} index {index}: {} opens, expected {opens}",
            counted.opens
        );
        ensure!(
            counted.closes == closes,
            "nsid {nsid} index {index}: {} closes, expected {closes}",
            counted.closes
        );
        let count = open_counts.get(&key).copied();
        ensure!(
            count == Some(open_now),
            "nsid {nsid} index {index}: open count {count:?}, expected {open_now}"
        );
    }
    let untouched = TerminalKey::new(first.nsid, 1);
    ensure!(!counters.contains_key(&untouched), "terminal 1 was never opened but has counters");
    Ok(())
}

/// Collects the events of `nsid` until `count` have arrived.
fn events_of(
    events: &mut vtty_ctl::probes::BlockingEvents,
    nsid: u64,
    count: usize,
) -> Result<Vec<ProbeEvent>> {
    let deadline = Instant::now() + WATCHDOG;
    let mut found = Vec::new();
    while found.len() < count {
        ensure!(
            Instant::now() < deadline,
            "only {} of {count} events arrived: {found:?}",
            found.len()
        );
        if let Some(event) = events.next_timeout(Duration::from_secs(1))?
            && event.nsid == nsid
        {
            found.push(event);
        }
    }
    Ok(found)
}

fn lifecycle_events_in_order() -> Result<()> {
    let mut probes = probes()?;
    let mut events = probes.blocking_events()?;
    let mut container = Container::start("lifecycle")?;
    let nsid = container.nsid;
    container.open(3, 0)?;
    let attach = container.control.attach(nsid, 0, false, None).context("attach failed")?;
    drop(attach);
    container.close(3)?;
    container.control.unregister(nsid).context("unregister failed")?;

    let received = events_of(&mut events, nsid, 7)?;
    let kinds: Vec<EventKind> = received.iter().map(ProbeEvent::kind).collect();
    let expected = [
        EventKind::Register,
        EventKind::Install,
        EventKind::Open,
        EventKind::Attach,
        EventKind::Detach,
        EventKind::Close,
        EventKind::Unregister,
    ];
    ensure!(kinds == expected, "events arrived as {kinds:?}, expected {expected:?}");
    ensure!(
        received[0].detail
            == EventDetail::Register {
                init_pid: container.init.as_raw(),
                name: "lifecycle".to_owned()
            },
        "register event {:?}",
        received[0].detail
    );
    ensure!(
        received[2].detail == EventDetail::Open { count: 1 },
        "open event {:?}",
        received[2].detail
    );
    ensure!(
        received[4].detail == EventDetail::Detach { reason: DETACH_CLOSED },
        "detach {:?}",
        received[4].detail
    );
    ensure!(
        received[5].detail == EventDetail::Close { count: 0 },
        "close event {:?}",
        received[5].detail
    );
    ensure!(
        received[6].detail == EventDetail::Unregister { reason: UNREGISTER_IOCTL },
        "{:?}",
        received[6].detail
    );
    ensure!(
        received.windows(2).all(|pair| pair[0].timestamp_ns <= pair[1].timestamp_ns),
        "timestamps go back"
    );

    let left: Vec<TerminalKey> =
        probes.counters()?.into_keys().filter(|key| key.nsid == nsid).collect();
    ensure!(left.is_empty(), "counter keys left after unregister: {left:?}");
    let left: Vec<TerminalKey> =
        probes.open_counts()?.into_keys().filter(|key| key.nsid == nsid).collect();
    ensure!(left.is_empty(), "open-count keys left after unregister: {left:?}");
    ensure!(!probes.containers()?.contains_key(&nsid), "container record left after unregister");
    ensure!(events.malformed() == 0, "{} undecodable events", events.malformed());
    Ok(())
}

/// Program ids of the pinned links, by tracepoint.
fn pinned_programs() -> Result<BTreeMap<&'static str, u32>> {
    let status = vtty_ctl::probes::status(&ProbePaths::default())?;
    ensure!(status.pinned, "the probes are not pinned: {status:?}");
    Ok(status.links.iter().map(|link| (link.event, link.program_id)).collect())
}

/// Where the guest keeps the driver module.
fn module_path() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("VTTY_MODULE") {
        return Ok(PathBuf::from(path));
    }
    ["/vtty.ko", "/lib/modules/vtty.ko", "/modules/vtty.ko"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
        .context("vtty.ko not found in /, /lib/modules or /modules; set VTTY_MODULE to its path")
}

fn delete_module(name: &str) -> std::io::Result<()> {
    let name = CString::new(name).map_err(std::io::Error::other)?;
    // SAFETY: delete_module takes a NUL-terminated name and flags.
    let result = unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) };
    if result == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

fn insert_module(path: &Path) -> Result<()> {
    let module = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let params = CString::default();
    // SAFETY: finit_module takes an open module file, NUL-terminated parameters and
    // flags.
    let result =
        unsafe { libc::syscall(libc::SYS_finit_module, module.as_raw_fd(), params.as_ptr(), 0) };
    ensure!(
        result == 0,
        "finit_module({}) failed: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
    Ok(())
}

fn pins_survive_and_unload() -> Result<()> {
    let paths = ProbePaths::default();
    let module = module_path()?;
    vtty_ctl::probes::unload(&paths)?;

    let loaded = vtty_ctl::probes::open(&paths, Acquire::ReuseOrLoadPinned)?;
    ensure!(
        loaded.origin() == Origin::LoadedPinned,
        "expected a fresh pinned load, got {:?}",
        loaded.origin()
    );
    drop(loaded);
    let programs = pinned_programs()?;
    ensure!(programs.len() == 8, "{} pinned links, expected 8", programs.len());

    // The loader's handle is gone; the pinned probes still count.
    {
        let mut container = Container::start("pinned")?;
        container.open(3, 0)?;
        container.write(3, 10)?;
        let reused = vtty_ctl::probes::open(&paths, Acquire::ReuseOrLoadPinned)?;
        ensure!(
            reused.origin() == Origin::Reused,
            "second load gave {:?}, expected reuse",
            reused.origin()
        );
        let counted = reused
            .counters()?
            .get(&TerminalKey::new(container.nsid, 0))
            .copied()
            .unwrap_or_default();
        ensure!(
            counted.bytes_dropped == 10,
            "pinned probes counted {} dropped bytes, expected 10",
            counted.bytes_dropped
        );
    }
    ensure!(pinned_programs()? == programs, "reusing the probes changed the pinned programs");

    let busy = delete_module("vtty");
    ensure!(busy.is_err(), "rmmod vtty succeeded while the probes were pinned");

    let unloaded = vtty_ctl::probes::unload(&paths)?;
    ensure!(!unloaded.removed.is_empty(), "unload removed nothing");
    ensure!(!paths.pin_dir().exists(), "{} still exists after unload", paths.pin_dir().display());

    // Detached links release the module after an RCU grace period, and a container
    // whose init exited releases it from a work item; retry until the module goes,
    // and only a hang runs into the watchdog. delete_module(O_NONBLOCK) fails with
    // EWOULDBLOCK while the module's reference count is not zero.
    let deadline = Instant::now() + WATCHDOG;
    loop {
        match delete_module("vtty") {
            Ok(()) => break,
            Err(error)
                if Instant::now() < deadline
                    && matches!(error.raw_os_error(), Some(libc::EWOULDBLOCK | libc::EBUSY)) =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(error) => bail!("rmmod vtty after unload failed: {error}"),
        }
    }
    insert_module(&module)
}
