//! Map keys, counters and events of the eBPF programs on the `vtty:*` tracepoints.
//!
//! Every tracepoint of the driver carries `nsid` (the pid namespace's 64-bit
//! `ns_id`) and `index` (the terminal, or `VTTY_INDEX_ALL` for container events).
//! The programs do not hard-code where those fields sit in the tracepoint record:
//! user space reads each event's `format` file at load time and passes the offsets
//! in [`FieldOffsets`].

/// Names of the driver's tracepoints, in the `vtty` tracing system.
pub const TRACEPOINTS: [&str; 8] = [
    "vtty_register",
    "vtty_unregister",
    "vtty_install",
    "vtty_open",
    "vtty_close",
    "vtty_write",
    "vtty_attach",
    "vtty_detach",
];

/// Key of the per-terminal counter map.
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

/// Current open count of a terminal, from the `count` field of the last
/// `vtty_open` or `vtty_close` (the tty core's `tty->count` after the change).
/// Stored in a plain hash map: it is a level, not a sum.
pub type OpenCount = u32;

/// Kind of a lifecycle event in the ring buffer.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// A lifecycle or per-write event, pushed to the `EVENTS` ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// `bpf_ktime_get_ns()` when the tracepoint fired (monotonic, nanoseconds).
    pub timestamp_ns: u64,
    /// The container's nsid.
    pub nsid: u64,
    /// An [`EventKind`] as `u32`.
    pub kind: u32,
    /// Terminal index, or `VTTY_INDEX_ALL` for register and unregister.
    pub index: u32,
    /// Thread group id of the task that fired the tracepoint.
    pub tgid: u32,
    /// Open count after an open or close, attach flags, detach or unregister
    /// reason, or the init pid of a register.
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

/// Index of a field in [`FieldOffsets::offsets`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
}

/// Number of entries in [`FieldOffsets::offsets`].
pub const FIELD_COUNT: usize = 9;

/// Byte offsets of tracepoint fields inside the tracepoint record, read from the
/// `format` files at load time and handed to the programs as a global.
///
/// One table serves all events because the driver gives a field the same offset in
/// every event that has it; the loader checks that and refuses to load otherwise.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldOffsets {
    /// Offsets by [`Field`]; `u16::MAX` marks a field that no event has.
    pub offsets: [u16; FIELD_COUNT],
    /// Explicit padding to an even size, always 0.
    pub pad: u16,
}

impl FieldOffsets {
    /// Offsets with every field marked missing.
    pub const fn missing() -> Self {
        Self { offsets: [u16::MAX; FIELD_COUNT], pad: 0 }
    }

    /// Offset of `field`, `None` when it is marked missing.
    pub fn get(&self, field: Field) -> Option<usize> {
        match self.offsets[field as usize] {
            u16::MAX => None,
            offset => Some(offset as usize),
        }
    }
}

/// Index in the `SETTINGS` array map: nonzero enables per-write events.
pub const SETTING_WRITE_EVENTS: u32 = 0;
/// Number of entries of the `SETTINGS` array map.
pub const SETTINGS_LEN: u32 = 1;

/// Index in the `STATS` per-CPU array: ring-buffer reserve failures.
pub const STAT_RINGBUF_FULL: u32 = 0;
/// Index in the `STATS` per-CPU array: events whose field could not be read.
pub const STAT_READ_FAILED: u32 = 1;
/// Number of entries of the `STATS` per-CPU array.
pub const STATS_LEN: u32 = 2;

/// Map names, shared by the programs and the loader (also the pin file names under
/// `/sys/fs/bpf/vtty/`).
pub mod maps {
    /// Per-CPU hash map [`super::TerminalKey`] to [`super::TerminalCounters`].
    pub const COUNTERS: &str = "COUNTERS";
    /// Hash map [`super::TerminalKey`] to [`super::OpenCount`].
    pub const OPEN_COUNTS: &str = "OPEN_COUNTS";
    /// Ring buffer of [`super::Event`].
    pub const EVENTS: &str = "EVENTS";
    /// Array of u32 settings, indexed by `SETTING_*`.
    pub const SETTINGS: &str = "SETTINGS";
    /// Per-CPU array of u64 statistics, indexed by `STAT_*`.
    pub const STATS: &str = "STATS";
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: plain #[repr(C)] integers with explicit padding fields, valid for any
    // bit pattern.
    unsafe impl aya::Pod for super::TerminalKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::TerminalCounters {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Event {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FieldOffsets {}
}
