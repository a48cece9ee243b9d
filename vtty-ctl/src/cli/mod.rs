//! The command line of `vtty-ctl` (clap derive) and the code that runs each
//! subcommand on top of the library.

pub mod console;
pub mod mknod;
pub mod policy;
pub mod probes;
pub mod register;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::container::{self, Container};
use crate::exit::{self, ExitCode};
use crate::fail;

/// Administration of vtty: per-container consoles, their device-cgroup policy, and
/// the eBPF probes that observe them.
///
/// Containers are named by ctid: a cgroup name under the cgroup parent (`101`), an
/// absolute cgroup path (`/machine.slice/101`), or `pid:N` for any of its processes.
/// Terminals are named as the container names them: `console`, `tty0` .. `tty12`, or a
/// number (`2` is tty2).
#[derive(Debug, Parser)]
#[command(name = "vtty-ctl", version, after_long_help = exit::exit_status_help())]
pub struct Cli {
    /// Cgroup under which bare container names are looked up.
    ///
    /// Applies to both the cgroup v1 devices and the cgroup v2 hierarchy. Also set by
    /// VTTY_CGROUP_PARENT or `cgroup_parent` in /etc/vtty/config.toml (VTTY_CONFIG
    /// names another file); the default is the root of each hierarchy.
    #[arg(long, global = true, env = crate::config::CGROUP_PARENT_ENV, value_name = "CGROUP")]
    pub cgroup_parent: Option<String>,

    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register a container with the driver.
    ///
    /// From then on its /dev/console and /dev/ttyN open its own vtty terminals
    /// instead of the host's. Needs the driver and a container with a pid namespace of
    /// its own. Registering a registered container changes nothing.
    Register(register::RegisterArgs),

    /// Revoke a container's console access and unregister it.
    ///
    /// Runs `deny` for every terminal first, then unregisters: the driver hangs up
    /// the container's terminals and keeps its opens of /dev/console and /dev/ttyN
    /// failing with ENODEV until its init exits.
    Unregister(register::CtidArgs),

    /// Register a container if needed and let it open its consoles.
    ///
    /// Grants read, write and mknod on 5:1, 4:0..12 and the vttys minors, in the v1
    /// devices cgroup and through vtty's device gate on the container's own v2
    /// cgroup, then verifies the result from inside the container's cgroups.
    /// Refuses without the driver: without it those device numbers reach the host's
    /// console and virtual terminals.
    Allow(policy::ChangeArgs),

    /// Deny a container its consoles.
    ///
    /// Denies read, write and mknod on the device set (or the terminals of --tty) in
    /// the hierarchies vtty enforces through. Works without the driver.
    Deny(policy::ChangeArgs),

    /// Show the device rules vtty has in force for a container.
    ///
    /// One line per hierarchy and device. v1 rules come from vtty's record because
    /// devices.list hides deny rules of a default-allow cgroup; v2 rules come from
    /// the gate's pinned map.
    Rules(register::CtidArgs),

    /// Test whether the device rules are in force.
    ///
    /// Lists the device programs in force for the container's cgroups
    /// (BPF_PROG_QUERY with BPF_F_QUERY_EFFECTIVE) and tests read, write and mknod of
    /// every device from a helper process placed in each of the container's cgroups.
    /// Reports another manager's program that denies the set, and a vtty gate that
    /// was detached behind vtty's back (allow or deny attaches it again). Exits 7
    /// when anything differs from vtty's rules.
    Check(register::CtidArgs),

    /// Create /dev/console and /dev/tty0..12 as device nodes in a container.
    ///
    /// Works through /proc/PID/root of the container's init. The console gets mode
    /// 0600 root:root, ttyN 0620 root:tty (gid 5), mapped through the container's user
    /// namespace. Existing entries are left alone unless --replace; a devpts pty
    /// bind-mounted over a node is reported, because it bypasses vtty.
    Mknod(mknod::MknodArgs),

    /// Attach this terminal to a container's terminal.
    ///
    /// The terminal is raw until you detach with the escape sequence (Ctrl-] then .
    /// by default). Window size changes are forwarded. The session also ends when the
    /// driver signals EOF: the terminal hung up, the container stopped, or another
    /// attacher took over.
    Console(console::ConsoleArgs),

