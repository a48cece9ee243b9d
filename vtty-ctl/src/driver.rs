//! The vtty driver from user space: the control device `/dev/vtty`, its ioctls, and
//! the debugfs files under `/sys/kernel/debug/vtty/`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use vtty_common::abi::{self, vtty_container_info, vtty_terminal_info};

/// Path of the control device.
pub const CONTROL_DEVICE: &str = "/dev/vtty";
/// Name of the tty driver in `/proc/tty/drivers`.
pub const TTY_DRIVER_NAME: &str = "vtty";
/// Directory of the driver's debugfs files.
pub const DEBUGFS_DIR: &str = "/sys/kernel/debug/vtty";

/// The driver as `/proc/tty/drivers` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TtyDriverInfo {
    /// Device node prefix (`/dev/vttys`).
    pub node_prefix: String,
    /// The dynamic major number of the vttys devices.
    pub major: u32,
}

/// Finds the vtty tty driver in a `/proc/tty/drivers` text.
///
/// Each line reads `NAME NODE MAJOR MINORS TYPE`, for example
/// `vtty /dev/vttys 250 0-11 system`.
pub fn parse_tty_drivers(text: &str) -> Option<TtyDriverInfo> {
    text.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        if fields.next()? != TTY_DRIVER_NAME {
            return None;
        }
        let node_prefix = fields.next()?.to_owned();
        let major = fields.next()?.parse().ok()?;
        Some(TtyDriverInfo { node_prefix, major })
    })
}

/// Reads `/proc/tty/drivers`; `Ok(None)` when the driver is not loaded.
pub fn tty_driver_info() -> io::Result<Option<TtyDriverInfo>> {
    let text = std::fs::read_to_string("/proc/tty/drivers")?;
    Ok(parse_tty_drivers(&text))
}

/// Converts the terminal name a container uses to the driver's index:
/// `console` (also `tty0`, `tty1`, `1`) is index 0 and `ttyN` or `N` (2..=12) is N-1.
pub fn terminal_index(name: &str) -> Option<u32> {
    let number = match name {
        "console" => return Some(0),
        _ => name.strip_prefix("tty").unwrap_or(name),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match number.parse::<u32>().ok()? {
        0 | 1 => Some(0),
        n @ 2..=12 => Some(n - 1),
        _ => None,
    }
}

/// Returns the name a container uses for a terminal index: `console`, `tty2` .. `tty12`.
pub fn terminal_name(index: u32) -> String {
    match index {
        0 => "console".to_owned(),
        n => format!("tty{}", n + 1),
    }
}

/// Converts a registration name to the fixed-size NUL-terminated field.
///
/// The driver accepts 1..=63 printable ASCII bytes without spaces, so that
/// debugfs lines stay parseable; this checks the same.
pub fn encode_name(name: &str) -> Result<[u8; abi::VTTY_NAME_LEN], String> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= abi::VTTY_NAME_LEN {
        return Err(format!(
            "container name {name:?} is {} bytes long; use 1 to {} bytes",
            bytes.len(),
            abi::VTTY_NAME_LEN - 1
        ));
    }
    if let Some(bad) = bytes.iter().find(|b| !b.is_ascii_graphic()) {
        return Err(format!(
            "container name {name:?} contains byte 0x{bad:02x}; use printable ASCII without spaces"
        ));
    }
    let mut field = [0u8; abi::VTTY_NAME_LEN];
    field[..bytes.len()].copy_from_slice(bytes);
    Ok(field)
}

