//! A handle on loaded probes, reused or loaded by this process, and reading their
//! maps.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aya::Ebpf;
use aya::maps::{Array, HashMap, Map, MapData, PerCpuArray, PerCpuHashMap};
use vtty_common::probe::{
    ContainerRecord, OpenCount, SETTING_LAYOUT_VERSION, SETTING_WRITE_EVENTS, STAT_READ_FAILED,
    STAT_RINGBUF_FULL, STAT_UPDATE_FAILED, TerminalCounters, TerminalKey, maps,
};

use super::error::ProbeError;
use super::pins::PinLayout;

/// How the probes of a handle came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Pinned probes that another process loaded.
    Reused,
    /// Loaded and pinned by this process; they stay after it exits.
    LoadedPinned,
    /// Loaded by this process without pins; detached when the handle drops.
    LoadedPrivate,
}

/// Failure counts of the programs, summed across CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProbeStats {
    /// Events lost because the ring buffer was full.
    pub ringbuf_full: u64,
    /// Records whose fields could not be read; their counters were not updated.
    pub read_failed: u64,
    /// Counter or open-count updates lost to a full or out-of-memory map.
    pub update_failed: u64,
}

/// Everything the probes counted, read at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeReadings {
    /// Counters of every terminal with a key, summed across CPUs.
    pub counters: BTreeMap<TerminalKey, TerminalCounters>,
    /// Open counts after the last open or close.
    pub open_counts: BTreeMap<TerminalKey, OpenCount>,
    /// Containers whose registration the probes saw, by nsid.
    pub containers: BTreeMap<u64, ContainerRecord>,
    /// Failure counts.
    pub stats: ProbeStats,
}

/// Maps of loaded probes; programs loaded by this process stay attached while the
/// handle lives.
pub struct Probes {
    pub(super) origin: Origin,
    pub(super) layout: PinLayout,
    pub(super) counters: PerCpuHashMap<MapData, TerminalKey, TerminalCounters>,
    pub(super) open_counts: HashMap<MapData, TerminalKey, OpenCount>,
    pub(super) containers: HashMap<MapData, u64, ContainerRecord>,
    pub(super) settings: Array<MapData, u32>,
    pub(super) stats: PerCpuArray<MapData, u64>,
    pub(super) events: Option<Map>,
    pub(super) logger: Option<ProgramLogger>,
    /// Programs and links of a private load; dropping it detaches them.
    pub(super) _ebpf: Option<Ebpf>,
}

impl std::fmt::Debug for Probes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probes")
            .field("origin", &self.origin)
            .field("pin_dir", &self.layout.dir())
            .finish()
    }
}

/// The typed maps of one set of probes, taken from an object or from pins.
pub(super) struct MapSet {
    pub counters: PerCpuHashMap<MapData, TerminalKey, TerminalCounters>,
    pub open_counts: HashMap<MapData, TerminalKey, OpenCount>,
    pub containers: HashMap<MapData, u64, ContainerRecord>,
    pub settings: Array<MapData, u32>,
    pub stats: PerCpuArray<MapData, u64>,
    pub events: Map,
}

/// Reader of the programs' aya-log records.
pub type ProgramLogger = aya_log::EbpfLogger<&'static dyn log::Log>;

fn map_error(
    step: &'static str,
    map: &'static str,
) -> impl FnOnce(aya::maps::MapError) -> ProbeError {
    move |source| ProbeError::Map { step, map, source }
}

fn ring_buffer(map: Map, name: &'static str) -> Result<Map, ProbeError> {
    match map {
        Map::RingBuf(_) => Ok(map),
        _ => Err(ProbeError::MapType { map: name, expected: "ring buffer" }),
    }
}