    /// Hang up a container's terminals.
    ///
    /// Processes with the terminal open get SIGHUP and further reads return EOF, for a
    /// clean stop of the container's gettys.
    Hangup(register::HangupArgs),

    /// Show the driver, registered containers, cgroup hierarchies, device gates and
    /// pinned probes.
    Status,

    /// Load, unload or show the eBPF probes on the driver's tracepoints.
    Probes(probes::ProbesArgs),

    /// Show per-container counters from the probes.
    Stats(probes::StatsArgs),

    /// Stream lifecycle events from the probes.
    Trace(probes::TraceArgs),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> exit::Result<()> {
    let parent = cli.cgroup_parent.as_deref();
    match &cli.command {
        Command::Register(args) => register::register(parent, args),
        Command::Unregister(args) => register::unregister(parent, args),
        Command::Allow(args) => policy::allow(parent, args),
        Command::Deny(args) => policy::deny(parent, args),
        Command::Rules(args) => policy::rules(parent, args),
        Command::Check(args) => policy::check(parent, args),
        Command::Mknod(args) => mknod::mknod(parent, args),
        Command::Console(args) => console::console(parent, args),
        Command::Hangup(args) => register::hangup(parent, args),
        Command::Status => {
            let config = Config::load(parent)?;
            print!("{}", crate::status::status(&config));
            Ok(())
        }
        Command::Probes(args) => probes::run_probes(args),
        Command::Stats(args) => probes::run_stats(args),
        Command::Trace(args) => probes::run_trace(args),
    }
}

/// Fails unless the process runs as root.
pub(crate) fn require_root(command: &str) -> exit::Result<()> {
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    Err(fail!(
        ExitCode::Permission,
        "vtty-ctl {command} must run as root: it changes cgroups, pins BPF objects and talks to \
         /dev/vtty; run it with sudo"
    ))
}

/// Loads the configuration and the policy context.
pub(crate) fn context(parent: Option<&str>) -> exit::Result<(Config, crate::policy::Context)> {
    let config = Config::load(parent)?;
    let context = crate::policy::Context::new(&config)?;
    Ok((config, context))
}

/// Resolves a ctid with the configured parent.
pub(crate) fn resolve(
    config: &Config,
    context: &crate::policy::Context,
    ctid: &str,
) -> exit::Result<Container> {
    container::resolve(ctid, &config.cgroup_parent, &context.hierarchies)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn command_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_subcommand_parses() {
        let cases: &[&[&str]] = &[
            &["vtty-ctl", "register", "101", "--name", "web"],
            &["vtty-ctl", "unregister", "pid:42"],
            &["vtty-ctl", "allow", "101", "--tty", "console,tty2", "--dry-run"],
            &["vtty-ctl", "deny", "/machine.slice/101"],
            &["vtty-ctl", "rules", "101"],
            &["vtty-ctl", "check", "101"],
            &["vtty-ctl", "mknod", "101", "--replace"],
            &[
                "vtty-ctl",
                "console",
                "101",
                "tty2",
                "--escape",
                "^a.",
                "--force",
                "--stall-timeout",
                "0",
            ],
            &["vtty-ctl", "hangup", "101"],
            &["vtty-ctl", "status"],
            &["vtty-ctl", "--cgroup-parent", "/lxc", "rules", "101"],
            &["vtty-ctl", "probes", "load", "--pin=false"],
            &["vtty-ctl", "probes", "status"],
            &["vtty-ctl", "stats", "--json", "--watch", "2", "101"],
            &["vtty-ctl", "trace", "101"],
        ];
        for case in cases {
            if let Err(error) = Cli::try_parse_from(*case) {
                panic!("{case:?}: {error}");
            }
        }
    }

    #[test]
    fn help_lists_every_exit_code() {
        let help = Cli::command().render_long_help().to_string();
        // Help text is wrapped to the terminal width, so compare words.
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for code in ExitCode::ALL {
            assert!(help.contains(code.meaning()), "{code:?} missing from the help");
        }
    }

    #[test]
    fn bad_stall_timeout_rejected() {
        assert!(
            Cli::try_parse_from(["vtty-ctl", "console", "101", "--stall-timeout", "-1"]).is_err()
        );
        assert!(
            Cli::try_parse_from(["vtty-ctl", "console", "101", "--stall-timeout", "soon"]).is_err()
        );
    }
}
