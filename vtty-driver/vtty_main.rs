// SPDX-License-Identifier: GPL-2.0

//! vtty: per-container consoles.
//!
//! Every container registered through `/dev/vtty` gets 12 terminals of its own:
//! its opens of `/dev/console` (5:1) and `/dev/tty0..12` (4:0..12) reach them
//! instead of the host's console and virtual terminals. What a container writes
//! while nobody is attached is dropped and counted, so a console nobody reads
//! never blocks it; the host attaches to any terminal through an attach file.
//!
//! - [`sys`]: every raw C call, behind safe types.
//! - [`callbacks`]: the functions the C glue calls.
//! - [`registry`], [`container`], [`terminal`], [`attach`]: the model.
//! - [`index`], [`ring`]: pure logic, with KUnit tests.
//! - [`control`]: `/dev/vtty`; [`debugfs`]: `vtty/containers`.

use kernel::miscdevice::{MiscDeviceOptions, MiscDeviceRegistration};
use kernel::prelude::*;

mod attach;
mod callbacks;
mod container;
mod control;
mod debugfs;
mod index;
mod registry;
mod ring;
mod sys;
mod terminal;

/// The ioctl ABI, shared with user space.
#[allow(
    dead_code,
    non_camel_case_types,
    unreachable_pub,
    reason = "the shared ABI file is written for user space too and lists more than the driver reads"
)]
mod abi {
    include!("../vtty-common/src/abi.rs");

    // SAFETY: all ABI structs are #[repr(C)] integers and byte arrays, valid for
    // any bit pattern, with no padding (checked by the user-space header test).
    unsafe impl kernel::transmute::FromBytes for vtty_register {}
    // SAFETY: as above.
    unsafe impl kernel::transmute::AsBytes for vtty_register {}
    // SAFETY: as above.
    unsafe impl kernel::transmute::FromBytes for vtty_container {}
    // SAFETY: as above.
    unsafe impl kernel::transmute::FromBytes for vtty_attach {}
    // SAFETY: as above.
    unsafe impl kernel::transmute::FromBytes for vtty_hangup {}
    // SAFETY: as above.
    unsafe impl kernel::transmute::FromBytes for vtty_list {}
    // SAFETY: as above.
    unsafe impl kernel::transmute::AsBytes for vtty_list {}
    // SAFETY: as above.
    unsafe impl kernel::transmute::AsBytes for vtty_container_info {}
}

module! {
    type: VttyModule,
    name: "vtty",
    authors: ["vtty developers"],
    description: "Per-container consoles and virtual terminals",
    license: "GPL",
}

/// The module's registrations; fields drop in declaration order, which undoes
/// initialization in reverse.
#[pin_data]
struct VttyModule {
    #[pin]
    _control: MiscDeviceRegistration<control::ControlFile>,
    _debugfs: sys::DebugFs,
    _provider: sys::Provider,
    _driver: sys::TtyDriver,
    _workqueue: sys::WorkQueue,
}

impl kernel::InPlaceModule for VttyModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        registry::init();
        try_pin_init!(Self {
            _workqueue: sys::WorkQueue::new()?,
            _driver: sys::TtyDriver::register(abi::VTTY_TERMINALS)?,
            _provider: sys::Provider::register()?,
            _debugfs: sys::DebugFs::create(),
            _control <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"vtty" }),
        })
    }
}
