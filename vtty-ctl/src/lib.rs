//! vtty-ctl: the administration library shared by the `vtty-ctl` CLI and the
//! `vtty-top` dashboard.
//!
//! - [`driver`]: the control device `/dev/vtty` and the driver's debugfs files.
//! - [`probes`]: loads or reuses the eBPF probes and reads their counters and events.
//! - [`snapshot`]: per-container numbers as the CLI and the dashboard show them.
//! - [`objects`]: the embedded eBPF objects.
//! - [`exit`]: exit codes and the error type that carries one.
//! - [`cli`]: the command line and the code behind each subcommand.
//! - [`config`] reads `/etc/vtty/config.toml`.
//! - [`container`] resolves ctids, using [`pidns`] for pid namespaces and [`cgroup`]
//!   for the cgroup hierarchies.
//! - [`policy`]: device-cgroup policy (`allow`, `deny`, `rules`, `check`).
//! - [`mknod`], [`console`] and [`status`] implement the other subcommands.

pub mod cgroup;
pub mod cli;
pub mod config;
pub mod console;
pub mod container;
pub mod driver;
pub mod exit;
pub mod mknod;
pub mod objects;
pub mod pidns;
pub mod policy;
pub mod probes;
pub mod snapshot;
pub mod status;
