//! Arguments of `vtty-ctl probes`, `stats` and `trace`.

use clap::{ArgAction, Args, Subcommand};

use crate::exit;

/// `vtty-ctl probes`: manage the eBPF probes on the driver's tracepoints.
#[derive(Debug, Args)]
pub struct ProbesArgs {
    /// The action on the probes.
    #[command(subcommand)]
    pub command: ProbesCommand,
}

/// Subcommands of `vtty-ctl probes`.
#[derive(Debug, Subcommand)]
pub enum ProbesCommand {
    /// Load the probes and attach them to the driver's tracepoints.
    ///
    /// Pinned probes (the default) stay under /sys/fs/bpf/vtty/probes after the
    /// command exits, so counters outlive any viewer. They keep a reference on the
    /// driver module, so run `vtty-ctl probes unload` before unloading the driver.
    /// Already pinned probes are reused, never loaded twice.
    Load {
        /// Pin the probes (true) or keep them attached only while this command runs
        /// (false, until Ctrl-C).
        #[arg(long, default_value_t = true, action = ArgAction::Set, value_name = "BOOL")]
        pin: bool,
    },
    /// Remove every pin of the probes, which detaches them.
    ///
    /// Run this before unloading the driver: pinned tracepoint links keep the
    /// module loaded.
    Unload,
    /// Show the pins, programs, maps and lost-event counts of the probes.
    Status,
}

/// `vtty-ctl stats`: per-terminal counters of every container.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print JSON instead of a table (one object per line with --watch).
    #[arg(long)]
    pub json: bool,
    /// Print again every SECONDS seconds until interrupted.
    #[arg(long, value_name = "SECONDS")]
    pub watch: Option<u64>,
    /// Show only this container (its registered name, or its nsid).
    pub ctid: Option<String>,
}

/// `vtty-ctl trace`: print the probes' events as they happen.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Show only this container's events (its registered name, or its nsid).
    pub ctid: Option<String>,
}

/// Runs `vtty-ctl probes`.
pub fn run_probes(args: &ProbesArgs) -> exit::Result<()> {
    crate::probes::cli::probes(args)
}

/// Runs `vtty-ctl stats`.
pub fn run_stats(args: &StatsArgs) -> exit::Result<()> {
    crate::probes::cli::stats(args)
}

/// Runs `vtty-ctl trace`.
pub fn run_trace(args: &TraceArgs) -> exit::Result<()> {
    crate::probes::cli::trace(args)
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[derive(Debug, Parser)]
    struct Harness {
        #[command(subcommand)]
        command: Top,
    }

    #[derive(Debug, Subcommand)]
    enum Top {
        Probes(ProbesArgs),
        Stats(StatsArgs),
        Trace(TraceArgs),
    }

    #[test]
    fn definition_is_consistent() {
        Harness::command().debug_assert();
    }

    #[test]
    fn load_pins_by_default() {
        let parsed = Harness::try_parse_from(["vtty-ctl", "probes", "load"]).expect("parses");
        assert!(matches!(
            parsed.command,
            Top::Probes(ProbesArgs { command: ProbesCommand::Load { pin: true } })
        ));
        let parsed = Harness::try_parse_from(["vtty-ctl", "probes", "load", "--pin", "false"])
            .expect("parses");
        assert!(matches!(
            parsed.command,
            Top::Probes(ProbesArgs { command: ProbesCommand::Load { pin: false } })
        ));
    }

    #[test]
    fn stats_takes_watch_and_ctid() {
        let parsed =
            Harness::try_parse_from(["vtty-ctl", "stats", "--json", "--watch", "2", "101"])
                .expect("parses");
        let Top::Stats(stats) = parsed.command else { panic!("not stats") };
        assert!(stats.json);
        assert_eq!(stats.watch, Some(2));
        assert_eq!(stats.ctid.as_deref(), Some("101"));
        assert!(Harness::try_parse_from(["vtty-ctl", "stats", "--watch", "soon"]).is_err());
    }
}
