//! Reading the guest's serial console log: the exit marker of `/init`, the guest
//! test harness's result lines, the kernel's KUnit results (KTAP) and kernel
//! problem reports (warnings, BUGs, lockdep splats, oopses).
//!
//! Kernel lines are distinguished from user-space output by the printk timestamp
//! prefix `[    1.234567] ` (the guest kernel has `CONFIG_PRINTK_TIME=y`).

/// The line `/init` prints last, before powering off.
pub const EXIT_MARKER: &str = "VTTY-GUEST-EXIT status=";

/// The prefix `/init` puts before the kernel log it prints after a failed scenario.
pub const DMESG_PREFIX: &str = "dmesg: ";

/// Starts of kernel messages that report a kernel problem. Lockdep and
/// `DEBUG_ATOMIC_SLEEP` reports start with `WARNING:` or `BUG:`.
const PROBLEM_PREFIXES: &[&str] = &[
    "BUG:",
    "WARNING:",
    "Oops",
    "Kernel panic",
    "kernel BUG at",
    "general protection fault",
    "UBSAN:",
    "INFO: task",
    "rcu: INFO:",
];

/// KUnit totals: leaf test cases, not suites.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Kunit {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// `suite: case` of each failed case (or failed suite without failed cases).
    pub failures: Vec<String>,
}

/// One result line of the guest test harness.
#[derive(Debug, PartialEq, Eq)]
pub struct GuestTest {
    pub name: String,
    pub passed: bool,
}

/// The results read from a console log.
#[derive(Debug, Default)]
pub struct Report {
    /// The scenario's exit status from the marker, `None` when the marker is absent.
    pub exit_status: Option<i32>,
    pub guest_tests: Vec<GuestTest>,
    pub kunit: Kunit,
    /// Kernel lines that report a problem.
    pub problems: Vec<String>,
}

/// Splits a kernel console line into its message, without the timestamp.
pub fn kernel_message(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('[')?;
    let (stamp, message) = rest.split_once("] ")?;
    let stamp = stamp.trim();
    let valid = !stamp.is_empty() && stamp.chars().all(|c| c.is_ascii_digit() || c == '.');
    valid.then_some(message)
}

/// Parses `test NAME ... ok` and `test NAME ... FAILED`, the harness's result lines.
pub fn guest_test_result(line: &str) -> Option<GuestTest> {
    let rest = line.strip_prefix("test ")?;
    let (name, outcome) = rest.split_once(" ... ")?;
    let passed = match outcome.split_whitespace().next()? {
        "ok" => true,
        "FAILED" => false,
        _ => return None,
    };
    Some(GuestTest {
        name: name.to_owned(),
        passed,
    })
}

/// A KTAP result line: `ok 3 name`, `not ok 3 name`, `ok 3 name # SKIP why`.
#[derive(Debug, PartialEq, Eq)]
struct KtapResult<'a> {
    depth: usize,
    ok: bool,
    skipped: bool,
    name: &'a str,
}

fn ktap_result(message: &str) -> Option<KtapResult<'_>> {
    let content = message.trim_start_matches(' ');
    let depth = (message.len() - content.len()) / 4;
    let (ok, rest) = if let Some(rest) = content.strip_prefix("not ok ") {
        (false, rest)
    } else {
        (true, content.strip_prefix("ok ")?)
    };
    let (number, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let rest = rest.strip_prefix("- ").unwrap_or(rest);
    let (name, directive) = rest.split_once(" # ").unwrap_or((rest, ""));
    Some(KtapResult {
        depth,
        ok,
        skipped: directive
            .trim_start()
            .to_ascii_uppercase()
            .starts_with("SKIP"),
        name: name.trim(),
    })
}

/// Counts KTAP results. A result is a leaf case unless the previous result was
/// deeper, which makes it the summary of the subtests just listed.
#[derive(Default)]
struct KtapCounter {
    previous_depth: Option<usize>,
    /// The name of the subtest open at each depth, from `# Subtest: name`.
    suites: Vec<String>,
    /// Failed leaves seen inside the still-open subtest at each depth.
    failures_below: Vec<usize>,
    kunit: Kunit,
}

impl KtapCounter {
    fn feed(&mut self, message: &str) {
        let content = message.trim_start_matches(' ');
        let depth = (message.len() - content.len()) / 4;
        if let Some(name) = content.strip_prefix("# Subtest: ") {
            if self.suites.len() <= depth {
                self.suites.resize(depth + 1, String::new());
            }
            self.suites[depth] = name.trim().to_owned();
            return;
        }
        let Some(result) = ktap_result(message) else {
            return;
        };
        if self.failures_below.len() <= result.depth {
            self.failures_below.resize(result.depth + 1, 0);
        }
        let leaf = self
            .previous_depth
            .is_none_or(|previous| previous <= result.depth);
        self.previous_depth = Some(result.depth);
        let suite = self.suites.get(result.depth).cloned().unwrap_or_default();
        let label = if suite.is_empty() {
            result.name.to_owned()
        } else {
            format!("{suite}: {}", result.name)
        };
        if leaf {
            if result.skipped {
                self.kunit.skipped += 1;
            } else if result.ok {
                self.kunit.passed += 1;
            } else {
                self.kunit.failed += 1;
                self.kunit.failures.push(label);
                for count in &mut self.failures_below[..result.depth] {
                    *count += 1;
                }
            }
        } else {
            // A failed summary whose cases all passed failed by itself, for example
            // in its init or exit function.
            if !result.ok && self.failures_below[result.depth] == 0 {
                self.kunit.failed += 1;
                self.kunit.failures.push(label);
                for count in &mut self.failures_below[..result.depth] {
                    *count += 1;
                }
            }
            self.failures_below[result.depth] = 0;
        }
    }
}

