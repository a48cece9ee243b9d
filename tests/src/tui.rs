//! Guest test of `vtty-top`: the dashboard runs under a pseudo-terminal next to
//! real containers, and its screen, parsed with the `vt100` crate, shows the
//! counters the driver holds for them.
//!
//! Each container is registered with `/dev/vtty`, and a process in it opens its
//! `/dev/console`, puts it in raw mode (so the driver counts exactly the bytes
//! written) and writes a known number of bytes while nobody is attached, so all
//! of them are dropped. The dashboard
//! loads the probes itself when none are pinned, so lifecycle events of a
//! container registered while it runs appear in its event pane.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use nix::pty::{OpenptyResult, Winsize, openpty};
use nix::sys::termios::{LocalFlags, tcgetattr};
use vtty_ctl::driver::Control;

use crate::container::Container;
use crate::harness::Test;

/// The guest's busybox, which provides `setsid`.
const BUSYBOX: &str = "/bin/busybox";

/// Cgroup roots of the guest: the v1 devices hierarchy and cgroup v2.
const CGROUP_ROOTS: [&str; 2] = ["/sys/fs/cgroup/devices", "/sys/fs/cgroup/unified"];

/// Rows and columns of the pseudo-terminal the dashboard draws on.
const ROWS: u16 = 30;
const COLUMNS: u16 = 100;

/// Watchdog for every wait: far above the few seconds the steps take under TCG,
/// it only turns a hang into a failure.
const WATCHDOG: Duration = Duration::from_secs(120);

pub const TESTS: &[Test] = &[("tui_shows_real_counters", dashboard_shows_real_counters)];

/// Checks the dashboard against two containers that wrote 3000 and 5000 bytes to
/// their consoles. The list and the detail view show those drops, the driver
/// agrees, and `q` restores the terminal.
pub fn dashboard_shows_real_counters() -> Result<()> {
    let control = Control::open().context("opening /dev/vtty (is the driver loaded?)")?;
    let first = Writer::start(&control, "tui-ct1", 3000)?;
    first.isolate_in_cgroups()?;
    let second = Writer::start(&control, "tui-ct2", 5000)?;
    let result = check_dashboard(&control, &first, &second);
    let stopped = first.stop().and(second.stop());
    result.and(stopped)
}

fn check_dashboard(control: &Control, first: &Writer, second: &Writer) -> Result<()> {
    let mut top = Dashboard::start()?;

    // The list: one row per container with 1 of 12 terminals open and the exact
    // dropped total (below 10 000 the dashboard prints bytes without a unit).
    for container in [first, second] {
        let row = top.wait_for_row(&container.name)?;
        let fields: Vec<&str> = row.split_whitespace().collect();
        ensure!(
            fields.contains(&"1/12"),
            "row of {} shows no 1/12 open terminals: {row:?}",
            container.name
        );
        let dropped = container.bytes.to_string();
        ensure!(
            fields.contains(&dropped.as_str()),
            "row of {} lacks dropped total {dropped}: {row:?}",
            container.name
        );
        ensure!(
            row.contains(&container.nsid.to_string()),
            "row of {} lacks nsid {}: {row:?}",
            container.name,
            container.nsid
        );
    }

    // The driver's own counters are the ones shown.
    let listed = control.list().context("VTTY_IOC_LIST")?;
    for container in [first, second] {
        let info = listed
            .iter()
            .find(|info| info.nsid == container.nsid)
            .with_context(|| format!("driver does not list {}", container.name))?;
        ensure!(
            info.terminals[0].dropped == container.bytes,
            "driver counts {} dropped for {}",
            info.terminals[0].dropped,
            container.name
        );
    }

    // A container registered while the dashboard runs shows up in the event pane
    // as it happens: its registration, then the open of its console.
    let third = Writer::start(control, "tui-ct3", 100)?;
    let registered =
        top.wait_for_line(|line| line.contains(" register ") && line.contains(&third.name));
    let opened = top.wait_for_line(|line| line.contains(" open ") && line.contains(&third.name));
    let stopped = third.stop();
    registered?;
    opened?;
    stopped?;

    // The detail view of the first container, reached through the filter so that
    // containers of other tests cannot be in the way: the console row shows the
    // bytes written, none delivered, all dropped.
    top.send(format!("/{}\r\r", first.name).as_bytes())?;
    top.wait_for_line(|line| line.contains(&format!("{} · nsid {}", first.name, first.nsid)))?;
    let console = top.wait_for_line(|line| {
        line.trim_start_matches(['│', '>', ' '])
            .starts_with("console ")
    })?;
    let fields: Vec<&str> = console
        .trim_matches(['│', ' '])
        .trim_start_matches('>')
        .split_whitespace()
        .collect();
    let bytes = first.bytes.to_string();
    // TTY OPEN ATT OPENS CLOSES WRITES WRITTEN DELIVERED DROPPED B/s DROP/s
    ensure!(
        fields.len() >= 9,
        "console row has too few columns: {console:?}"
    );
    ensure!(
        fields[1] == "1",
        "console open count is {}, expected 1: {console:?}",
        fields[1]
    );
    ensure!(
        fields[6] == bytes,
        "console written is {}, expected {bytes}: {console:?}",
        fields[6]
    );
    ensure!(
        fields[7] == "0",
        "console delivered is {}, expected 0: {console:?}",
        fields[7]
    );
    ensure!(
        fields[8] == bytes,
        "console dropped is {}, expected {bytes}: {console:?}",
        fields[8]
    );
    top.wait_for_line(|line| line.contains("tty12"))?;

    // Deny and allow from the detail view ask first, then run the policy library
    // on the container's own cgroups and show the verified result.
    for (key, verb) in [(b"d", "deny"), (b"a", "allow")] {
        top.send(key)?;
        let question = format!("{}{} {}?", verb[..1].to_uppercase(), &verb[1..], first.name);
        top.wait_for_line(|line| line.contains(&question))?;
        top.send(b"y")?;
        let done = format!("{verb} {} (nsid {})", first.name, first.nsid);
        let result = top.wait_for_line(|line| {
            line.starts_with(&done) && (line.contains(": changed") || line.contains(" failed:"))
        })?;
        ensure!(
            result.contains("; verified"),
            "{verb} did not succeed: {result:?}"
        );
    }

    top.quit()
}

