//! The device set a container needs for its consoles, and access bits.
//!
//! The set is character devices 5:1 (`/dev/console`) and 4:0..=12 (`/dev/tty0` ..
//! `/dev/tty12`), with exact minors because `4:*` would also cover the host's serial
//! ports at 4:64 and above, plus minors 0..=11 of the vttys major when the driver is
//! loaded (its major is dynamic).

use std::fmt::{self, Write as _};

use crate::exit::{self, ExitCode};
use crate::fail;

/// Major of `/dev/console`.
pub const TTYAUX_MAJOR: u32 = 5;
/// Minor of `/dev/console`.
pub const CONSOLE_MINOR: u32 = 1;
/// Major of the virtual terminals `/dev/ttyN`.
pub const TTY_MAJOR: u32 = 4;
/// Highest terminal minor in the set: `/dev/tty12`.
pub const LAST_TTY: u32 = 12;
/// Terminals per container in the driver (vttys minors 0..=11).
pub const TERMINALS: u32 = vtty_common::abi::VTTY_TERMINALS;

/// Device access bits, numbered as `BPF_DEVCG_ACC_*` in `<linux/bpf.h>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Access(u32);

impl Access {
    /// No access.
    pub const NONE: Self = Self(0);
    /// `m`: create the node with mknod.
    pub const MKNOD: Self = Self(1);
    /// `r`: open for reading.
    pub const READ: Self = Self(2);
    /// `w`: open for writing.
    pub const WRITE: Self = Self(4);
    /// `rwm`.
    pub const ALL: Self = Self(7);

    /// Builds the access from raw bits, dropping bits outside `rwm`.
    pub const fn from_bits(bits: u32) -> Self {
        Self(bits & Self::ALL.0)
    }

    /// Returns the raw `BPF_DEVCG_ACC_*` bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Returns true when every bit of `other` is set here.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Returns the bits set in either.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Returns the bits set in both.
    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// Returns the bits set here but not in `other`.
    pub const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// Returns true when no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Parses the letters of a device rule (`rwm`, `rw`, `m`) in any order.
    pub fn parse(letters: &str) -> Option<Self> {
        let mut access = Self::NONE;
        for letter in letters.chars() {
            access = access.union(match letter {
                'r' => Self::READ,
                'w' => Self::WRITE,
                'm' => Self::MKNOD,
                _ => return None,
            });
        }
        Some(access)
    }

    /// Formats the letters of a v1 device rule, such as `rwm` or `rw`, or an empty
    /// string for no access.
    pub fn letters(self) -> String {
        [(Self::READ, 'r'), (Self::WRITE, 'w'), (Self::MKNOD, 'm')]
            .into_iter()
            .filter(|(bit, _)| self.contains(*bit))
            .map(|(_, letter)| letter)
            .collect()
    }
}

/// Prints three columns, such as `rw-` or `---`, so that tables line up.
impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, letter) in [(Self::READ, 'r'), (Self::WRITE, 'w'), (Self::MKNOD, 'm')] {
            f.write_char(if self.contains(bit) { letter } else { '-' })?;
        }
        Ok(())
    }
}

/// A character device of the vtty set.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Device {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
    /// Node name: `console` and `tty0` .. `tty12` as the container names them, or
    /// `vttys0` .. `vttys11` for the driver's own nodes.
    pub name: String,
}

impl Device {
    fn new(major: u32, minor: u32, name: String) -> Self {
        Self { major, minor, name }
    }

    /// Formats the device as in a v1 rule: `c 4:2`.
    pub fn rule(&self) -> String {
        format!("c {}:{}", self.major, self.minor)
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.rule(), self.name)
    }
}

/// A terminal name as the container names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TtyName {
    /// `/dev/console` (5:1).
    Console,
    /// `/dev/ttyN` (4:N), N in 0..=12.
    Tty(u32),
}

impl TtyName {
    /// Parses `console`, `ttyN` or a bare `N` (0..=12).
    pub fn parse(text: &str) -> Option<Self> {
        if text == "console" {
            return Some(Self::Console);
        }
        let digits = text.strip_prefix("tty").unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 2 {
            return None;
        }
        let number: u32 = digits.parse().ok()?;
        (number <= LAST_TTY).then_some(Self::Tty(number))
    }

    /// Returns the driver's terminal index: console, tty0 and tty1 are 0, and ttyN
    /// is N-1.
    pub fn index(self) -> u32 {
        match self {
            Self::Console | Self::Tty(0 | 1) => 0,
            Self::Tty(n) => n - 1,
        }
    }

    /// Returns the device node the container opens for this name.
    pub fn device(self) -> Device {
        match self {
            Self::Console => Device::new(TTYAUX_MAJOR, CONSOLE_MINOR, "console".to_owned()),
            Self::Tty(n) => Device::new(TTY_MAJOR, n, format!("tty{n}")),
        }
    }
}

