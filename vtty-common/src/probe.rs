//! Map keys, counters and events of the eBPF programs on the `vtty:*` tracepoints.
//!
//! Every tracepoint of the driver carries `nsid` (the pid namespace's 64-bit
//! `ns_id`) and `index` (the terminal, or `VTTY_INDEX_ALL` for container events).
//! The programs do not hard-code where those fields sit in the tracepoint record:
//! user space reads each event's `format` file at load time and passes the offsets
//! in [`FieldOffsets`].

use crate::abi::VTTY_NAME_LEN;

/// A tracepoint of the driver and the record fields its program reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracepoint {
    /// Event name in the `vtty` tracing system; the eBPF program attached to it has
    /// the same name.
    pub name: &'static str,
    /// Fields the program reads from the record.
    pub fields: &'static [Field],
}

/// Tracing system of the driver's tracepoints.
pub const TRACE_SYSTEM: &str = "vtty";

/// The driver's tracepoints, in the order of a terminal's life.
pub const TRACEPOINTS: [Tracepoint; 8] = [
    Tracepoint {
        name: "vtty_register",
        fields: &[Field::Nsid, Field::Index, Field::InitPid, Field::Name],
    },
    Tracepoint { name: "vtty_install", fields: &[Field::Nsid, Field::Index] },
    Tracepoint { name: "vtty_open", fields: &[Field::Nsid, Field::Index, Field::Count] },
    Tracepoint {
        name: "vtty_write",
        fields: &[Field::Nsid, Field::Index, Field::Offered, Field::Delivered, Field::Dropped],
    },
    Tracepoint { name: "vtty_attach", fields: &[Field::Nsid, Field::Index, Field::Flags] },
    Tracepoint { name: "vtty_detach", fields: &[Field::Nsid, Field::Index, Field::Reason] },
    Tracepoint { name: "vtty_close", fields: &[Field::Nsid, Field::Index, Field::Count] },
    Tracepoint { name: "vtty_unregister", fields: &[Field::Nsid, Field::Index, Field::Reason] },
];

/// `reason` of `vtty_unregister`: `VTTY_IOC_UNREGISTER` ended the registration.
pub const UNREGISTER_IOCTL: u32 = 0;
/// `reason` of `vtty_unregister`: the container's init exited.
pub const UNREGISTER_EXITED: u32 = 1;

/// `reason` of `vtty_detach`: the attacher closed its file.
pub const DETACH_CLOSED: u32 = 0;
/// `reason` of `vtty_detach`: another attacher took the terminal over.
pub const DETACH_TAKEOVER: u32 = 1;
/// `reason` of `vtty_detach`: the terminal was hung up or the container ended.
pub const DETACH_ENDED: u32 = 2;

/// Key of the per-terminal maps.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TerminalKey {
    /// The container's nsid.
    pub nsid: u64,
    /// Terminal index, 0..12.
    pub index: u32,
    /// Explicit padding to 16 bytes, always 0 so that keys compare byte for byte.
    pub pad: u32,
}

impl TerminalKey {
    /// Key of terminal `index` of container `nsid`.
    pub const fn new(nsid: u64, index: u32) -> Self {
        Self { nsid, index, pad: 0 }
    }
}

/// Counters of one terminal on one CPU; user space sums them across CPUs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TerminalCounters {
    /// `vtty_open` events (successful opens of the tty).
    pub opens: u64,
    /// `vtty_close` events.
    pub closes: u64,
    /// Number of `vtty_write` calls.
    pub writes: u64,
    /// Bytes the container offered to the driver's write.
    pub bytes_written: u64,
    /// Bytes delivered to an attacher.
    pub bytes_delivered: u64,
    /// Bytes dropped because nobody was attached or the attacher stalled.
    pub bytes_dropped: u64,
    /// `vtty_attach` events.
    pub attaches: u64,
    /// `vtty_detach` events.
    pub detaches: u64,
}

