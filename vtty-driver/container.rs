// SPDX-License-Identifier: GPL-2.0

//! A registered container: its pid namespace, its init and its terminals.

use kernel::prelude::*;
use kernel::sync::Arc;

use crate::abi::{self, VTTY_NAME_LEN, VTTY_TERMINALS};
use crate::sys::{InitTask, ModuleRef, PidNsRef, PidRef};
use crate::terminal::Terminal;

/// A container: the active pid namespace of a registered init and every
/// namespace nested in it.
pub(crate) struct Container {
    /// The namespace's `ns_id`.
    pub(crate) nsid: u64,
    /// The name given at registration, NUL-terminated.
    pub(crate) name: [u8; VTTY_NAME_LEN],
    /// The init's pid in the initial pid namespace.
    pub(crate) init_pid: i32,
    /// The container's pid namespace (a reference keeps `nsid` valid).
    pub(crate) ns: PidNsRef,
    /// The init, watched for its exit.
    pub(crate) pid: PidRef,
    /// Terminals by index.
    pub(crate) terminals: KVec<Arc<Terminal>>,
    /// Keeps the module loaded while the container is registered or fenced.
    _module: ModuleRef,
}

/// Checks a registration name: NUL-terminated, 1..=63 bytes of printable ASCII
/// without spaces (debugfs lines are space-separated key=value pairs).
pub(crate) fn validate_name(name: &[u8; VTTY_NAME_LEN]) -> Result {
    let len = name.iter().position(|&b| b == 0).ok_or(EINVAL)?;
    if len == 0 {
        return Err(EINVAL);
    }
    if !name[..len].iter().all(|b| b.is_ascii_graphic()) {
        return Err(EINVAL);
    }
    Ok(())
}

impl Container {
    /// Creates the container of `init` with its 12 terminals.
    pub(crate) fn new(init: InitTask, name: [u8; VTTY_NAME_LEN]) -> Result<Arc<Self>> {
        let module = ModuleRef::get()?;
        let nsid = init.ns.id();
        let mut terminals = KVec::with_capacity(VTTY_TERMINALS as usize, GFP_KERNEL)?;
        for index in 0..VTTY_TERMINALS {
            terminals.push(Terminal::new(nsid, index)?, GFP_KERNEL)?;
        }
        let container = Self {
            nsid,
            name,
            init_pid: init.host_pid,
            ns: init.ns,
            pid: init.pid,
            terminals,
            _module: module,
        };
        Ok(Arc::new(container, GFP_KERNEL)?)
    }

    /// Terminal `index`, if valid.
    pub(crate) fn terminal(&self, index: u32) -> Result<&Arc<Terminal>> {
        self.terminals.get(index as usize).ok_or(EINVAL)
    }

    /// State and counters in the ABI's layout.
    pub(crate) fn info(&self, fenced: bool) -> abi::vtty_container_info {
        let empty = abi::vtty_terminal_info {
            flags: 0,
            open_count: 0,
            written: 0,
            delivered: 0,
            dropped: 0,
            input_dropped: 0,
        };
        let mut terminals = [empty; VTTY_TERMINALS as usize];
        for (slot, terminal) in terminals.iter_mut().zip(self.terminals.iter()) {
            *slot = terminal.info();
        }
        abi::vtty_container_info {
            nsid: self.nsid,
            init_pid: self.init_pid,
            state: if fenced { abi::VTTY_STATE_FENCED } else { abi::VTTY_STATE_REGISTERED },
            name: self.name,
            terminals,
        }
    }
}

#[kunit_tests(vtty_container)]
mod tests {
    use super::*;

    fn name(bytes: &[u8]) -> [u8; VTTY_NAME_LEN] {
        let mut field = [0u8; VTTY_NAME_LEN];
        let len = bytes.len().min(VTTY_NAME_LEN);
        field[..len].copy_from_slice(&bytes[..len]);
        field
    }

    #[test]
    fn names_need_nul_and_printable_bytes() {
        assert!(validate_name(&name(b"101")).is_ok());
        assert!(validate_name(&name(b"machine.slice-ct_7")).is_ok());
        assert!(validate_name(&name(&[b'a'; 63])).is_ok());
        assert!(validate_name(&name(&[b'a'; 64])).is_err());
        assert!(validate_name(&name(b"")).is_err());
        assert!(validate_name(&name(b"has space")).is_err());
        assert!(validate_name(&name(b"tab\there")).is_err());
    }
}
