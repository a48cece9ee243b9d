//! A small test runner for the guest: named tests, a name filter, each test in its
//! own child process under a watchdog, one result line per test, and a closing
//! `N passed, N failed` line.
//!
//! Result lines read `test NAME ... ok` or `test NAME ... FAILED`; `cargo xtask`
//! parses them from the guest console.

use std::io::Write;
use std::process::{Child, Command, ExitCode, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

/// The default watchdog of each test: far above what any guest test takes. It only
/// turns a hung test into a failure.
pub const DEFAULT_WATCHDOG: Duration = Duration::from_secs(300);

/// One named test: its name within its module and its function.
pub type Test = (&'static str, fn() -> anyhow::Result<()>);

/// The tests of one module, named `module::test`.
pub struct Suite {
    pub module: &'static str,
    pub tests: &'static [Test],
}

/// A test with its full name.
pub struct Named {
    pub name: String,
    pub run: fn() -> anyhow::Result<()>,
}

/// Lists every test with its full name, in registry order.
pub fn all(suites: &[Suite]) -> Vec<Named> {
    suites
        .iter()
        .flat_map(|suite| {
            suite.tests.iter().map(move |(name, run)| Named {
                name: format!("{}::{name}", suite.module),
                run: *run,
            })
        })
        .collect()
}

/// Selects the tests whose full name contains `filter`, or equals it when `exact`.
pub fn select(tests: Vec<Named>, filter: Option<&str>, exact: bool) -> Vec<Named> {
    tests
        .into_iter()
        .filter(|named| match filter {
            None => true,
            Some(filter) if exact => named.name == filter,
            Some(filter) => named.name.contains(filter),
        })
        .collect()
}

/// Runs one test in this process and reports its error; the child side of `run_all`.
pub fn run_in_process(named: &Named) -> ExitCode {
    match (named.run)() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            println!("    {} failed: {error}", named.name);
            for cause in error.chain().skip(1) {
                println!("      caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

/// How a test child ended.
enum Verdict {
    Passed,
    Failed(ExitStatus),
    TimedOut,
    NotStarted(std::io::Error),
}

/// Runs each test in a child process (`child` builds its command line from the test
/// name) under `watchdog`, writes the result lines and the closing count to `out`,
/// and returns the number of failed tests.
pub fn run_all(
    tests: &[Named],
    watchdog: Duration,
    child: impl Fn(&str) -> Command,
    out: &mut impl Write,
) -> usize {
    // Output errors are ignored: the console is the only place to report them.
    let _ = writeln!(out, "running {} tests", tests.len());
    let _ = out.flush();
    let mut failed = 0;
    for named in tests {
        let verdict = match child(&named.name).spawn() {
            Ok(process) => watch(process, watchdog),
            Err(error) => Verdict::NotStarted(error),
        };
        let line = match verdict {
            Verdict::Passed => format!("test {} ... ok", named.name),
            Verdict::Failed(status) => format!("test {} ... FAILED ({status})", named.name),
            Verdict::TimedOut => format!(
                "test {} ... FAILED (killed by the watchdog after {watchdog:?})",
                named.name
            ),
            Verdict::NotStarted(error) => {
                format!("test {} ... FAILED (could not start: {error})", named.name)
            }
        };
        if !line.ends_with(" ok") {
            failed += 1;
        }
        // One write per line, so that kernel messages on the console rarely split it.
        let _ = out.write_all(format!("{line}\n").as_bytes());
        let _ = out.flush();
    }
    let _ = writeln!(out, "{} passed, {failed} failed", tests.len() - failed);
    let _ = out.flush();
    failed
}

/// Waits for a test child, killing it when the watchdog expires.
fn watch(mut process: Child, timeout: Duration) -> Verdict {
    let deadline = Instant::now() + timeout;
    loop {
        match process.try_wait() {
            Ok(Some(status)) if status.success() => return Verdict::Passed,
            Ok(Some(status)) => return Verdict::Failed(status),
            Ok(None) => {}
            Err(error) => return Verdict::NotStarted(error),
        }
        if Instant::now() >= deadline {
            // The child is this runner's own process, killed by its PID.
            let _ = process.kill();
            let _ = process.wait();
            return Verdict::TimedOut;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passes() -> anyhow::Result<()> {
        Ok(())
    }

    fn fails() -> anyhow::Result<()> {
        anyhow::bail!("expected failure")
    }

    const ALPHA: &[Test] = &[("loads", passes), ("unloads", fails)];
    const BETA: &[Test] = &[("loads_twice", passes)];
    const SUITES: &[Suite] = &[
        Suite {
            module: "alpha",
            tests: ALPHA,
        },
        Suite {
            module: "beta",
            tests: BETA,
        },
    ];

    fn names(tests: &[Named]) -> Vec<String> {
        tests.iter().map(|named| named.name.clone()).collect()
    }

    #[test]
    fn names_qualified_by_module() {
        assert_eq!(
            names(&all(SUITES)),
            ["alpha::loads", "alpha::unloads", "beta::loads_twice"]
        );
    }

    #[test]
    fn filter_matches_substring() {
        assert_eq!(
            names(&select(all(SUITES), Some("loads"), false)),
            ["alpha::loads", "alpha::unloads", "beta::loads_twice"]
        );
        assert_eq!(
            names(&select(all(SUITES), Some("beta::"), false)),
            ["beta::loads_twice"]
        );
    }

    #[test]
    fn exact_filter_matches_whole_name() {
        assert_eq!(
            names(&select(all(SUITES), Some("alpha::loads"), true)),
            ["alpha::loads"]
        );
    }

    #[test]
    fn no_filter_selects_all() {
        assert_eq!(select(all(SUITES), None, false).len(), 3);
    }

    #[test]
    fn run_all_counts_child_results() {
        let tests = all(SUITES);
        // `true` passes and `false` fails, chosen by the test name.
        let mut out = Vec::new();
        let failed = run_all(
            &tests,
            DEFAULT_WATCHDOG,
            |name| {
                Command::new(if name.ends_with("unloads") {
                    "false"
                } else {
                    "true"
                })
            },
            &mut out,
        );
        assert_eq!(failed, 1);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "running 3 tests");
        assert_eq!(lines[1], "test alpha::loads ... ok");
        assert!(
            lines[2].starts_with("test alpha::unloads ... FAILED"),
            "{}",
            lines[2]
        );
        assert_eq!(lines[3], "test beta::loads_twice ... ok");
        assert_eq!(lines[4], "2 passed, 1 failed");
    }

    #[test]
    fn watchdog_kills_hung_child() {
        let named = vec![Named {
            name: "slow::hangs".to_owned(),
            run: passes,
        }];
        let mut out = Vec::new();
        let failed = run_all(
            &named,
            Duration::from_millis(200),
            |_| {
                let mut command = Command::new("sleep");
                command.arg("60");
                command
            },
            &mut out,
        );
        assert_eq!(failed, 1);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("test slow::hangs ... FAILED (killed by the watchdog"),
            "{text}"
        );
    }

    #[test]
    fn in_process_failure_exit_code() {
        let tests = all(SUITES);
        assert_eq!(run_in_process(&tests[0]), ExitCode::SUCCESS);
        assert_eq!(run_in_process(&tests[1]), ExitCode::FAILURE);
    }
}