impl TerminalCounters {
    /// Adds `other` field by field, wrapping like the 64-bit counters in the kernel.
    pub fn add(&mut self, other: &Self) {
        self.opens = self.opens.wrapping_add(other.opens);
        self.closes = self.closes.wrapping_add(other.closes);
        self.writes = self.writes.wrapping_add(other.writes);
        self.bytes_written = self.bytes_written.wrapping_add(other.bytes_written);
        self.bytes_delivered = self.bytes_delivered.wrapping_add(other.bytes_delivered);
        self.bytes_dropped = self.bytes_dropped.wrapping_add(other.bytes_dropped);
        self.attaches = self.attaches.wrapping_add(other.attaches);
        self.detaches = self.detaches.wrapping_add(other.detaches);
    }
}

/// Current open count of a terminal, from the `count` field of the last
/// `vtty_open` or `vtty_close` (the tty core's `tty->count` after the change).
/// Stored in a plain hash map because it is a level, not a sum.
pub type OpenCount = u32;

/// A container the probes saw register, value of the `CONTAINERS` map.
///
/// Only containers registered while the probes were attached have an entry, so an
/// entry means the counters of that container cover its whole registration.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ContainerRecord {
    /// `bpf_ktime_get_ns()` of the `vtty_register` event.
    pub registered_ns: u64,
    /// Pid of the container's init in the initial pid namespace.
    pub init_pid: i32,
    /// Explicit padding to 16 bytes, always 0.
    pub pad: u32,
}

/// Kind of an event in the ring buffer.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    /// A container was registered.
    Register = 1,
    /// A container was unregistered or its init exited.
    Unregister = 2,
    /// A tty was created for a terminal.
    Install = 3,
    /// A terminal was opened.
    Open = 4,
    /// A terminal was closed.
    Close = 5,
    /// A host process attached to a terminal.
    Attach = 6,
    /// The attacher left, was taken over, or the terminal ended.
    Detach = 7,
    /// One write by the container (only while per-write events are on).
    Write = 8,
}

impl EventKind {
    /// Converts the raw `kind` field of an [`Event`].
    pub fn from_raw(raw: u32) -> Option<Self> {
        Some(match raw {
            1 => Self::Register,
            2 => Self::Unregister,
            3 => Self::Install,
            4 => Self::Open,
            5 => Self::Close,
            6 => Self::Attach,
            7 => Self::Detach,
            8 => Self::Write,
            _ => return None,
        })
    }

    /// The event's name as the tools print it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Unregister => "unregister",
            Self::Install => "install",
            Self::Open => "open",
            Self::Close => "close",
            Self::Attach => "attach",
            Self::Detach => "detach",
            Self::Write => "write",
        }
    }
}

/// An event pushed to the `EVENTS` ring buffer. A register event is followed by
/// the container's name in a [`RegisterEvent`] record.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// `bpf_ktime_get_ns()` when the tracepoint fired (`CLOCK_MONOTONIC`,
    /// nanoseconds).
    pub timestamp_ns: u64,
    /// The container's nsid.
    pub nsid: u64,
    /// An [`EventKind`] as `u32`.
    pub kind: u32,
    /// Terminal index, or `VTTY_INDEX_ALL` for register and unregister.
    pub index: u32,
    /// Thread group id of the task that fired the tracepoint.
    pub tgid: u32,
    /// Open count after an open or close (`s32` in the record), attach flags,
    /// detach or unregister reason, or the init pid of a register (`s32`).
    pub value: u32,
    /// Bytes offered (write events only).
    pub offered: u32,
    /// Bytes delivered to the attacher (write events only).
    pub delivered: u32,
    /// Bytes dropped (write events only).
    pub dropped: u32,
    /// Explicit padding, always 0.
    pub pad: u32,
    /// `comm` of the task that fired the tracepoint, NUL-padded.
    pub comm: [u8; 16],
}

impl Event {
    /// An event with every field 0, for the programs to fill in.
    pub const fn zeroed() -> Self {
        Self {
            timestamp_ns: 0,
            nsid: 0,
            kind: 0,
            index: 0,
            tgid: 0,
            value: 0,
            offered: 0,
            delivered: 0,
            dropped: 0,
            pad: 0,
            comm: [0; 16],
        }
    }
}

/// The ring-buffer record of a register event: the event and the registered name.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterEvent {
    /// The event, with `kind` [`EventKind::Register`].
    pub event: Event,
    /// The name given at registration, NUL-terminated.
    pub name: [u8; VTTY_NAME_LEN],
}

