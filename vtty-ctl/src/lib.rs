//! vtty-ctl: the administration library shared by the `vtty-ctl` CLI and the
//! `vtty-top` dashboard.
//!
//! - [`driver`]: the control device `/dev/vtty` and the driver's debugfs files.
//! - [`probes`]: loads or reuses the eBPF probes and reads their counters and events.
//! - [`snapshot`]: per-container numbers as the CLI and the dashboard show them.
//! - [`objects`]: the embedded eBPF objects.
//! - [`exit`]: exit codes and the error type that carries one.

pub mod cli;
pub mod driver;
pub mod exit;
pub mod objects;
pub mod probes;
pub mod snapshot;
