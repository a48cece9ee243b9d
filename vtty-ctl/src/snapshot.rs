//! Per-container numbers as the CLI and the dashboard show them.
//!
//! A [`Snapshot`] joins the driver's registry (names, nsids, open counts, attach
//! state) with the probes' counters summed across CPUs. Either half may be missing:
//! the driver may be absent or the probes not loaded.

use serde::Serialize;

/// Counters of one terminal, summed across CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TerminalStats {
    /// Terminal index (0 is the console).
    pub index: u32,
    /// Open count now, from the probes (or the driver when probes are absent).
    pub open_count: u32,
    /// Successful opens since the container registered.
    pub opens: u64,
    /// Closes since the container registered.
    pub closes: u64,
    /// Write calls.
    pub writes: u64,
    /// Bytes the container wrote.
    pub bytes_written: u64,
    /// Bytes delivered to an attacher.
    pub bytes_delivered: u64,
    /// Bytes dropped.
    pub bytes_dropped: u64,
    /// Attaches since the container registered.
    pub attaches: u64,
    /// Detaches since the container registered.
    pub detaches: u64,
    /// The host has an attach file on this terminal (from the driver, or from the
    /// probes' attach and detach counts when the driver cannot be asked).
    pub attached: bool,
    /// Output is dropped because the attacher stalled (from the driver only).
    pub stalled: bool,
}

/// One container with its terminals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ContainerStats {
    /// The pid namespace's `ns_id`.
    pub nsid: u64,
    /// Registered name (the ctid); empty when only the probes know the nsid.
    pub name: String,
    /// Registered (true) or fenced after unregister (false).
    pub registered: bool,
    /// The probes saw this container register, so its counters cover its whole
    /// registration and equal the driver's totals. False when the probes were
    /// loaded later: then they count only what happened since.
    pub counted_from_register: bool,
    /// All 12 terminals by index.
    pub terminals: Vec<TerminalStats>,
}

impl ContainerStats {
    /// Terminals with at least one open file.
    pub fn open_terminals(&self) -> usize {
        self.terminals.iter().filter(|t| t.open_count > 0).count()
    }

    /// True when any terminal has an attacher.
    pub fn attached(&self) -> bool {
        self.terminals.iter().any(|t| t.attached)
    }

    /// Bytes written over all terminals.
    pub fn bytes_written(&self) -> u64 {
        self.terminals.iter().map(|t| t.bytes_written).sum()
    }

    /// Bytes delivered over all terminals.
    pub fn bytes_delivered(&self) -> u64 {
        self.terminals.iter().map(|t| t.bytes_delivered).sum()
    }

    /// Bytes dropped over all terminals.
    pub fn bytes_dropped(&self) -> u64 {
        self.terminals.iter().map(|t| t.bytes_dropped).sum()
    }
}

/// Where the numbers of a snapshot came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Sources {
    /// The driver is loaded (listed in `/proc/tty/drivers`).
    pub driver_loaded: bool,
    /// The probes are loaded (by this process or pinned).
    pub probes_loaded: bool,
    /// Ring-buffer reserve failures counted by the probes.
    pub ringbuf_full: u64,
    /// Tracepoint records the probes could not read, so their counts are missing.
    pub read_failed: u64,
    /// Counter updates the probes lost to a full map.
    pub update_failed: u64,
    /// Why a source is missing, for a status line.
    pub problems: Vec<String>,
}

/// Every container at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// `CLOCK_MONOTONIC` time of the snapshot in nanoseconds.
    pub taken_at_ns: u64,
    /// Containers sorted by name, then nsid.
    pub containers: Vec<ContainerStats>,
    /// Which sources contributed.
    pub sources: Sources,
}
