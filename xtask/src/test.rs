//! `cargo xtask test`: the workspace's host tests, then the guest tests and the
//! kernel's KUnit results from one boot of the test kernel, and a total.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::guest::{self, Scenario};
use crate::setup::Setup;
use crate::workspace::Workspace;

/// Passed and failed counts of one part of the run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
}

/// Options of `cargo xtask test`.
pub struct Options {
    /// Arguments for `vtty-guest-tests`: a filter and its flags.
    pub guest_args: Vec<String>,
    pub timeout: Duration,
    pub verbose: bool,
    pub skip_host: bool,
}

/// Runs everything and returns whether it all passed; the last line printed is
/// `total: N passed, N failed`.
pub fn run(setup: &Setup, workspace: &Workspace, options: &Options) -> Result<bool> {
    let host = if options.skip_host {
        None
    } else {
        Some(run_host_tests(setup, workspace)?)
    };

    let mut guest_tests = Tally::default();
    let mut kunit = Tally::default();
    let mut kunit_skipped = 0;
    let mut run_failures = 0;
    match guest::build(setup, workspace) {
        Ok(image) => {
            let scenario = Scenario::Tests(options.guest_args.clone());
            let outcome = guest::run_headless(
                workspace,
                &image,
                &scenario,
                options.timeout,
                options.verbose,
            )?;
            let report = &outcome.report;
            guest_tests.passed = report.guest_tests.iter().filter(|test| test.passed).count();
            guest_tests.failed = report.guest_tests.len() - guest_tests.passed;
            kunit.passed = report.kunit.passed;
            kunit.failed = report.kunit.failed;
            kunit_skipped = report.kunit.skipped;
            run_failures = outcome.errors.len();
            // A harness that failed without a failed test line (it crashed, or its
            // arguments were invalid) still fails the run.
            if report.exit_status.is_some_and(|status| status != 0) && guest_tests.failed == 0 {
                run_failures += 1;
            }
            if !outcome.passed() || kunit.failed > 0 {
                guest::print_failure(&outcome);
            }
            for failure in &report.kunit.failures {
                println!("kunit: not ok: {failure}");
            }
        }
        Err(error) => {
            println!("error: building the guest failed: {error:#}");
            run_failures += 1;
        }
    }

    println!();
    println!("summary:");
    match &host {
        Some(host) => println!(
            "  host tests:  {} passed, {} failed",
            host.passed, host.failed
        ),
        None => println!("  host tests:  skipped (--skip-host)"),
    }
    println!(
        "  guest tests: {} passed, {} failed",
        guest_tests.passed, guest_tests.failed
    );
    println!(
        "  kunit:       {} passed, {} failed, {} skipped",
        kunit.passed, kunit.failed, kunit_skipped
    );
    if run_failures > 0 {
        println!("  guest run:   {run_failures} failure(s), listed above");
    }
    let host = host.unwrap_or_default();
    let passed = host.passed + guest_tests.passed + kunit.passed;
    let failed = host.failed + guest_tests.failed + kunit.failed + run_failures;
    println!("total: {passed} passed, {failed} failed");
    Ok(failed == 0)
}

/// Runs `cargo test` over the workspace (without the eBPF crate, which only builds
/// for the BPF target), echoing its output and adding up its `test result:` lines.
/// A cargo failure without failed tests (a build error) counts as one failure.
fn run_host_tests(setup: &Setup, workspace: &Workspace) -> Result<Tally> {
    println!("==> host tests: cargo test --workspace --exclude vtty-ebpf --no-fail-fast");
    let mut command = workspace.cargo(
        &setup.toolchains,
        &[
            "test",
            "--workspace",
            "--exclude",
            "vtty-ebpf",
            "--no-fail-fast",
        ],
    );
    command.stdout(Stdio::piped());
    let mut child = command.spawn().context("starting cargo test")?;
    let mut tally = Tally::default();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading the output of cargo test")?;
            println!("{line}");
            if let Some(result) = parse_test_result(&line) {
                tally.passed += result.passed;
                tally.failed += result.failed;
            }
        }
    }
    let status = child.wait().context("waiting for cargo test")?;
    if !status.success() && tally.failed == 0 {
        println!("cargo test failed ({status}) before any test failed; see its output above");
        tally.failed += 1;
    }
    Ok(tally)
}

/// Parses libtest's `test result: ok. 12 passed; 0 failed; 1 ignored; ...` line.
fn parse_test_result(line: &str) -> Option<Tally> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let (_, counts) = rest.split_once(". ")?;
    let mut tally = Tally::default();
    for part in counts.split(';') {
        let mut words = part.split_whitespace();
        let (Some(number), Some(kind)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(number) = number.parse::<usize>() else {
            continue;
        };
        match kind {
            "passed" => tally.passed = number,
            "failed" => tally.failed = number,
            _ => {}
        }
    }
    Some(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_result_line() {
        let line = "test result: FAILED. 12 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(
            parse_test_result(line),
            Some(Tally {
                passed: 12,
                failed: 2
            })
        );
    }

    #[test]
    fn other_lines_ignored() {
        assert_eq!(parse_test_result("test foo ... ok"), None);
    }
}