/// A field of a tracepoint record, and its index in [`FieldOffsets::offsets`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// `nsid` (u64) of every event.
    Nsid = 0,
    /// `index` (u32) of every event.
    Index = 1,
    /// `count` (s32) of `vtty_open` and `vtty_close`.
    Count = 2,
    /// `offered` (u32) of `vtty_write`.
    Offered = 3,
    /// `delivered` (u32) of `vtty_write`.
    Delivered = 4,
    /// `dropped` (u32) of `vtty_write`.
    Dropped = 5,
    /// `init_pid` (s32) of `vtty_register`.
    InitPid = 6,
    /// `flags` (u32) of `vtty_attach`.
    Flags = 7,
    /// `reason` (u32) of `vtty_detach` and `vtty_unregister`.
    Reason = 8,
    /// `name` (char[64]) of `vtty_register`.
    Name = 9,
}

/// Number of entries in [`FieldOffsets::offsets`].
pub const FIELD_COUNT: usize = 10;

impl Field {
    /// Every field, in index order.
    pub const ALL: [Field; FIELD_COUNT] = [
        Field::Nsid,
        Field::Index,
        Field::Count,
        Field::Offered,
        Field::Delivered,
        Field::Dropped,
        Field::InitPid,
        Field::Flags,
        Field::Reason,
        Field::Name,
    ];

    /// The field's name in the tracepoint `format` files.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Nsid => "nsid",
            Field::Index => "index",
            Field::Count => "count",
            Field::Offered => "offered",
            Field::Delivered => "delivered",
            Field::Dropped => "dropped",
            Field::InitPid => "init_pid",
            Field::Flags => "flags",
            Field::Reason => "reason",
            Field::Name => "name",
        }
    }

    /// The size in bytes the programs read, which the `format` file must match.
    pub const fn size(self) -> usize {
        match self {
            Field::Nsid => 8,
            Field::Name => VTTY_NAME_LEN,
            Field::Index
            | Field::Count
            | Field::Offered
            | Field::Delivered
            | Field::Dropped
            | Field::InitPid
            | Field::Flags
            | Field::Reason => 4,
        }
    }
}

/// Byte offsets of tracepoint fields inside the tracepoint record, read from the
/// `format` files at load time and handed to the programs as a global.
///
/// One table serves all events because the driver gives a field the same offset in
/// every event that has it; the loader checks that and refuses to load otherwise.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldOffsets {
    /// Offsets by [`Field`]; [`FieldOffsets::MISSING`] marks a field that no event
    /// has.
    pub offsets: [u16; FIELD_COUNT],
}

impl FieldOffsets {
    /// The offset value of a field that no event has.
    pub const MISSING: u16 = u16::MAX;

    /// Offsets with every field marked missing.
    pub const fn missing() -> Self {
        Self { offsets: [Self::MISSING; FIELD_COUNT] }
    }

    /// Offset of `field`, `None` when it is marked missing.
    pub const fn get(&self, field: Field) -> Option<usize> {
        match self.offsets[field as usize] {
            Self::MISSING => None,
            offset => Some(offset as usize),
        }
    }
}

/// Index in the `SETTINGS` array map: nonzero enables per-write events.
pub const SETTING_WRITE_EVENTS: u32 = 0;
/// Index in the `SETTINGS` array map: the [`LAYOUT_VERSION`] the loader wrote, so
/// that a later loader can tell whether pinned maps have its layout.
pub const SETTING_LAYOUT_VERSION: u32 = 1;
/// Number of entries of the `SETTINGS` array map.
pub const SETTINGS_LEN: u32 = 2;

/// Version of the map layout (key, value and event types of this module). Changes
/// whenever one of them changes.
pub const LAYOUT_VERSION: u32 = 1;

/// Index in the `STATS` per-CPU array: ring-buffer reserve failures, so events
/// that were lost because the ring buffer was full.
pub const STAT_RINGBUF_FULL: u32 = 0;
/// Index in the `STATS` per-CPU array: tracepoint records whose fields could not be
/// read, or whose index was out of range; their counters were not updated.
pub const STAT_READ_FAILED: u32 = 1;
/// Index in the `STATS` per-CPU array: failed map updates (a full or out-of-memory
/// hash map), each a counter increment that was lost.
pub const STAT_UPDATE_FAILED: u32 = 2;
/// Number of entries of the `STATS` per-CPU array.
pub const STATS_LEN: u32 = 3;

