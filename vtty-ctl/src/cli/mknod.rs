//! `mknod`.

use clap::Args;

use crate::exit::{self, ExitCode};
use crate::fail;

/// Arguments of `mknod`.
#[derive(Debug, Args)]
pub struct MknodArgs {
    /// Container: cgroup name under the cgroup parent, absolute cgroup path, or pid:N.
    pub ctid: String,

    /// Replace entries that are not the right device node.
    ///
    /// The new node replaces the old entry in one rename. Mounts over a node
    /// (a devpts bind mount, say) are never replaced.
    #[arg(long)]
    pub replace: bool,
}

/// `vtty-ctl mknod`: exits with `Conflict` when a mount covers a node.
pub fn mknod(parent: Option<&str>, args: &MknodArgs) -> exit::Result<()> {
    super::require_root("mknod")?;
    let (config, context) = super::context(parent)?;
    let container = super::resolve(&config, &context, &args.ctid)?;
    let report = crate::mknod::mknod(&container, args.replace)?;
    print!("{report}");
    if report.covered() {
        return Err(fail!(
            ExitCode::Conflict,
            "mounts cover device nodes of {container}, so those terminals bypass vtty"
        ));
    }
    Ok(())
}
