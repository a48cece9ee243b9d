//! `cargo xtask`: builds the toolchains, the Linux 7.3 guest kernel with Rust, the
//! vtty driver and the guest image, and boots it under qemu for tests and for an
//! interactive shell. Every command runs `setup` first.

mod apt;
mod bench;
mod buildroot;
mod cache;
mod console;
mod driver;
mod guest;
mod initramfs;
mod kconfig;
mod kernel;
mod progress;
mod qemu;
mod setup;
mod test;
mod toolchain;
mod workspace;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::guest::Scenario;
use crate::workspace::Workspace;

/// Build orchestration for vtty: toolchains, the guest kernel, qemu and tests.
#[derive(Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what the other commands need (packages, build root, toolchains,
    /// kernel source); returns quickly when nothing is missing.
    Setup {
        /// Print the version of every tool and of the kernel source in use.
        #[arg(long)]
        versions: bool,
    },
    /// Build the guest kernel (cached by its inputs) and the vtty driver.
    Kernel,
    /// Build the guest image and boot it headless with a scenario.
    Guest {
        /// Build the image and print its paths without booting it.
        #[arg(long)]
        build_only: bool,
        #[command(flatten)]
        boot: BootOptions,
        /// The scenario /init runs: the guest test harness, or any command.
        #[arg(value_enum, default_value_t = GuestScenario::Tests)]
        scenario: GuestScenario,
        /// Arguments of the scenario: a test filter, or the command and its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Boot the guest with its console on this terminal: the driver loaded and a
    /// shell; `exit` or Ctrl-A X stops it.
    Vm,
    /// Show the whole product in the guest: three containers (101, 102, 103) with
    /// their consoles, the probes and vtty-top on this terminal, then a guest shell.
    Demo {
        /// Run without a terminal, print the final per-container table and fail
        /// if any part did not work.
        #[arg(long)]
        headless: bool,
        /// How long the headless demo lets the containers run before checking.
        #[arg(long, value_name = "SECONDS", default_value_t = 20, requires = "headless",
              value_parser = clap::value_parser!(u64).range(1..=3600))]
        seconds: u64,
        #[command(flatten)]
        boot: BootOptions,
    },
    /// Benchmark vtty against a devpts pty pair in the guest and write
    /// BENCHMARKS.md with the ratios.
    Bench {
        #[command(flatten)]
        boot: BootOptions,
    },
    /// Run the host tests, then the guest tests and the kernel's KUnit results;
    /// ends with `total: N passed, N failed`.
    Test {
        #[command(flatten)]
        boot: BootOptions,
        /// Run only the guest part.
        #[arg(long)]
        skip_host: bool,
        /// Arguments of vtty-guest-tests: a test name filter, then its flags such as
        /// `--exact`; put `--` first when the first one starts with a hyphen.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        guest_args: Vec<String>,
    },
}

