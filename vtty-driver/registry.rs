// SPDX-License-Identifier: GPL-2.0

//! The registered and fenced containers, and the decisions that need them: which
//! container a task belongs to, registration, unregistration and the end of a
//! container when its init exits.

use core::ffi::c_void;

use kernel::prelude::*;
use kernel::sync::Arc;

use crate::abi::{self, VTTY_INDEX_ALL, VTTY_NAME_LEN};
use crate::container::{self, Container};
use crate::index::{self, Route};
use crate::sys::{self, PidNsCursor, Tty, Watch};
use crate::terminal::{End, Terminal};

/// Reasons of `vtty_unregister`, as in vtty_trace.h.
const UNREGISTER_IOCTL: u32 = 0;
const UNREGISTER_EXITED: u32 = 1;

struct Entry {
    container: Arc<Container>,
    /// Unregistered while alive: its opens of 5:1 and 4:N get `ENODEV`.
    fenced: bool,
    /// Learns when the init exits; dropped with the entry.
    _watch: Watch,
}

/// All registered and fenced containers.
pub(crate) struct Registry {
    entries: KVec<Entry>,
    /// Id of the next attach file.
    next_attach_id: u64,
}

kernel::sync::global_lock! {
    // SAFETY: `init` runs in module init before the tty driver, the provider and
    // the control device exist, so before any other use.
    unsafe(uninit) static REGISTRY: Mutex<Registry> = Registry {
        entries: KVec::new(),
        next_attach_id: 1,
    };
}

/// Initializes the registry lock. Called once, from module init.
pub(crate) fn init() {
    // SAFETY: called exactly once, before any other use of REGISTRY.
    unsafe { REGISTRY.init() };
}

impl Registry {
    /// Finds the entry of the innermost registered or fenced namespace that
    /// contains the calling task.
    fn entry_for_current(&self) -> Option<&Entry> {
        PidNsCursor::current().find_map(|ns| {
            self.entries.iter().find(|entry| entry.container.ns.as_ptr() == ns)
        })
    }

    /// Returns the registered (not fenced) container of the calling task.
    fn container_for_current(&self) -> Result<&Arc<Container>> {
        match self.entry_for_current() {
            Some(entry) if !entry.fenced => Ok(&entry.container),
            _ => Err(ENODEV),
        }
    }

    fn entry_by_nsid(&self, nsid: u64) -> Result<&Entry> {
        self.entries.iter().find(|entry| entry.container.nsid == nsid).ok_or(ENOENT)
    }
}

/// Decides the provider hook's answer for an open of `dev` by the calling task,
/// which is outside the initial pid namespace. `Ok(None)` leaves the open to the
/// tty core.
pub(crate) fn provider_lookup(dev: u32) -> Result<Option<u32>> {
    let (major, minor) = index::split_dev(dev);
    let route = index::route(major, minor);
    if route == Route::NotOurs {
        return Ok(None);
    }
    let registry = REGISTRY.lock();
    match registry.entry_for_current() {
        // Never registered: today's kernel behaviour.
        None => Ok(None),
        Some(entry) if entry.fenced => Err(ENODEV),
        Some(_) => match route {
            Route::Terminal(index) => Ok(Some(index)),
            _ => Err(ENODEV),
        },
    }
}

/// Looks up the calling task's tty at `index`, if installed (the driver's
/// lookup). Tasks outside registered containers get `ENODEV`, also through
/// `/dev/vttysN`.
pub(crate) fn lookup(index: u32) -> Result<Option<Tty>> {
    let registry = REGISTRY.lock();
    let container = registry.container_for_current()?;
    Ok(container.terminal(index)?.tty())
}

/// Installs a tty in the calling task's container (the driver's install).
///
/// # Safety
///
/// Must be called from the driver's install, under `tty_mutex`.
pub(crate) unsafe fn install(driver: *mut kernel::bindings::tty_driver, tty: Tty) -> Result {
    let index = u32::try_from(tty.index()).map_err(|_| EINVAL)?;
    let terminal = {
        let registry = REGISTRY.lock();
        registry.container_for_current()?.terminal(index)?.clone()
    };
    let nsid = terminal.nsid;
    let raw = Arc::into_raw(terminal.clone()).cast_mut().cast::<c_void>();
    // SAFETY: forwarded from the caller; `raw` is a terminal reference that the
    // tty keeps until cleanup, which gives it back through `Arc::from_raw`.
    let result = unsafe { terminal.install(driver, tty, raw) };
    match result {
        Ok(()) => {
            sys::trace_install(nsid, index);
            Ok(())
        }
        Err(err) => {
            // SAFETY: the tty did not take the reference; reclaim it.
            drop(unsafe { Arc::from_raw(raw.cast::<Terminal>()) });
            Err(err)
        }
    }
}

