//! `cargo xtask bench`: runs `vtty-guest-tests --bench` in the guest and writes
//! BENCHMARKS.md from its `bench name=... vtty_ms=... pty_ms=... ratio=...` lines.

use std::fmt::Write as _;
use std::fs;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::guest::{self, Scenario};
use crate::setup::Setup;
use crate::workspace::Workspace;

/// One measurement from the guest.
#[derive(Debug, PartialEq)]
struct Measurement {
    name: String,
    vtty_ms: f64,
    pty_ms: f64,
    ratio: f64,
}

/// Parses a `bench ...` line of the console; other lines give `None`.
fn parse_line(line: &str) -> Option<Measurement> {
    let rest = &line[line.find("bench name=\"")? + "bench name=\"".len()..];
    let (name, rest) = rest.split_once('"')?;
    let value = |key: &str| -> Option<f64> {
        let start = rest.find(&format!("{key}="))? + key.len() + 1;
        rest[start..].split_whitespace().next()?.parse().ok()
    };
    Some(Measurement {
        name: name.to_owned(),
        vtty_ms: value("vtty_ms")?,
        pty_ms: value("pty_ms")?,
        ratio: value("ratio")?,
    })
}

fn render(measurements: &[Measurement]) -> String {
    let mut page = String::from(
        "# Benchmarks\n\n\
         `cargo xtask bench` boots the guest (Linux 7.3 under qemu TCG, 2 vCPUs) and times \
         each workload through a vtty terminal and through a devpts pty pair in the same run. \
         Both sides are written by busybox `head` in raw mode and read by the benchmark \
         process; each side runs 3 times and the median is reported. The ratio is vtty's \
         time over the pty pair's: below 1 means vtty was faster. Absolute times depend on \
         the emulated machine and are listed only to show the scale.\n\n",
    );
    page.push_str("| workload | vtty (ms) | pty pair (ms) | ratio vtty/pty |\n|---|---:|---:|---:|\n");
    for m in measurements {
        let _ = writeln!(page, "| {} | {:.1} | {:.1} | {:.3} |", m.name, m.vtty_ms, m.pty_ms, m.ratio);
    }
    page.push_str(
        "\nWorkloads:\n\n\
         - attached output: a container writes 8 MiB to `/dev/console` while the host reads \
         its attach file; the peer writes 8 MiB into a pty slave while the master is read.\n\
         - unread output: a container writes 8 MiB to `/dev/console` with nobody attached \
         (vtty drops and counts it); the peer is the same pty pair, which needs a reader \
         to keep the writer from blocking.\n",
    );
    page
}

/// Runs the benchmarks and writes BENCHMARKS.md at the repository root.
pub fn run(setup: &Setup, workspace: &Workspace, timeout: Duration, verbose: bool) -> Result<bool> {
    let scenario = Scenario::Tests(vec!["--bench".to_owned()]);
    let image = guest::build(setup, workspace)?;
    let outcome = guest::run_headless(workspace, &image, &scenario, timeout, verbose)?;
    if !outcome.passed() {
        guest::print_failure(&outcome);
        return Ok(false);
    }
    let log = fs::read_to_string(&outcome.log_path)
        .with_context(|| format!("reading {}", outcome.log_path.display()))?;
    let measurements: Vec<Measurement> = log.lines().filter_map(parse_line).collect();
    if measurements.is_empty() {
        bail!("the guest printed no `bench` lines; see {}", outcome.log_path.display());
    }
    let page = render(&measurements);
    let path = workspace.root.join("BENCHMARKS.md");
    fs::write(&path, &page).with_context(|| format!("writing {}", path.display()))?;
    print!("{page}");
    println!("bench: wrote {}", path.display());
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_line_parses() {
        let line = "bench name=\"attached output, 8 MiB\" vtty_ms=2132.1 pty_ms=2788.2 ratio=0.765";
        assert_eq!(
            parse_line(line),
            Some(Measurement {
                name: "attached output, 8 MiB".to_owned(),
                vtty_ms: 2132.1,
                pty_ms: 2788.2,
                ratio: 0.765,
            })
        );
    }

    #[test]
    fn other_lines_are_skipped() {
        assert_eq!(parse_line("test driver::x ... ok"), None);
        assert_eq!(parse_line("bench name=\"x\" vtty_ms=abc pty_ms=1 ratio=1"), None);
    }
}