/// A registered container with a process that wrote `bytes` bytes to its
/// raw-mode console and keeps the console open.
struct Writer {
    container: Container,
    name: String,
    nsid: u64,
    bytes: u64,
    process: Child,
}

impl Writer {
    /// Starts and registers the container, starts its writer and waits until the
    /// driver counts every byte as dropped.
    fn start(control: &Control, name: &str, bytes: u64) -> Result<Self> {
        let container = Container::start(name)?;
        let nsid = container.register(control)?;
        let script = format!(
            "exec 3<>/dev/console && stty raw -echo <&3 && head -c {bytes} /dev/zero >&3 \
             && exec sleep 2147483647"
        );
        let process = container.spawn(&script)?;
        let writer = Self {
            container,
            name: name.to_owned(),
            nsid,
            bytes,
            process,
        };
        writer.wait_until_counted(control)?;
        Ok(writer)
    }

    /// Polls the driver until the console shows the bytes dropped and one open file.
    fn wait_until_counted(&self, control: &Control) -> Result<()> {
        let deadline = Instant::now() + WATCHDOG;
        loop {
            let listed = control.list().context("VTTY_IOC_LIST")?;
            let console = listed
                .iter()
                .find(|info| info.nsid == self.nsid)
                .and_then(|info| info.terminals.first())
                .with_context(|| format!("the driver does not list {}", self.name))?;
            if console.dropped == self.bytes && console.open_count == 1 {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "{}: the driver counts {} dropped and {} open, expected {} and 1",
                self.name,
                console.dropped,
                console.open_count,
                self.bytes
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Moves every process of the container into cgroups of its own, `/NAME` in
    /// the v1 devices hierarchy and in cgroup v2, so that allow and deny can set
    /// device rules for it alone.
    fn isolate_in_cgroups(&self) -> Result<()> {
        let tasks = vtty_ctl::pidns::scan().context("reading the processes in /proc")?;
        let init = self.container.init_pid;
        let level1 = tasks
            .iter()
            .find(|task| task.pid == init)
            .and_then(|task| task.level1)
            .with_context(|| format!("init {init} of {} has no pid namespace", self.name))?;
        let pids: Vec<i32> = tasks
            .iter()
            .filter(|task| task.level1 == Some(level1))
            .map(|task| task.pid)
            .collect();
        for dir in self.cgroup_dirs() {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for pid in &pids {
                let procs = dir.join("cgroup.procs");
                std::fs::write(&procs, pid.to_string())
                    .with_context(|| format!("moving pid {pid} into {}", procs.display()))?;
            }
        }
        Ok(())
    }

    fn cgroup_dirs(&self) -> [PathBuf; 2] {
        CGROUP_ROOTS.map(|root| PathBuf::from(root).join(&self.name))
    }

    /// Stops the container, which ends its writer, reaps the writer and removes
    /// the container's cgroups if it had any.
    fn stop(mut self) -> Result<()> {
        let dirs = self.cgroup_dirs();
        self.container.stop()?;
        self.process.wait().context("waiting for the writer")?;
        for dir in dirs.iter().filter(|dir| dir.exists()) {
            remove_cgroup(dir)?;
        }
        Ok(())
    }
}

/// Removes an empty cgroup, retrying while the kernel still releases the exited
/// processes (`EBUSY`).
fn remove_cgroup(dir: &Path) -> Result<()> {
    let deadline = Instant::now() + WATCHDOG;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(error)
                if error.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(error) => return Err(error).with_context(|| format!("removing {}", dir.display())),
        }
    }
}

/// `vtty-top` running on a pseudo-terminal, with its screen parsed as it draws.
struct Dashboard {
    child: Child,
    master: File,
    slave: OwnedFd,
    output: mpsc::Receiver<Vec<u8>>,
    parser: vt100::Parser,
}

impl Dashboard {
    fn start() -> Result<Self> {
        let size = Winsize {
            ws_row: ROWS,
            ws_col: COLUMNS,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let OpenptyResult { master, slave } = openpty(Some(&size), None).context("openpty")?;
        let binary = vtty_top_path();
        // `setsid -c` starts a new session with the pty as its controlling terminal,
        // so `/dev/tty` in vtty-top is the pty, as for a login shell.
        let mut command = Command::new(BUSYBOX);
        command
            .args(["setsid", "-c"])
            .arg(&binary)
            .args(["--interval", "200ms"])
            .env("TERM", "xterm-256color")
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave.try_clone()?));
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;

