// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/vtty/containers`: the driver's state without eBPF.
//!
//! One line per object, space-separated `key=value` fields (names contain no
//! spaces):
//!
//! ```text
//! container nsid=N name=NAME init_pid=P state=registered|fenced
//! terminal nsid=N index=I installed=0|1 open=C attached=0|1 stalled=0|1 written=B delivered=B dropped=B input_dropped=B
//! ```
//!
//! Byte counts are since registration, after the line discipline's output
//! processing.

use kernel::seq_file::SeqFile;
use kernel::seq_print;

use crate::abi;
use crate::registry;

/// Writes every container and terminal to `seq`.
pub(crate) fn show(seq: &SeqFile) {
    registry::for_each(|container, fenced| {
        let name_len = container.name.iter().position(|&b| b == 0).unwrap_or(0);
        let name = core::str::from_utf8(&container.name[..name_len]).unwrap_or("?");
        let state = if fenced { "fenced" } else { "registered" };
        seq_print!(
            seq,
            "container nsid={} name={} init_pid={} state={}\n",
            container.nsid,
            name,
            container.init_pid,
            state
        );
        for terminal in container.terminals.iter() {
            let info = terminal.info();
            let flag = |bit: u32| u8::from(info.flags & bit != 0);
            seq_print!(
                seq,
                "terminal nsid={} index={} installed={} open={} attached={} stalled={} written={} delivered={} dropped={} input_dropped={}\n",
                container.nsid,
                terminal.index,
                flag(abi::VTTY_TERM_INSTALLED),
                info.open_count,
                flag(abi::VTTY_TERM_ATTACHED),
                flag(abi::VTTY_TERM_STALLED),
                info.written,
                info.delivered,
                info.dropped,
                info.input_dropped
            );
        }
    });
}
