// SPDX-License-Identifier: GPL-2.0-only OR MIT
//
// The ioctl ABI of the vtty control device `/dev/vtty` and of attach files.
//
// This file is written once and used twice: the kernel driver pulls it in with
// `include!`, and user space uses it as the `vtty_common::abi` module. It therefore
// uses nothing but `core` and must stay free of `use` items and attributes that
// only one of the two builds accepts. `include/vtty_abi.h` is the same ABI in C,
// and a host test checks that sizes, offsets and ioctl numbers agree.

/// Number of terminals of every registered container: index 0 is `/dev/console`
/// (also reached through `/dev/tty0` and `/dev/tty1`), index N is `/dev/tty(N+1)`.
pub const VTTY_TERMINALS: u32 = 12;

/// Maximum length of a container name, including the terminating NUL.
pub const VTTY_NAME_LEN: usize = 64;

/// Terminal index meaning "every terminal of the container" (hangup) and the index
/// field of container-level tracepoints (register, unregister).
pub const VTTY_INDEX_ALL: u32 = 0xffff_ffff;

/// Default stall timeout of an attach, in milliseconds.
pub const VTTY_STALL_TIMEOUT_DEFAULT_MS: u32 = 2000;

/// `vtty_attach.flags`: take the terminal from the current attacher, which then
/// reads EOF.
pub const VTTY_ATTACH_TAKEOVER: u32 = 1 << 0;
/// `vtty_attach.flags`: use `stall_timeout_ms` as given (0 drops output as soon as
/// the attach buffer is full). Without it the default stall timeout applies.
pub const VTTY_ATTACH_STALL_TIMEOUT: u32 = 1 << 1;
/// All attach flags the driver accepts.
pub const VTTY_ATTACH_FLAGS_ALL: u32 = VTTY_ATTACH_TAKEOVER | VTTY_ATTACH_STALL_TIMEOUT;

/// `vtty_container_info.state`: the container is registered.
pub const VTTY_STATE_REGISTERED: u32 = 1;
/// `vtty_container_info.state`: the container was unregistered while alive. Its
/// opens of 5:1 and 4:N fail with `ENODEV` until its init exits.
pub const VTTY_STATE_FENCED: u32 = 2;

/// `vtty_terminal_info.flags`: a tty exists for this terminal.
pub const VTTY_TERM_INSTALLED: u32 = 1 << 0;
/// `vtty_terminal_info.flags`: the host has an attach file on this terminal.
pub const VTTY_TERM_ATTACHED: u32 = 1 << 1;
/// `vtty_terminal_info.flags`: output is being dropped because the attacher's
/// buffer stayed full for longer than its stall timeout.
pub const VTTY_TERM_STALLED: u32 = 1 << 2;

/// Argument of `VTTY_IOC_REGISTER`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vtty_register {
    /// In: a pidfd of the container's init (pid 1 of its active pid namespace).
    pub pidfd: i32,
    /// In: must be 0.
    pub flags: u32,
    /// Out: the nsid (64-bit `ns_id`) of the registered pid namespace.
    pub nsid: u64,
    /// In: the container's name (its ctid), NUL-terminated, at most 63 bytes.
    pub name: [u8; VTTY_NAME_LEN],
}

/// Argument of `VTTY_IOC_UNREGISTER`: names a container by nsid.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vtty_container {
    /// The container's nsid.
    pub nsid: u64,
}

/// Argument of `VTTY_IOC_ATTACH`. The ioctl returns a new file descriptor.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vtty_attach {
    /// The container's nsid.
    pub nsid: u64,
    /// Terminal index, 0..VTTY_TERMINALS.
    pub index: u32,
    /// `VTTY_ATTACH_*` flags.
    pub flags: u32,
    /// Stall timeout in milliseconds, used with `VTTY_ATTACH_STALL_TIMEOUT`.
    pub stall_timeout_ms: u32,
    /// Must be 0.
    pub reserved: u32,
}

