//! Arguments of `probes`, `stats` and `trace`; the probes module runs them.

use clap::{Args, Subcommand};

use crate::exit::{self, ExitCode};
use crate::fail;

/// Arguments of `probes`.
#[derive(Debug, Args)]
pub struct ProbesArgs {
    /// The action on the probes.
    #[command(subcommand)]
    pub action: ProbesAction,
}

/// The `probes` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProbesAction {
    /// Load the probes and attach them to the driver's tracepoints.
    ///
    /// Pinned probes (the default) stay loaded after vtty-ctl exits, so counters
    /// outlive any viewer. They hold a reference on the driver module, so run
    /// `probes unload` before unloading the driver.
    Load {
        /// Pin the probes under the pin directory (--pin=false to keep them only
        /// while this process runs).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
        pin: bool,
    },
    /// Detach and unpin the probes.
    Unload,
    /// Show whether the probes are loaded and pinned.
    Status,
}

/// Arguments of `stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Print again every SECONDS seconds until interrupted.
    #[arg(long, value_name = "SECONDS")]
    pub watch: Option<u64>,

    /// Only this container (by ctid or registered name).
    pub ctid: Option<String>,
}

/// Arguments of `trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Only this container (by ctid or registered name).
    pub ctid: Option<String>,
}

/// `vtty-ctl probes`.
pub fn probes(args: &ProbesArgs) -> exit::Result<()> {
    not_built("probes", args)
}

/// `vtty-ctl stats`.
pub fn stats(args: &StatsArgs) -> exit::Result<()> {
    not_built("stats", args)
}

/// `vtty-ctl trace`.
pub fn trace(args: &TraceArgs) -> exit::Result<()> {
    not_built("trace", args)
}

// NOTE: `crate::probes::cli::{probes, stats, trace}` take these arguments; until
// that module exists, the commands fail here.
fn not_built(command: &str, _args: &dyn std::fmt::Debug) -> exit::Result<()> {
    Err(fail!(
        ExitCode::Failure,
        "vtty-ctl {command} is not available in this build: the probe loader is missing"
    ))
}
