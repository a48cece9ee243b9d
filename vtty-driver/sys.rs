// SPDX-License-Identifier: GPL-2.0

//! Every raw call into C: the tty core (through the bindings), the driver's C glue
//! (`vtty_glue.c`), pid namespaces and tracepoints, behind safe types.
//!
//! No other module of the driver touches `bindings::` or declares `extern "C"`
//! functions, except for the `vtty_rs_*` callbacks the glue calls.

use core::ffi::{c_char, c_int, c_uint, c_void};
use core::ptr::NonNull;

use kernel::bindings;
use kernel::prelude::*;

/// Opaque `struct vtty_port` of the glue.
#[repr(C)]
pub(crate) struct RawPort {
    _opaque: [u8; 0],
}

/// Opaque `struct vtty_watch` of the glue.
#[repr(C)]
struct RawWatch {
    _opaque: [u8; 0],
}

#[expect(
    improper_ctypes,
    reason = "bindgen renders some kernel structs with zero-sized opaque members; \
              only pointers to them cross this boundary"
)]
extern "C" {
    fn vtty_trace_register(nsid: u64, init_pid: i32, name: *const c_char);
    fn vtty_trace_unregister(nsid: u64, reason: u32);
    fn vtty_trace_install(nsid: u64, index: u32);
    fn vtty_trace_open(nsid: u64, index: u32, count: i32);
    fn vtty_trace_close(nsid: u64, index: u32, count: i32);
    fn vtty_trace_write(nsid: u64, index: u32, offered: u32, delivered: u32, dropped: u32);
    fn vtty_trace_attach(nsid: u64, index: u32, flags: u32);
    fn vtty_trace_detach(nsid: u64, index: u32, reason: u32);

    fn vtty_driver_create(lines: c_uint) -> *mut bindings::tty_driver;
    fn vtty_driver_destroy(driver: *mut bindings::tty_driver);
    fn vtty_provider_register() -> c_int;
    fn vtty_provider_unregister();
    fn vtty_tty_install(
        driver: *mut bindings::tty_driver,
        tty: *mut bindings::tty_struct,
        port: *mut bindings::tty_port,
        driver_data: *mut c_void,
        rows: u16,
        cols: u16,
    ) -> c_int;

    fn vtty_port_create(terminal: *mut c_void) -> *mut RawPort;
    fn vtty_port_set_terminal(vp: *mut RawPort, terminal: *mut c_void);
    fn vtty_port_release(vp: *mut RawPort);
    fn vtty_port_tty_port(vp: *mut RawPort) -> *mut bindings::tty_port;
    fn vtty_port_arm_stall_timer(vp: *mut RawPort, msecs: c_uint);
    fn vtty_port_wake_reader(vp: *mut RawPort);
    fn vtty_port_wake_input(vp: *mut RawPort);

    fn vtty_pidfd_resolve(
        pidfd: c_int,
        pid: *mut *mut bindings::pid,
        ns: *mut *mut bindings::pid_namespace,
        host_pid: *mut i32,
    ) -> c_int;
    fn vtty_put_pid(pid: *mut bindings::pid);
    fn vtty_put_pid_ns(ns: *mut bindings::pid_namespace);
    fn vtty_pid_ns_id(ns: *const bindings::pid_namespace) -> u64;
    fn vtty_pid_ns_parent(ns: *const bindings::pid_namespace) -> *mut bindings::pid_namespace;
    fn vtty_current_pid_ns() -> *mut bindings::pid_namespace;
    fn vtty_current_in_init_pid_ns() -> bool;
    fn vtty_current_capable_sys_admin() -> bool;
    fn vtty_pid_ns_dead(ns: *const bindings::pid_namespace) -> bool;
    fn vtty_watch_create(pid: *mut bindings::pid, container: *mut c_void) -> *mut RawWatch;
    fn vtty_watch_destroy(watch: *mut RawWatch);

    fn vtty_wq_create() -> *mut bindings::workqueue_struct;
    fn vtty_wq_destroy(wq: *mut bindings::workqueue_struct);

    fn vtty_attach_fd_create(attachment: *mut c_void, vp: *mut RawPort, owned: *mut bool)
        -> c_int;

    fn vtty_debugfs_create();
    fn vtty_debugfs_remove();

    fn vtty_module_get() -> bool;
    fn vtty_module_put();
}

