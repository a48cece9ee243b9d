//! `console`: attaches the local terminal to a container's terminal through the
//! driver's attach file.
//!
//! The local terminal goes into raw mode, so every key reaches the container
//! (`Ctrl-C` included); the escape sequence ([`escape`], `Ctrl-]` then `.` by
//! default) detaches. Window size changes (`SIGWINCH`) are forwarded with
//! `VTTY_ATTACH_IOC_SETWINSZ`. The session ends on the escape, on EOF from the
//! driver (the container's terminal hung up, its init exited, or another attacher
//! took over), or on `SIGTERM`, `SIGHUP`, `SIGINT` or `SIGQUIT`. The terminal is
//! restored on each of these paths and on panics. When standard input ends
//! (input from a pipe), the session keeps showing output until one of the above.

pub mod escape;
pub mod terminal;

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsFd as _, AsRawFd as _};

use anyhow::Context as _;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::driver::{self, Control};
use crate::exit::{self, ExitCode};
use crate::fail;
use escape::{Escape, Scanner};
use terminal::RawMode;

/// Input held for the container before the attach file takes it; standard input
/// is not read while this much is pending.
const MAX_PENDING_INPUT: usize = 64 * 1024;

/// How to attach.
#[derive(Clone, Debug)]
pub struct Options {
    /// Terminal index in the driver.
    pub index: u32,
    /// The terminal in messages, such as `tty2 of container 101`.
    pub label: String,
    /// The detach sequence; `None` disables it.
    pub escape: Option<Escape>,
    /// Take the terminal over from the current attacher.
    pub force: bool,
    /// Stall timeout in milliseconds; `None` uses the driver's default.
    pub stall_timeout_ms: Option<u32>,
}

/// The reason a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The user typed the escape sequence.
    Detached,
    /// The driver signalled EOF.
    Eof,
    /// A signal ended the session.
    Signal(Signal),
}

/// Attaches to terminal `options.index` of the container with `nsid` and runs the
/// session until it ends.
pub fn run(control: &Control, nsid: u64, options: &Options) -> exit::Result<End> {
    let attach = control
        .attach(nsid, options.index, options.force, options.stall_timeout_ms)
        .map_err(|error| attach_error(error, options))?;
    session(attach, options)
}

fn attach_error(error: io::Error, options: &Options) -> exit::Error {
    let label = &options.label;
    match error.raw_os_error() {
        Some(libc::EBUSY) => fail!(
            ExitCode::Conflict,
            "{label} already has an attacher; pass --force to take it over (the other attacher reads EOF)"
        ),
        Some(libc::ENOENT | libc::ENODEV | libc::ESRCH) => fail!(
            ExitCode::NotFound,
            "{label} is not available ({error}): the container is no longer registered or its init \
             exited; check vtty-ctl status"
        ),
        Some(libc::EPERM | libc::EACCES) => fail!(
            ExitCode::Permission,
            "the driver refused to attach to {label} ({error}): attaching needs CAP_SYS_ADMIN in the \
             initial pid namespace"
        ),
        _ => exit::Error::new(
            ExitCode::Failure,
            anyhow::Error::new(error).context(format!("failed to attach to {label}")),
        ),
    }
}

/// Blocks signals while the session runs and restores the mask when dropped.
struct BlockedSignals {
    previous: SigSet,
}

impl Drop for BlockedSignals {
    fn drop(&mut self) {
        let _ = self.previous.thread_set_mask();
    }
}