#[derive(clap::Args)]
struct BootOptions {
    /// Seconds after which a guest that has not powered off is killed.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
    /// Echo every console line, kernel messages included.
    #[arg(long, short)]
    verbose: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum GuestScenario {
    /// vtty-guest-tests with the given arguments.
    Tests,
    /// The given command line.
    Run,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs a command; `Ok(false)` means it ran and reported a failure.
fn run(cli: Cli) -> Result<bool> {
    let workspace = Workspace::locate()?;
    let setup = setup::run()?;
    match cli.command {
        Command::Setup { versions } => {
            if versions {
                setup::print_versions(&setup)?;
            }
            Ok(true)
        }
        Command::Kernel => {
            let kernel = kernel::build(&setup, &workspace)?;
            let module = driver::build(&setup, &workspace, &kernel)?;
            println!("bzImage:      {}", kernel.bzimage.display());
            println!("rust_minimal: {}", kernel.rust_minimal.display());
            if let Some(module) = module {
                println!("vtty.ko:      {}", module.display());
            }
            Ok(true)
        }
        Command::Guest {
            build_only,
            boot,
            scenario,
            args,
        } => {
            let scenario = match scenario {
                GuestScenario::Tests => Scenario::Tests(args),
                GuestScenario::Run => Scenario::Run(args),
            };
            // Reject bad arguments before the build.
            guest::cmdline(&scenario)?;
            let image = guest::build(&setup, &workspace)?;
            if build_only {
                println!("bzImage:   {}", image.bzimage.display());
                println!("initramfs: {}", image.initramfs.display());
                return Ok(true);
            }
            let outcome = guest::run_headless(
                &workspace,
                &image,
                &scenario,
                Duration::from_secs(boot.timeout),
                boot.verbose,
            )?;
            if !outcome.passed() {
                guest::print_failure(&outcome);
                return Ok(false);
            }
            println!(
                "guest: the scenario passed; console log {}",
                outcome.log_path.display()
            );
            Ok(true)
        }
        Command::Vm => {
            if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
                bail!(
                    "cargo xtask vm needs a terminal on stdin and stdout; use `cargo xtask guest run -- COMMAND` for a headless run"
                );
            }
            let (columns, rows) = terminal_size::terminal_size()
                .map(|(width, height)| (width.0, height.0))
                .unwrap_or((80, 24));
            let term = std::env::var("TERM").unwrap_or_else(|_| "linux".to_owned());
            let scenario = Scenario::Shell {
                rows,
                cols: columns,
                term,
            };
            let cmdline = guest::cmdline(&scenario)?;
            let image = guest::build(&setup, &workspace)?;
            println!("==> booting the guest; `exit` in its shell or Ctrl-A X stops it");
            let status = qemu::run_interactive(&qemu::Boot {
                bzimage: image.bzimage,
                initramfs: image.initramfs,
                cmdline,
            })?;
            Ok(status.success())
        }
        Command::Demo { headless, seconds, boot } => {
            if headless {
                let scenario = Scenario::Demo { headless_seconds: Some(seconds), terminal: None };
                guest::cmdline(&scenario)?;
                let image = guest::build(&setup, &workspace)?;
                // The demo's own time plus booting and setup.
                let timeout = Duration::from_secs(boot.timeout.max(seconds + 240));
                let outcome = guest::run_headless(&workspace, &image, &scenario, timeout, boot.verbose)?;
                if !outcome.passed() {
                    guest::print_failure(&outcome);
                    return Ok(false);
                }
                println!("demo: every part worked; console log {}", outcome.log_path.display());
                return Ok(true);
            }
            if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
                bail!("cargo xtask demo needs a terminal on stdin and stdout; use `cargo xtask demo --headless` without one");
            }
            let (columns, rows) = terminal_size::terminal_size()
                .map(|(width, height)| (width.0, height.0))
                .unwrap_or((80, 24));
            let term = std::env::var("TERM").unwrap_or_else(|_| "linux".to_owned());
            let scenario = Scenario::Demo { headless_seconds: None, terminal: Some((rows, columns, term)) };
            let cmdline = guest::cmdline(&scenario)?;
            let image = guest::build(&setup, &workspace)?;
            println!("==> booting the demo guest; quit vtty-top with q, then `exit` powers the guest off");
            let status = qemu::run_interactive(&qemu::Boot {
                bzimage: image.bzimage,
                initramfs: image.initramfs,
                cmdline,
            })?;
            Ok(status.success())
        }
        Command::Bench { boot } => bench::run(&setup, &workspace, Duration::from_secs(boot.timeout), boot.verbose),
        Command::Test {
            boot,
            skip_host,
            guest_args,
        } => test::run(
            &setup,
            &workspace,
            &test::Options {
                guest_args,
                timeout: Duration::from_secs(boot.timeout),
                verbose: boot.verbose,
                skip_host,
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn guest_run_takes_hyphen_arguments() {
        let cli =
            Cli::try_parse_from(["cargo xtask", "guest", "run", "vtty-ctl", "--help"]).unwrap();
        let Command::Guest { args, .. } = cli.command else {
            panic!("parsed as another command");
        };
        assert_eq!(args, ["vtty-ctl", "--help"]);
    }

    #[test]
    fn test_passes_filter_and_flags_to_guest() {
        for argv in [
            &["cargo xtask", "test", "bench::", "--exact"][..],
            &["cargo xtask", "test", "--", "bench::", "--exact"][..],
        ] {
            let cli = Cli::try_parse_from(argv).unwrap();
            let Command::Test { guest_args, .. } = cli.command else {
                panic!("parsed as another command");
            };
            assert_eq!(guest_args, ["bench::", "--exact"], "{argv:?}");
        }
    }

    #[test]
    fn zero_timeout_rejected() {
        assert!(Cli::try_parse_from(["cargo xtask", "test", "--timeout", "0"]).is_err());
    }
}
