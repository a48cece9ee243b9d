//! The one event enum that drives the dashboard, and the commands its state
//! machine hands back to the runner.

use crossterm::event::KeyEvent;
use vtty_ctl::probes::{Origin, ProbeEvent};
use vtty_ctl::snapshot::Snapshot;

use crate::source::{CgroupState, PolicyTarget};

/// Everything that can change the dashboard's state.
#[derive(Clone, Debug)]
pub enum AppEvent {
    /// A key press.
    Key(KeyEvent),
    /// The terminal reported a new size (columns, rows).
    Resize(u16, u16),
    /// The refresh interval elapsed.
    Tick,
    /// A refresh finished.
    Data(Box<Refresh>),
    /// An event from the probes' ring buffer.
    Probe(ProbeEvent),
    /// An allow or deny finished.
    PolicyDone(PolicyOutcome),
    /// A warning or error logged by the dashboard or the libraries it uses.
    Log(LogLine),
    /// A signal or the end of input ends the dashboard normally.
    Shutdown(String),
    /// Reading the terminal failed; the dashboard exits with this error.
    InputFailed(String),
}

/// The numbers of one refresh.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refresh {
    /// Containers and their counters.
    pub snapshot: Snapshot,
    /// Device-cgroup hierarchies of the host.
    pub cgroups: CgroupState,
    /// Origin of the loaded probes; `None` when they are not loaded.
    pub probes: Option<Origin>,
}

/// Kind of policy change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyVerb {
    /// Grant the container its consoles.
    Allow,
    /// Take the grant away.
    Deny,
}

impl PolicyVerb {
    /// Returns the verb as the CLI spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

/// Result of an allow or deny.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyOutcome {
    /// Requested change.
    pub verb: PolicyVerb,
    /// On which container.
    pub target: PolicyTarget,
    /// A summary of what changed, or the error with its cause chain.
    pub result: Result<String, String>,
}

/// Severity of a [`LogLine`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Something failed.
    Error,
    /// Something is wrong but the dashboard goes on.
    Warn,
}

/// A log record shown in the event pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Severity.
    pub level: LogLevel,
    /// `CLOCK_MONOTONIC` time of the record in nanoseconds.
    pub timestamp_ns: u64,
    /// The message.
    pub text: String,
}

/// Work that the state machine hands to the runner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Take a new snapshot.
    Refresh,
    /// Run an allow or deny.
    Policy(PolicyVerb, PolicyTarget),
    /// Restore the terminal and exit.
    Quit,
}
