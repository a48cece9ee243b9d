//! Loads the eBPF probes on the driver's tracepoints, or reuses pinned ones, and
//! reads their counters and events.
//!
//! - [`open`] reuses the probes pinned under `/sys/fs/bpf/vtty/probes/` or loads
//!   them (pinned, or private to the process) as [`Acquire`] allows; [`unload`]
//!   removes the pins. Pinned tracepoint links hold a reference on the driver
//!   module, so unload the probes before the driver.
//! - [`Probes`] reads the counters summed across CPUs; [`snapshot`] joins them with
//!   the driver's registry.
//! - [`Probes::events`] streams decoded events and forwards the programs' log
//!   records to the `log` crate.
//! - [`debugfs`] parses the driver's own totals, which the probes' counts must equal.
//! - [`cli`] implements `vtty-ctl probes`, `stats` and `trace`.

pub mod cli;
pub mod debugfs;
mod environment;
mod error;
mod events;
mod format;
mod handle;
mod join;
#[cfg(test)]
mod kernel_tests;
mod loader;
mod pins;
mod status;

pub use environment::{BPFFS, ProbePaths, TRACEFS};
pub use error::ProbeError;
pub use events::{
    BlockingEvents, DecodeError, EventDetail, EventStream, ProbeEvent, current_thread_runtime,
    decode, detach_reason, unregister_reason,
};
pub use format::{EventFormat, FormatField, parse_format};
pub use handle::{Origin, ProbeReadings, ProbeStats, Probes};
pub use join::{join, snapshot};
pub use loader::{Acquire, Unloaded, open, tracepoint_offsets, unload};
pub use pins::PinLayout;
pub use status::{Status, status};
