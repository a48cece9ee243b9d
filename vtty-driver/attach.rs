// SPDX-License-Identifier: GPL-2.0

//! Attach files: the host's end of a container terminal.

use core::ffi::c_void;

use kernel::prelude::*;
use kernel::sync::Arc;

use crate::registry;
use crate::terminal::{Take, Terminal, DETACH_CLOSED};

/// One attach file. The terminal knows which attachment is current by `id`.
pub(crate) struct Attachment {
    terminal: Arc<Terminal>,
    id: u64,
    takeover: bool,
    stall_timeout_ms: u32,
}

/// Attaches to terminal `index` of container `nsid`; returns the new descriptor.
pub(crate) fn open(nsid: u64, index: u32, takeover: bool, stall_timeout_ms: u32) -> Result<i32> {
    let (terminal, id) = registry::attach_target(nsid, index)?;
    let attachment = Arc::new(
        Attachment { terminal: terminal.clone(), id, takeover, stall_timeout_ms },
        GFP_KERNEL,
    )?;
    let raw = Arc::into_raw(attachment).cast_mut().cast::<c_void>();
    match terminal.port().attach_fd_create(raw) {
        Ok(fd) => Ok(fd),
        Err((err, owned)) => {
            if !owned {
                // SAFETY: no file took `raw`; reclaim the reference.
                drop(unsafe { Arc::from_raw(raw.cast::<Attachment>()) });
            }
            Err(err)
        }
    }
}

impl Attachment {
    /// Makes this attachment current on its terminal.
    pub(crate) fn commit(&self) -> Result {
        self.terminal.attach(self.id, self.takeover, self.stall_timeout_ms)
    }

    /// Moves buffered output into `out`: bytes, `EAGAIN` when empty, 0 at EOF.
    pub(crate) fn take(&self, out: &mut [u8]) -> Result<usize> {
        match self.terminal.take(self.id, out) {
            Take::Data(n) => Ok(n),
            Take::Empty => Err(EAGAIN),
            Take::Eof => Ok(0),
        }
    }

    pub(crate) fn readable(&self) -> bool {
        self.terminal.readable(self.id)
    }

    pub(crate) fn input(&self, buf: &[u8], force_drop: bool) -> Result<usize> {
        self.terminal.input(self.id, buf, force_drop)
    }

    pub(crate) fn input_ready(&self) -> bool {
        self.terminal.input_ready(self.id)
    }

    pub(crate) fn stall_timeout_ms(&self) -> u32 {
        self.stall_timeout_ms
    }

    pub(crate) fn resize(&self, rows: u16, cols: u16) -> Result {
        self.terminal.resize(self.id, rows, cols)
    }

    /// The file was closed: detach if still current.
    pub(crate) fn release(&self) {
        self.terminal.detach(self.id, DETACH_CLOSED);
    }
}
