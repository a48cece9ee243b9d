//! Types shared by the vtty eBPF programs, the user-space tools and the driver.
//!
//! [`abi`] is the ioctl ABI of `/dev/vtty`; the driver includes the same file.
//! [`probe`] holds the `#[repr(C)]` map keys, counters and ring-buffer events of the
//! eBPF programs attached to the driver's `vtty:*` tracepoints.
#![no_std]

/// The ioctl ABI; struct names are those of their C counterparts in `vtty_abi.h`.
pub mod abi {
    include!("abi.rs");
}

pub mod probe;
