//! Joining the driver's registry with the probes' counters into a [`Snapshot`].

use std::collections::BTreeMap;

use vtty_common::abi::VTTY_TERMINALS;

use super::error::ProbeError;
use super::handle::{ProbeReadings, Probes};
use crate::driver::{self, ContainerInfo, Control};
use crate::snapshot::{ContainerStats, Snapshot, Sources, TerminalStats};

fn empty_terminals() -> Vec<TerminalStats> {
    (0..VTTY_TERMINALS).map(|index| TerminalStats { index, ..TerminalStats::default() }).collect()
}

/// Returns the container `nsid`, adding it without a name when only the probes
/// know it.
fn entry(
    containers: &mut BTreeMap<u64, ContainerStats>,
    nsid: u64,
    seen_register: bool,
) -> &mut ContainerStats {
    containers.entry(nsid).or_insert_with(|| ContainerStats {
        nsid,
        name: String::new(),
        registered: seen_register,
        counted_from_register: seen_register,
        terminals: empty_terminals(),
    })
}

/// Joins the driver's containers with the probes' readings; either may be absent.
///
/// Names, registration state, attach and stall state come from the driver, and
/// counters and open counts from the probes. The driver's open count is used for a
/// terminal the probes have not seen open or close. A container only the probes
/// know gets an empty name. The result is sorted by name, then nsid.
pub fn join(
    driver: Option<&[ContainerInfo]>,
    probes: Option<&ProbeReadings>,
) -> Vec<ContainerStats> {
    let mut containers: BTreeMap<u64, ContainerStats> = BTreeMap::new();
    let seen_register =
        |nsid: u64| probes.is_some_and(|readings| readings.containers.contains_key(&nsid));

    for info in driver.unwrap_or_default() {
        let mut terminals = empty_terminals();
        for (terminal, state) in terminals.iter_mut().zip(&info.terminals) {
            terminal.open_count = state.open_count;
            terminal.attached = state.attached;
            terminal.stalled = state.stalled;
        }
        containers.insert(
            info.nsid,
            ContainerStats {
                nsid: info.nsid,
                name: info.name.clone(),
                registered: info.registered,
                counted_from_register: seen_register(info.nsid),
                terminals,
            },
        );
    }

    if let Some(readings) = probes {
        let known_to_driver =
            |nsid: u64| driver.is_some_and(|list| list.iter().any(|info| info.nsid == nsid));
        for (key, counters) in &readings.counters {
            let Some(terminal) = entry(&mut containers, key.nsid, seen_register(key.nsid))
                .terminals
                .get_mut(key.index as usize)
            else {
                continue;
            };
            terminal.opens = counters.opens;
            terminal.closes = counters.closes;
            terminal.writes = counters.writes;
            terminal.bytes_written = counters.bytes_written;
            terminal.bytes_delivered = counters.bytes_delivered;
            terminal.bytes_dropped = counters.bytes_dropped;
            terminal.attaches = counters.attaches;
            terminal.detaches = counters.detaches;
            if !known_to_driver(key.nsid) {
                terminal.attached = counters.attaches > counters.detaches;
            }
        }
        for (key, count) in &readings.open_counts {
            if let Some(terminal) = entry(&mut containers, key.nsid, seen_register(key.nsid))
                .terminals
                .get_mut(key.index as usize)
            {
                terminal.open_count = *count;
            }
        }
        for nsid in readings.containers.keys() {
            entry(&mut containers, *nsid, true);
        }
    }

    let mut list: Vec<ContainerStats> = containers.into_values().collect();
    list.sort_by(|a, b| a.name.cmp(&b.name).then(a.nsid.cmp(&b.nsid)));
    list
}

/// `CLOCK_MONOTONIC` now, in nanoseconds (the clock of `bpf_ktime_get_ns`).
pub fn monotonic_ns() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec to write to. CLOCK_MONOTONIC exists on every
    // Linux kernel, so the call does not fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    (now.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(now.tv_nsec as u64)
}

/// Lists the driver's containers, `Ok(None)` when the driver is not loaded. The
/// error says why the list could not be read.
fn driver_containers() -> Result<Option<Vec<ContainerInfo>>, String> {
    match driver::tty_driver_info() {
        Ok(Some(_)) => {}
        Ok(None) => return Ok(None),
        Err(error) => return Err(format!("reading /proc/tty/drivers failed: {error}")),
    }
    let control = Control::open()
        .map_err(|error| format!("opening {} failed: {error}", driver::CONTROL_DEVICE))?;
    let list = control.list().map_err(|error| {
        format!("listing containers on {} failed: {error}", driver::CONTROL_DEVICE)
    })?;
    Ok(Some(list))
}