        let master = File::from(master);
        let mut reader = master.try_clone()?;
        let (sender, output) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read) = reader.read(&mut buffer) {
                if read == 0 || sender.send(buffer[..read].to_vec()).is_err() {
                    return;
                }
            }
        });
        Ok(Self {
            child,
            master,
            slave,
            output,
            parser: vt100::Parser::new(ROWS, COLUMNS, 0),
        })
    }

    fn send(&mut self, keys: &[u8]) -> Result<()> {
        self.master
            .write_all(keys)
            .context("writing keys to the pty")
    }

    fn screen_lines(&self) -> Vec<String> {
        self.parser.screen().rows(0, COLUMNS).collect()
    }

    /// Feeds output into the parser until a screen line satisfies `found`.
    fn wait_for_line(&mut self, found: impl Fn(&str) -> bool) -> Result<String> {
        let deadline = Instant::now() + WATCHDOG;
        loop {
            if let Some(line) = self.screen_lines().into_iter().find(|line| found(line)) {
                return Ok(line);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(bytes) => self.parser.process(&bytes),
                Err(_) => bail!(
                    "the expected line never appeared; screen:\n{}",
                    self.screen_lines().join("\n")
                ),
            }
        }
    }

    /// Waits for the list row of the container `name`, with its counters filled.
    fn wait_for_row(&mut self, name: &str) -> Result<String> {
        self.wait_for_line(|line| {
            let mut fields = line
                .trim_matches(['│', ' '])
                .trim_start_matches('>')
                .split_whitespace();
            fields.next() == Some(name)
        })
    }

    /// Presses `q` and checks the exit status and the restored terminal.
    fn quit(mut self) -> Result<()> {
        self.send(b"q")?;
        let deadline = Instant::now() + WATCHDOG;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            ensure!(Instant::now() < deadline, "vtty-top did not exit after q");
            if let Ok(bytes) = self.output.recv_timeout(Duration::from_millis(50)) {
                self.parser.process(&bytes);
            }
        };
        while let Ok(bytes) = self.output.try_recv() {
            self.parser.process(&bytes);
        }
        ensure!(status.success(), "vtty-top exited with {status}");
        ensure!(
            !self.parser.screen().alternate_screen(),
            "alternate screen still active after exit"
        );
        ensure!(
            !self.parser.screen().hide_cursor(),
            "cursor still hidden after exit"
        );
        let modes = tcgetattr(&self.slave).context("tcgetattr on the pty")?;
        ensure!(
            modes
                .local_flags
                .contains(LocalFlags::ICANON | LocalFlags::ECHO),
            "raw mode left on: {:?}",
            modes.local_flags
        );
        Ok(())
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `vtty-top` from `VTTY_TOP`, next to this test binary, or on `PATH`.
fn vtty_top_path() -> PathBuf {
    if let Some(path) = std::env::var_os("VTTY_TOP") {
        return PathBuf::from(path);
    }
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.join("vtty-top")));
    match sibling {
        Some(path) if path.exists() => path,
        _ => PathBuf::from("vtty-top"),
    }
}
