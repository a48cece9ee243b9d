// SPDX-License-Identifier: GPL-2.0

//! One terminal of a container: its tty slot, the attacher's buffer, the
//! drop-or-deliver decision for the container's output, and its counters.
//!
//! Lock order: the tty core's `tty_mutex`, then the registry, then a terminal's
//! `state`. Nothing that may re-enter the driver (`tty_wakeup`, hangup, resize)
//! runs under `state`.

use core::ffi::c_void;

use kernel::prelude::*;
use kernel::sync::{new_spinlock_irq, Arc, SpinLockIrq};

use crate::abi;
use crate::ring::{ByteRing, ATTACH_BUFFER_SIZE};
use crate::sys::{self, Port, Tty};

/// Room reported while output is dropped: any write is accepted in full.
const DROP_ROOM: usize = 8192;

/// Reasons of `vtty_detach`, as in vtty_trace.h.
pub(crate) const DETACH_CLOSED: u32 = 0;
pub(crate) const DETACH_TAKEOVER: u32 = 1;
pub(crate) const DETACH_ENDED: u32 = 2;

/// Byte counters of a terminal since its container registered.
#[derive(Clone, Copy, Default)]
struct Counters {
    written: u64,
    delivered: u64,
    dropped: u64,
    input_dropped: u64,
}

/// The current attacher of a terminal.
struct AttachSlot {
    /// Identifies the attach file; a file whose id is not here reads EOF.
    id: u64,
    /// Output not yet read.
    ring: ByteRing,
    /// Milliseconds the buffer may stay full before output drops.
    stall_timeout_ms: u32,
    /// The stall timer runs: the buffer filled up and has not drained since.
    stall_armed: bool,
    /// The buffer stayed full for the stall timeout: output drops until a read.
    stalled: bool,
}

struct TermState {
    /// The tty of this terminal, from `install` to `remove` (under `tty_mutex`).
    tty: Option<Tty>,
    /// `tty->count` after the last open or close.
    open_count: i32,
    attach: Option<AttachSlot>,
    counters: Counters,
    /// The room `write_room` reported last. The line discipline's echo and
    /// single-character paths ignore the return of `write`, so `write` never
    /// takes less than that.
    last_room: usize,
    /// Window size set by the attacher, applied to a tty installed later.
    winsize: (u16, u16),
    /// The container is gone: no new attach.
    ended: bool,
    /// The container was unregistered or ended: writes through files that a
    /// hangup cannot revoke (`/dev/console`) are still counted here, but fire no
    /// tracepoint, so the probes do not recreate the keys they deleted.
    silent: bool,
}

/// One terminal of a registered container.
#[pin_data]
pub(crate) struct Terminal {
    /// The container's nsid.
    pub(crate) nsid: u64,
    /// Index 0..12.
    pub(crate) index: u32,
    port: Port,
    #[pin]
    state: SpinLockIrq<TermState>,
}

// SAFETY: `Tty` is only a pointer that the tty core keeps valid from install to
// remove, and `state` is only accessed under its lock.
unsafe impl Send for TermState {}

/// Reason for hanging up a terminal.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// `VTTY_IOC_HANGUP`: the terminal stays usable.
    Hangup,
    /// The container was unregistered while alive (fenced).
    Fence,
    /// The container's init exited: the terminal is gone for good.
    Exit,
}

/// Result of a read by an attacher.
pub(crate) enum Take {
    /// Bytes were copied.
    Data(usize),
    /// Nothing buffered yet.
    Empty,
    /// The attach ended (taken over, hung up, container gone).
    Eof,
}