fn session(mut attach: File, options: &Options) -> exit::Result<End> {
    let mut signals = SigSet::empty();
    for signal in
        [Signal::SIGWINCH, Signal::SIGTERM, Signal::SIGHUP, Signal::SIGINT, Signal::SIGQUIT]
    {
        signals.add(signal);
    }
    let previous = signals.thread_swap_mask(SigmaskHow::SIG_BLOCK).context("sigprocmask failed")?;
    let _blocked = BlockedSignals { previous };
    let signal_fd = SignalFd::with_flags(&signals, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .context("signalfd failed")?;
    set_nonblocking(&attach).context("failed to make the attach file non-blocking")?;

    let stdin = io::stdin();
    let stdout = io::stdout();
    let raw = RawMode::enter(stdin.as_fd()).context("failed to put the terminal in raw mode")?;
    let detach_hint = match &options.escape {
        Some(escape) => format!("detach with {escape}"),
        None => "no escape sequence; end with SIGTERM or SIGHUP".to_owned(),
    };
    eprint!("vtty-ctl: attached to {}; {detach_hint}\r\n", options.label);
    forward_window_size(&attach);

    let mut scanner = Scanner::new(options.escape.clone());
    let mut pending: Vec<u8> = Vec::new();
    let mut stdin_open = true;
    let mut buffer = vec![0u8; 16 * 1024];
    let end = loop {
        let mut fds = [
            poll_fd(
                attach.as_raw_fd(),
                libc::POLLIN | if pending.is_empty() { 0 } else { libc::POLLOUT },
            ),
            poll_fd(
                if stdin_open && pending.len() < MAX_PENDING_INPUT {
                    stdin.as_raw_fd()
                } else {
                    -1
                },
                libc::POLLIN,
            ),
            poll_fd(signal_fd.as_fd().as_raw_fd(), libc::POLLIN),
        ];
        // SAFETY: `fds` contains three valid pollfd entries, and poll ignores the
        // entries whose fd is -1.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(exit::Error::new(
                ExitCode::Failure,
                anyhow::Error::new(error).context("poll failed"),
            ));
        }

        if fds[2].revents & libc::POLLIN != 0 {
            match signal_fd.read_signal() {
                Ok(Some(info)) if info.ssi_signo == Signal::SIGWINCH as u32 => {
                    forward_window_size(&attach)
                }
                Ok(Some(info)) => {
                    break End::Signal(
                        Signal::try_from(info.ssi_signo as i32).unwrap_or(Signal::SIGTERM),
                    );
                }
                Ok(None) => {}
                Err(error) => {
                    return Err(exit::Error::new(
                        ExitCode::Failure,
                        anyhow::Error::new(error).context("failed to read a signal"),
                    ));
                }
            }
        }

        if fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            match attach.read(&mut buffer) {
                Ok(0) => break End::Eof,
                Ok(count) => {
                    let mut out = stdout.lock();
                    out.write_all(&buffer[..count])
                        .and_then(|()| out.flush())
                        .context("failed to write to standard output")?;
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    return Err(exit::Error::new(
                        ExitCode::Failure,
                        anyhow::Error::new(error)
                            .context(format!("failed to read from {}", options.label)),
                    ));
                }
            }
        }

        if fds[0].revents & libc::POLLOUT != 0 && !pending.is_empty() {
            match attach.write(&pending) {
                Ok(count) => {
                    pending.drain(..count);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    return Err(exit::Error::new(
                        ExitCode::Failure,
                        anyhow::Error::new(error)
                            .context(format!("failed to write to {}", options.label)),
                    ));
                }
            }
        }

        if fds[1].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            let mut typed = [0u8; 4096];
            // Read the descriptor itself: `Stdin` buffers, and poll cannot see bytes
            // left in its buffer.
            match read_fd(stdin.as_raw_fd(), &mut typed) {
                Ok(0) => stdin_open = false,
                Ok(count) => {
                    if scanner.feed(&typed[..count], &mut pending) {
                        break End::Detached;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => stdin_open = false,
            }
        }
    };

    drop(raw);
    let message = match end {
        End::Detached => format!("detached from {}", options.label),
        End::Eof => format!(
            "{} ended: its terminal hung up, the container's init exited, or another attacher took \
             it over with --force",
            options.label
        ),
        End::Signal(signal) => format!("{signal} ended the session on {}", options.label),
    };
    eprintln!("\r\nvtty-ctl: {message}");
    Ok(end)
}

fn read_fd(fd: i32, buffer: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buffer` is valid for `buffer.len()` writable bytes.
    let count = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
    if count < 0 { Err(io::Error::last_os_error()) } else { Ok(count as usize) }
}

fn poll_fd(fd: i32, events: libc::c_short) -> libc::pollfd {
    libc::pollfd { fd, events, revents: 0 }
}

fn set_nonblocking(file: &File) -> io::Result<()> {
    // SAFETY: F_GETFL and F_SETFL on an open descriptor.
    unsafe {
        let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
        if flags < 0 || libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Sends the local window size to the container's terminal.
fn forward_window_size(attach: &File) {
    let size = terminal::window_size(io::stdin()).or_else(|| terminal::window_size(io::stdout()));
    if let Some((rows, cols)) = size
        && let Err(error) = driver::set_window_size(attach, rows, cols)
    {
        eprint!("vtty-ctl: failed to set the window size to {cols}x{rows}: {error}\r\n");
    }
}
