//! Reading a tracepoint record through the offsets from the `format` files.

use aya_ebpf::{EbpfContext as _, helpers::bpf_probe_read_kernel_buf, programs::TracePointContext};
use vtty_common::{
    abi::{VTTY_NAME_LEN, VTTY_TERMINALS},
    probe::{Field, FieldOffsets, TerminalKey},
};

/// Why a program stopped before updating anything.
#[derive(Clone, Copy)]
pub enum Failure {
    /// A field is missing from the offsets, or could not be read, or the terminal
    /// index is out of range.
    Read,
}

/// Byte counts of one `vtty_write` call.
#[derive(Clone, Copy)]
pub struct WriteSizes {
    /// Bytes that reached the driver's write.
    pub offered: u32,
    /// Bytes delivered to the attacher.
    pub delivered: u32,
    /// Bytes dropped.
    pub dropped: u32,
}

/// One tracepoint record and the offsets of its fields.
pub struct Record<'a> {
    ctx: &'a TracePointContext,
    offsets: FieldOffsets,
}

impl<'a> Record<'a> {
    #[inline(always)]
    pub fn new(ctx: &'a TracePointContext, offsets: FieldOffsets) -> Self {
        Self { ctx, offsets }
    }

    #[inline(always)]
    fn read<T>(&self, field: Field) -> Result<T, Failure> {
        let offset = self.offsets.get(field).ok_or(Failure::Read)?;
        // SAFETY: `read_at` copies with bpf_probe_read_kernel, which checks the
        // address and returns an error instead of faulting, so any offset is safe;
        // `T` is a plain integer valid for any bit pattern.
        unsafe { self.ctx.read_at::<T>(offset) }.map_err(|_| Failure::Read)
    }

    /// The `nsid` field.
    #[inline(always)]
    pub fn nsid(&self) -> Result<u64, Failure> {
        self.read::<u64>(Field::Nsid)
    }

    /// The `index` field as recorded, `VTTY_INDEX_ALL` included.
    #[inline(always)]
    pub fn raw_index(&self) -> Result<u32, Failure> {
        self.read::<u32>(Field::Index)
    }

    /// The terminal a per-terminal event is about; an index outside 0..12 is a
    /// read failure.
    #[inline(always)]
    pub fn terminal_key(&self) -> Result<TerminalKey, Failure> {
        let nsid = self.nsid()?;
        let index = self.raw_index()?;
        if index >= VTTY_TERMINALS {
            return Err(Failure::Read);
        }
        Ok(TerminalKey::new(nsid, index))
    }

    /// The `count` field (`tty->count` after an open or close); a negative count
    /// reads as 0.
    #[inline(always)]
    pub fn count(&self) -> Result<u32, Failure> {
        let count = self.read::<i32>(Field::Count)?;
        Ok(if count < 0 { 0 } else { count as u32 })
    }

    /// The `init_pid` field of a register event.
    #[inline(always)]
    pub fn init_pid(&self) -> Result<i32, Failure> {
        self.read::<i32>(Field::InitPid)
    }

    /// The `flags` field of an attach event.
    #[inline(always)]
    pub fn flags(&self) -> Result<u32, Failure> {
        self.read::<u32>(Field::Flags)
    }

    /// The `reason` field of a detach or unregister event.
    #[inline(always)]
    pub fn reason(&self) -> Result<u32, Failure> {
        self.read::<u32>(Field::Reason)
    }

    /// The byte counts of a write event.
    #[inline(always)]
    pub fn write_sizes(&self) -> Result<WriteSizes, Failure> {
        Ok(WriteSizes {
            offered: self.read::<u32>(Field::Offered)?,
            delivered: self.read::<u32>(Field::Delivered)?,
            dropped: self.read::<u32>(Field::Dropped)?,
        })
    }

    /// Copies the `name` field of a register event into `name`.
    #[inline(always)]
    pub fn copy_name(&self, name: &mut [u8; VTTY_NAME_LEN]) -> Result<(), Failure> {
        let offset = self.offsets.get(Field::Name).ok_or(Failure::Read)?;
        let source = self.ctx.as_ptr().cast::<u8>().wrapping_add(offset);
        // SAFETY: bpf_probe_read_kernel copies at most `name.len()` bytes and returns
        // an error instead of faulting on a bad address.
        unsafe { bpf_probe_read_kernel_buf(source, name) }.map_err(|_| Failure::Read)
    }
}
