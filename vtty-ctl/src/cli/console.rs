//! `console`.

use clap::Args;

use super::register;
use crate::console::{self, End, Options, escape::Escape};
use crate::exit::{self, ExitCode};
use crate::fail;

/// Arguments of `console`.
#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// Container: cgroup name under the cgroup parent, absolute cgroup path, or pid:N.
    pub ctid: String,

    /// Terminal as the container names it: console, tty0 .. tty12, or a number.
    #[arg(default_value = "console")]
    pub tty: String,

    /// Escape sequence that detaches, in caret notation, or none.
    ///
    /// ^X is the control character of X (^] is Ctrl-]), any other character stands
    /// for itself. Bytes that start the sequence are held back until the next key
    /// shows whether the sequence follows.
    #[arg(long, value_name = "SEQ", default_value = console::escape::DEFAULT)]
    pub escape: String,

    /// Take the terminal over from its current attacher, which then reads EOF.
    #[arg(long)]
    pub force: bool,

    /// Milliseconds the driver waits for this terminal to read before it drops
    /// output (default: the driver's, 2000).
    ///
    /// 0 drops output as soon as the attach buffer is full. The container never
    /// blocks on a slow attacher longer than this.
    #[arg(long, value_name = "MS")]
    pub stall_timeout: Option<u32>,
}

/// `vtty-ctl console`.
pub fn console(parent: Option<&str>, args: &ConsoleArgs) -> exit::Result<()> {
    super::require_root("console")?;
    let name = register::parse_tty(&args.tty)?;
    let escape =
        Escape::parse(&args.escape).map_err(|message| fail!(ExitCode::Usage, "{message}"))?;
    let (config, context) = super::context(parent)?;
    let container = super::resolve(&config, &context, &args.ctid)?;
    let control = register::open_control()?;
    let nsid = register::registered_nsid(&control, &container)?;
    let options = Options {
        index: name.index(),
        label: format!("{name} of {container}"),
        escape,
        force: args.force,
        stall_timeout_ms: args.stall_timeout,
    };
    match console::run(&control, nsid, &options)? {
        End::Detached | End::Eof => Ok(()),
        End::Signal(signal) => Err(fail!(ExitCode::Failure, "{signal} ended the console session")),
    }
}