/// Converts a C return value (0 or a negative errno) into a `Result`.
fn check(ret: c_int) -> Result {
    if ret < 0 {
        Err(Error::from_errno(ret))
    } else {
        Ok(())
    }
}

// ---- tracepoints ----

/// Fires `vtty:vtty_register`. `name` is NUL-terminated.
pub(crate) fn trace_register(nsid: u64, init_pid: i32, name: &[u8; crate::abi::VTTY_NAME_LEN]) {
    // SAFETY: `name` is NUL-terminated: registration checks that its last byte is 0.
    unsafe { vtty_trace_register(nsid, init_pid, name.as_ptr().cast()) }
}

/// Fires `vtty:vtty_unregister`.
pub(crate) fn trace_unregister(nsid: u64, reason: u32) {
    // SAFETY: plain values.
    unsafe { vtty_trace_unregister(nsid, reason) }
}

/// Fires `vtty:vtty_install`.
pub(crate) fn trace_install(nsid: u64, index: u32) {
    // SAFETY: plain values.
    unsafe { vtty_trace_install(nsid, index) }
}

/// Fires `vtty:vtty_open` with the open count after the open.
pub(crate) fn trace_open(nsid: u64, index: u32, count: i32) {
    // SAFETY: plain values.
    unsafe { vtty_trace_open(nsid, index, count) }
}

/// Fires `vtty:vtty_close` with the open count after the close.
pub(crate) fn trace_close(nsid: u64, index: u32, count: i32) {
    // SAFETY: plain values.
    unsafe { vtty_trace_close(nsid, index, count) }
}

/// Fires `vtty:vtty_write`.
pub(crate) fn trace_write(nsid: u64, index: u32, offered: u32, delivered: u32, dropped: u32) {
    // SAFETY: plain values.
    unsafe { vtty_trace_write(nsid, index, offered, delivered, dropped) }
}

/// Fires `vtty:vtty_attach`.
pub(crate) fn trace_attach(nsid: u64, index: u32, flags: u32) {
    // SAFETY: plain values.
    unsafe { vtty_trace_attach(nsid, index, flags) }
}

/// Fires `vtty:vtty_detach`.
pub(crate) fn trace_detach(nsid: u64, index: u32, reason: u32) {
    // SAFETY: plain values.
    unsafe { vtty_trace_detach(nsid, index, reason) }
}

// ---- the tty driver ----

/// The registered `vtty` tty driver.
pub(crate) struct TtyDriver(NonNull<bindings::tty_driver>);

// SAFETY: the tty core synchronizes all use of a registered driver; this type only
// unregisters it, once, in `drop`.
unsafe impl Send for TtyDriver {}
// SAFETY: as above; `&TtyDriver` exposes only the raw pointer for install.
unsafe impl Sync for TtyDriver {}

impl TtyDriver {
    /// Allocates and registers the driver with `lines` terminals.
    pub(crate) fn register(lines: u32) -> Result<Self> {
        // SAFETY: plain call; returns a driver or an ERR_PTR.
        let raw = unsafe { vtty_driver_create(lines) };
        let raw = kernel::error::from_err_ptr(raw)?;
        NonNull::new(raw).map(Self).ok_or(ENOMEM)
    }
}

impl Drop for TtyDriver {
    fn drop(&mut self) {
        // SAFETY: the driver was registered by `register` and is unregistered once.
        unsafe { vtty_driver_destroy(self.0.as_ptr()) }
    }
}

