//! What happens when a container ends or is unregistered.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};

use super::{WATCHDOG, control, expect_eof};
use crate::container::Container;

/// The driver module as the guest image installs it.
pub const MODULE_PATH: &str = "/lib/modules/vtty.ko";

fn debugfs_text() -> Result<String> {
    Ok(std::fs::read_to_string("/sys/kernel/debug/vtty/containers")?)
}

/// Waits until the driver no longer lists `nsid`.
fn wait_gone(nsid: u64) -> Result<()> {
    let control = control()?;
    let deadline = Instant::now() + WATCHDOG;
    while control.list()?.iter().any(|c| c.nsid == nsid) {
        ensure!(Instant::now() < deadline, "container nsid {nsid} still listed after its init exited");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// When the init exits, terminals hang up, the attacher reads EOF, and the
/// container is gone from the registry and debugfs; a new container starts
/// with zero counters.
pub fn init_exit_ends_container() -> Result<()> {
    let control = control()?;
    let container = Container::start("ending")?;
    let nsid = container.register(&control)?;
    let mut attach = control.attach(nsid, 0, false, None)?;
    container.sh_ok("echo some-output > /dev/console && head -c 5000 /dev/zero > /dev/tty3")?;
    ensure!(debugfs_text()?.contains(&format!("nsid={nsid} name=ending")), "debugfs does not list the container");

    container.stop()?;
    expect_eof(&mut attach)?;
    wait_gone(nsid)?;
    ensure!(!debugfs_text()?.contains(&format!("nsid={nsid} ")), "debugfs still lists nsid {nsid}");

    let fresh = Container::start("ending")?;
    let fresh_nsid = fresh.register(&control)?;
    ensure!(fresh_nsid != nsid, "a new container reused nsid {nsid}");
    let info = super::container_info(&control, fresh_nsid)?;
    for (index, terminal) in info.terminals.iter().enumerate() {
        ensure!(
            terminal.written == 0 && terminal.dropped == 0 && terminal.delivered == 0,
            "new container inherited counters on terminal {index}"
        );
    }
    fresh.stop()?;
    wait_gone(fresh_nsid)
}

/// After unregistering a live container, its opens of 5:1 and 4:N get ENODEV
/// (never the host's console), and the module stays loaded while a container is
/// registered or fenced.
pub fn unregister_fails_closed() -> Result<()> {
    let control = control()?;
    let container = Container::start("fenced")?;
    let nsid = container.register(&control)?;

    let rmmod = std::process::Command::new("/bin/busybox").args(["rmmod", "vtty"]).output()?;
    ensure!(!rmmod.status.success(), "rmmod vtty succeeded with a registered container");

    container.sh_ok("echo before > /dev/console")?;
    control.unregister(nsid)?;
    for device in ["/dev/console", "/dev/tty0", "/dev/tty1", "/dev/tty2", "/dev/tty12"] {
        let output = container.sh(&format!("echo x > {device}"))?;
        ensure!(!output.status.success(), "write to {device} after unregister succeeded");
        let stderr = String::from_utf8_lossy(&output.stderr);
        ensure!(stderr.contains("No such device"), "{device} after unregister: {stderr}");
    }
    let listed = super::container_info(&control, nsid)?;
    ensure!(!listed.registered, "the unregistered container is not marked fenced");
    let rmmod = std::process::Command::new("/bin/busybox").args(["rmmod", "vtty"]).output()?;
    ensure!(!rmmod.status.success(), "rmmod vtty succeeded with a fenced container");

    container.stop()?;
    wait_gone(nsid)
}
