//! `allow`, `deny`, `rules` and `check`.

use clap::Args;

use super::register::{self, CtidArgs};
use crate::exit::{self, ExitCode};
use crate::fail;
use crate::policy::devices::{self, TtyName};
use crate::policy::{self, Applied, Change};

/// Arguments of `allow` and `deny`.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// Container: cgroup name under the cgroup parent, absolute cgroup path, or pid:N.
    pub ctid: String,

    /// Terminals to change, as the container names them (default: all).
    ///
    /// Comma-separated: console, tty0 .. tty12, or numbers (2 is tty2). Each name
    /// covers its own node and the vttys minor of its terminal.
    #[arg(long, value_name = "LIST")]
    pub tty: Option<String>,

    /// Print what would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl ChangeArgs {
    fn names(&self) -> exit::Result<Option<Vec<TtyName>>> {
        self.tty.as_deref().map(devices::parse_tty_list).transpose()
    }
}

/// `vtty-ctl allow`: refuses without the driver, registers, then grants.
pub fn allow(parent: Option<&str>, args: &ChangeArgs) -> exit::Result<()> {
    super::require_root("allow")?;
    let names = args.names()?;
    let (config, context) = super::context(parent)?;
    let container = super::resolve(&config, &context, &args.ctid)?;
    if context.vttys_major.is_none() {
        return Err(register::driver_missing());
    }
    let control = register::open_control()?;
    let registered = register::registration(&control, &container)?;
    if registered.as_ref().is_some_and(|entry| !entry.registered) {
        return Err(fail!(
            ExitCode::Conflict,
            "{container} was unregistered and stays fenced until its init exits; restart the \
             container, then run allow again"
        ));
    }

    // Plan first: a container vtty cannot set rules for is refused before it is
    // registered.
    let plan = policy::apply::plan(&context, &container, Change::Allow, names.as_deref())?;
    if args.dry_run {
        if registered.is_none() {
            println!(
                "would register {container} (init pid {}) with the driver",
                container.init_pid
            );
        }
        print_plan(&plan, true);
        return Ok(());
    }

    let (nsid, new) = register::ensure_registered(&control, &container, &args.ctid)?;
    if new {
        println!("registered {container} (init pid {}) as nsid {nsid}", container.init_pid);
    }
    let applied = policy::apply(&context, &container, Change::Allow, names.as_deref(), false)?;
    print_applied(&applied);
    Ok(())
}

/// `vtty-ctl deny`.
pub fn deny(parent: Option<&str>, args: &ChangeArgs) -> exit::Result<()> {
    super::require_root("deny")?;
    let names = args.names()?;
    let (config, context) = super::context(parent)?;
    let container = super::resolve(&config, &context, &args.ctid)?;
    let applied =
        policy::apply(&context, &container, Change::Deny, names.as_deref(), args.dry_run)?;
    if args.dry_run {
        print_plan(&applied.plan, true);
    } else {
        print_applied(&applied);
    }
    Ok(())
}

fn print_plan(plan: &policy::Plan, dry_run: bool) {
    let verb = if dry_run { "would change" } else { "changed" };
    let changes: Vec<&policy::Step> = plan.changes().collect();
    if changes.is_empty() {
        let what = match plan.change {
            Change::Allow => "allowed",
            Change::Deny => "denied",
        };
        println!("{}: nothing to change, the devices are already {what}", plan.container);
    } else {
        println!("{}: {verb}:", plan.container);
        for step in changes {
            println!("  {step}");
        }
    }
    for note in &plan.notes {
        println!("note: {note}");
    }
}

fn print_applied(applied: &Applied) {
    print_plan(&applied.plan, false);
    if let Some(report) = &applied.verification {
        for finding in report.findings.iter().filter(|f| f.is_probe_failure()) {
            println!("warning: the change is made but could not be verified: {finding}");
        }
    }
}

/// `vtty-ctl rules`.
pub fn rules(parent: Option<&str>, args: &CtidArgs) -> exit::Result<()> {
    super::require_root("rules")?;
    let (config, context) = super::context(parent)?;
    let container = super::resolve(&config, &context, &args.ctid)?;
    print!("{}", policy::rules(&context, &container)?);
    Ok(())
}

/// `vtty-ctl check`: exits with `CheckFailed` when anything differs.
pub fn check(parent: Option<&str>, args: &CtidArgs) -> exit::Result<()> {
    super::require_root("check")?;
    let (config, context) = super::context(parent)?;
    let container = super::resolve(&config, &context, &args.ctid)?;
    let report = policy::check(&context, &container)?;
    print!("{report}");
    if report.ok() {
        Ok(())
    } else {
        Err(fail!(
            ExitCode::CheckFailed,
            "check found {} problem(s) for {container}",
            report.findings.len()
        ))
    }
}
