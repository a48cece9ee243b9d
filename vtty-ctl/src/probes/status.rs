//! The state `vtty-ctl probes status` reports: pins, links, maps and counts.

use std::path::PathBuf;

use aya::maps::MapData;
use aya::programs::links::{FdLink, PinnedLink};
use vtty_common::probe::{TRACEPOINTS, maps};

use super::environment::{ProbePaths, has_bpffs, require_root};
use super::error::ProbeError;
use super::handle::ProbeStats;
use super::loader::{self, Acquire, tracepoint_offsets};
use super::pins::{PinLayout, PinState};

/// A pinned tracepoint link.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LinkStatus {
    /// The tracepoint (and program) name.
    pub event: &'static str,
    /// The kernel's link id.
    pub link_id: u32,
    /// The kernel's id of the attached program.
    pub program_id: u32,
}

/// A pinned map.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MapStatus {
    /// The map name.
    pub name: &'static str,
    /// The kernel's map id.
    pub map_id: u32,
}

/// The state of the probes.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Status {
    /// The pin directory.
    pub pin_dir: PathBuf,
    /// bpffs is mounted where the probes pin.
    pub bpffs_mounted: bool,
    /// Every pin exists.
    pub pinned: bool,
    /// Pins that are missing when only some exist.
    pub missing_pins: Vec<String>,
    /// The pinned links.
    pub links: Vec<LinkStatus>,
    /// The pinned maps.
    pub maps: Vec<MapStatus>,
    /// Per-write events are on (pinned probes only).
    pub write_events: Option<bool>,
    /// Failure counts of the pinned probes.
    pub stats: Option<ProbeStats>,
    /// The error that prevented reading the pinned probes, if any.
    pub problem: Option<String>,
    /// The driver's tracepoints can be attached to: `None` when they can, or why not.
    pub tracepoint_problem: Option<String>,
    /// The vtty tty driver is listed in `/proc/tty/drivers`.
    pub driver_loaded: bool,
}

/// Collects the state of the probes without changing anything.
pub fn status(paths: &ProbePaths) -> Result<Status, ProbeError> {
    require_root("reading the state of the vtty probes")?;
    let layout = PinLayout::new(paths.pin_dir());
    let mut status = Status {
        pin_dir: layout.dir().to_path_buf(),
        bpffs_mounted: has_bpffs(paths),
        tracepoint_problem: tracepoint_offsets(paths).err().map(|error| error.to_string()),
        driver_loaded: matches!(crate::driver::tty_driver_info(), Ok(Some(_))),
        ..Status::default()
    };
    if !status.bpffs_mounted {
        return Ok(status);
    }
    match layout.state() {
        PinState::Absent => return Ok(status),
        PinState::Incomplete(missing) => status.missing_pins = missing,
        PinState::Complete => status.pinned = true,
    }
    for tracepoint in TRACEPOINTS {
        let info = PinnedLink::from_pin(layout.link_path(tracepoint.name))
            .and_then(|link| FdLink::from(link).info());
        if let Ok(info) = info {
            status.links.push(LinkStatus {
                event: tracepoint.name,
                link_id: info.id(),
                program_id: info.program_id(),
            });
        }
    }
    for name in maps::ALL {
        let info = MapData::from_pin(layout.map_path(name)).and_then(|map| map.info());
        if let Ok(info) = info {
            status.maps.push(MapStatus { name, map_id: info.id() });
        }
    }
    if status.pinned {
        match loader::open(paths, Acquire::Reuse) {
            Ok(probes) => {
                status.write_events = probes.write_events().ok();
                status.stats = probes.stats().ok();
            }
            Err(error) => status.problem = Some(error.to_string()),
        }
    }
    Ok(status)
}
