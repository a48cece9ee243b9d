//! `register`, `unregister` and `hangup`, and the driver lookups that other
//! subcommands share.

use std::io;
use std::os::fd::{FromRawFd as _, OwnedFd, RawFd};

use clap::Args;

use crate::container::Container;
use crate::driver::{self, ContainerInfo, Control};
use crate::exit::{self, ExitCode};
use crate::fail;
use crate::policy::devices::TtyName;
use crate::policy::{self, Change};

/// A container argument.
#[derive(Debug, Args)]
pub struct CtidArgs {
    /// Container: cgroup name under the cgroup parent, absolute cgroup path, or pid:N.
    pub ctid: String,
}

/// Arguments of `register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// Container: cgroup name under the cgroup parent, absolute cgroup path, or pid:N.
    pub ctid: String,

    /// Name the driver shows for the container (default: the ctid as given).
    ///
    /// 1 to 63 printable ASCII bytes without spaces; debugfs, `status` and the
    /// dashboard show it.
    #[arg(long)]
    pub name: Option<String>,
}

/// Arguments of `hangup`.
#[derive(Debug, Args)]
pub struct HangupArgs {
    /// Container: cgroup name under the cgroup parent, absolute cgroup path, or pid:N.
    pub ctid: String,

    /// Terminal as the container names it: console, tty0 .. tty12, or a number
    /// (default: every terminal).
    pub tty: Option<String>,
}

/// Opens `/dev/vtty`, failing with `DriverMissing` when the driver is not loaded.
pub(crate) fn open_control() -> exit::Result<Control> {
    let info = driver::tty_driver_info().map_err(|error| {
        exit::Error::new(
            ExitCode::Failure,
            anyhow::Error::new(error).context("failed to read /proc/tty/drivers"),
        )
    })?;
    if info.is_none() {
        return Err(driver_missing());
    }
    Control::open().map_err(|error| match error.raw_os_error() {
        Some(libc::ENOENT | libc::ENXIO | libc::ENODEV) => fail!(
            ExitCode::DriverMissing,
            "{} is missing although the vtty driver is loaded ({error}); create the node or check \
             udev, then retry",
            driver::CONTROL_DEVICE
        ),
        Some(libc::EACCES | libc::EPERM) => fail!(
            ExitCode::Permission,
            "cannot open {} ({error}); run vtty-ctl as root",
            driver::CONTROL_DEVICE
        ),
        _ => exit::Error::new(
            ExitCode::Failure,
            anyhow::Error::new(error).context(format!("failed to open {}", driver::CONTROL_DEVICE)),
        ),
    })
}

/// Builds the error for a command that needs the driver when it is not loaded.
pub(crate) fn driver_missing() -> exit::Error {
    fail!(
        ExitCode::DriverMissing,
        "the vtty driver is not loaded (no vtty line in /proc/tty/drivers); load it first (modprobe \
         vtty). Without it, a container's /dev/console and /dev/ttyN reach the host's console and \
         virtual terminals"
    )
}

/// Finds the driver's entry for `container`, matched by its init's pid.
pub(crate) fn registration(
    control: &Control,
    container: &Container,
) -> exit::Result<Option<ContainerInfo>> {
    let list = control.list().map_err(|error| ioctl_error(error, "VTTY_IOC_LIST"))?;
    Ok(list.into_iter().find(|entry| entry.init_pid == container.init_pid))
}

/// Returns the nsid of a registered container, or a `NotFound` error that tells
/// how to register it.
pub(crate) fn registered_nsid(control: &Control, container: &Container) -> exit::Result<u64> {
    match registration(control, container)? {
        Some(entry) if entry.registered => Ok(entry.nsid),
        Some(_) => Err(fail!(
            ExitCode::NotFound,
            "{container} was unregistered and stays fenced until its init exits; restart it and \
             register it again"
        )),
        None => Err(fail!(
            ExitCode::NotFound,
            "{container} is not registered with the driver; run vtty-ctl register {} (or allow)",
            container.ctid
        )),
    }
}

/// Registers `container` unless it is registered; returns its nsid and whether
/// this call registered it.
pub(crate) fn ensure_registered(
    control: &Control,
    container: &Container,
    name: &str,
) -> exit::Result<(u64, bool)> {
    if let Some(entry) = registration(control, container)? {
        if entry.registered {
            return Ok((entry.nsid, false));
        }
        return Err(fail!(
            ExitCode::Conflict,
            "{container} was unregistered and stays fenced until its init exits; restart the \
             container to register it again"
        ));
    }
    driver::encode_name(name)
        .map_err(|message| fail!(ExitCode::Usage, "{message}; pass a shorter name with --name"))?;
    let pidfd = pidfd_open(container.init_pid).map_err(|error| {
        fail!(
            ExitCode::NotFound,
            "cannot open a pidfd of {container}'s init (pid {}): {error}",
            container.init_pid
        )
    })?;
    let nsid = control
        .register(std::os::fd::AsRawFd::as_raw_fd(&pidfd), name)
        .map_err(|error| ioctl_error(error, "VTTY_IOC_REGISTER"))?;
    Ok((nsid, true))
}

fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pidfd_open returned a new descriptor that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Maps an ioctl error of `/dev/vtty` to an exit code and a message.
pub(crate) fn ioctl_error(error: io::Error, ioctl: &str) -> exit::Error {
    match error.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => fail!(
            ExitCode::Permission,
            "the driver refused {ioctl} ({error}): it needs CAP_SYS_ADMIN in the initial pid namespace"
        ),
        Some(libc::EEXIST | libc::EBUSY) => {
            fail!(
                ExitCode::Conflict,
                "the driver refused {ioctl} ({error}): the container or terminal is in use"
            )
        }
        Some(libc::ESRCH | libc::ENOENT) => {
            fail!(ExitCode::NotFound, "the driver refused {ioctl} ({error}): the container is gone")
        }
        _ => exit::Error::new(
            ExitCode::Failure,
            anyhow::Error::new(error).context(format!("{ioctl} failed")),
        ),
    }
}

/// `vtty-ctl register`.
pub fn register(parent: Option<&str>, args: &RegisterArgs) -> exit::Result<()> {
    super::require_root("register")?;
    let (config, context) = super::context(parent)?;
    let container = super::resolve(&config, &context, &args.ctid)?;
    let control = open_control()?;
    let name = args.name.as_deref().unwrap_or(&args.ctid);
    let (nsid, new) = ensure_registered(&control, &container, name)?;
    if new {
        println!("registered {container} (init pid {}) as nsid {nsid}", container.init_pid);
    } else {
        println!("{container} is already registered as nsid {nsid}");
    }
    Ok(())
}

/// `vtty-ctl unregister`: deny first, then unregister.
pub fn unregister(parent: Option<&str>, args: &CtidArgs) -> exit::Result<()> {
    super::require_root("unregister")?;
    let (config, context) = super::context(parent)?;
    let container = super::resolve(&config, &context, &args.ctid)?;
    let control = open_control()?;
    let entry = registration(&control, &container)?;

    match policy::apply(&context, &container, Change::Deny, None, false) {
        Ok(applied) => {
            for step in applied.plan.changes() {
                println!("{step}");
            }
        }
        // A container whose cgroups vtty cannot set rules in was never granted
        // anything by vtty, so there is nothing to revoke.
        Err(error)
            if error.code() == ExitCode::Conflict
                && policy::layers::enforcement(&container).is_err() =>
        {
            println!("note: nothing to revoke: {error}");
        }
        Err(error) => return Err(error),
    }

    match entry {
        Some(entry) if entry.registered => {
            control
                .unregister(entry.nsid)
                .map_err(|error| ioctl_error(error, "VTTY_IOC_UNREGISTER"))?;
            println!(
                "unregistered {container} (nsid {}); it stays fenced until its init exits",
                entry.nsid
            );
        }
        Some(entry) => {
            println!("{container} (nsid {}) is already unregistered and fenced", entry.nsid)
        }
        None => println!("{container} was not registered"),
    }
    Ok(())
}

/// `vtty-ctl hangup`.
pub fn hangup(parent: Option<&str>, args: &HangupArgs) -> exit::Result<()> {
    super::require_root("hangup")?;
    let index = args.tty.as_deref().map(parse_tty).transpose()?;
    let (config, context) = super::context(parent)?;
    let container = super::resolve(&config, &context, &args.ctid)?;
    let control = open_control()?;
    let nsid = registered_nsid(&control, &container)?;
    control
        .hangup(nsid, index.map(|name| name.index()))
        .map_err(|error| ioctl_error(error, "VTTY_IOC_HANGUP"))?;
    match index {
        Some(name) => println!("hung up {name} of {container}"),
        None => println!("hung up every terminal of {container}"),
    }
    Ok(())
}

/// Parses a terminal argument as the container names it.
pub(crate) fn parse_tty(text: &str) -> exit::Result<TtyName> {
    TtyName::parse(text).ok_or_else(|| {
        fail!(
            ExitCode::Usage,
            "invalid terminal {text:?}: use console, tty0 .. tty12, or a number 0 .. 12"
        )
    })
}
