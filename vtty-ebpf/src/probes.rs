//! Tracepoint programs on the vtty driver's `vtty:*` events.
//!
//! Each program reads its record through the field offsets the loader took from the
//! tracepoint `format` files ([`FIELD_OFFSETS`]), keeps per-terminal counters in
//! per-CPU maps (bpfel has no atomic read-modify-write, and a per-CPU slot is only
//! written by its own CPU with preemption off), and pushes lifecycle events, and
//! per-write events while they are switched on, to the `EVENTS` ring buffer.
#![no_std]
#![no_main]

mod probes_maps;
mod probes_record;
mod probes_update;

use aya_ebpf::{Global, macros::tracepoint, programs::TracePointContext};
use aya_log_ebpf::{debug, warn};
use vtty_common::probe::{EventKind, FieldOffsets, TerminalCounters};
use vtty_ebpf as _;

use probes_record::{Failure, Record};
use probes_update::{
    count_failure, delete_container, emit_event, emit_register, is_write_events_on, set_open_count,
    update_counters,
};

/// Offsets of the fields in the tracepoint records, written by the loader before
/// the programs are loaded. All fields read as missing until then.
#[unsafe(no_mangle)]
static FIELD_OFFSETS: Global<FieldOffsets> = Global::new(FieldOffsets::missing());

/// Ends the program of tracepoint `name`: a failure is counted in `STATS` and
/// logged, and a tracepoint program returns 0 either way.
#[inline(always)]
fn finish(ctx: &TracePointContext, name: &str, result: Result<(), Failure>) -> u32 {
    if let Err(failure) = result {
        count_failure(failure);
        warn!(ctx, "{}: a record field could not be read or the index is out of range", name);
    }
    0
}

#[tracepoint(category = "vtty", name = "vtty_register")]
pub fn vtty_register(ctx: TracePointContext) -> u32 {
    finish(&ctx, "vtty_register", try_register(&ctx))
}

fn try_register(ctx: &TracePointContext) -> Result<(), Failure> {
    let record = Record::new(ctx, FIELD_OFFSETS.load());
    let nsid = record.nsid()?;
    let init_pid = record.init_pid()?;
    probes_update::remember_container(nsid, init_pid);
    emit_register(&record, nsid, init_pid);
    debug!(ctx, "container {} registered, init pid {}", nsid, init_pid);
    Ok(())
}

#[tracepoint(category = "vtty", name = "vtty_unregister")]
pub fn vtty_unregister(ctx: TracePointContext) -> u32 {
    finish(&ctx, "vtty_unregister", try_unregister(&ctx))
}

fn try_unregister(ctx: &TracePointContext) -> Result<(), Failure> {
    let record = Record::new(ctx, FIELD_OFFSETS.load());
    let nsid = record.nsid()?;
    let index = record.raw_index()?;
    let reason = record.reason()?;
    emit_event(EventKind::Unregister, nsid, index, reason, None);
    delete_container(nsid);
    debug!(ctx, "container {} unregistered (reason {}), its keys deleted", nsid, reason);
    Ok(())
}

#[tracepoint(category = "vtty", name = "vtty_install")]
pub fn vtty_install(ctx: TracePointContext) -> u32 {
    finish(&ctx, "vtty_install", try_install(&ctx))
}

fn try_install(ctx: &TracePointContext) -> Result<(), Failure> {
    let record = Record::new(ctx, FIELD_OFFSETS.load());
    let key = record.terminal_key()?;
    emit_event(EventKind::Install, key.nsid, key.index, 0, None);
    Ok(())
}

#[tracepoint(category = "vtty", name = "vtty_open")]
pub fn vtty_open(ctx: TracePointContext) -> u32 {
    finish(&ctx, "vtty_open", try_open_or_close(&ctx, EventKind::Open))
}

#[tracepoint(category = "vtty", name = "vtty_close")]
pub fn vtty_close(ctx: TracePointContext) -> u32 {
    finish(&ctx, "vtty_close", try_open_or_close(&ctx, EventKind::Close))
}

#[inline(always)]
fn try_open_or_close(ctx: &TracePointContext, kind: EventKind) -> Result<(), Failure> {
    let record = Record::new(ctx, FIELD_OFFSETS.load());
    let key = record.terminal_key()?;
    let count = record.count()?;
    update_counters(&key, |counters: &mut TerminalCounters| {
        if kind == EventKind::Open {
            counters.opens += 1;
        } else {
            counters.closes += 1;
        }
    });
    set_open_count(&key, count);
    emit_event(kind, key.nsid, key.index, count, None);
    Ok(())
}

#[tracepoint(category = "vtty", name = "vtty_attach")]
pub fn vtty_attach(ctx: TracePointContext) -> u32 {
    finish(&ctx, "vtty_attach", try_attach(&ctx))
}

fn try_attach(ctx: &TracePointContext) -> Result<(), Failure> {
    let record = Record::new(ctx, FIELD_OFFSETS.load());
    let key = record.terminal_key()?;
    let flags = record.flags()?;
    update_counters(&key, |counters: &mut TerminalCounters| counters.attaches += 1);
    emit_event(EventKind::Attach, key.nsid, key.index, flags, None);
    Ok(())
}

#[tracepoint(category = "vtty", name = "vtty_detach")]
pub fn vtty_detach(ctx: TracePointContext) -> u32 {
    finish(&ctx, "vtty_detach", try_detach(&ctx))
}

fn try_detach(ctx: &TracePointContext) -> Result<(), Failure> {
    let record = Record::new(ctx, FIELD_OFFSETS.load());
    let key = record.terminal_key()?;
    let reason = record.reason()?;
    update_counters(&key, |counters: &mut TerminalCounters| counters.detaches += 1);
    emit_event(EventKind::Detach, key.nsid, key.index, reason, None);
    Ok(())
}

#[tracepoint(category = "vtty", name = "vtty_write")]
pub fn vtty_write(ctx: TracePointContext) -> u32 {
    finish(&ctx, "vtty_write", try_write(&ctx))
}

fn try_write(ctx: &TracePointContext) -> Result<(), Failure> {
    let record = Record::new(ctx, FIELD_OFFSETS.load());
    let key = record.terminal_key()?;
    let write = record.write_sizes()?;
    update_counters(&key, |counters: &mut TerminalCounters| {
        counters.writes += 1;
        counters.bytes_written += u64::from(write.offered);
        counters.bytes_delivered += u64::from(write.delivered);
        counters.bytes_dropped += u64::from(write.dropped);
    });
    if is_write_events_on() {
        emit_event(EventKind::Write, key.nsid, key.index, 0, Some(write));
    }
    Ok(())
}

/// Tracing programs must carry a GPL-compatible license to use the helpers they do.
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