impl MapSet {
    /// Builds the set from maps by name; `take` returns each map once.
    pub fn from_maps(
        mut take: impl FnMut(&'static str) -> Result<Map, ProbeError>,
    ) -> Result<Self, ProbeError> {
        let typed = "opening";
        Ok(Self {
            counters: PerCpuHashMap::try_from(take(maps::COUNTERS)?)
                .map_err(map_error(typed, maps::COUNTERS))?,
            open_counts: HashMap::try_from(take(maps::OPEN_COUNTS)?)
                .map_err(map_error(typed, maps::OPEN_COUNTS))?,
            containers: HashMap::try_from(take(maps::CONTAINERS)?)
                .map_err(map_error(typed, maps::CONTAINERS))?,
            settings: Array::try_from(take(maps::SETTINGS)?)
                .map_err(map_error(typed, maps::SETTINGS))?,
            stats: PerCpuArray::try_from(take(maps::STATS)?)
                .map_err(map_error(typed, maps::STATS))?,
            events: ring_buffer(take(maps::EVENTS)?, maps::EVENTS)?,
        })
    }

    /// Opens every map from its pin.
    pub fn from_pins(layout: &PinLayout) -> Result<Self, ProbeError> {
        Self::from_maps(|name| {
            let data = MapData::from_pin(layout.map_path(name))
                .map_err(map_error("opening the pin of", name))?;
            Map::from_map_data(data).map_err(map_error("opening the pin of", name))
        })
    }
}

impl Probes {
    pub(super) fn from_parts(
        origin: Origin,
        layout: PinLayout,
        maps: MapSet,
        logger: Option<ProgramLogger>,
        ebpf: Option<Ebpf>,
    ) -> Self {
        Self {
            origin,
            layout,
            counters: maps.counters,
            open_counts: maps.open_counts,
            containers: maps.containers,
            settings: maps.settings,
            stats: maps.stats,
            events: Some(maps.events),
            logger,
            _ebpf: ebpf,
        }
    }

    /// How these probes came to be.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// True when the probes are pinned (reused or pinned by this process).
    pub fn is_pinned(&self) -> bool {
        self.origin != Origin::LoadedPrivate
    }

    /// The pin directory (where the probes are, or would be, pinned).
    pub fn pin_dir(&self) -> PathBuf {
        self.layout.dir().to_path_buf()
    }

    /// Counters of every terminal, summed across CPUs.
    pub fn counters(&self) -> Result<BTreeMap<TerminalKey, TerminalCounters>, ProbeError> {
        let mut totals = BTreeMap::new();
        for entry in self.counters.iter() {
            let (key, per_cpu) = entry.map_err(map_error("reading", maps::COUNTERS))?;
            let mut sum = TerminalCounters::default();
            for counters in per_cpu.iter() {
                sum.add(counters);
            }
            totals.insert(key, sum);
        }
        Ok(totals)
    }

    /// Open counts after each terminal's last open or close.
    pub fn open_counts(&self) -> Result<BTreeMap<TerminalKey, OpenCount>, ProbeError> {
        self.open_counts
            .iter()
            .collect::<Result<_, _>>()
            .map_err(map_error("reading", maps::OPEN_COUNTS))
    }

    /// Containers whose registration the probes saw.
    pub fn containers(&self) -> Result<BTreeMap<u64, ContainerRecord>, ProbeError> {
        self.containers
            .iter()
            .collect::<Result<_, _>>()
            .map_err(map_error("reading", maps::CONTAINERS))
    }

    /// Failure counts summed across CPUs.
    pub fn stats(&self) -> Result<ProbeStats, ProbeError> {
        let sum = |index: u32| -> Result<u64, ProbeError> {
            let per_cpu = self.stats.get(&index, 0).map_err(map_error("reading", maps::STATS))?;
            Ok(per_cpu.iter().fold(0u64, |total, value| total.wrapping_add(*value)))
        };
        Ok(ProbeStats {
            ringbuf_full: sum(STAT_RINGBUF_FULL)?,
            read_failed: sum(STAT_READ_FAILED)?,
            update_failed: sum(STAT_UPDATE_FAILED)?,
        })
    }

    /// Reads counters, open counts, containers and failure counts.
    pub fn read(&self) -> Result<ProbeReadings, ProbeError> {
        Ok(ProbeReadings {
            counters: self.counters()?,
            open_counts: self.open_counts()?,
            containers: self.containers()?,
            stats: self.stats()?,
        })
    }

    /// True while per-write events are switched on.
    pub fn write_events(&self) -> Result<bool, ProbeError> {
        let value = self
            .settings
            .get(&SETTING_WRITE_EVENTS, 0)
            .map_err(map_error("reading", maps::SETTINGS))?;
        Ok(value != 0)
    }

    /// Switches per-write events on or off for every reader of these probes.
    pub fn set_write_events(&mut self, on: bool) -> Result<(), ProbeError> {
        self.settings
            .set(SETTING_WRITE_EVENTS, u32::from(on), 0)
            .map_err(map_error("writing", maps::SETTINGS))
    }

    /// The map layout version the loader of these probes wrote.
    pub fn layout_version(&self) -> Result<u32, ProbeError> {
        self.settings.get(&SETTING_LAYOUT_VERSION, 0).map_err(map_error("reading", maps::SETTINGS))
    }

    pub(super) fn set_layout_version(&mut self, version: u32) -> Result<(), ProbeError> {
        self.settings
            .set(SETTING_LAYOUT_VERSION, version, 0)
            .map_err(map_error("writing", maps::SETTINGS))
    }
}
