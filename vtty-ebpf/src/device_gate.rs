//! The cgroup v2 device gate: one `BPF_PROG_TYPE_CGROUP_DEVICE` program per cgroup
//! that vtty-ctl attaches to a container's own cgroup.
//!
//! The kernel ANDs every device program on a cgroup and its ancestors, so this one
//! can only narrow access. It therefore allows every device outside the vtty set
//! and decides the vtty set from the `RULES` hash map, keyed by (type, major, minor),
//! whose value is the allowed `BPF_DEVCG_ACC_*` bits. vtty-ctl pins the map next
//! to the program and flips entries for `allow` and `deny`, so a cgroup never gets
//! a second vtty program.
//!
//! Character devices 5:1 and 4:0..=12 fail closed: without a map entry they are
//! denied. The vttys major is dynamic, so the program cannot know it and gates those
//! devices only through entries that vtty-ctl writes.
#![no_std]
#![no_main]

use aya_ebpf::{
    bindings::{BPF_DEVCG_DEV_CHAR, bpf_cgroup_dev_ctx},
    macros::{cgroup_device, map},
    maps::HashMap,
    programs::DeviceContext,
};
use vtty_ebpf as _;

/// Key of the `RULES` map. vtty-ctl's `policy::gate::DeviceKey` has the same layout.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DeviceKey {
    /// `BPF_DEVCG_DEV_CHAR` or `BPF_DEVCG_DEV_BLOCK`.
    pub kind: u32,
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
}

/// Allowed access bits of each gated device. The vtty set has at most 26 devices
/// (5:1, 4:0..=12 and 12 vttys minors); the rest is headroom.
#[map(name = "RULES")]
static RULES: HashMap<DeviceKey, u32> = HashMap::with_max_entries(64, 0);

/// Major of `/dev/console` (5:1) and of the virtual terminals (4:N).
const TTYAUX_MAJOR: u32 = 5;
const TTY_MAJOR: u32 = 4;
/// Highest virtual terminal minor in the vtty set (`/dev/tty12`).
const LAST_TTY_MINOR: u32 = 12;

/// Returns 1 to allow the access and 0 to deny it, as the kernel expects.
#[cgroup_device]
pub fn vtty_gate(ctx: DeviceContext) -> i32 {
    // SAFETY: the kernel passes a valid `bpf_cgroup_dev_ctx` for the duration of
    // the program, and the verifier accepts reads of its three u32 fields.
    let dev: bpf_cgroup_dev_ctx = unsafe { core::ptr::read(ctx.device) };
    // The kernel packs `(BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*`.
    let kind = dev.access_type & 0xffff;
    let access = dev.access_type >> 16;
    if kind != BPF_DEVCG_DEV_CHAR {
        return 1;
    }

    let key = DeviceKey { kind, major: dev.major, minor: dev.minor };
    // SAFETY: the value is a plain u32 copied out at once. User space replaces it
    // with a single map update, so the read never returns a torn value.
    match unsafe { RULES.get(&key) } {
        Some(allowed) => i32::from(access & !*allowed == 0),
        None => i32::from(!in_fixed_set(dev.major, dev.minor)),
    }
}

/// True for 5:1 and 4:0..=12, the devices gated even without a map entry.
fn in_fixed_set(major: u32, minor: u32) -> bool {
    (major == TTYAUX_MAJOR && minor == 1) || (major == TTY_MAJOR && minor <= LAST_TTY_MINOR)
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
