//! The local terminal during `console`: raw mode that is undone on every exit
//! path, panics included, and the window size.

use std::io;
use std::os::fd::{AsFd, AsRawFd as _, BorrowedFd, RawFd};
use std::sync::{Mutex, Once};

use nix::sys::termios::{self, SetArg, Termios};

/// The terminal settings to restore if the process panics in raw mode.
static SAVED: Mutex<Option<(RawFd, Termios)>> = Mutex::new(None);
static PANIC_HOOK: Once = Once::new();

/// Raw mode on a terminal; dropping it restores the previous settings.
#[derive(Debug)]
pub struct RawMode {
    fd: RawFd,
    original: Termios,
}

impl RawMode {
    /// Puts the terminal on `fd` in raw mode; `Ok(None)` when `fd` is no terminal.
    pub fn enter(fd: BorrowedFd<'_>) -> io::Result<Option<Self>> {
        let original = match termios::tcgetattr(fd) {
            Ok(original) => original,
            Err(nix::errno::Errno::ENOTTY) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        install_panic_hook();
        if let Ok(mut saved) = SAVED.lock() {
            *saved = Some((fd.as_raw_fd(), original.clone()));
        }
        let mut raw = original.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSAFLUSH, &raw)?;
        Ok(Some(Self { fd: fd.as_raw_fd(), original }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: the descriptor was valid when raw mode began and belongs to the
        // process's standard streams, which stay open until exit.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        // Nothing useful can be done if restoring fails while unwinding or exiting.
        let _ = termios::tcsetattr(fd, SetArg::TCSADRAIN, &self.original);
        if let Ok(mut saved) = SAVED.lock() {
            *saved = None;
        }
    }
}

/// Restores the terminal from the panic hook, then runs the previous hook, so a
/// panic message prints on a sane terminal.
fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(saved) = SAVED.lock()
                && let Some((fd, original)) = saved.as_ref()
            {
                // SAFETY: as in `Drop`: a standard stream that stays open.
                let fd = unsafe { BorrowedFd::borrow_raw(*fd) };
                let _ = termios::tcsetattr(fd, SetArg::TCSADRAIN, original);
            }
            previous(info);
        }));
    });
}

/// Reads the window size of the terminal on `fd` as (rows, columns), or `None`
/// when `fd` is no terminal.
pub fn window_size(fd: impl AsFd) -> Option<(u16, u16)> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes a `struct winsize` to the pointer.
    let ret = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    (ret == 0 && size.ws_row > 0 && size.ws_col > 0).then_some((size.ws_row, size.ws_col))
}
