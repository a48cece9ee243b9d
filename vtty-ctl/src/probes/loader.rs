//! Loading and attaching the probes, pinning them, reusing pinned ones, and
//! removing the pins.

use std::path::PathBuf;

use aya::programs::TracePoint;
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::trace_point::TracePointLinkId;
use aya::{Ebpf, EbpfLoader};
use log::{debug, info, warn};
use vtty_common::probe::{
    FIELD_OFFSETS_GLOBAL, FieldOffsets, LAYOUT_VERSION, TRACE_SYSTEM, TRACEPOINTS, maps,
};

use super::environment::{
    ProbePaths, has_bpffs, require_bpffs, require_root, require_tracepoints, tracefs_root,
};
use super::error::ProbeError;
use super::format::{field_offsets, read_formats};
use super::handle::{MapSet, Origin, Probes, ProgramLogger};
use super::pins::{DirLock, PinLayout, PinState};

/// The actions [`open`] may take when no probes are pinned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquire {
    /// Only reuse pinned probes; fail with [`ProbeError::NotLoaded`] otherwise.
    Reuse,
    /// Reuse pinned probes, or load private ones that detach when the handle drops.
    ReuseOrLoadPrivate,
    /// Reuse pinned probes, or load and pin them so that they outlive this process.
    ReuseOrLoadPinned,
}

/// Reuses the pinned probes or loads them as `acquire` allows. Never loads a second
/// set while one is pinned, and leaves nothing loaded or pinned when it fails.
pub fn open(paths: &ProbePaths, acquire: Acquire) -> Result<Probes, ProbeError> {
    require_root("using the vtty probes")?;
    let layout = PinLayout::new(paths.pin_dir());
    match acquire {
        Acquire::Reuse => {
            require_bpffs(paths)?;
            let Some(_lock) = DirLock::lock_existing(layout.dir())? else {
                return Err(ProbeError::NotLoaded { dir: layout.dir().to_path_buf() });
            };
            reuse(&layout)
        }
        Acquire::ReuseOrLoadPrivate => {
            if has_bpffs(paths)
                && let Some(_lock) = DirLock::lock_existing(layout.dir())?
                && layout.state() != PinState::Absent
            {
                return reuse(&layout);
            }
            let offsets = tracepoint_offsets(paths)?;
            load_private(layout, &offsets)
        }
        Acquire::ReuseOrLoadPinned => {
            // Without pins, check the driver first (the root cause on a host without
            // it), then bpffs, and only then create anything in bpffs.
            let mut offsets = match has_bpffs(paths) && layout.dir().exists() {
                true => None,
                false => Some(tracepoint_offsets(paths)?),
            };
            require_bpffs(paths)?;
            let lock = DirLock::create_and_lock(layout.dir())?;
            if layout.state() != PinState::Absent {
                return reuse(&layout);
            }
            let offsets = match offsets.take() {
                Some(offsets) => Ok(offsets),
                None => tracepoint_offsets(paths),
            };
            let result = offsets.and_then(|offsets| load_pinned(&layout, &offsets));
            if result.is_err() {
                // Nothing stays pinned; take the directories away again.
                let _ = layout.remove_all();
            }
            drop(lock);
            result
        }
    }
}

/// Reads the tracepoint formats and computes the field offsets.
pub fn tracepoint_offsets(paths: &ProbePaths) -> Result<FieldOffsets, ProbeError> {
    let tracefs = tracefs_root(paths)?;
    require_tracepoints(&tracefs)?;
    let formats = read_formats(&tracefs)?;
    field_offsets(&formats)
}

/// Opens the pinned probes, checking that every pin exists and that the maps have
/// this build's layout.
pub(super) fn reuse(layout: &PinLayout) -> Result<Probes, ProbeError> {
    match layout.state() {
        PinState::Complete => {}
        PinState::Absent => return Err(ProbeError::NotLoaded { dir: layout.dir().to_path_buf() }),
        PinState::Incomplete(missing) => {
            return Err(ProbeError::IncompletePins {
                dir: layout.dir().to_path_buf(),
                missing: missing.join(", "),
            });
        }
    }
    let maps = MapSet::from_pins(layout)?;
    let logger = pinned_logger(layout);
    let probes = Probes::from_parts(Origin::Reused, layout.clone(), maps, logger, None);
    let found = probes.layout_version()?;
    if found != LAYOUT_VERSION {
        return Err(ProbeError::LayoutMismatch {
            dir: layout.dir().to_path_buf(),
            found,
            expected: LAYOUT_VERSION,
        });
    }
    debug!("reusing the probes pinned under {}", layout.dir().display());
    Ok(probes)
}