/// The provider registration with the tty core's lookup hook.
pub(crate) struct Provider(());

impl Provider {
    /// Routes container opens of 5:1 and 4:N to this driver.
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: plain call; the provider table is static in the glue.
        check(unsafe { vtty_provider_register() })?;
        Ok(Self(()))
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; returns once no lookup runs.
        unsafe { vtty_provider_unregister() }
    }
}

/// A tty the core passed to a callback. Valid for the duration of the callback.
#[derive(Clone, Copy)]
pub(crate) struct Tty(NonNull<bindings::tty_struct>);

impl Tty {
    /// Wraps a tty pointer the core passed to a callback.
    ///
    /// # Safety
    ///
    /// `raw` must point to a live tty for as long as the returned value is used.
    pub(crate) unsafe fn from_raw(raw: *mut bindings::tty_struct) -> Option<Self> {
        NonNull::new(raw).map(Self)
    }

    /// The raw pointer, for handing back to the core from `lookup`.
    pub(crate) fn as_ptr(self) -> *mut bindings::tty_struct {
        self.0.as_ptr()
    }

    /// `tty->index`.
    pub(crate) fn index(self) -> i32 {
        // SAFETY: the tty is live (type invariant); `index` is set before install
        // and never changes.
        unsafe { (*self.0.as_ptr()).index }
    }

    /// `tty->count`, the number of open files.
    pub(crate) fn count(self) -> i32 {
        // SAFETY: the tty is live; `count` is an int that the core changes under
        // tty_lock, and a racy read only affects the traced value.
        unsafe { core::ptr::read_volatile(&(*self.0.as_ptr()).count) }
    }

    /// `tty->driver_data`, the terminal set by `install`.
    pub(crate) fn driver_data(self) -> *mut c_void {
        // SAFETY: the tty is live; driver_data is written only by install and
        // cleanup.
        unsafe { (*self.0.as_ptr()).driver_data }
    }

    /// Does what `tty_standard_install` does without the driver's `ttys[]` table,
    /// and links the tty to `port` and `driver_data`.
    ///
    /// # Safety
    ///
    /// Must be called from the driver's `install` with the core's `driver` and
    /// `tty`; `driver_data` must stay valid until `cleanup`.
    pub(crate) unsafe fn install(
        self,
        driver: *mut bindings::tty_driver,
        port: &Port,
        driver_data: *mut c_void,
        size: (u16, u16),
    ) -> Result {
        // SAFETY: forwarded from the caller's contract; the port is live.
        check(unsafe {
            vtty_tty_install(driver, self.0.as_ptr(), port.tty_port(), driver_data, size.0, size.1)
        })
    }
}

// ---- ports ----

/// A terminal's `tty_port` with its stall timer and the attacher's wait queues.
///
/// # Invariants
///
/// `self.0` is a live port created by `vtty_port_create` that this value holds a
/// reference on until `drop`.
pub(crate) struct Port(NonNull<RawPort>);

// SAFETY: the port's fields are protected by the tty core's locks and its own
// wait-queue and timer locks; this type only calls thread-safe functions.
unsafe impl Send for Port {}
// SAFETY: as above.
unsafe impl Sync for Port {}

