//! The real data source: the driver's registry through `/dev/vtty`, and the policy
//! library of `vtty-ctl`.

use std::io;
use std::sync::Mutex;

use vtty_ctl::driver::{self, ContainerInfo, Control};
use vtty_ctl::snapshot::{ContainerStats, Snapshot, Sources, TerminalStats};

use super::{CgroupState, DataSource, PolicyTarget};
use crate::format;

/// Reads the host as it is.
#[derive(Debug, Default)]
pub struct LiveSource {
    /// The open control device, reopened after an error (the driver may have been
    /// reloaded).
    control: Mutex<Option<Control>>,
}

impl LiveSource {
    /// Creates a source that opens `/dev/vtty` on the first snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    fn list_containers(&self) -> Result<Vec<ContainerInfo>, String> {
        let mut control = self
            .control
            .lock()
            .map_err(|_| "control device lock poisoned".to_owned())?;
        if control.is_none() {
            *control = Some(Control::open().map_err(|error| open_error(&error))?);
        }
        let listed = match control.as_ref() {
            Some(control) => control.list(),
            None => return Err("control device not open".to_owned()),
        };
        listed.map_err(|error| {
            *control = None;
            format!(
                "VTTY_IOC_LIST on {} failed: {error}",
                driver::CONTROL_DEVICE
            )
        })
    }
}

impl DataSource for LiveSource {
    fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot {
            taken_at_ns: format::monotonic_now_ns(),
            ..Snapshot::default()
        };
        let sources = &mut snapshot.sources;
        match driver::tty_driver_info() {
            Ok(Some(_)) => sources.driver_loaded = true,
            Ok(None) => sources.problems.push(
                "vtty driver not loaded: /proc/tty/drivers has no vtty line; load the module \
                 (modprobe vtty, or insmod vtty.ko)"
                    .to_owned(),
            ),
            Err(error) => sources
                .problems
                .push(format!("cannot read /proc/tty/drivers: {error}")),
        }
        if sources.driver_loaded {
            match self.list_containers() {
                Ok(list) => snapshot.containers = list.into_iter().map(container_stats).collect(),
                Err(problem) => sources.problems.push(problem),
            }
        }
        // TODO: take counters and lifecycle events from the probes (pinned under
        // /sys/fs/bpf/vtty or loaded here) once vtty-ctl's loader library exists.
        // Until then opens, closes and writes are not counted and the event pane
        // stays empty; the driver's own byte counters are shown.
        snapshot.sources.problems.push(
            "probes not used: this build reads the driver's counters only, so opens, closes, \
             writes and events are not shown"
                .to_owned(),
        );
        snapshot
            .containers
            .sort_by(|a, b| a.name.cmp(&b.name).then(a.nsid.cmp(&b.nsid)));
        snapshot
    }

    fn cgroups(&self) -> CgroupState {
        CgroupState::read()
    }

    fn allow(&self, target: &PolicyTarget) -> Result<String, String> {
        Err(policy_missing("allow", target))
    }

    fn deny(&self, target: &PolicyTarget) -> Result<String, String> {
        Err(policy_missing("deny", target))
    }
}

// TODO: call vtty_ctl::policy once it exists; until then allow and deny change
// nothing and their error names the vtty-ctl command to run instead.
fn policy_missing(verb: &str, target: &PolicyTarget) -> String {
    format!(
        "this build of vtty-top has no device-cgroup policy support; nothing changed. \
         Run: vtty-ctl {verb} {}",
        target.name
    )
}

fn open_error(error: &io::Error) -> String {
    let path = driver::CONTROL_DEVICE;
    match error.kind() {
        io::ErrorKind::NotFound => format!(
            "{path} not found although the driver is loaded; mount devtmpfs on /dev or create the node"
        ),
        io::ErrorKind::PermissionDenied => {
            format!("cannot open {path}: permission denied; run vtty-top as root")
        }
        _ => format!("cannot open {path}: {error}"),
    }
}

/// Converts the driver's view of a container. Opens, closes and writes are
/// counted by the probes only and stay 0 here.
fn container_stats(info: ContainerInfo) -> ContainerStats {
    let terminals = info
        .terminals
        .iter()
        .zip(0u32..)
        .map(|(terminal, index)| TerminalStats {
            index,
            open_count: terminal.open_count,
            bytes_written: terminal.written,
            bytes_delivered: terminal.delivered,
            bytes_dropped: terminal.dropped,
            attached: terminal.attached,
            ..TerminalStats::default()
        })
        .collect();
    ContainerStats {
        nsid: info.nsid,
        name: info.name,
        registered: info.registered,
        terminals,
    }
}

/// Sources of a snapshot that could not be taken at all.
pub fn failed_sources(problem: String) -> Sources {
    Sources {
        problems: vec![problem],
        ..Sources::default()
    }
}
