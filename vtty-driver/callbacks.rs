// SPDX-License-Identifier: GPL-2.0

//! The `vtty_rs_*` functions the C glue calls: tty operations, the provider hook,
//! timers, the init watch, attach files and debugfs. Each turns raw pointers into
//! the driver's types and forwards.

use core::ffi::{c_int, c_uint, c_void};

use kernel::bindings;
use kernel::prelude::*;
use kernel::seq_file::SeqFile;
use kernel::sync::Arc;

use crate::attach::Attachment;
use crate::container::Container;
use crate::debugfs;
use crate::registry;
use crate::sys::{self, Tty};
use crate::terminal::Terminal;

/// Encodes an error the way `ERR_PTR` does.
fn err_ptr<T>(err: Error) -> *mut T {
    err.to_errno() as isize as *mut T
}

/// Borrows the terminal a tty's `driver_data` or a port's owner points to.
///
/// # Safety
///
/// `raw` must be a pointer from `Arc::into_raw` (tty driver data) or the address
/// of a terminal that outlives the call (port owner).
unsafe fn terminal<'a>(raw: *mut c_void) -> Option<&'a Terminal> {
    // SAFETY: guaranteed by the caller.
    unsafe { raw.cast::<Terminal>().as_ref() }
}

/// Borrows the attachment owned by an attach file.
///
/// # Safety
///
/// `raw` must come from `Arc::into_raw` in `attach::open` and the file holding it
/// must not be released yet.
unsafe fn attachment<'a>(raw: *mut c_void) -> &'a Attachment {
    // SAFETY: guaranteed by the caller.
    unsafe { &*raw.cast::<Attachment>() }
}

#[no_mangle]
extern "C" fn vtty_rs_provider_lookup(device: u32, index: *mut c_int) -> c_int {
    match registry::provider_lookup(device) {
        Ok(None) => 1,
        Ok(Some(terminal_index)) => {
            // SAFETY: the glue passes a valid out pointer.
            unsafe { *index = terminal_index as c_int };
            0
        }
        Err(err) => err.to_errno(),
    }
}

#[no_mangle]
extern "C" fn vtty_rs_lookup(index: c_int) -> *mut bindings::tty_struct {
    let Ok(index) = u32::try_from(index) else {
        return err_ptr(EINVAL);
    };
    match registry::lookup(index) {
        Ok(Some(tty)) => tty.as_ptr(),
        Ok(None) => core::ptr::null_mut(),
        Err(err) => err_ptr(err),
    }
}

#[no_mangle]
extern "C" fn vtty_rs_install(driver: *mut bindings::tty_driver, tty: *mut bindings::tty_struct) -> c_int {
    // SAFETY: the core passes the tty being installed.
    let Some(tty) = (unsafe { Tty::from_raw(tty) }) else {
        return EINVAL.to_errno();
    };
    // SAFETY: called from the driver's install, under tty_mutex.
    match unsafe { registry::install(driver, tty) } {
        Ok(()) => 0,
        Err(err) => err.to_errno(),
    }
}

#[no_mangle]
extern "C" fn vtty_rs_remove(tty: *mut bindings::tty_struct) {
    // SAFETY: the core passes a live tty.
    let Some(tty) = (unsafe { Tty::from_raw(tty) }) else { return };
    // SAFETY: an installed tty's driver data is its terminal reference.
    if let Some(terminal) = unsafe { terminal(tty.driver_data()) } {
        terminal.remove(tty);
    }
}

#[no_mangle]
extern "C" fn vtty_rs_cleanup(raw: *mut c_void) {
    if !raw.is_null() {
        // SAFETY: `raw` is the reference install gave the tty; cleanup runs once.
        drop(unsafe { Arc::from_raw(raw.cast::<Terminal>()) });
    }
}

#[no_mangle]
extern "C" fn vtty_rs_open(raw: *mut c_void, tty: *mut bindings::tty_struct) {
    // SAFETY: the core passes the tty being opened, whose driver data is `raw`.
    let (Some(terminal), Some(tty)) = (unsafe { terminal(raw) }, unsafe { Tty::from_raw(tty) }) else {
        return;
    };
    let count = tty.count();
    if terminal.set_open_count(count) {
        sys::trace_open(terminal.nsid, terminal.index, count);
    }
}

#[no_mangle]
extern "C" fn vtty_rs_close(raw: *mut c_void, tty: *mut bindings::tty_struct) {
    // SAFETY: as in `vtty_rs_open`.
    let (Some(terminal), Some(tty)) = (unsafe { terminal(raw) }, unsafe { Tty::from_raw(tty) }) else {
        return;
    };
    // The core decrements tty->count after ->close.
    let count = (tty.count() - 1).max(0);
    if terminal.set_open_count(count) {
        sys::trace_close(terminal.nsid, terminal.index, count);
    }
}

