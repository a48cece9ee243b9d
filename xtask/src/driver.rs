//! The vtty driver, built out of tree against the cached kernel build with
//! `make -C <kernel output> M=vtty-driver MO=<output>`. Kbuild's own dependency
//! tracking decides what to rebuild, so changing only the driver's sources rebuilds
//! only the driver, in seconds.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::buildroot::Bind;
use crate::kernel::{self, Kernel};
use crate::progress::{self, Phase};
use crate::setup::Setup;
use crate::workspace::Workspace;

/// Mount points of the repository and of the driver's build output inside the
/// build root. The whole repository is mounted because the driver includes files of
/// `vtty-common`.
const REPOSITORY_INSIDE: &str = "/vtty/repo";
const DRIVER_INSIDE: &str = "/vtty/repo/vtty-driver";
const DRIVER_OUTPUT_INSIDE: &str = "/vtty/driver-build";

/// The module kbuild produces.
const MODULE: &str = "vtty.ko";

/// Builds the driver module when `vtty-driver/Kbuild` exists; returns `None`
/// otherwise, and the guest then loads no driver.
pub fn build(setup: &Setup, workspace: &Workspace, kernel: &Kernel) -> Result<Option<PathBuf>> {
    let source = workspace.driver_dir();
    if !source.join("Kbuild").is_file() {
        println!(
            "driver: {} does not exist; the guest loads no driver",
            source.join("Kbuild").display()
        );
        return Ok(None);
    }
    // One output folder per kernel build, so that a kernel change never links a
    // module against another kernel's objects.
    let output = workspace.guest_dir().join("driver").join(&kernel.key);
    fs::create_dir_all(&output).with_context(|| format!("creating {}", output.display()))?;
    let log = output.join("build.log");
    let _ = fs::remove_file(&log);

    let phase = Phase::start(format!(
        "building the driver {} against Linux {}",
        MODULE, kernel.key
    ));
    let mut binds = kernel.binds();
    binds.push(Bind {
        host: workspace.root.clone(),
        inside: REPOSITORY_INSIDE,
    });
    binds.push(Bind {
        host: output.clone(),
        inside: DRIVER_OUTPUT_INSIDE,
    });
    let mut argv = kernel::make_command(kernel::jobs());
    argv.extend([
        "-C".to_owned(),
        kernel::OUTPUT_INSIDE.to_owned(),
        format!("M={DRIVER_INSIDE}"),
        format!("MO={DRIVER_OUTPUT_INSIDE}"),
        "modules".to_owned(),
    ]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    progress::run_logged(
        "make modules (driver)",
        &mut setup.buildroot.command(&argv, &binds)?,
        &log,
    )
    .with_context(|| format!("building the driver in {}", source.display()))?;
    let module = output.join(MODULE);
    if !module.is_file() {
        bail!(
            "the driver build finished without {}; vtty-driver/Kbuild must build the object `vtty.o` (obj-m := vtty.o); see {}",
            module.display(),
            log.display()
        );
    }
    phase.done();
    Ok(Some(module))
}