impl Port {
    /// Allocates a port.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: plain allocation; the terminal pointer is set by `set_terminal`.
        let raw = unsafe { vtty_port_create(core::ptr::null_mut()) };
        // INVARIANT: a non-NULL result is a new port with one reference.
        NonNull::new(raw).map(Self).ok_or(ENOMEM)
    }

    /// Sets the terminal the stall timer reports to.
    ///
    /// # Safety
    ///
    /// `terminal` must stay valid until this port is dropped, and must be a
    /// `crate::terminal::Terminal`.
    pub(crate) unsafe fn set_terminal(&self, terminal: *const c_void) {
        // SAFETY: the port is live (type invariant).
        unsafe { vtty_port_set_terminal(self.0.as_ptr(), terminal.cast_mut()) }
    }

    fn tty_port(&self) -> *mut bindings::tty_port {
        // SAFETY: the port is live (type invariant).
        unsafe { vtty_port_tty_port(self.0.as_ptr()) }
    }

    /// Arms (or re-arms) the stall timer.
    pub(crate) fn arm_stall_timer(&self, msecs: u32) {
        // SAFETY: the port is live.
        unsafe { vtty_port_arm_stall_timer(self.0.as_ptr(), msecs) }
    }

    /// Wakes an attacher waiting to read output.
    pub(crate) fn wake_reader(&self) {
        // SAFETY: the port is live.
        unsafe { vtty_port_wake_reader(self.0.as_ptr()) }
    }

    /// Wakes an attacher waiting for input room.
    pub(crate) fn wake_input(&self) {
        // SAFETY: the port is live.
        unsafe { vtty_port_wake_input(self.0.as_ptr()) }
    }

    /// Runs `f` with the port's tty, if a tty is open on it.
    fn with_tty<R>(&self, f: impl FnOnce(*mut bindings::tty_struct) -> R) -> Option<R> {
        // SAFETY: the port is live; tty_port_tty_get returns a tty with a reference
        // or NULL.
        let tty = unsafe { bindings::tty_port_tty_get(self.tty_port()) };
        if tty.is_null() {
            return None;
        }
        let result = f(tty);
        // SAFETY: drops the reference taken above.
        unsafe { bindings::tty_kref_put(tty) };
        Some(result)
    }

    /// Wakes the container's writers (`tty_wakeup`). Safe in atomic context, but
    /// must not run under a terminal's lock: a line discipline's write_wakeup may
    /// call the driver's write.
    pub(crate) fn tty_wakeup(&self) {
        // SAFETY: `tty` holds a reference for the duration of the call.
        self.with_tty(|tty| unsafe { bindings::tty_wakeup(tty) });
    }

    /// Hangs up the open tty (`tty_vhangup`). Sleeps.
    pub(crate) fn tty_hangup(&self) {
        // SAFETY: `tty` holds a reference for the duration of the call.
        self.with_tty(|tty| unsafe { bindings::tty_vhangup(tty) });
    }

    /// Sets the window size of the open tty; does nothing when none is open.
    pub(crate) fn tty_resize(&self, rows: u16, cols: u16) -> Result {
        let mut size = bindings::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: `tty` holds a reference; `size` outlives the call.
        let ret = self.with_tty(|tty| unsafe { bindings::tty_do_resize(tty, &mut size) });
        check(ret.unwrap_or(0))
    }

    /// Input room left in the flip buffer.
    pub(crate) fn input_room(&self) -> usize {
        // SAFETY: the port is live.
        unsafe { bindings::tty_buffer_space_avail(self.tty_port()) as usize }
    }

    /// Queues `buf` as input of the tty; returns how many bytes fit.
    ///
    /// Callers serialize: the flip buffer allows one producer at a time.
    pub(crate) fn push_input(&self, buf: &[u8]) -> usize {
        // SAFETY: the port is live; `buf` is valid for its length.
        let n = unsafe { bindings::tty_insert_flip_string(self.tty_port(), buf.as_ptr(), buf.len()) };
        if n > 0 {
            // SAFETY: the port is live; pushing is safe in any context.
            unsafe { bindings::tty_flip_buffer_push(self.tty_port()) };
        }
        n
    }

    /// Creates an attach file owning `attachment`; returns the new descriptor.
    ///
    /// The glue calls `vtty_rs_attach_commit` before installing the descriptor.
    /// Whether or not it succeeds, once the file exists it owns `attachment` and
    /// releases it through `vtty_rs_attach_release`: `Ok` or `Err((err, true))`.
    pub(crate) fn attach_fd_create(&self, attachment: *mut c_void) -> Result<i32, (Error, bool)> {
        let mut owned = false;
        // SAFETY: the port is live; `owned` outlives the call.
        let ret = unsafe { vtty_attach_fd_create(attachment, self.0.as_ptr(), &mut owned) };
        if ret < 0 {
            Err((Error::from_errno(ret), owned))
        } else {
            Ok(ret)
        }
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: the port is live and this drops the reference of the invariant;
        // the call stops the stall timer before anything is freed.
        unsafe { vtty_port_release(self.0.as_ptr()) }
    }
}