#[no_mangle]
extern "C" fn vtty_rs_hangup(_raw: *mut c_void) {
    // The core hangs up the tty's files; the attacher is unaffected, as after a
    // getty's vhangup() on a serial console.
}

#[no_mangle]
extern "C" fn vtty_rs_write(raw: *mut c_void, buf: *const u8, count: usize) -> isize {
    // SAFETY: the tty's driver data is its terminal.
    let Some(terminal) = (unsafe { terminal(raw) }) else {
        return EIO.to_errno() as isize;
    };
    if count == 0 {
        return 0;
    }
    // SAFETY: the core passes `count` readable bytes at `buf`.
    let data = unsafe { core::slice::from_raw_parts(buf, count) };
    terminal.write(data) as isize
}

#[no_mangle]
extern "C" fn vtty_rs_write_room(raw: *mut c_void) -> c_uint {
    // SAFETY: the tty's driver data is its terminal.
    match unsafe { terminal(raw) } {
        Some(terminal) => terminal.write_room() as c_uint,
        None => 0,
    }
}

#[no_mangle]
extern "C" fn vtty_rs_stall_expired(raw: *mut c_void) {
    // SAFETY: the port's owner is its terminal, which outlives the port's timer.
    if let Some(terminal) = unsafe { terminal(raw) } {
        terminal.stall_expired();
    }
}

#[no_mangle]
extern "C" fn vtty_rs_init_woken(raw: *mut c_void) {
    registry::init_woken(raw.cast::<Container>().cast_const());
}

#[no_mangle]
extern "C" fn vtty_rs_attach_commit(raw: *mut c_void) -> c_int {
    // SAFETY: the attach file being created owns `raw`.
    match unsafe { attachment(raw) }.commit() {
        Ok(()) => 0,
        Err(err) => err.to_errno(),
    }
}

#[no_mangle]
extern "C" fn vtty_rs_attach_take(raw: *mut c_void, buf: *mut u8, count: usize) -> isize {
    // SAFETY: the glue passes a kernel buffer of `count` writable bytes.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, count) };
    // SAFETY: the attach file owns `raw`.
    match unsafe { attachment(raw) }.take(out) {
        Ok(n) => n as isize,
        Err(err) => err.to_errno() as isize,
    }
}

#[no_mangle]
extern "C" fn vtty_rs_attach_readable(raw: *mut c_void) -> bool {
    // SAFETY: the attach file owns `raw`.
    unsafe { attachment(raw) }.readable()
}

#[no_mangle]
extern "C" fn vtty_rs_attach_input(raw: *mut c_void, buf: *const u8, count: usize, force_drop: bool) -> isize {
    // SAFETY: the glue passes a kernel buffer of `count` readable bytes.
    let data = unsafe { core::slice::from_raw_parts(buf, count) };
    // SAFETY: the attach file owns `raw`.
    match unsafe { attachment(raw) }.input(data, force_drop) {
        Ok(n) => n as isize,
        Err(err) => err.to_errno() as isize,
    }
}

#[no_mangle]
extern "C" fn vtty_rs_attach_input_ready(raw: *mut c_void) -> bool {
    // SAFETY: the attach file owns `raw`.
    unsafe { attachment(raw) }.input_ready()
}

#[no_mangle]
extern "C" fn vtty_rs_attach_stall_timeout_ms(raw: *mut c_void) -> c_uint {
    // SAFETY: the attach file owns `raw`.
    unsafe { attachment(raw) }.stall_timeout_ms()
}

#[no_mangle]
extern "C" fn vtty_rs_attach_resize(raw: *mut c_void, rows: u16, cols: u16) -> c_int {
    // SAFETY: the attach file owns `raw`.
    match unsafe { attachment(raw) }.resize(rows, cols) {
        Ok(()) => 0,
        Err(err) => err.to_errno(),
    }
}

#[no_mangle]
extern "C" fn vtty_rs_attach_release(raw: *mut c_void) {
    // SAFETY: the attach file owned this reference and is being released.
    let attachment = unsafe { Arc::from_raw(raw.cast::<Attachment>()) };
    attachment.release();
}

#[no_mangle]
extern "C" fn vtty_rs_debugfs_show(m: *mut bindings::seq_file) {
    // SAFETY: the glue's show callback passes its live seq_file, used only here.
    let seq = unsafe { SeqFile::from_raw(m) };
    debugfs::show(seq);
}
