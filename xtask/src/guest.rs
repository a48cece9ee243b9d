//! The guest: its image (kernel, driver, static binaries, initramfs), the scenario
//! `/init` runs, and a headless boot that checks what the console reports.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::console::{self, Report};
use crate::driver;
use crate::initramfs::{self, Contents};
use crate::kernel;
use crate::progress::{self, Phase};
use crate::qemu::{self, Boot};
use crate::setup::Setup;
use crate::workspace::Workspace;

/// A bootable guest.
pub struct Image {
    pub bzimage: PathBuf,
    pub initramfs: PathBuf,
    /// Whether the initramfs contains `vtty.ko`, which `/init` then loads.
    pub has_driver: bool,
}

/// Builds the kernel (cached), the driver, the guest's binaries and the initramfs.
pub fn build(setup: &Setup, workspace: &Workspace) -> Result<Image> {
    let kernel = kernel::build(setup, workspace)?;
    let driver = driver::build(setup, workspace, &kernel)?;
    let binaries = workspace.build_guest_binaries(&setup.toolchains)?;
    let mut modules = vec![kernel.rust_minimal.clone()];
    modules.extend(driver.iter().cloned());
    let dir = workspace.guest_dir();
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let initramfs = dir.join("initramfs.cpio");
    let phase = Phase::start(format!("writing the initramfs {}", initramfs.display()));
    initramfs::write(
        &initramfs,
        &Contents {
            busybox: PathBuf::from(initramfs::HOST_BUSYBOX),
            binaries,
            modules,
        },
    )?;
    phase.done();
    Ok(Image {
        bzimage: kernel.bzimage,
        initramfs,
        has_driver: driver.is_some(),
    })
}

/// The program `/init` runs after mounting the file systems and loading the driver.
pub enum Scenario {
    /// `vtty-guest-tests` with these arguments (a filter, `--list`, ...).
    Tests(Vec<String>),
    /// Any command line of the guest.
    Run(Vec<String>),
    /// An interactive shell on the console.
    Shell { rows: u16, cols: u16, term: String },
    /// The demo: three containers, the probes and vtty-top on the console, or
    /// with `Some(seconds)` a headless run that checks every part.
    Demo { headless_seconds: Option<u64>, terminal: Option<(u16, u16, String)> },
}

impl Scenario {
    fn name(&self) -> &'static str {
        match self {
            Self::Tests(_) => "tests",
            Self::Run(_) => "run",
            Self::Shell { .. } => "shell",
            Self::Demo { .. } => "demo",
        }
    }
}

/// Builds the kernel command line that selects the scenario. The kernel hands
/// `name=value` words it does not know to `/init` as environment variables, and a
/// double-quoted value may contain spaces.
pub fn cmdline(scenario: &Scenario) -> Result<String> {
    let mut line = String::from("console=ttyS0 panic=-1");
    line.push_str(&format!(" vtty_scenario={}", scenario.name()));
    match scenario {
        Scenario::Tests(args) | Scenario::Run(args) => {
            for arg in args {
                check_word(arg)?;
            }
            if matches!(scenario, Scenario::Run(_)) && args.is_empty() {
                bail!(
                    "the run scenario needs a command, for example `cargo xtask guest run -- vtty-ctl --help`"
                );
            }
            if !args.is_empty() {
                line.push_str(&format!(" vtty_args=\"{}\"", args.join(" ")));
            }
        }
        Scenario::Shell { rows, cols, term } => {
            check_word(term)?;
            line.push_str(&format!(
                " vtty_rows={rows} vtty_cols={cols} vtty_term={term}"
            ));
        }
        Scenario::Demo { headless_seconds, terminal } => {
            if let Some(seconds) = headless_seconds {
                line.push_str(&format!(" vtty_args=\"--headless {seconds}\""));
            }
            if let Some((rows, cols, term)) = terminal {
                check_word(term)?;
                line.push_str(&format!(" vtty_rows={rows} vtty_cols={cols} vtty_term={term}"));
            }
        }
    }
    qemu::check_cmdline(&line)?;
    Ok(line)
}

/// Rejects a word that the kernel command line cannot carry to `/init` intact.
fn check_word(word: &str) -> Result<()> {
    if word.is_empty() {
        bail!("an empty argument cannot be passed to the guest; remove it");
    }
    if let Some(bad) = word
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || *c == '"')
    {
        bail!(
            "the argument {word:?} contains {bad:?}; guest arguments are split on spaces and cannot contain quotes, \
             whitespace or control characters"
        );
    }
    Ok(())
}