/// Returns the aya-log level for the programs: the `log` crate's maximum level, so
/// that the programs produce debug records only when they would be printed.
pub(super) fn program_log_level() -> u8 {
    match log::max_level() {
        log::LevelFilter::Off => 0,
        log::LevelFilter::Error => aya_log::Level::Error as u8,
        log::LevelFilter::Warn => aya_log::Level::Warn as u8,
        log::LevelFilter::Info => aya_log::Level::Info as u8,
        log::LevelFilter::Debug => aya_log::Level::Debug as u8,
        log::LevelFilter::Trace => aya_log::Level::Trace as u8,
    }
}

/// The link of each attached program, by program name.
pub(super) type AttachedLinks = Vec<(&'static str, TracePointLinkId)>;

/// Loads the object and attaches every program; returns the object with the
/// programs' links still owned by it.
fn load_and_attach(offsets: &FieldOffsets) -> Result<(Ebpf, AttachedLinks), ProbeError> {
    // Without this feature aya leaves out the maps of `.data`, `.rodata` and `.bss`,
    // and the load fails later with an unknown-section relocation error.
    if !aya::features().bpf_global_data() {
        return Err(ProbeError::NoGlobalData);
    }
    let level = program_log_level();
    let mut ebpf = EbpfLoader::new()
        .override_global(FIELD_OFFSETS_GLOBAL, offsets, true)
        .override_global(aya_log::LEVEL, &level, false)
        .load(crate::objects::PROBES)
        .map_err(ProbeError::Load)?;
    let mut links = Vec::with_capacity(TRACEPOINTS.len());
    for tracepoint in TRACEPOINTS {
        let name = tracepoint.name;
        let program: &mut TracePoint = ebpf
            .program_mut(name)
            .ok_or(ProbeError::MissingProgram { program: name })?
            .try_into()
            .map_err(|source| ProbeError::Program { step: "loading", program: name, source })?;
        program.load().map_err(|source| ProbeError::Program {
            step: "loading",
            program: name,
            source,
        })?;
        let link = program.attach(TRACE_SYSTEM, name).map_err(|source| ProbeError::Program {
            step: "attaching",
            program: name,
            source,
        })?;
        links.push((name, link));
    }
    Ok((ebpf, links))
}

/// Opens the reader of the log records of a freshly loaded object.
pub(super) fn object_logger(ebpf: &mut Ebpf) -> Option<ProgramLogger> {
    aya_log::EbpfLogger::init(ebpf)
        .inspect_err(|error| warn!("the probes' log records cannot be read: {error}"))
        .ok()
}

/// Opens the reader of the log records of pinned probes, found through the
/// program of one pinned link.
fn pinned_logger(layout: &PinLayout) -> Option<ProgramLogger> {
    let path = layout.link_path(TRACEPOINTS[0].name);
    let program_id = PinnedLink::from_pin(&path)
        .and_then(|link| FdLink::from(link).info())
        .map(|info| info.program_id());
    let logger = program_id
        .map_err(|error| error.to_string())
        .and_then(|id| aya_log::EbpfLogger::init_from_id(id).map_err(|error| error.to_string()));
    logger.inspect_err(|error| warn!("the pinned probes' log records cannot be read: {error}")).ok()
}

/// Takes a typed map out of the object.
pub(super) fn take_map(ebpf: &mut Ebpf, name: &'static str) -> Result<aya::maps::Map, ProbeError> {
    ebpf.take_map(name).ok_or(ProbeError::MissingMap { map: name })
}

fn load_private(layout: PinLayout, offsets: &FieldOffsets) -> Result<Probes, ProbeError> {
    let (mut ebpf, _links) = load_and_attach(offsets)?;
    let logger = object_logger(&mut ebpf);
    let maps = MapSet::from_maps(|name| take_map(&mut ebpf, name))?;
    let mut probes = Probes::from_parts(Origin::LoadedPrivate, layout, maps, logger, Some(ebpf));
    probes.set_layout_version(LAYOUT_VERSION)?;
    info!("loaded the vtty probes for this process (not pinned)");
    Ok(probes)
}

fn load_pinned(layout: &PinLayout, offsets: &FieldOffsets) -> Result<Probes, ProbeError> {
    let (mut ebpf, links) = load_and_attach(offsets)?;
    layout.create_dirs()?;
    let pinned = pin_all(layout, &mut ebpf, links);
    if let Err(error) = pinned {
        // Remove what was pinned; dropping the object then detaches the programs.
        let _ = layout.remove_all();
        return Err(error);
    }
    let logger = object_logger(&mut ebpf);
    let maps = MapSet::from_maps(|name| take_map(&mut ebpf, name))?;
    let probes = Probes::from_parts(Origin::LoadedPinned, layout.clone(), maps, logger, None);
    info!("loaded the vtty probes and pinned them under {}", layout.dir().display());
    Ok(probes)
}

/// Pins every map and every link of a loaded object.
pub(super) fn pin_all(
    layout: &PinLayout,
    ebpf: &mut Ebpf,
    links: AttachedLinks,
) -> Result<(), ProbeError> {
    for name in maps::ALL {
        let path = layout.map_path(name);
        let map = ebpf.map(name).ok_or(ProbeError::MissingMap { map: name })?;
        map.pin(&path).map_err(|source| ProbeError::Pin { path, source })?;
    }
    // The layout version is written before the links are pinned, so a reader that
    // finds complete pins also finds the version.
    let settings =
        ebpf.map_mut(maps::SETTINGS).ok_or(ProbeError::MissingMap { map: maps::SETTINGS })?;
    let mut settings: aya::maps::Array<&mut aya::maps::MapData, u32> =
        aya::maps::Array::try_from(settings).map_err(|source| ProbeError::Map {
            step: "opening",
            map: maps::SETTINGS,
            source,
        })?;
    settings
        .set(vtty_common::probe::SETTING_LAYOUT_VERSION, LAYOUT_VERSION, 0)
        .map_err(|source| ProbeError::Map { step: "writing", map: maps::SETTINGS, source })?;
    for (name, link_id) in links {
        let path = layout.link_path(name);
        let program: &mut TracePoint = ebpf
            .program_mut(name)
            .ok_or(ProbeError::MissingProgram { program: name })?
            .try_into()
            .map_err(|source| ProbeError::Program { step: "pinning", program: name, source })?;
        let link = program.take_link(link_id).map_err(|source| ProbeError::Program {
            step: "pinning",
            program: name,
            source,
        })?;
        let fd_link = FdLink::try_from(link).map_err(|_| ProbeError::LinksNotPinnable)?;
        let pinned: PinnedLink =
            fd_link.pin(&path).map_err(|source| ProbeError::Pin { path, source })?;
        // Closing this process's descriptor leaves the pinned link attached.
        drop(pinned);
    }
    Ok(())
}

/// The result of [`unload`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unloaded {
    /// The pin directory.
    pub dir: PathBuf,
    /// The pins that were removed; empty when nothing was pinned.
    pub removed: Vec<PathBuf>,
}

/// Removes every pin of the probes. The programs detach when their links' pins are
/// gone and no process has the links open. A process that still reads the maps
/// keeps them until it exits.
pub fn unload(paths: &ProbePaths) -> Result<Unloaded, ProbeError> {
    require_root("unloading the vtty probes")?;
    require_bpffs(paths)?;
    let layout = PinLayout::new(paths.pin_dir());
    let dir = layout.dir().to_path_buf();
    if !dir.exists() {
        return Ok(Unloaded { dir, removed: Vec::new() });
    }
    let Some(lock) = DirLock::lock_existing(&dir)? else {
        return Ok(Unloaded { dir, removed: Vec::new() });
    };
    let removed = layout.remove_all()?;
    drop(lock);
    info!("removed {} pins under {}", removed.len(), dir.display());
    Ok(Unloaded { dir, removed })
}
