//! `vtty-guest-tests`: the tests that run inside the guest VM, where the vtty driver
//! and the kernel's tracepoints are real. `cargo xtask test` boots the guest and
//! runs this binary; `--list` prints the test names, a filter selects by substring.

mod bench_io;
mod container;
mod harness;

use std::process::{Command, ExitCode};

use clap::Parser;

/// Declares the test modules and the registry built from their `TESTS` arrays of
/// `(name, function)`; adding a module is adding its name to the line below.
macro_rules! test_modules {
    ($($module:ident),* $(,)?) => {
        $(mod $module;)*

        /// Every test module, in run order.
        const SUITES: &[harness::Suite] = &[
            $(harness::Suite { module: stringify!($module), tests: $module::TESTS },)*
        ];
    };
}

test_modules!(bench, driver, probes, policy, tui);

/// Runs vtty's guest tests, each in its own process under a watchdog.
#[derive(Parser)]
#[command(name = "vtty-guest-tests", version)]
struct Cli {
    /// Run only the tests whose name contains this text.
    filter: Option<String>,
    /// Match the filter against the whole test name.
    #[arg(long)]
    exact: bool,
    /// Print the test names and exit.
    #[arg(long)]
    list: bool,
    /// Run the benchmarks against a devpts pty pair instead of the tests, printing
    /// one `bench` line per measurement.
    #[arg(long, conflicts_with_all = ["filter", "list"])]
    bench: bool,
    /// Seconds after which a test that has not finished is killed and failed.
    #[arg(long, value_name = "SECONDS", default_value_t = harness::DEFAULT_WATCHDOG.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..))]
    watchdog: u64,
    /// Run the named test in this process; the runner uses it for its children.
    #[arg(long, hide = true, value_name = "NAME")]
    run_one: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.bench {
        return match bench_io::run() {
            Ok(measurements) => {
                bench_io::print(&measurements);
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: the benchmarks failed: {error:#}");
                ExitCode::FAILURE
            }
        };
    }
    let tests = harness::all(SUITES);

    if let Some(name) = &cli.run_one {
        return match tests.iter().find(|named| &named.name == name) {
            Some(named) => harness::run_in_process(named),
            None => {
                eprintln!("error: no test is named {name}; --list prints the names");
                ExitCode::from(2)
            }
        };
    }

    let selected = harness::select(tests, cli.filter.as_deref(), cli.exact);
    if cli.list {
        for named in &selected {
            println!("{}", named.name);
        }
        return ExitCode::SUCCESS;
    }
    if selected.is_empty() {
        let filter = cli.filter.unwrap_or_default();
        eprintln!("error: no test matches {filter:?}; --list prints the names");
        return ExitCode::from(2);
    }

    let executable = match std::env::current_exe() {
        Ok(path) => path,
        Err(error) => {
            eprintln!("error: cannot find this executable to run the tests in children: {error}");
            return ExitCode::FAILURE;
        }
    };
    let watchdog = std::time::Duration::from_secs(cli.watchdog);
    let failed = harness::run_all(
        &selected,
        watchdog,
        |name| {
            let mut command = Command::new(&executable);
            command.arg("--run-one").arg(name);
            command
        },
        &mut std::io::stdout(),
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
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
    fn registry_names_are_unique() {
        let mut names: Vec<String> = harness::all(SUITES)
            .into_iter()
            .map(|named| named.name)
            .collect();
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count, "duplicate test names in {names:?}");
    }
}
