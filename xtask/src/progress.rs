//! Progress output and command execution: every long step prints its phase and
//! elapsed time, keeps its full output in a log file, and shows the log's tail
//! when it fails.

use std::fs::File;
use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Lines of a failed step's log printed before the error.
const FAILURE_TAIL_LINES: usize = 40;

/// Interval between progress lines when stdout is not a terminal.
const HEARTBEAT_PLAIN: Duration = Duration::from_secs(30);

/// Formats a duration as `1m05s` or `4.2s`.
pub fn format_elapsed(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    if seconds >= 60 {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{:.1}s", elapsed.as_secs_f64())
    }
}

/// A named step whose start and end are printed with the elapsed time.
pub struct Phase {
    name: String,
    start: Instant,
}

impl Phase {
    pub fn start(name: impl Into<String>) -> Self {
        let name = name.into();
        println!("==> {name}");
        Self {
            name,
            start: Instant::now(),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Prints that the step finished, with its elapsed time.
    pub fn done(self) {
        let short: String = self.name.chars().take(60).collect();
        let ellipsis = if short.len() < self.name.len() {
            "..."
        } else {
            ""
        };
        println!(
            "    {short}{ellipsis} done in {}",
            format_elapsed(self.elapsed())
        );
    }
}

/// Runs `command` with its stdout and stderr appended to `log`, printing a progress
/// line with the elapsed time and the log's last line while it runs. On failure it
/// prints the log's tail and returns an error naming the step and the log.
pub fn run_logged(step: &str, command: &mut Command, log: &Path) -> Result<()> {
    let mut output = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening the log {}", log.display()))?;
    writeln!(output, "$ {command:?}").with_context(|| format!("writing {}", log.display()))?;
    let errors = output
        .try_clone()
        .with_context(|| format!("duplicating the log {}", log.display()))?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(errors)
        .spawn()
        .with_context(|| format!("{step}: starting {command:?}"))?;

    let start = Instant::now();
    let interactive = std::io::stdout().is_terminal();
    let mut last_report = Instant::now();
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .with_context(|| format!("{step}: waiting for {command:?}"))?
        {
            break status;
        }
        thread::sleep(Duration::from_millis(250));
        let due = if interactive {
            last_report.elapsed() >= Duration::from_secs(1)
        } else {
            last_report.elapsed() >= HEARTBEAT_PLAIN
        };
        if due {
            last_report = Instant::now();
            let last = last_line(log).unwrap_or_default();
            let line = format!("    {step}: {} {last}", format_elapsed(start.elapsed()));
            if interactive {
                let width = terminal_size::terminal_size()
                    .map(|(width, _)| usize::from(width.0))
                    .unwrap_or(100);
                let shown: String = line.chars().take(width.saturating_sub(1)).collect();
                print!("\r\x1b[K{shown}");
            } else {
                println!("{line}");
            }
            let _ = std::io::stdout().flush();
        }
    };
    if interactive {
        print!("\r\x1b[K");
        let _ = std::io::stdout().flush();
    }
    if !status.success() {
        print_tail(log, FAILURE_TAIL_LINES);
        bail!(
            "{step} failed ({status}) after {}; the full log is {}",
            format_elapsed(start.elapsed()),
            log.display()
        );
    }
    Ok(())
}

/// Runs `command` to completion and returns its stdout; stderr is included in the
/// error when it fails.
pub fn capture(command: &mut Command) -> Result<String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).with_context(|| format!("{command:?} printed invalid UTF-8"))
}

/// Runs `command` with inherited output and fails when it exits non-zero.
pub fn run_inherited(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("starting {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

/// Prints the last `count` lines of the file at `path`.
pub fn print_tail(path: &Path, count: usize) {
    let Ok(text) = std::fs::read(path) else {
        return;
    };
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().collect();
    let first = lines.len().saturating_sub(count);
    println!(
        "---- last {} lines of {} ----",
        lines.len() - first,
        path.display()
    );
    for line in &lines[first..] {
        println!("{line}");
    }
    println!("---- end of {} ----", path.display());
}

/// Returns the last non-empty line of a log, read from its final 4 KiB.
fn last_line(path: &Path) -> Option<String> {
    let mut file = File::open(path).ok()?;
    let length = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(4096)))
        .ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    let text = String::from_utf8_lossy(&tail);
    text.lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_under_a_minute() {
        assert_eq!(format_elapsed(Duration::from_millis(4200)), "4.2s");
    }

    #[test]
    fn elapsed_over_a_minute() {
        assert_eq!(format_elapsed(Duration::from_secs(65)), "1m05s");
    }
}