impl Terminal {
    /// Creates terminal `index` of container `nsid`.
    pub(crate) fn new(nsid: u64, index: u32) -> Result<Arc<Self>> {
        let port = Port::new()?;
        let state = TermState {
            tty: None,
            open_count: 0,
            attach: None,
            counters: Counters::default(),
            last_room: 0,
            winsize: (0, 0),
            ended: false,
            silent: false,
        };
        let terminal = Arc::pin_init(
            pin_init!(Self {
                nsid,
                index,
                port,
                state <- new_spinlock_irq!(state, "vtty_terminal"),
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: the port belongs to the terminal, so the terminal outlives it.
        unsafe { terminal.port.set_terminal(Arc::as_ptr(&terminal).cast()) };
        Ok(terminal)
    }

    /// Returns the terminal's port.
    pub(crate) fn port(&self) -> &Port {
        &self.port
    }

    /// Returns the tty to hand to the core's lookup, if one is installed.
    pub(crate) fn tty(&self) -> Option<Tty> {
        self.state.lock().tty
    }

    /// Links a new tty to this terminal; `driver_data` is the terminal reference
    /// the tty keeps until cleanup.
    ///
    /// # Safety
    ///
    /// Must be called from the driver's install, under `tty_mutex`.
    pub(crate) unsafe fn install(
        &self,
        driver: *mut kernel::bindings::tty_driver,
        tty: Tty,
        driver_data: *mut c_void,
    ) -> Result {
        let winsize = {
            let mut state = self.state.lock();
            if state.ended {
                return Err(ENODEV);
            }
            if state.tty.is_some() {
                return Err(EBUSY);
            }
            state.tty = Some(tty);
            state.winsize
        };
        // SAFETY: forwarded from the caller; `driver_data` is kept until cleanup.
        let result = unsafe { tty.install(driver, &self.port, driver_data, winsize) };
        if result.is_err() {
            self.state.lock().tty = None;
        }
        result
    }

    /// Forgets the tty; the core frees it later. Runs under `tty_mutex`.
    pub(crate) fn remove(&self, tty: Tty) {
        let mut state = self.state.lock();
        if state.tty.map(Tty::as_ptr) == Some(tty.as_ptr()) {
            state.tty = None;
        }
    }

    /// Fires tracepoints again after a fenced container registered anew.
    pub(crate) fn unsilence(&self) {
        self.state.lock().silent = false;
    }

    /// Records the open count after an open or close; returns whether to fire
    /// the tracepoint (not once the container is fenced or gone).
    pub(crate) fn set_open_count(&self, count: i32) -> bool {
        let mut state = self.state.lock();
        state.open_count = count;
        !state.silent
    }

    /// Handles the container's write. With no attacher, or a stalled one, the
    /// write is accepted in full and its bytes are dropped and counted. Otherwise
    /// the bytes are queued for the attacher as far as the buffer has room.
    ///
    /// Never sleeps: the echo worker calls it too.
    pub(crate) fn write(&self, buf: &[u8]) -> usize {
        let offered = buf.len();
        let (accepted, delivered, silent) = {
            let mut state = self.state.lock();
            let must_take = offered.min(state.last_room);
            let (accepted, delivered) = match state.attach.as_mut() {
                None => (offered, 0),
                Some(slot) if slot.stalled => (offered, 0),
                Some(slot) => {
                    let delivered = slot.ring.push(buf);
                    if delivered == offered {
                        (offered, delivered)
                    } else if slot.stall_timeout_ms == 0 {
                        slot.stalled = true;
                        (offered, delivered)
                    } else {
                        if !slot.stall_armed {
                            slot.stall_armed = true;
                            self.port.arm_stall_timer(slot.stall_timeout_ms);
                        }
                        (delivered.max(must_take), delivered)
                    }
                }
            };
            state.last_room = state.last_room.saturating_sub(accepted);
            state.counters.written += accepted as u64;
            state.counters.delivered += delivered as u64;
            state.counters.dropped += (accepted - delivered) as u64;
            (accepted, delivered, state.silent)
        };
        if delivered > 0 {
            self.port.wake_reader();
        }
        if silent {
            return accepted;
        }
        sys::trace_write(
            self.nsid,
            self.index,
            accepted as u32,
            delivered as u32,
            (accepted - delivered) as u32,
        );
        accepted
    }

    /// Room for the container's next write. A full buffer reports 0, which makes
    /// the line discipline wait, and starts the stall timer.
    pub(crate) fn write_room(&self) -> usize {
        let mut state = self.state.lock();
        let room = match state.attach.as_mut() {
            None => DROP_ROOM,
            Some(slot) if slot.stalled => DROP_ROOM,
            Some(slot) => {
                let free = slot.ring.free();
                if free == 0 {
                    if slot.stall_timeout_ms == 0 {
                        slot.stalled = true;
                    } else if !slot.stall_armed {
                        slot.stall_armed = true;
                        self.port.arm_stall_timer(slot.stall_timeout_ms);
                    }
                }
                if slot.stalled { DROP_ROOM } else { free }
            }
        };
        state.last_room = room;
        room
    }

    /// Marks the attacher stalled when the stall timer fires and the buffer is
    /// still full, so output drops from then on. Runs in timer (softirq) context.
    pub(crate) fn stall_expired(&self) {
        let woke = {
            let mut state = self.state.lock();
            match state.attach.as_mut() {
                Some(slot) if slot.stall_armed => {
                    slot.stall_armed = false;
                    if slot.ring.free() == 0 {
                        slot.stalled = true;
                    }
                    true
                }
                _ => false,
            }
        };
        if woke {
            self.port.tty_wakeup();
        }
    }

    /// Makes `id` the attacher, with a fresh buffer. With `takeover`, the current
    /// attacher reads EOF; without it an existing attacher is `EBUSY`.
    pub(crate) fn attach(&self, id: u64, takeover: bool, stall_timeout_ms: u32) -> Result {
        let ring = ByteRing::new(ATTACH_BUFFER_SIZE)?;
        let slot = AttachSlot { id, ring, stall_timeout_ms, stall_armed: false, stalled: false };
        let old = {
            let mut state = self.state.lock();
            if state.ended {
                return Err(ENODEV);
            }
            if state.attach.is_some() && !takeover {
                return Err(EBUSY);
            }
            state.attach.replace(slot)
        };
        if old.is_some() {
            sys::trace_detach(self.nsid, self.index, DETACH_TAKEOVER);
        }
        let flags = if takeover { abi::VTTY_ATTACH_TAKEOVER } else { 0 };
        sys::trace_attach(self.nsid, self.index, flags);
        drop(old);
        // The old attacher reads EOF; writers blocked on its full buffer retry.
        self.port.wake_reader();
        self.port.wake_input();
        self.port.tty_wakeup();
        Ok(())
    }

    /// Ends attach `id` if it is current. Not a hangup: the container gets no signal.
    pub(crate) fn detach(&self, id: u64, reason: u32) {
        let old = {
            let mut state = self.state.lock();
            match &state.attach {
                Some(slot) if slot.id == id => state.attach.take(),
                _ => None,
            }
        };
        if old.is_some() {
            sys::trace_detach(self.nsid, self.index, reason);
            drop(old);
            self.port.wake_reader();
            self.port.wake_input();
            // Writers waiting for the attacher go back to dropping.
            self.port.tty_wakeup();
        }
    }

    /// Ends any attach (EOF) and hangs up the tty. Sleeps.
    pub(crate) fn hangup(&self, end: End) {
        let old = {
            let mut state = self.state.lock();
            match end {
                End::Hangup => {}
                End::Fence => state.silent = true,
                End::Exit => {
                    state.silent = true;
                    state.ended = true;
                }
            }
            state.attach.take()
        };
        if old.is_some() {
            sys::trace_detach(self.nsid, self.index, DETACH_ENDED);
            drop(old);
        }
        self.port.wake_reader();
        self.port.wake_input();
        self.port.tty_hangup();
    }

    /// Moves buffered output for attach `id` into `out`.
    pub(crate) fn take(&self, id: u64, out: &mut [u8]) -> Take {
        let result = {
            let mut state = self.state.lock();
            match state.attach.as_mut() {
                Some(slot) if slot.id == id => {
                    let n = slot.ring.pop(out);
                    if n > 0 {
                        // The reader made room: delivery resumes.
                        slot.stalled = false;
                        slot.stall_armed = false;
                        Take::Data(n)
                    } else {
                        Take::Empty
                    }
                }
                _ => Take::Eof,
            }
        };
        if let Take::Data(_) = result {
            self.port.tty_wakeup();
        }
        result
    }

    /// True when a read by attach `id` would not wait (data or EOF).
    pub(crate) fn readable(&self, id: u64) -> bool {
        match &self.state.lock().attach {
            Some(slot) if slot.id == id => slot.ring.len() > 0,
            _ => true,
        }
    }

    /// Feeds input from attach `id`. Returns the bytes taken, `EAGAIN` when the
    /// container's input buffer is full, `EIO` when the attach ended. With no tty
    /// open, or with `force_drop`, the input is dropped and counted.
    pub(crate) fn input(&self, id: u64, buf: &[u8], force_drop: bool) -> Result<usize> {
        {
            let mut state = self.state.lock();
            match &state.attach {
                Some(slot) if slot.id == id => {}
                _ => return Err(EIO),
            }
            if force_drop || state.open_count <= 0 {
                state.counters.input_dropped += buf.len() as u64;
                return Ok(buf.len());
            }
        }
        match self.port.push_input(buf) {
            0 => Err(EAGAIN),
            n => Ok(n),
        }
    }

    /// True when input from attach `id` would not wait.
    pub(crate) fn input_ready(&self, id: u64) -> bool {
        {
            let state = self.state.lock();
            match &state.attach {
                Some(slot) if slot.id == id => {}
                _ => return true,
            }
            if state.open_count <= 0 {
                return true;
            }
        }
        self.port.input_room() > 0
    }

    /// Sets the window size, now and for ttys installed later.
    pub(crate) fn resize(&self, id: u64, rows: u16, cols: u16) -> Result {
        {
            let mut state = self.state.lock();
            match &state.attach {
                Some(slot) if slot.id == id => {}
                _ => return Err(EIO),
            }
            state.winsize = (rows, cols);
        }
        self.port.tty_resize(rows, cols)
    }

    /// State and counters in the ABI's layout.
    pub(crate) fn info(&self) -> abi::vtty_terminal_info {
        let state = self.state.lock();
        let mut flags = 0;
        if state.tty.is_some() {
            flags |= abi::VTTY_TERM_INSTALLED;
        }
        if let Some(slot) = &state.attach {
            flags |= abi::VTTY_TERM_ATTACHED;
            if slot.stalled {
                flags |= abi::VTTY_TERM_STALLED;
            }
        }
        abi::vtty_terminal_info {
            flags,
            open_count: state.open_count.max(0) as u32,
            written: state.counters.written,
            delivered: state.counters.delivered,
            dropped: state.counters.dropped,
            input_dropped: state.counters.input_dropped,
        }
    }
}

#[kunit_tests(vtty_terminal)]
mod tests {
    use super::*;

    #[test]
    fn detached_writes_are_dropped_and_counted() -> Result {
        let terminal = Terminal::new(1, 0)?;
        assert_eq!(terminal.write_room(), DROP_ROOM);
        assert_eq!(terminal.write(b"hello"), 5);
        let info = terminal.info();
        assert_eq!(info.written, 5);
        assert_eq!(info.dropped, 5);
        assert_eq!(info.delivered, 0);
        Ok(())
    }

    #[test]
    fn attached_writes_are_delivered_in_order() -> Result {
        let terminal = Terminal::new(1, 0)?;
        terminal.attach(7, false, 1000)?;
        assert_eq!(terminal.write(b"abc"), 3);
        let mut out = [0u8; 8];
        assert!(matches!(terminal.take(7, &mut out), Take::Data(3)));
        assert_eq!(&out[..3], b"abc");
        assert!(matches!(terminal.take(7, &mut out), Take::Empty));
        assert_eq!(terminal.info().delivered, 3);
        assert_eq!(terminal.info().dropped, 0);
        Ok(())
    }

    #[test]
    fn full_buffer_waits_then_drops_without_timeout() -> Result {
        let terminal = Terminal::new(1, 0)?;
        terminal.attach(7, false, 0)?;
        let chunk = [0u8; 4096];
        let mut accepted = 0;
        while accepted < ATTACH_BUFFER_SIZE {
            accepted += terminal.write(&chunk);
        }
        // With a stall timeout of 0, a full buffer drops at once.
        assert_eq!(terminal.write(&chunk), chunk.len());
        let info = terminal.info();
        assert_eq!(info.delivered, ATTACH_BUFFER_SIZE as u64);
        assert_eq!(info.dropped, 4096);
        assert_ne!(info.flags & abi::VTTY_TERM_STALLED, 0);
        Ok(())
    }

    #[test]
    fn second_attach_busy_takeover_ends_first() -> Result {
        let terminal = Terminal::new(1, 0)?;
        terminal.attach(1, false, 1000)?;
        assert!(terminal.attach(2, false, 1000).is_err());
        terminal.attach(3, true, 1000)?;
        let mut out = [0u8; 4];
        assert!(matches!(terminal.take(1, &mut out), Take::Eof));
        assert!(matches!(terminal.take(3, &mut out), Take::Empty));
        terminal.detach(3, DETACH_CLOSED);
        assert_eq!(terminal.info().flags & abi::VTTY_TERM_ATTACHED, 0);
        Ok(())
    }

    #[test]
    fn ended_terminal_refuses_attach() -> Result {
        let terminal = Terminal::new(1, 0)?;
        terminal.hangup(End::Exit);
        assert!(terminal.attach(1, false, 1000).is_err());
        Ok(())
    }
}
