//! The cgroup v1 devices controller: `devices.allow`, `devices.deny` and
//! `devices.list`.
//!
//! A v1 devices cgroup either allows everything except its exceptions (default
//! allow) or denies everything except them (default deny). Writing a rule to
//! `devices.allow` removes a deny exception or adds an allow exception, and the
//! kernel rejects it with `EPERM` when the parent does not allow the same. Writing
//! to `devices.deny` does the opposite and never needs the parent's permission. `devices.list`
//! shows the allow exceptions of a default-deny cgroup but only `a *:* rwm` for a
//! default-allow one, hiding its deny exceptions, which is why vtty keeps its own
//! record of the rules it set.

use std::fs::OpenOptions;
use std::io::{self, Write as _};

use super::devices::{Access, Device};
use crate::cgroup::Cgroup;

/// The file a rule is written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleFile {
    /// `devices.allow`.
    Allow,
    /// `devices.deny`.
    Deny,
}

impl RuleFile {
    /// Returns the file name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Allow => "devices.allow",
            Self::Deny => "devices.deny",
        }
    }
}

/// Writes one rule such as `c 4:2 rwm` to `devices.allow` or `devices.deny`.
pub fn write_rule(
    cgroup: &Cgroup,
    file: RuleFile,
    device: &Device,
    access: Access,
) -> io::Result<()> {
    let line = format!("{} {}", device.rule(), access.letters());
    let mut handle = OpenOptions::new().write(true).open(cgroup.file(file.name()))?;
    // One write() per rule: the kernel parses each write as one rule.
    handle.write_all(line.as_bytes())
}

/// One line of `devices.list`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exception {
    /// `c`, `b` or `a`.
    pub kind: char,
    /// Major number, `None` for `*`.
    pub major: Option<u32>,
    /// Minor number, `None` for `*`.
    pub minor: Option<u32>,
    /// Allowed access.
    pub access: Access,
}

impl Exception {
    fn matches(&self, device: &Device) -> bool {
        (self.kind == 'c' || self.kind == 'a')
            && self.major.is_none_or(|major| major == device.major)
            && self.minor.is_none_or(|minor| minor == device.minor)
    }

    fn is_wildcard(&self) -> bool {
        self.kind == 'a' || self.major.is_none() || self.minor.is_none()
    }
}

/// The contents of `devices.list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum List {
    /// `a *:* rwm`: default allow; its deny exceptions are not shown.
    DefaultAllow,
    /// Default deny with these allow exceptions.
    DefaultDeny(Vec<Exception>),
}

impl List {
    /// Access the list allows for `device`; `None` under default allow, where
    /// hidden deny exceptions may apply.
    pub fn allowed(&self, device: &Device) -> Option<Access> {
        match self {
            Self::DefaultAllow => None,
            Self::DefaultDeny(exceptions) => Some(
                exceptions
                    .iter()
                    .filter(|exception| exception.matches(device))
                    .fold(Access::NONE, |access, exception| access.union(exception.access)),
            ),
        }
    }

    /// Finds a wildcard exception that allows `access` to `device`. Writing a deny
    /// rule for the exact device does not remove it.
    pub fn wildcard_allowing(&self, device: &Device, access: Access) -> Option<Exception> {
        let Self::DefaultDeny(exceptions) = self else { return None };
        exceptions
            .iter()
            .find(|e| {
                e.is_wildcard() && e.matches(device) && !e.access.intersection(access).is_empty()
            })
            .copied()
    }
}

/// Reads `devices.list`.
pub fn read_list(cgroup: &Cgroup) -> io::Result<List> {
    let text = std::fs::read_to_string(cgroup.file("devices.list"))?;
    parse_list(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected line in {}", cgroup.file("devices.list").display()),
        )
    })
}

/// Parses `devices.list`: lines of `TYPE MAJOR:MINOR ACCESS` with `*` wildcards.
pub fn parse_list(text: &str) -> Option<List> {
    let mut exceptions = Vec::new();
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let mut fields = line.split_whitespace();
        let kind = fields.next()?.chars().next()?;
        let (major, minor) = fields.next()?.split_once(':')?;
        let access = Access::parse(fields.next()?)?;
        let number =
            |field: &str| if field == "*" { Some(None) } else { field.parse().ok().map(Some) };
        let exception = Exception { kind, major: number(major)?, minor: number(minor)?, access };
        if kind == 'a' {
            // Only a default-allow cgroup shows an `a` line, and then only that line.
            return Some(List::DefaultAllow);
        }
        exceptions.push(exception);
    }
    Some(List::DefaultDeny(exceptions))
}

/// Finds the nearest ancestor of `cgroup` whose list shows that it does not allow
/// `access` to `device`. Ancestors under default allow cannot show their deny
/// exceptions, so the search may find none even though one of them forbids.
pub fn forbidding_ancestor(cgroup: &Cgroup, device: &Device, access: Access) -> Option<Cgroup> {
    let mut current = cgroup.parent();
    while let Some(ancestor) = current {
        if let Ok(list) = read_list(&ancestor)
            && let Some(allowed) = list.allowed(device)
            && !allowed.contains(access)
        {
            return Some(ancestor);
        }
        current = ancestor.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tty2() -> Device {
        Device { major: 4, minor: 2, name: "tty2".to_owned() }
    }

    #[test]
    fn default_allow_list() {
        assert_eq!(parse_list("a *:* rwm\n"), Some(List::DefaultAllow));
        assert_eq!(List::DefaultAllow.allowed(&tty2()), None);
    }

    #[test]
    fn default_deny_list() {
        let list = parse_list("c 1:3 rwm\nc 4:2 rw\nc 136:* rwm\nb *:* m\n").expect("parses");
        assert_eq!(list.allowed(&tty2()), Some(Access::READ.union(Access::WRITE)));
        let console = Device { major: 5, minor: 1, name: "console".to_owned() };
        assert_eq!(list.allowed(&console), Some(Access::NONE));
    }

    #[test]
    fn empty_list_denies_everything() {
        let list = parse_list("").expect("parses");
        assert_eq!(list.allowed(&tty2()), Some(Access::NONE));
    }

    #[test]
    fn wildcard_found() {
        let list = parse_list("c *:* m\nc 4:2 rw\n").expect("parses");
        let wildcard = list.wildcard_allowing(&tty2(), Access::ALL).expect("c *:* m");
        assert_eq!(wildcard.access, Access::MKNOD);
        assert_eq!(list.wildcard_allowing(&tty2(), Access::READ), None);
    }

    #[test]
    fn malformed_list() {
        assert_eq!(parse_list("c 4 rwm\n"), None);
        assert_eq!(parse_list("c 4:x rwm\n"), None);
        assert_eq!(parse_list("c 4:2 rwx\n"), None);
    }
}