/// Capacity of the per-terminal maps: 12 terminals of 4096 containers. The maps are
/// allocated on use (`BPF_F_NO_PREALLOC`), so the capacity costs no memory.
pub const MAX_TERMINALS: u32 = 12 * 4096;
/// Capacity of the `CONTAINERS` map.
pub const MAX_CONTAINERS: u32 = 4096;
/// Size of the `EVENTS` ring buffer in bytes (a power of two, a multiple of the
/// page size): room for 16384 events.
pub const EVENTS_BYTES: u32 = 1 << 20;

/// Map names, shared by the programs and the loader (also the pin file names under
/// the pin directory's `maps/`).
pub mod maps {
    /// Per-CPU hash map [`super::TerminalKey`] to [`super::TerminalCounters`].
    pub const COUNTERS: &str = "COUNTERS";
    /// Hash map [`super::TerminalKey`] to [`super::OpenCount`].
    pub const OPEN_COUNTS: &str = "OPEN_COUNTS";
    /// Hash map nsid (u64) to [`super::ContainerRecord`].
    pub const CONTAINERS: &str = "CONTAINERS";
    /// Ring buffer of [`super::Event`] and [`super::RegisterEvent`] records.
    pub const EVENTS: &str = "EVENTS";
    /// Array of u32 settings, indexed by `SETTING_*`.
    pub const SETTINGS: &str = "SETTINGS";
    /// Per-CPU array of u64 statistics, indexed by `STAT_*`.
    pub const STATS: &str = "STATS";
    /// Ring buffer of aya-log records (name fixed by `aya-log-ebpf`).
    pub const LOGS: &str = "AYA_LOGS";
    /// Every map the loader pins.
    pub const ALL: [&str; 7] = [COUNTERS, OPEN_COUNTS, CONTAINERS, EVENTS, SETTINGS, STATS, LOGS];
}

/// Name of the global that holds the [`FieldOffsets`] in the programs.
pub const FIELD_OFFSETS_GLOBAL: &str = "FIELD_OFFSETS";

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain #[repr(C)] integers with explicit padding fields, valid for any
    // bit pattern.
    unsafe impl aya::Pod for super::TerminalKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::TerminalCounters {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::ContainerRecord {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Event {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::RegisterEvent {}
    // SAFETY: an array of u16 without padding, valid for any bit pattern.
    unsafe impl aya::Pod for super::FieldOffsets {}
}

#[cfg(test)]
mod tests {
    use core::mem::{offset_of, size_of};

    use super::*;

    #[test]
    fn record_sizes_have_no_hidden_padding() {
        assert_eq!(size_of::<TerminalKey>(), 16);
        assert_eq!(size_of::<TerminalCounters>(), 64);
        assert_eq!(size_of::<ContainerRecord>(), 16);
        assert_eq!(size_of::<Event>(), 64);
        assert_eq!(size_of::<RegisterEvent>(), 128);
        assert_eq!(size_of::<FieldOffsets>(), 2 * FIELD_COUNT);
        assert_eq!(offset_of!(Event, comm), 48);
    }

    #[test]
    fn field_table_is_in_index_order() {
        for (position, field) in Field::ALL.iter().enumerate() {
            assert_eq!(*field as usize, position);
        }
    }

    #[test]
    fn event_kind_round_trips() {
        for raw in 1..=8 {
            let kind = EventKind::from_raw(raw).expect("known kind");
            assert_eq!(kind as u32, raw);
        }
        assert_eq!(EventKind::from_raw(0), None);
        assert_eq!(EventKind::from_raw(9), None);
    }

    #[test]
    fn every_tracepoint_reads_nsid_and_index_first() {
        for tracepoint in TRACEPOINTS {
            assert_eq!(
                &tracepoint.fields[..2],
                &[Field::Nsid, Field::Index],
                "{}",
                tracepoint.name
            );
        }
    }

    #[test]
    fn missing_offsets_read_as_none() {
        let mut offsets = FieldOffsets::missing();
        assert_eq!(offsets.get(Field::Count), None);
        offsets.offsets[Field::Count as usize] = 20;
        assert_eq!(offsets.get(Field::Count), Some(20));
    }
}