/// Takes a snapshot of every container: the driver's registry joined with the
/// probes' counters. `probes` is the handle, or the error that prevented opening
/// it, which goes into the problems.
pub fn snapshot(probes: Result<&Probes, &ProbeError>) -> Snapshot {
    let mut sources = Sources::default();
    let driver = match driver_containers() {
        Ok(Some(list)) => {
            sources.driver_loaded = true;
            Some(list)
        }
        Ok(None) => {
            sources
                .problems
                .push("driver: vtty is not loaded (not listed in /proc/tty/drivers)".to_owned());
            None
        }
        Err(problem) => {
            sources.driver_loaded = true;
            sources.problems.push(format!("driver: {problem}"));
            None
        }
    };
    let readings = match probes.map(Probes::read) {
        Ok(Ok(readings)) => {
            sources.probes_loaded = true;
            sources.ringbuf_full = readings.stats.ringbuf_full;
            sources.read_failed = readings.stats.read_failed;
            sources.update_failed = readings.stats.update_failed;
            Some(readings)
        }
        Ok(Err(error)) => {
            sources.probes_loaded = true;
            sources.problems.push(format!("probes: {error}"));
            None
        }
        Err(error) => {
            sources.problems.push(format!("probes: {error}"));
            None
        }
    };
    Snapshot {
        taken_at_ns: monotonic_ns(),
        containers: join(driver.as_deref(), readings.as_ref()),
        sources,
    }
}

#[cfg(test)]
mod tests {
    use vtty_common::probe::{ContainerRecord, TerminalCounters, TerminalKey};

    use super::*;
    use crate::driver::TerminalInfo;

    fn driver_container(nsid: u64, name: &str) -> ContainerInfo {
        let mut terminals = vec![TerminalInfo::default(); VTTY_TERMINALS as usize];
        terminals[0] = TerminalInfo {
            installed: true,
            attached: true,
            open_count: 2,
            ..TerminalInfo::default()
        };
        ContainerInfo { nsid, name: name.to_owned(), init_pid: 100, registered: true, terminals }
    }

    fn readings() -> ProbeReadings {
        let mut readings = ProbeReadings::default();
        readings.counters.insert(
            TerminalKey::new(7, 0),
            TerminalCounters {
                opens: 3,
                closes: 1,
                writes: 5,
                bytes_written: 50,
                bytes_dropped: 20,
                bytes_delivered: 30,
                ..TerminalCounters::default()
            },
        );
        readings.counters.insert(
            TerminalKey::new(9, 4),
            TerminalCounters { attaches: 1, ..TerminalCounters::default() },
        );
        readings.open_counts.insert(TerminalKey::new(7, 0), 2);
        readings.containers.insert(7, ContainerRecord::default());
        readings
    }

    #[test]
    fn driver_and_probes_join_by_nsid() {
        let driver = [driver_container(7, "web"), driver_container(8, "db")];
        let joined = join(Some(&driver), Some(&readings()));
        let names: Vec<&str> = joined.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["", "db", "web"]);

        let web = &joined[2];
        assert!(web.counted_from_register);
        assert_eq!(web.terminals.len(), 12);
        assert_eq!(web.terminals[0].opens, 3);
        assert_eq!(web.terminals[0].bytes_dropped, 20);
        assert_eq!(web.terminals[0].open_count, 2);
        assert!(web.terminals[0].attached);
        assert_eq!(web.bytes_written(), 50);

        let db = &joined[1];
        assert!(!db.counted_from_register);
        assert_eq!(db.bytes_written(), 0);
        assert_eq!(db.terminals[0].open_count, 2, "driver open count without probe data");
    }

    #[test]
    fn probe_only_container_has_no_name() {
        let joined = join(None, Some(&readings()));
        let unknown = joined.iter().find(|c| c.nsid == 9).expect("nsid 9");
        assert_eq!(unknown.name, "");
        assert!(!unknown.registered);
        assert!(unknown.terminals[4].attached, "attach count above detach count");
    }

    #[test]
    fn driver_only_join_keeps_every_container() {
        let driver = [driver_container(8, "db")];
        let joined = join(Some(&driver), None);
        assert_eq!(joined.len(), 1);
        assert!(!joined[0].counted_from_register);
        assert_eq!(joined[0].open_terminals(), 1);
    }

    #[test]
    fn nothing_joins_to_nothing() {
        assert!(join(None, None).is_empty());
    }
}
