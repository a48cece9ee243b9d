//! Finds the cgroup v1 `devices` and the cgroup v2 mounts in `/proc/self/mountinfo`.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt as _;
use std::path::PathBuf;

use super::{Hierarchies, Hierarchy};

/// Finds both hierarchies in a mountinfo text.
///
/// Each line reads `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE
/// SOURCE SUPER_OPTIONS`. A v1 hierarchy is the `cgroup` mount whose super options
/// list `devices`; the v2 hierarchy is the `cgroup2` mount. When a hierarchy is
/// mounted more than once, the first mount of its root wins, else the first mount.
pub fn parse(text: &str) -> Hierarchies {
    let mut hierarchies = Hierarchies::default();
    for line in text.lines() {
        let Some(mount) = parse_line(line) else { continue };
        let slot = match mount.fstype {
            "cgroup2" => &mut hierarchies.v2,
            "cgroup" if mount.super_options.split(',').any(|o| o == "devices") => {
                &mut hierarchies.v1_devices
            }
            _ => continue,
        };
        let hierarchy = Hierarchy { mount_point: mount.mount_point, root: mount.root };
        let replace = match slot {
            None => true,
            Some(existing) => existing.root != "/" && hierarchy.root == "/",
        };
        if replace {
            *slot = Some(hierarchy);
        }
    }
    hierarchies
}

struct Mount<'a> {
    root: String,
    mount_point: PathBuf,
    fstype: &'a str,
    super_options: &'a str,
}

fn parse_line(line: &str) -> Option<Mount<'_>> {
    let (before, after) = line.split_once(" - ")?;
    let mut fields = before.split(' ');
    let root = String::from_utf8_lossy(&unescape(fields.nth(3)?)).into_owned();
    let mount_point = PathBuf::from(OsString::from_vec(unescape(fields.next()?)));
    let mut after = after.split(' ');
    let fstype = after.next()?;
    let _source = after.next()?;
    let super_options = after.next()?;
    Some(Mount { root, mount_point, fstype, super_options })
}

/// Decodes the octal escapes (`\040` for a space) that mountinfo uses in paths.
fn unescape(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        if let Some(digits) = escape {
            let value = digits.iter().fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            if let Ok(value) = u8::try_from(value) {
                out.push(value);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_host_has_both() {
        let found = parse(HYBRID);
        let v1 = found.v1_devices.expect("v1 devices");
        assert_eq!(v1.mount_point, PathBuf::from("/sys/fs/cgroup/devices"));
        assert_eq!(v1.root, "/");
        let v2 = found.v2.expect("v2");
        assert_eq!(v2.mount_point, PathBuf::from("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn unified_host_has_v2_only() {
        let found =
            parse("25 1 0:22 / /sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw,nsdelegate\n");
        assert!(found.v1_devices.is_none());
        assert_eq!(found.v2.expect("v2").mount_point, PathBuf::from("/sys/fs/cgroup"));
    }

    #[test]
    fn combined_controllers_and_root_mount_preferred() {
        let text = "\
50 1 0:40 /lxc/101 /mnt/inner rw - cgroup cgroup rw,cpu,devices
51 1 0:40 / /sys/fs/cgroup/devices,cpu rw - cgroup cgroup rw,cpu,devices
";
        let v1 = parse(text).v1_devices.expect("v1 devices");
        assert_eq!(v1.root, "/");
        assert_eq!(v1.mount_point, PathBuf::from("/sys/fs/cgroup/devices,cpu"));
    }

    #[test]
    fn escaped_mount_point() {
        let found = parse("60 1 0:50 / /mnt/with\\040space rw - cgroup2 none rw\n");
        assert_eq!(found.v2.expect("v2").mount_point, PathBuf::from("/mnt/with space"));
    }
}