/// Argument of `VTTY_IOC_HANGUP`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vtty_hangup {
    /// The container's nsid.
    pub nsid: u64,
    /// Terminal index, or `VTTY_INDEX_ALL`.
    pub index: u32,
    /// Must be 0.
    pub reserved: u32,
}

/// State of one terminal, part of `vtty_container_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vtty_terminal_info {
    /// `VTTY_TERM_*` flags.
    pub flags: u32,
    /// Open file count of the tty (`tty->count`), 0 when not installed.
    pub open_count: u32,
    /// Bytes the container wrote to this terminal (after output processing).
    pub written: u64,
    /// Bytes delivered to an attacher.
    pub delivered: u64,
    /// Bytes dropped because nobody was attached or the attacher stalled.
    pub dropped: u64,
    /// Input bytes from the attacher dropped because the container did not read.
    pub input_dropped: u64,
}

/// One registered container, as `VTTY_IOC_LIST` returns it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vtty_container_info {
    /// The container's nsid.
    pub nsid: u64,
    /// Pid of the container's init in the initial pid namespace.
    pub init_pid: i32,
    /// `VTTY_STATE_*`.
    pub state: u32,
    /// The name given at registration, NUL-terminated.
    pub name: [u8; VTTY_NAME_LEN],
    /// The container's terminals, by index.
    pub terminals: [vtty_terminal_info; VTTY_TERMINALS as usize],
}

/// Argument of `VTTY_IOC_LIST`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vtty_list {
    /// In: user address of an array of `capacity` `vtty_container_info`.
    pub entries: u64,
    /// In: number of entries the array holds.
    pub capacity: u32,
    /// Out: number of containers known to the driver. When it exceeds
    /// `capacity`, only the first `capacity` were written.
    pub count: u32,
}

/// Argument of `VTTY_ATTACH_IOC_SETWINSZ`, the same layout as `struct winsize`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct vtty_winsize {
    /// Rows in characters.
    pub rows: u16,
    /// Columns in characters.
    pub cols: u16,
    /// Width in pixels (usually 0).
    pub xpixel: u16,
    /// Height in pixels (usually 0).
    pub ypixel: u16,
}

/// ioctl type byte of vtty.
pub const VTTY_IOC_MAGIC: u32 = 0xb7;

const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// Computes an ioctl number the way the kernel's `_IOC` macro does on x86 and arm.
pub const fn vtty_ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | (VTTY_IOC_MAGIC << 8) | nr
}

/// Registers a container: `_IOWR(0xb7, 1, struct vtty_register)`.
pub const VTTY_IOC_REGISTER: u32 =
    vtty_ioc(IOC_READ | IOC_WRITE, 1, core::mem::size_of::<vtty_register>());
/// Unregisters a container and fences it: `_IOW(0xb7, 2, struct vtty_container)`.
pub const VTTY_IOC_UNREGISTER: u32 =
    vtty_ioc(IOC_WRITE, 2, core::mem::size_of::<vtty_container>());
/// Attaches to a terminal, returns a file descriptor: `_IOW(0xb7, 3, struct vtty_attach)`.
pub const VTTY_IOC_ATTACH: u32 = vtty_ioc(IOC_WRITE, 3, core::mem::size_of::<vtty_attach>());
/// Hangs up terminals: `_IOW(0xb7, 4, struct vtty_hangup)`.
pub const VTTY_IOC_HANGUP: u32 = vtty_ioc(IOC_WRITE, 4, core::mem::size_of::<vtty_hangup>());
/// Lists containers: `_IOWR(0xb7, 5, struct vtty_list)`.
pub const VTTY_IOC_LIST: u32 =
    vtty_ioc(IOC_READ | IOC_WRITE, 5, core::mem::size_of::<vtty_list>());
/// Sets the window size of the attached terminal: `_IOW(0xb7, 16, struct vtty_winsize)`.
pub const VTTY_ATTACH_IOC_SETWINSZ: u32 =
    vtty_ioc(IOC_WRITE, 16, core::mem::size_of::<vtty_winsize>());
