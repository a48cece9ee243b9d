//! Booting the guest under qemu with TCG: headless with its console captured and a
//! hard timeout, or interactive on the caller's terminal. KVM is not used: the
//! project's machines expose a nested KVM that fails on the guest's first XRSTOR.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A kernel, its initramfs and its command line.
pub struct Boot {
    pub bzimage: PathBuf,
    pub initramfs: PathBuf,
    pub cmdline: String,
}

impl Boot {
    fn command(&self, serial: &str) -> Command {
        let mut command = Command::new("qemu-system-x86_64");
        command
            .args(["-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "1G"])
            .args([
                "-nodefaults",
                "-no-user-config",
                "-no-reboot",
                "-display",
                "none",
            ])
            .args(["-serial", serial])
            .arg("-kernel")
            .arg(&self.bzimage)
            .arg("-initrd")
            .arg(&self.initramfs)
            .arg("-append")
            .arg(&self.cmdline);
        command
    }
}

/// The result of a headless boot.
pub struct Headless {
    /// The whole console output.
    pub log: String,
    pub timed_out: bool,
    pub qemu_status: Option<ExitStatus>,
}

/// Boots headless, writes the console to `log_path` while it runs, passes each
/// console line to `on_line`, and kills qemu after `timeout`.
pub fn run_headless(
    boot: &Boot,
    log_path: &Path,
    timeout: Duration,
    mut on_line: impl FnMut(&str),
) -> Result<Headless> {
    let mut log_file =
        File::create(log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let mut command = boot.command("stdio");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .context("starting qemu-system-x86_64; `cargo xtask setup` installs it")?;
    let (sender, receiver) = mpsc::channel::<String>();
    let readers = [
        spawn_line_reader(child.stdout.take(), sender.clone(), ""),
        spawn_line_reader(child.stderr.take(), sender, "qemu: "),
    ];

    let deadline = Instant::now() + timeout;
    let mut log = String::new();
    let mut timed_out = false;
    let mut qemu_status = None;
    loop {
        match receiver.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                writeln!(log_file, "{line}")
                    .with_context(|| format!("writing {}", log_path.display()))?;
                on_line(&line);
                log.push_str(&line);
                log.push('\n');
            }
            // Both readers ended: qemu closed its output.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                qemu_status = wait_or_kill(&mut child, deadline)?;
                if qemu_status.is_none() {
                    timed_out = true;
                }
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if Instant::now() >= deadline {
            timed_out = true;
            kill(&mut child)?;
            break;
        }
    }
    // Collect what the readers still hold after qemu died.
    for line in receiver.try_iter() {
        writeln!(log_file, "{line}").with_context(|| format!("writing {}", log_path.display()))?;
        log.push_str(&line);
        log.push('\n');
    }
    for reader in readers {
        let _ = reader.join();
    }
    Ok(Headless {
        log,
        timed_out,
        qemu_status,
    })
}

/// Waits for qemu until `deadline`; kills it and returns `None` after that.
fn wait_or_kill(child: &mut Child, deadline: Instant) -> Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait().context("waiting for qemu")? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            kill(child)?;
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn kill(child: &mut Child) -> Result<()> {
    // Kills the qemu process this function's caller started, by its PID.
    child.kill().context("killing qemu")?;
    child.wait().context("waiting for the killed qemu")?;
    Ok(())
}

fn spawn_line_reader(
    stream: Option<impl Read + Send + 'static>,
    sender: mpsc::Sender<String>,
    prefix: &'static str,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let Some(stream) = stream else {
            return;
        };
        let mut reader = BufReader::new(stream);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buffer);
                    let line = text.trim_end_matches(['\n', '\r']);
                    if sender.send(format!("{prefix}{line}")).is_err() {
                        return;
                    }
                }
            }
        }
    })
}

/// Boots with the guest's serial console on the caller's terminal; returns when
/// qemu exits. qemu's monitor multiplexer is on the console: Ctrl-A X quits.
pub fn run_interactive(boot: &Boot) -> Result<ExitStatus> {
    let status = boot
        .command("mon:stdio")
        .status()
        .context("starting qemu-system-x86_64; `cargo xtask setup` installs it")?;
    Ok(status)
}

/// Prints the whole guest console log, for failures.
pub fn print_console(log_path: &Path) {
    println!("==> guest console log ({})", log_path.display());
    match std::fs::read(log_path) {
        Ok(text) => print!("{}", String::from_utf8_lossy(&text)),
        Err(error) => println!("cannot read {}: {error}", log_path.display()),
    }
    println!("==> end of the guest console log");
}

/// Checks that `cmdline` fits the x86 kernel command line (2048 bytes with the
/// terminating NUL).
pub fn check_cmdline(cmdline: &str) -> Result<()> {
    const COMMAND_LINE_SIZE: usize = 2048;
    if cmdline.len() >= COMMAND_LINE_SIZE {
        bail!(
            "the kernel command line is {} bytes, the x86 limit is {}; pass fewer or shorter scenario arguments",
            cmdline.len(),
            COMMAND_LINE_SIZE - 1
        );
    }
    Ok(())
}
