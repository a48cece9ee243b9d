//! The real data source: the driver's registry, the probes' counters and events,
//! and the device-cgroup policy of `vtty-ctl`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use vtty_ctl::driver::{self, Control};
use vtty_ctl::policy::Change;
use vtty_ctl::probes::{self, Acquire, ProbeError, ProbePaths, Probes};
use vtty_ctl::snapshot::{Snapshot, Sources};

use super::{CgroupState, DataSource, PolicyTarget};
use crate::event::{AppEvent, Refresh};
use crate::runner;

/// Time between attempts to open the probes while they are missing, so that a
/// driver loaded after the dashboard started gets its probes without a restart.
const PROBE_RETRY: Duration = Duration::from_secs(5);

/// Reads the host as it is.
pub struct LiveSource {
    acquire: Acquire,
    paths: ProbePaths,
    probes: Mutex<ProbeState>,
    /// Destination of the probes' events once their stream is open.
    outbox: mpsc::Sender<AppEvent>,
}

/// The probes handle, or why there is none.
struct ProbeState {
    handle: Result<Probes, ProbeError>,
    attempted_at: Instant,
    /// Reason the event stream could not be opened while the counters work.
    events_problem: Option<String>,
}

impl LiveSource {
    /// Opens the probes as `acquire` allows and streams their events to `outbox`.
    /// Must run inside the tokio runtime, which the event stream needs.
    pub fn open(acquire: Acquire, outbox: mpsc::Sender<AppEvent>) -> Self {
        let paths = ProbePaths::default();
        let state = open_probes(&paths, acquire, &outbox);
        Self {
            acquire,
            paths,
            probes: Mutex::new(state),
            outbox,
        }
    }
}

/// Opens the probes and, when that works, their event stream.
fn open_probes(
    paths: &ProbePaths,
    acquire: Acquire,
    outbox: &mpsc::Sender<AppEvent>,
) -> ProbeState {
    let mut handle = probes::open(paths, acquire);
    let mut events_problem = None;
    if let Ok(probes) = handle.as_mut() {
        match probes.events() {
            Ok(stream) => runner::spawn_probe_events(stream, outbox.clone()),
            Err(error) => events_problem = Some(format!("probe events: {error}")),
        }
    }
    ProbeState {
        handle,
        attempted_at: Instant::now(),
        events_problem,
    }
}

impl DataSource for LiveSource {
    fn refresh(&self) -> Refresh {
        let Ok(mut state) = self.probes.lock() else {
            let sources =
                failed_sources("the probes' lock is poisoned by an earlier panic".to_owned());
            return Refresh {
                snapshot: Snapshot {
                    sources,
                    ..Snapshot::default()
                },
                ..Refresh::default()
            };
        };
        if state.handle.is_err() && state.attempted_at.elapsed() >= PROBE_RETRY {
            *state = open_probes(&self.paths, self.acquire, &self.outbox);
        }

        let mut snapshot = probes::snapshot(state.handle.as_ref());
        if let Some(problem) = &state.events_problem {
            snapshot.sources.problems.push(problem.clone());
        }
        fill_driver_totals(&mut snapshot);
        Refresh {
            snapshot,
            cgroups: CgroupState::read(),
            probes: state.handle.as_ref().ok().map(Probes::origin),
        }
    }

    fn allow(&self, target: &PolicyTarget) -> Result<String, String> {
        super::policy::change(Change::Allow, target)
    }

    fn deny(&self, target: &PolicyTarget) -> Result<String, String> {
        super::policy::change(Change::Deny, target)
    }
}

/// Takes byte totals from the driver for containers whose registration the probes
/// did not see from its start (or without probes at all): the probes then count
/// only part of it, while the driver counts everything.
fn fill_driver_totals(snapshot: &mut Snapshot) {
    if !snapshot.sources.driver_loaded
        || snapshot.containers.iter().all(|c| c.counted_from_register)
    {
        return;
    }
    let listed = match Control::open().and_then(|control| control.list()) {
        Ok(listed) => listed,
        Err(error) => {
            snapshot.sources.problems.push(format!(
                "driver: reading byte totals from {} failed: {error}",
                driver::CONTROL_DEVICE
            ));
            return;
        }
    };
    for container in snapshot
        .containers
        .iter_mut()
        .filter(|c| !c.counted_from_register)
    {
        let Some(info) = listed.iter().find(|info| info.nsid == container.nsid) else {
            continue;
        };
        for (terminal, totals) in container.terminals.iter_mut().zip(&info.terminals) {
            terminal.bytes_written = totals.written;
            terminal.bytes_delivered = totals.delivered;
            terminal.bytes_dropped = totals.dropped;
        }
    }
}

/// Sources of a snapshot that could not be taken at all.
pub fn failed_sources(problem: String) -> Sources {
    Sources {
        problems: vec![problem],
        ..Sources::default()
    }
}
