//! The bench's self-test program: counts `sched:sched_process_exec` events, proving
//! that an aya program loads, attaches to a kernel tracepoint and shares a map with
//! user space inside the guest.
//!
//! User space reads the map `EXEC_COUNT` (one per-CPU `u64` at index 0) and sums the
//! CPUs' values; the program is `count_exec`.

#![no_std]
#![no_main]

use aya_ebpf::macros::{map, tracepoint};
use aya_ebpf::maps::PerCpuArray;
use aya_ebpf::programs::TracePointContext;
use vtty_ebpf as _;

/// Exec events seen, per CPU. BPF has no atomic add on every target, and a per-CPU
/// slot needs none: a tracepoint program runs with migration disabled, and no other
/// instance of it runs on the same CPU at the same time.
#[map]
static EXEC_COUNT: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[tracepoint]
pub fn count_exec(_ctx: TracePointContext) -> u32 {
    if let Some(count) = EXEC_COUNT.get_ptr_mut(0) {
        // SAFETY: `get_ptr_mut` returned this CPU's slot of index 0, which the map
        // keeps alive and aligned for a u64; only this program writes it, and never
        // concurrently on one CPU (see `EXEC_COUNT`).
        unsafe { *count += 1 };
    }
    0
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