/// Registers the container whose init `pidfd` refers to; returns its nsid.
pub(crate) fn register(pidfd: i32, flags: u32, name: &[u8; VTTY_NAME_LEN]) -> Result<u64> {
    if flags != 0 {
        return Err(EINVAL);
    }
    container::validate_name(name)?;
    let init = sys::resolve_init_pidfd(pidfd)?;

    let mut registry = REGISTRY.lock();
    if let Some(entry) = registry.entries.iter_mut().find(|e| e.container.ns.as_ptr() == init.ns.as_ptr())
    {
        if !entry.fenced {
            return Err(EEXIST);
        }
        // A fenced container registers again under its first name.
        entry.fenced = false;
        let container = &entry.container;
        for terminal in container.terminals.iter() {
            terminal.unsilence();
        }
        sys::trace_register(container.nsid, container.init_pid, &container.name);
        return Ok(container.nsid);
    }

    registry.entries.reserve(1, GFP_KERNEL)?;
    let container = Container::new(init, *name)?;
    // SAFETY: the container outlives the watch, which the entry drops first.
    let watch = unsafe { Watch::new(&container.pid, Arc::as_ptr(&container).cast()) }?;
    let nsid = container.nsid;
    sys::trace_register(nsid, container.init_pid, &container.name);
    registry.entries.push(Entry { container, fenced: false, _watch: watch }, GFP_KERNEL)?;
    Ok(nsid)
}

/// Unregisters a live container: hangs up its terminals and fences it until it
/// dies.
pub(crate) fn unregister(nsid: u64) -> Result {
    let container = {
        let mut registry = REGISTRY.lock();
        let entry = registry.entries.iter_mut().find(|e| e.container.nsid == nsid).ok_or(ENOENT)?;
        if entry.fenced {
            return Err(ENOENT);
        }
        entry.fenced = true;
        entry.container.clone()
    };
    // Hang up first: the probes delete the container's keys on the tracepoint,
    // and fenced terminals fire no more write tracepoints.
    for terminal in container.terminals.iter() {
        terminal.hangup(End::Fence);
    }
    sys::trace_unregister(nsid, UNREGISTER_IOCTL);
    Ok(())
}

/// Hangs up terminal `index` of a registered container, or all of them.
pub(crate) fn hangup(nsid: u64, index: u32) -> Result {
    let container = {
        let registry = REGISTRY.lock();
        let entry = registry.entry_by_nsid(nsid)?;
        if entry.fenced {
            return Err(ENOENT);
        }
        entry.container.clone()
    };
    if index == VTTY_INDEX_ALL {
        for terminal in container.terminals.iter() {
            terminal.hangup(End::Hangup);
        }
    } else {
        container.terminal(index)?.hangup(End::Hangup);
    }
    Ok(())
}

/// Terminal `index` of a registered container and a fresh attach id.
pub(crate) fn attach_target(nsid: u64, index: u32) -> Result<(Arc<Terminal>, u64)> {
    let mut registry = REGISTRY.lock();
    let id = registry.next_attach_id;
    registry.next_attach_id += 1;
    let entry = registry.entry_by_nsid(nsid)?;
    if entry.fenced {
        return Err(ENOENT);
    }
    Ok((entry.container.terminal(index)?.clone(), id))
}

/// Up to `capacity` container records and the number of containers.
pub(crate) fn list(capacity: usize) -> Result<(KVec<abi::vtty_container_info>, usize)> {
    let registry = REGISTRY.lock();
    let count = registry.entries.len();
    let mut infos = KVec::with_capacity(count.min(capacity), GFP_KERNEL)?;
    for entry in registry.entries.iter().take(capacity) {
        infos.push(entry.container.info(entry.fenced), GFP_KERNEL)?;
    }
    Ok((infos, count))
}

/// Runs `f` for each container, under the registry lock.
pub(crate) fn for_each(mut f: impl FnMut(&Container, bool)) {
    let registry = REGISTRY.lock();
    for entry in registry.entries.iter() {
        f(&entry.container, entry.fenced);
    }
}

/// Ends `container` when the watch on its init woke and its namespace is dead.
/// Runs from the driver's workqueue.
pub(crate) fn init_woken(container: *const Container) {
    let entry = {
        let mut registry = REGISTRY.lock();
        let Some(position) = registry.entries.iter().position(|e| {
            core::ptr::eq(Arc::as_ptr(&e.container), container) && e.container.ns.is_dead()
        }) else {
            return;
        };
        registry.entries.remove(position)
    };
    let Ok(entry) = entry else { return };
    let nsid = entry.container.nsid;
    for terminal in entry.container.terminals.iter() {
        terminal.hangup(End::Exit);
    }
    if !entry.fenced {
        sys::trace_unregister(nsid, UNREGISTER_EXITED);
    }
    // Dropping the entry destroys the watch (safe from its own work) and, with the
    // last container reference, the module reference.
    drop(entry);
}