/// Reads a NUL-terminated name field.
pub fn decode_name(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// An open control device.
#[derive(Debug)]
pub struct Control {
    file: File,
}

/// Issues `request` on `fd` with a pointer to `arg`.
///
/// # Safety
///
/// `request` must be an ioctl whose argument is a pointer to `T`.
unsafe fn ioctl_ptr<T>(fd: RawFd, request: u32, arg: *mut T) -> io::Result<i32> {
    // SAFETY: the caller guarantees that `request` takes a `*mut T`; `arg` points to
    // a live `T` for the duration of the call.
    let ret = unsafe { libc::ioctl(fd, request as libc::Ioctl, arg) };
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

impl Control {
    /// Opens `/dev/vtty`.
    pub fn open() -> io::Result<Self> {
        Self::open_path(Path::new(CONTROL_DEVICE))
    }

    /// Opens a control device at `path`.
    pub fn open_path(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Self { file })
    }

    /// Registers the container whose init `pidfd` refers to; returns its nsid.
    pub fn register(&self, pidfd: RawFd, name: &str) -> io::Result<u64> {
        let name = encode_name(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut arg = abi::vtty_register { pidfd, flags: 0, nsid: 0, name };
        // SAFETY: VTTY_IOC_REGISTER takes a `struct vtty_register *`.
        unsafe { ioctl_ptr(self.file.as_raw_fd(), abi::VTTY_IOC_REGISTER, &mut arg) }?;
        Ok(arg.nsid)
    }

    /// Unregisters a container; the driver hangs up its terminals and fences it.
    pub fn unregister(&self, nsid: u64) -> io::Result<()> {
        let mut arg = abi::vtty_container { nsid };
        // SAFETY: VTTY_IOC_UNREGISTER takes a `struct vtty_container *`.
        unsafe { ioctl_ptr(self.file.as_raw_fd(), abi::VTTY_IOC_UNREGISTER, &mut arg) }?;
        Ok(())
    }

    /// Attaches to terminal `index` of a container; returns the attach file.
    ///
    /// `stall_timeout_ms` of `None` uses the driver's default.
    pub fn attach(
        &self,
        nsid: u64,
        index: u32,
        takeover: bool,
        stall_timeout_ms: Option<u32>,
    ) -> io::Result<File> {
        let mut flags = 0;
        if takeover {
            flags |= abi::VTTY_ATTACH_TAKEOVER;
        }
        if stall_timeout_ms.is_some() {
            flags |= abi::VTTY_ATTACH_STALL_TIMEOUT;
        }
        let mut arg = abi::vtty_attach {
            nsid,
            index,
            flags,
            stall_timeout_ms: stall_timeout_ms.unwrap_or(0),
            reserved: 0,
        };
        // SAFETY: VTTY_IOC_ATTACH takes a `struct vtty_attach *`.
        let fd = unsafe { ioctl_ptr(self.file.as_raw_fd(), abi::VTTY_IOC_ATTACH, &mut arg) }?;
        // SAFETY: on success the ioctl returns a new file descriptor that we own.
        Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Hangs up terminal `index` of a container, or all with `None`.
    pub fn hangup(&self, nsid: u64, index: Option<u32>) -> io::Result<()> {
        let mut arg = abi::vtty_hangup {
            nsid,
            index: index.unwrap_or(abi::VTTY_INDEX_ALL),
            reserved: 0,
        };
        // SAFETY: VTTY_IOC_HANGUP takes a `struct vtty_hangup *`.
        unsafe { ioctl_ptr(self.file.as_raw_fd(), abi::VTTY_IOC_HANGUP, &mut arg) }?;
        Ok(())
    }

    /// Lists the containers registered with the driver, fenced ones included.
    pub fn list(&self) -> io::Result<Vec<ContainerInfo>> {
        let mut capacity = 16u32;
        loop {
            let empty = vtty_container_info {
                nsid: 0,
                init_pid: 0,
                state: 0,
                name: [0; abi::VTTY_NAME_LEN],
                terminals: [vtty_terminal_info {
                    flags: 0,
                    open_count: 0,
                    written: 0,
                    delivered: 0,
                    dropped: 0,
                    input_dropped: 0,
                }; abi::VTTY_TERMINALS as usize],
            };
            let mut entries = vec![empty; capacity as usize];
            let mut arg = abi::vtty_list {
                entries: entries.as_mut_ptr() as u64,
                capacity,
                count: 0,
            };
            // SAFETY: VTTY_IOC_LIST takes a `struct vtty_list *` whose `entries` points
            // to `capacity` writable `vtty_container_info`, which `entries` provides.
            unsafe { ioctl_ptr(self.file.as_raw_fd(), abi::VTTY_IOC_LIST, &mut arg) }?;
            if arg.count <= capacity {
                entries.truncate(arg.count as usize);
                return Ok(entries.iter().map(ContainerInfo::from_abi).collect());
            }
            capacity = arg.count;
        }
    }
}

/// Sets the window size of an attached terminal.
pub fn set_window_size(attach: &File, rows: u16, cols: u16) -> io::Result<()> {
    let mut arg = abi::vtty_winsize { rows, cols, xpixel: 0, ypixel: 0 };
    // SAFETY: VTTY_ATTACH_IOC_SETWINSZ takes a `struct vtty_winsize *`.
    unsafe { ioctl_ptr(attach.as_raw_fd(), abi::VTTY_ATTACH_IOC_SETWINSZ, &mut arg) }?;
    Ok(())
}

/// One terminal of a container, from `VTTY_IOC_LIST`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TerminalInfo {
    /// A tty exists for this terminal.
    pub installed: bool,
    /// The host has an attach file on this terminal.
    pub attached: bool,
    /// Output is dropped because the attacher stalled.
    pub stalled: bool,
    /// Open file count of the tty.
    pub open_count: u32,
    /// Bytes the container wrote.
    pub written: u64,
    /// Bytes delivered to an attacher.
    pub delivered: u64,
    /// Bytes dropped.
    pub dropped: u64,
    /// Input bytes dropped because the container did not read.
    pub input_dropped: u64,
}

/// A container known to the driver, from `VTTY_IOC_LIST`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ContainerInfo {
    /// The pid namespace's `ns_id`.
    pub nsid: u64,
    /// Registered name (the ctid).
    pub name: String,
    /// Pid of the container's init on the host.
    pub init_pid: i32,
    /// False for a container that was unregistered while alive (fenced).
    pub registered: bool,
    /// Terminals by index.
    pub terminals: Vec<TerminalInfo>,
}

impl ContainerInfo {
    fn from_abi(raw: &vtty_container_info) -> Self {
        let terminals = raw
            .terminals
            .iter()
            .map(|t| TerminalInfo {
                installed: t.flags & abi::VTTY_TERM_INSTALLED != 0,
                attached: t.flags & abi::VTTY_TERM_ATTACHED != 0,
                stalled: t.flags & abi::VTTY_TERM_STALLED != 0,
                open_count: t.open_count,
                written: t.written,
                delivered: t.delivered,
                dropped: t.dropped,
                input_dropped: t.input_dropped,
            })
            .collect();
        Self {
            nsid: raw.nsid,
            name: decode_name(&raw.name),
            init_pid: raw.init_pid,
            registered: raw.state == abi::VTTY_STATE_REGISTERED,
            terminals,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tty_drivers_line_parses() {
        let text = "/dev/tty /dev/tty 5 0 system:/dev/tty\n\
                    vtty /dev/vttys 250 0-11 system\n\
                    serial /dev/ttyS 4 64-67 serial\n";
        let info = parse_tty_drivers(text).expect("vtty line");
        assert_eq!(info.major, 250);
        assert_eq!(info.node_prefix, "/dev/vttys");
    }

    #[test]
    fn tty_drivers_without_vtty() {
        assert_eq!(parse_tty_drivers("pty_slave /dev/pts 136 0-1048575 pty:slave\n"), None);
    }

    #[test]
    fn terminal_names_map_to_indices() {
        assert_eq!(terminal_index("console"), Some(0));
        assert_eq!(terminal_index("tty0"), Some(0));
        assert_eq!(terminal_index("tty1"), Some(0));
        assert_eq!(terminal_index("tty2"), Some(1));
        assert_eq!(terminal_index("2"), Some(1));
        assert_eq!(terminal_index("tty12"), Some(11));
        assert_eq!(terminal_index("tty13"), None);
        assert_eq!(terminal_index("ttyx"), None);
        assert_eq!(terminal_index(""), None);
        assert_eq!(terminal_index("tty"), None);
    }

    #[test]
    fn terminal_name_round_trips() {
        for index in 0..abi::VTTY_TERMINALS {
            assert_eq!(terminal_index(&terminal_name(index)), Some(index));
        }
    }

    #[test]
    fn name_encoding_checks_length_and_bytes() {
        assert!(encode_name("101").is_ok());
        assert!(encode_name("").is_err());
        assert!(encode_name(&"a".repeat(63)).is_ok());
        assert!(encode_name(&"a".repeat(64)).is_err());
        assert!(encode_name("has space").is_err());
        let field = encode_name("101").expect("valid name");
        assert_eq!(decode_name(&field), "101");
    }
}
