//! The maps of the tracepoint programs; names and layouts are in
//! `vtty_common::probe`.

use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    macros::map,
    maps::{Array, HashMap, PerCpuArray, PerCpuHashMap, RingBuf},
};
use vtty_common::probe::{
    ContainerRecord, EVENTS_BYTES, MAX_CONTAINERS, MAX_TERMINALS, OpenCount, SETTINGS_LEN,
    STATS_LEN, TerminalCounters, TerminalKey,
};

/// Per-terminal counters, one slot per CPU. Allocated on use so that an entry
/// deleted on unregister is freed after an RCU grace period instead of being reused
/// under a program that still holds a pointer to it.
#[map]
pub static COUNTERS: PerCpuHashMap<TerminalKey, TerminalCounters> =
    PerCpuHashMap::with_max_entries(MAX_TERMINALS, BPF_F_NO_PREALLOC);

/// Open count of each terminal after its last open or close.
#[map]
pub static OPEN_COUNTS: HashMap<TerminalKey, OpenCount> =
    HashMap::with_max_entries(MAX_TERMINALS, BPF_F_NO_PREALLOC);

/// Containers registered while the probes were attached, by nsid.
#[map]
pub static CONTAINERS: HashMap<u64, ContainerRecord> =
    HashMap::with_max_entries(MAX_CONTAINERS, BPF_F_NO_PREALLOC);

/// Lifecycle and per-write events for user space.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_BYTES, 0);

/// Run-time switches written by user space, indexed by `SETTING_*`.
#[map]
pub static SETTINGS: Array<u32> = Array::with_max_entries(SETTINGS_LEN, 0);

/// Failure counts, indexed by `STAT_*`, one slot per CPU.
#[map]
pub static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(STATS_LEN, 0);