// ---- pid namespaces ----

/// A reference on a `struct pid`.
pub(crate) struct PidRef(NonNull<bindings::pid>);

// SAFETY: struct pid is reference counted and thread-safe.
unsafe impl Send for PidRef {}
// SAFETY: as above.
unsafe impl Sync for PidRef {}

impl Drop for PidRef {
    fn drop(&mut self) {
        // SAFETY: drops the reference this value holds.
        unsafe { vtty_put_pid(self.0.as_ptr()) }
    }
}

/// A reference on a pid namespace.
pub(crate) struct PidNsRef(NonNull<bindings::pid_namespace>);

// SAFETY: pid namespaces are reference counted and thread-safe.
unsafe impl Send for PidNsRef {}
// SAFETY: as above.
unsafe impl Sync for PidNsRef {}

impl PidNsRef {
    /// The namespace's `ns_id`, unique for the life of the system.
    pub(crate) fn id(&self) -> u64 {
        // SAFETY: the namespace is live while referenced.
        unsafe { vtty_pid_ns_id(self.0.as_ptr()) }
    }

    /// Pointer identity, for comparing with [`PidNsCursor`].
    pub(crate) fn as_ptr(&self) -> *const bindings::pid_namespace {
        self.0.as_ptr()
    }

    /// True once the namespace's init has exited and no task can join it.
    pub(crate) fn is_dead(&self) -> bool {
        // SAFETY: the namespace is live while referenced.
        unsafe { vtty_pid_ns_dead(self.0.as_ptr()) }
    }
}

impl Drop for PidNsRef {
    fn drop(&mut self) {
        // SAFETY: drops the reference this value holds.
        unsafe { vtty_put_pid_ns(self.0.as_ptr()) }
    }
}

/// A container's init, resolved from a pidfd.
pub(crate) struct InitTask {
    /// The init's struct pid.
    pub(crate) pid: PidRef,
    /// Its active pid namespace, the container.
    pub(crate) ns: PidNsRef,
    /// Its pid in the initial pid namespace.
    pub(crate) host_pid: i32,
}

/// Resolves a pidfd of a container's init (pid 1 of a non-initial namespace).
pub(crate) fn resolve_init_pidfd(pidfd: i32) -> Result<InitTask> {
    let mut pid = core::ptr::null_mut();
    let mut ns = core::ptr::null_mut();
    let mut host_pid = 0;
    // SAFETY: the out pointers are valid for writes.
    check(unsafe { vtty_pidfd_resolve(pidfd, &mut pid, &mut ns, &mut host_pid) })?;
    let pid = PidRef(NonNull::new(pid).ok_or(EINVAL)?);
    let ns = PidNsRef(NonNull::new(ns).ok_or(EINVAL)?);
    Ok(InitTask { pid, ns, host_pid })
}

/// Walks the caller's active pid namespace and its ancestors, innermost first,
/// stopping before the initial namespace. Only valid in the calling task.
pub(crate) struct PidNsCursor(*const bindings::pid_namespace);

impl PidNsCursor {
    /// Starts at the caller's active pid namespace.
    pub(crate) fn current() -> Self {
        // SAFETY: plain call; the namespace lives while the caller runs, and its
        // ancestors live while it does.
        Self(unsafe { vtty_current_pid_ns() })
    }
}

impl Iterator for PidNsCursor {
    type Item = *const bindings::pid_namespace;