impl fmt::Display for TtyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Console => f.write_str("console"),
            Self::Tty(n) => write!(f, "tty{n}"),
        }
    }
}

/// Lists every terminal name: console and tty0..=12.
pub fn all_tty_names() -> Vec<TtyName> {
    std::iter::once(TtyName::Console).chain((0..=LAST_TTY).map(TtyName::Tty)).collect()
}

/// Parses the `--tty` list of comma-separated names as the container names them.
pub fn parse_tty_list(list: &str) -> exit::Result<Vec<TtyName>> {
    let mut names = Vec::new();
    for item in list.split(',').map(str::trim) {
        let Some(name) = TtyName::parse(item) else {
            return Err(fail!(
                ExitCode::Usage,
                "invalid terminal {item:?} in --tty {list:?}: use console, tty0 .. tty12, or a \
                 number 0 .. 12, separated by commas"
            ));
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Lists the devices for `names` (every terminal when `None`): each name's own
/// node, plus the vttys minor of its terminal index when `vttys_major` is known.
pub fn device_set(names: Option<&[TtyName]>, vttys_major: Option<u32>) -> Vec<Device> {
    let all = all_tty_names();
    let names = names.unwrap_or(&all);
    let mut devices: Vec<Device> = names.iter().map(|name| name.device()).collect();
    if let Some(major) = vttys_major {
        for name in names {
            let index = name.index();
            devices.push(Device::new(major, index, format!("vttys{index}")));
        }
    }
    devices.sort();
    devices.dedup();
    devices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_set_without_driver() {
        let devices = device_set(None, None);
        assert_eq!(devices.len(), 14);
        assert!(devices.contains(&Device::new(5, 1, "console".to_owned())));
        assert!(devices.contains(&Device::new(4, 0, "tty0".to_owned())));
        assert!(devices.contains(&Device::new(4, 12, "tty12".to_owned())));
        assert!(!devices.iter().any(|d| d.major == 4 && d.minor > 12));
    }

    #[test]
    fn full_set_with_driver_adds_vttys() {
        let devices = device_set(None, Some(250));
        assert_eq!(devices.len(), 26);
        let vttys: Vec<u32> = devices.iter().filter(|d| d.major == 250).map(|d| d.minor).collect();
        assert_eq!(vttys, (0..TERMINALS).collect::<Vec<_>>());
    }

    #[test]
    fn narrowed_set() {
        let names = parse_tty_list("tty2,console").expect("valid list");
        let devices = device_set(Some(&names), Some(250));
        let rules: Vec<String> = devices.iter().map(Device::rule).collect();
        assert_eq!(rules, ["c 4:2", "c 5:1", "c 250:0", "c 250:1"]);
    }

    #[test]
    fn tty_names_parse() {
        assert_eq!(TtyName::parse("console"), Some(TtyName::Console));
        assert_eq!(TtyName::parse("tty0"), Some(TtyName::Tty(0)));
        assert_eq!(TtyName::parse("2"), Some(TtyName::Tty(2)));
        assert_eq!(TtyName::parse("tty12"), Some(TtyName::Tty(12)));
        assert_eq!(TtyName::parse("tty13"), None);
        assert_eq!(TtyName::parse("tty"), None);
        assert_eq!(TtyName::parse("ttyS0"), None);
        assert_eq!(TtyName::parse("+2"), None);
        assert_eq!(TtyName::parse("002"), None);
    }

    #[test]
    fn tty_index_matches_driver() {
        for name in all_tty_names() {
            let text = name.to_string();
            assert_eq!(crate::driver::terminal_index(&text), Some(name.index()), "{text}");
        }
    }

    #[test]
    fn bad_tty_list_names_the_item() {
        let error = parse_tty_list("tty2,tty99").expect_err("tty99 is invalid");
        assert_eq!(error.code(), ExitCode::Usage);
        assert!(error.to_string().contains("\"tty99\""), "{error}");
        assert!(parse_tty_list("").is_err());
    }

    #[test]
    fn access_letters_and_display() {
        assert_eq!(Access::parse("rwm"), Some(Access::ALL));
        assert_eq!(Access::parse("mr"), Some(Access::READ.union(Access::MKNOD)));
        assert_eq!(Access::parse("x"), None);
        assert_eq!(Access::ALL.letters(), "rwm");
        assert_eq!(Access::READ.union(Access::WRITE).to_string(), "rw-");
        assert_eq!(Access::NONE.to_string(), "---");
        assert_eq!(Access::ALL.without(Access::MKNOD), Access::READ.union(Access::WRITE));
    }
}
