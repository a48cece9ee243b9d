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
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use nix::pty::{OpenptyResult, Winsize, openpty};
use nix::sys::termios::{LocalFlags, tcgetattr};
use vtty_ctl::driver::Control;

use crate::container::Container;

/// The guest's busybox, which provides `setsid`.
const BUSYBOX: &str = "/bin/busybox";

/// Rows and columns of the pseudo-terminal the dashboard draws on.
const ROWS: u16 = 30;
const COLUMNS: u16 = 100;

/// Watchdog for every wait: far above the few seconds the steps take under TCG,
/// it only turns a hang into a failure.
const WATCHDOG: Duration = Duration::from_secs(120);

/// A guest scenario: runs to the end and returns what failed.
pub type Scenario = fn() -> Result<()>;

/// The scenarios of this module, by name.
pub const TESTS: &[(&str, Scenario)] =
    &[("tui_shows_real_counters", dashboard_shows_real_counters)];

/// Checks the dashboard against two containers that wrote 3000 and 5000 bytes to
/// their consoles. The list and the detail view show those drops, the driver
/// agrees, and `q` restores the terminal.
pub fn dashboard_shows_real_counters() -> Result<()> {
    let control = Control::open().context("opening /dev/vtty (is the driver loaded?)")?;
    let first = Writer::start(&control, "tui-ct1", 3000)?;
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

    /// Stops the container, which ends its writer, and reaps the writer.
    fn stop(mut self) -> Result<()> {
        self.container.stop()?;
        self.process.wait().context("waiting for the writer")?;
        Ok(())
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