/// Parses a whole console log.
pub fn parse(log: &str) -> Report {
    let mut report = Report::default();
    let mut ktap = KtapCounter::default();
    for raw in log.lines() {
        let line = raw.trim_end_matches('\r');
        if let Some(message) = kernel_message(line) {
            ktap.feed(message);
            let trimmed = message.trim_start();
            if PROBLEM_PREFIXES
                .iter()
                .any(|prefix| trimmed.starts_with(prefix))
            {
                report.problems.push(trimmed.to_owned());
            }
            continue;
        }
        if let Some(position) = line.find(EXIT_MARKER) {
            let status = &line[position + EXIT_MARKER.len()..];
            report.exit_status = status.trim().parse().ok();
            continue;
        }
        if let Some(result) = guest_test_result(line) {
            report.guest_tests.push(result);
        }
    }
    report.kunit = ktap.kunit;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOT: &str = "\
[    0.000000] Linux version 7.3.4
[    1.100000] KTAP version 1
[    1.100001] 1..2
[    1.100002]     KTAP version 1
[    1.100003]     # Subtest: rust_doctests_kernel
[    1.100004]     1..3
[    1.100005]     ok 1 rust_doctest_kernel_alloc_0
[    1.100006]     not ok 2 rust_doctest_kernel_alloc_1
[    1.100007]     ok 3 rust_doctest_kernel_alloc_2 # SKIP not on this arch
[    1.100008] # rust_doctests_kernel: pass:1 fail:1 skip:1 total:3
[    1.100009] not ok 1 rust_doctests_kernel
[    1.100010]     KTAP version 1
[    1.100011]     # Subtest: param_suite
[    1.100012]     1..1
[    1.100013]         KTAP version 1
[    1.100014]         # Subtest: param_case
[    1.100015]         ok 1 param 0
[    1.100016]         ok 2 param 1
[    1.100017]     ok 1 param_case
[    1.100018] ok 2 param_suite
init: vtty driver loaded
test bench::rust_minimal_module_loads ... ok
test bench::tracepoint_counts_exec ... FAILED
1 passed, 1 failed
VTTY-GUEST-EXIT status=1
";

    #[test]
    fn kunit_counts_leaves() {
        let report = parse(BOOT);
        assert_eq!(report.kunit.passed, 3);
        assert_eq!(report.kunit.failed, 1);
        assert_eq!(report.kunit.skipped, 1);
        assert_eq!(
            report.kunit.failures,
            vec!["rust_doctests_kernel: rust_doctest_kernel_alloc_1"]
        );
    }

    #[test]
    fn kunit_failed_suite_without_failed_cases() {
        let log = "[ 1.0]     # Subtest: broken\n[ 1.0]     ok 1 case\n[ 1.0] not ok 1 broken\n";
        let report = parse(log);
        assert_eq!(report.kunit.passed, 1);
        assert_eq!(report.kunit.failed, 1);
        assert_eq!(report.kunit.failures, vec!["broken"]);
    }

    #[test]
    fn exit_marker_and_guest_tests() {
        let report = parse(BOOT);
        assert_eq!(report.exit_status, Some(1));
        assert_eq!(
            report.guest_tests,
            vec![
                GuestTest {
                    name: "bench::rust_minimal_module_loads".to_owned(),
                    passed: true,
                },
                GuestTest {
                    name: "bench::tracepoint_counts_exec".to_owned(),
                    passed: false,
                },
            ]
        );
    }

    #[test]
    fn exit_marker_after_kernel_noise() {
        let report = parse("noise VTTY-GUEST-EXIT status=0\r\n");
        assert_eq!(report.exit_status, Some(0));
    }

    #[test]
    fn missing_exit_marker() {
        assert_eq!(
            parse("[ 1.0] Kernel panic - not syncing\n").exit_status,
            None
        );
    }

    #[test]
    fn problems_found_in_kernel_lines_only() {
        let log = "\
[    5.000000] WARNING: possible circular locking dependency detected
[    5.100000] BUG: sleeping function called from invalid context at mm/slub.c:4000
WARNING: this user-space line is not a kernel report
dmesg: [    5.000000] WARNING: copied by dmesg after a failure
";
        let report = parse(log);
        assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
        assert!(report.problems[0].starts_with("WARNING: possible circular"));
    }

    #[test]
    fn ktap_dash_and_skip() {
        let result = ktap_result("    ok 7 - name # skip reason").unwrap();
        assert_eq!(result.depth, 1);
        assert!(result.ok);
        assert!(result.skipped);
        assert_eq!(result.name, "name");
    }

    #[test]
    fn ktap_rejects_prose() {
        assert_eq!(ktap_result("ok, loading module"), None);
    }
}
