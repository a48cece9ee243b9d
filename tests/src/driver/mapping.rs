//! Device numbers to terminals: tty2..tty12, vttysN, 4:13, and namespaces that are
//! not registered.

use anyhow::{Result, ensure};

use super::{control, read_until, terminal_info};
use crate::container::Container;

/// /dev/tty2..12 reach distinct indices, /dev/vttysN is the same terminal as the
/// mapped node, and 4:13 fails with ENODEV.
pub fn ttys_reach_distinct_terminals() -> Result<()> {
    let control = control()?;
    let container = Container::start("mapping")?;
    let nsid = container.register(&control)?;

    for n in 2..=12u32 {
        let index = n - 1;
        let mut attach = control.attach(nsid, index, false, None)?;
        let marker = format!("marker-tty{n}");
        container.sh_ok(&format!("echo {marker} > /dev/tty{n}"))?;
        read_until(&mut attach, marker.as_bytes())?;
        let via = format!("via-vttys{index}");
        container.sh_ok(&format!("echo {via} > /dev/vttys{index}"))?;
        read_until(&mut attach, via.as_bytes())?;
        for other in 0..12u32 {
            let info = terminal_info(&control, nsid, other)?;
            if other == index {
                ensure!(info.written > 0, "tty{n} wrote nothing to index {index}");
            }
        }
    }
    // tty0 and tty1 are the console, like /dev/console.
    let mut console = control.attach(nsid, 0, false, None)?;
    container.sh_ok("echo via-tty0 > /dev/tty0 && echo via-tty1 > /dev/tty1")?;
    read_until(&mut console, b"via-tty1")?;

    let output = container.sh("echo x > /dev/tty13")?;
    ensure!(!output.status.success(), "writing /dev/tty13 succeeded");
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(stderr.contains("No such device"), "tty13 failed without ENODEV: {stderr}");
    container.stop()
}

/// A pid namespace that was never registered, and the host, keep the kernel's
/// own console and virtual terminals.
pub fn unregistered_namespaces_unchanged() -> Result<()> {
    let control = control()?;
    let registered = Container::start("mapped")?;
    let nsid = registered.register(&control)?;
    let plain = Container::start("plain")?;

    let before = terminal_info(&control, nsid, 0)?;
    plain.sh_ok("echo from-unregistered > /dev/console")?;
    std::fs::write("/dev/console", "from-host\n")?;
    let after = terminal_info(&control, nsid, 0)?;
    ensure!(after.written == before.written, "an unregistered namespace reached a vtty terminal");

    // The unregistered container's console is the host's (the serial console),
    // not a vtty: its tty name says so.
    let name = plain.sh_ok("readlink /proc/self/fd/3 3</dev/console; tty < /dev/console || true")?;
    ensure!(!name.contains("vtty"), "unregistered console is a vtty: {name}");
    let listed = control.list()?;
    ensure!(listed.iter().all(|c| c.name != "plain"), "the unregistered container is listed");
    plain.stop()?;
    registered.stop()
}
