//! `vtty-ctl stats`: per-terminal counters as a table or JSON, once or repeatedly.

use std::path::Path;
use std::time::Duration;

use crate::cli::probes::StatsArgs;
use crate::exit::{self, ExitCode};
use crate::probes::debugfs::{self, CONTAINERS_FILE};
use crate::probes::environment::require_root;
use crate::probes::{Acquire, ProbePaths, Probes, open, snapshot};
use crate::snapshot::Snapshot;

use super::filter::find_nsid;
use super::signals::{interrupted, runtime};
use super::table::render;

/// Runs `vtty-ctl stats`.
pub fn stats(args: &StatsArgs) -> exit::Result<()> {
    if args.watch == Some(0) {
        return Err(crate::fail!(
            ExitCode::Usage,
            "--watch 0 is not a period; give 1 second or more"
        ));
    }
    require_root("vtty-ctl stats")?;
    let paths = ProbePaths::default();
    let probes = open(&paths, Acquire::Reuse);
    let Some(period) = args.watch else {
        return print_once(args, probes.as_ref());
    };
    let runtime = runtime()?;
    runtime.block_on(async {
        let stop = interrupted();
        tokio::pin!(stop);
        let mut ticks = tokio::time::interval(Duration::from_secs(period));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                signal = &mut stop => {
                    signal?;
                    return Ok(());
                }
                _ = ticks.tick() => print_once(args, probes.as_ref())?,
            }
        }
    })
}

/// Takes one snapshot, cross-checks it and prints it.
fn print_once(
    args: &StatsArgs,
    probes: Result<&Probes, &crate::probes::ProbeError>,
) -> exit::Result<()> {
    let mut snapshot = checked_snapshot(probes);
    if !snapshot.sources.driver_loaded && !snapshot.sources.probes_loaded {
        return Err(crate::fail!(
            ExitCode::DriverMissing,
            "nothing to show: {}",
            snapshot.sources.problems.join("; ")
        ));
    }
    if let Some(ctid) = &args.ctid {
        let nsid = find_nsid(ctid, &snapshot.containers)?;
        snapshot.containers.retain(|container| container.nsid == nsid);
    }
    if args.json {
        let line = serde_json::to_string(&snapshot).map_err(|error| {
            crate::fail!(ExitCode::Failure, "encoding the snapshot as JSON failed: {error}")
        })?;
        println!("{line}");
    } else {
        if args.watch.is_some() {
            println!("--- {:.3} s since boot", snapshot.taken_at_ns as f64 / 1e9);
        }
        print!("{}", render(&snapshot));
        for problem in &snapshot.sources.problems {
            eprintln!("note: {problem}");
        }
    }
    Ok(())
}

/// A snapshot whose byte totals were compared with the driver's debugfs totals.
///
/// Both sides are read at slightly different moments, so a difference on a busy
/// terminal is retried once with fresh readings before it is reported as a problem.
fn checked_snapshot(probes: Result<&Probes, &crate::probes::ProbeError>) -> Snapshot {
    let mut snapshot = snapshot(probes);
    let Ok(probes) = probes else { return snapshot };
    if !Path::new(CONTAINERS_FILE).exists() {
        return snapshot;
    }
    for attempt in 0..2 {
        let driver = match debugfs::read_containers(Path::new(CONTAINERS_FILE)) {
            Ok(driver) => driver,
            Err(error) => {
                snapshot.sources.problems.push(format!("cross-check: {error}"));
                return snapshot;
            }
        };
        let counters = match probes.counters() {
            Ok(counters) => counters,
            Err(error) => {
                snapshot.sources.problems.push(format!("cross-check: {error}"));
                return snapshot;
            }
        };
        let counted = snapshot
            .containers
            .iter()
            .filter(|container| container.counted_from_register)
            .map(|container| container.nsid);
        let mismatches = debugfs::compare(&counters, &driver, counted);
        if mismatches.is_empty() {
            return snapshot;
        }
        if attempt == 1 {
            for mismatch in mismatches {
                snapshot.sources.problems.push(format!(
                    "cross-check: {mismatch} (events the probes missed, for example skipped on BPF recursion)"
                ));
            }
        }
    }
    snapshot
}
