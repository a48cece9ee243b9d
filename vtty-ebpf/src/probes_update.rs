//! Map updates and ring-buffer output shared by the tracepoint programs.

use aya_ebpf::helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_ktime_get_ns};
use vtty_common::{
    abi::{VTTY_INDEX_ALL, VTTY_NAME_LEN, VTTY_TERMINALS},
    probe::{
        ContainerRecord, Event, EventKind, RegisterEvent, SETTING_WRITE_EVENTS, STAT_READ_FAILED,
        STAT_RINGBUF_FULL, STAT_UPDATE_FAILED, TerminalCounters, TerminalKey,
    },
};

use crate::probes_maps::{CONTAINERS, COUNTERS, EVENTS, OPEN_COUNTS, SETTINGS, STATS};
use crate::probes_record::{Failure, Record, WriteSizes};

/// Adds one to the `STATS` slot `index` of this CPU.
#[inline(always)]
fn bump_stat(index: u32) {
    if let Some(slot) = STATS.get_ptr_mut(index) {
        // SAFETY: the pointer is this CPU's slot of a per-CPU array; only this CPU
        // writes it, and a program is not preempted while it runs.
        unsafe { *slot += 1 };
    }
}

/// Counts a program that stopped early.
#[inline(always)]
pub fn count_failure(failure: Failure) {
    match failure {
        Failure::Read => bump_stat(STAT_READ_FAILED),
    }
}

/// Applies `change` to this CPU's counters of `key`, creating the entry if needed.
#[inline(always)]
pub fn update_counters(key: &TerminalKey, change: impl Fn(&mut TerminalCounters)) {
    match COUNTERS.get_ptr_mut(key) {
        Some(counters) => {
            // SAFETY: the pointer is this CPU's slot of a per-CPU hash entry; only
            // this CPU writes it while a program runs without preemption, and
            // entries are freed only after an RCU grace period (no preallocation).
            change(unsafe { &mut *counters });
        }
        None => {
            let mut fresh = TerminalCounters::default();
            change(&mut fresh);
            // A per-CPU insert with BPF_ANY writes only this CPU's slot, even when
            // another CPU created the entry in the meantime.
            if COUNTERS.insert(key, &fresh, 0).is_err() {
                bump_stat(STAT_UPDATE_FAILED);
            }
        }
    }
}

/// Records the open count of a terminal after an open or close.
#[inline(always)]
pub fn set_open_count(key: &TerminalKey, count: u32) {
    if OPEN_COUNTS.insert(key, &count, 0).is_err() {
        bump_stat(STAT_UPDATE_FAILED);
    }
}

/// Remembers that the probes saw container `nsid` register.
#[inline(always)]
pub fn remember_container(nsid: u64, init_pid: i32) {
    let record = ContainerRecord {
        // SAFETY: bpf_ktime_get_ns has no preconditions.
        registered_ns: unsafe { bpf_ktime_get_ns() },
        init_pid,
        pad: 0,
    };
    if CONTAINERS.insert(nsid, &record, 0).is_err() {
        bump_stat(STAT_UPDATE_FAILED);
    }
}

/// Deletes every key of container `nsid`: its record and the counters and open
/// counts of all its terminals. Missing keys are fine.
#[inline(always)]
pub fn delete_container(nsid: u64) {
    let _ = CONTAINERS.remove(nsid);
    for index in 0..VTTY_TERMINALS {
        let key = TerminalKey::new(nsid, index);
        let _ = COUNTERS.remove(&key);
        let _ = OPEN_COUNTS.remove(&key);
    }
}

/// True while user space has switched per-write events on.
#[inline(always)]
pub fn is_write_events_on() -> bool {
    SETTINGS.get(SETTING_WRITE_EVENTS).is_some_and(|value| *value != 0)
}

/// An event of `kind` with the timestamp and the current task filled in.
#[inline(always)]
fn new_event(kind: EventKind, nsid: u64, index: u32, value: u32) -> Event {
    let mut event = Event::zeroed();
    // SAFETY: bpf_ktime_get_ns has no preconditions.
    event.timestamp_ns = unsafe { bpf_ktime_get_ns() };
    event.nsid = nsid;
    event.kind = kind as u32;
    event.index = index;
    event.tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    event.value = value;
    event.comm = bpf_get_current_comm().unwrap_or([0; 16]);
    event
}

/// Pushes an event to the ring buffer, or counts it as lost when the buffer is full.
#[inline(always)]
pub fn emit_event(kind: EventKind, nsid: u64, index: u32, value: u32, write: Option<WriteSizes>) {
    let mut event = new_event(kind, nsid, index, value);
    if let Some(write) = write {
        event.offered = write.offered;
        event.delivered = write.delivered;
        event.dropped = write.dropped;
    }
    match EVENTS.reserve::<Event>(0) {
        Some(mut entry) => {
            entry.write(event);
            entry.submit(0);
        }
        None => bump_stat(STAT_RINGBUF_FULL),
    }
}

/// Pushes a register event with the container's name. A name that cannot be read
/// is sent empty and counted as a read failure.
#[inline(always)]
pub fn emit_register(record: &Record<'_>, nsid: u64, init_pid: i32) {
    let mut name = [0u8; VTTY_NAME_LEN];
    if record.copy_name(&mut name).is_err() {
        name = [0u8; VTTY_NAME_LEN];
        bump_stat(STAT_READ_FAILED);
    }
    let event = new_event(EventKind::Register, nsid, VTTY_INDEX_ALL, init_pid as u32);
    match EVENTS.reserve::<RegisterEvent>(0) {
        Some(mut entry) => {
            entry.write(RegisterEvent { event, name });
            entry.submit(0);
        }
        None => bump_stat(STAT_RINGBUF_FULL),
    }
}