    fn next(&mut self) -> Option<Self::Item> {
        let ns = self.0;
        if ns.is_null() {
            return None;
        }
        // SAFETY: `ns` is the caller's namespace or one of its ancestors, all live.
        let parent = unsafe { vtty_pid_ns_parent(ns) };
        // The initial namespace has no parent; it is never a container.
        if parent.is_null() {
            self.0 = core::ptr::null();
            return None;
        }
        self.0 = parent;
        Some(ns)
    }
}

/// True when the caller runs in the initial pid namespace.
pub(crate) fn current_in_init_pid_ns() -> bool {
    // SAFETY: plain call.
    unsafe { vtty_current_in_init_pid_ns() }
}

/// True when the caller has `CAP_SYS_ADMIN` (and marks it as used).
pub(crate) fn current_capable_sys_admin() -> bool {
    // SAFETY: plain call.
    unsafe { vtty_current_capable_sys_admin() }
}

/// Watches a container's init and calls `vtty_rs_init_woken` from the driver's
/// workqueue when it changes state.
pub(crate) struct Watch(NonNull<RawWatch>);

// SAFETY: the watch is only created and destroyed; the glue synchronizes its work,
// and destroying it is safe from any process context, its own work included.
unsafe impl Send for Watch {}
// SAFETY: as above.
unsafe impl Sync for Watch {}

impl Watch {
    /// Starts watching `pid` on behalf of `container`.
    ///
    /// # Safety
    ///
    /// `container` must stay valid until the watch is dropped.
    pub(crate) unsafe fn new(pid: &PidRef, container: *const c_void) -> Result<Self> {
        // SAFETY: `pid` is live; the caller guarantees `container`.
        let raw = unsafe { vtty_watch_create(pid.0.as_ptr(), container.cast_mut()) };
        NonNull::new(raw).map(Self).ok_or(ENOMEM)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SAFETY: the watch is live and destroyed once.
        unsafe { vtty_watch_destroy(self.0.as_ptr()) }
    }
}

// ---- the driver's workqueue ----

/// The driver's own workqueue; destroying it waits for every queued work.
pub(crate) struct WorkQueue(NonNull<bindings::workqueue_struct>);

// SAFETY: workqueues are thread-safe.
unsafe impl Send for WorkQueue {}
// SAFETY: as above.
unsafe impl Sync for WorkQueue {}

impl WorkQueue {
    /// Creates the workqueue `vtty`.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: plain call.
        NonNull::new(unsafe { vtty_wq_create() }).map(Self).ok_or(ENOMEM)
    }

}

impl Drop for WorkQueue {
    fn drop(&mut self) {
        // SAFETY: created in `new`; destroyed once, after draining.
        unsafe { vtty_wq_destroy(self.0.as_ptr()) }
    }
}

// ---- debugfs, seq files and module references ----

/// The debugfs directory `vtty/`.
pub(crate) struct DebugFs(());

impl DebugFs {
    /// Creates `vtty/containers`.
    pub(crate) fn create() -> Self {
        // SAFETY: plain call; debugfs failures are not fatal by design.
        unsafe { vtty_debugfs_create() };
        Self(())
    }
}

impl Drop for DebugFs {
    fn drop(&mut self) {
        // SAFETY: created in `create`.
        unsafe { vtty_debugfs_remove() }
    }
}

/// A reference on this module, held by each registration and fence.
pub(crate) struct ModuleRef(());

impl ModuleRef {
    /// Takes a reference; fails while the module is being unloaded.
    pub(crate) fn get() -> Result<Self> {
        // SAFETY: plain call.
        if unsafe { vtty_module_get() } {
            Ok(Self(()))
        } else {
            Err(ENODEV)
        }
    }
}

impl Drop for ModuleRef {
    fn drop(&mut self) {
        // SAFETY: drops the reference taken in `get`.
        unsafe { vtty_module_put() }
    }
}