/// The outcome of a headless guest run.
pub struct Outcome {
    pub report: Report,
    /// Reasons the run failed as a whole (timeout, no exit marker, kernel
    /// problems); empty when it completed.
    pub errors: Vec<String>,
    pub log_path: PathBuf,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.errors.is_empty() && self.report.exit_status == Some(0)
    }
}

/// Boots the image headless with `scenario`, echoing the scenario's output (or the
/// whole console when `verbose`), and reads the console afterwards.
pub fn run_headless(
    workspace: &Workspace,
    image: &Image,
    scenario: &Scenario,
    timeout: Duration,
    verbose: bool,
) -> Result<Outcome> {
    let boot = Boot {
        bzimage: image.bzimage.clone(),
        initramfs: image.initramfs.clone(),
        cmdline: cmdline(scenario)?,
    };
    let log_path = workspace
        .guest_dir()
        .join(format!("console-{}.log", scenario.name()));
    let phase = Phase::start(format!(
        "booting the guest (scenario {}, driver {}, timeout {})",
        scenario.name(),
        if image.has_driver { "loaded" } else { "absent" },
        progress::format_elapsed(timeout)
    ));
    let run = qemu::run_headless(&boot, &log_path, timeout, |line| {
        let kernel =
            console::kernel_message(line).is_some() || line.starts_with(console::DMESG_PREFIX);
        if verbose || !kernel {
            println!("    | {line}");
        }
    })?;
    let report = console::parse(&run.log);
    let mut errors = Vec::new();
    if run.timed_out {
        errors.push(format!(
            "the guest did not finish within {}; qemu was killed",
            progress::format_elapsed(timeout)
        ));
    } else if report.exit_status.is_none() {
        errors.push(format!(
            "the guest stopped without printing `{}N` (qemu {}); it crashed or /init failed before the end",
            console::EXIT_MARKER,
            run.qemu_status.map_or("status unknown".to_owned(), |status| status.to_string())
        ));
    }
    for problem in &report.problems {
        errors.push(format!("the kernel reported: {problem}"));
    }
    phase.done();
    Ok(Outcome {
        report,
        errors,
        log_path,
    })
}

/// Prints the console log and the reasons of a failed run.
pub fn print_failure(outcome: &Outcome) {
    qemu::print_console(&outcome.log_path);
    for error in &outcome.errors {
        println!("guest: {error}");
    }
    if let Some(status) = outcome.report.exit_status.filter(|status| *status != 0) {
        println!("guest: the scenario exited with status {status}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_scenario_with_filter() {
        let line = cmdline(&Scenario::Tests(vec!["bench::".to_owned()])).unwrap();
        assert_eq!(
            line,
            "console=ttyS0 panic=-1 vtty_scenario=tests vtty_args=\"bench::\""
        );
    }

    #[test]
    fn tests_scenario_without_filter() {
        let line = cmdline(&Scenario::Tests(Vec::new())).unwrap();
        assert_eq!(line, "console=ttyS0 panic=-1 vtty_scenario=tests");
    }

    #[test]
    fn shell_scenario_passes_terminal() {
        let line = cmdline(&Scenario::Shell {
            rows: 50,
            cols: 132,
            term: "xterm-256color".to_owned(),
        })
        .unwrap();
        assert!(
            line.ends_with("vtty_rows=50 vtty_cols=132 vtty_term=xterm-256color"),
            "{line}"
        );
    }

    #[test]
    fn run_scenario_needs_command() {
        assert!(cmdline(&Scenario::Run(Vec::new())).is_err());
    }

    #[test]
    fn argument_with_space_rejected() {
        let error = cmdline(&Scenario::Run(vec!["echo hi".to_owned()])).unwrap_err();
        assert!(error.to_string().contains("\"echo hi\""), "{error}");
    }

    #[test]
    fn argument_with_quote_rejected() {
        assert!(cmdline(&Scenario::Tests(vec!["a\"b".to_owned()])).is_err());
    }

    #[test]
    fn overlong_command_line_rejected() {
        let args = vec!["x".repeat(3000)];
        assert!(cmdline(&Scenario::Run(args)).is_err());
    }
}
