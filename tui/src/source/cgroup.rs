//! The host's device-cgroup hierarchies, found in `/proc/self/mountinfo`.
//!
//! Hosts can be hybrid: a cgroup v1 `devices` hierarchy and cgroup v2 may both be
//! mounted, and the kernel enforces both, so the dashboard reports each one.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// Mounted device-cgroup hierarchies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupState {
    /// Mount point of the cgroup v1 hierarchy with the `devices` controller.
    pub v1_devices: Option<PathBuf>,
    /// Mount point of cgroup v2.
    pub v2: Option<PathBuf>,
    /// Reason the state could not be read.
    pub problem: Option<String>,
}

impl CgroupState {
    /// Reads `/proc/self/mountinfo`.
    pub fn read() -> Self {
        match std::fs::read_to_string("/proc/self/mountinfo") {
            Ok(text) => Self::parse(&text),
            Err(error) => Self {
                problem: Some(format!("cannot read /proc/self/mountinfo: {error}")),
                ..Self::default()
            },
        }
    }

    /// Finds the first v1 `devices` and the first v2 mount in a mountinfo text.
    ///
    /// A line reads `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE
    /// SOURCE SUPEROPTIONS`; v1 hierarchies carry their controllers in the super
    /// options.
    pub fn parse(mountinfo: &str) -> Self {
        let mut state = Self::default();
        for line in mountinfo.lines() {
            let Some((mount, filesystem)) = line.split_once(" - ") else {
                continue;
            };
            let Some(mount_point) = mount.split_whitespace().nth(4) else {
                continue;
            };
            let mut fields = filesystem.split_whitespace();
            let fs_type = fields.next();
            let super_options = fields.nth(1).unwrap_or("");
            match fs_type {
                Some("cgroup2") if state.v2.is_none() => {
                    state.v2 = Some(unescape(mount_point));
                }
                Some("cgroup")
                    if state.v1_devices.is_none()
                        && super_options.split(',').any(|option| option == "devices") =>
                {
                    state.v1_devices = Some(unescape(mount_point));
                }
                _ => {}
            }
        }
        state
    }

    /// Returns a short description for the status line.
    pub fn summary(&self) -> String {
        if let Some(problem) = &self.problem {
            return problem.clone();
        }
        match (&self.v1_devices, &self.v2) {
            (Some(_), Some(_)) => "v1 devices + v2".to_owned(),
            (Some(_), None) => "v1 devices only".to_owned(),
            (None, Some(_)) => "v2 only".to_owned(),
            (None, None) => "no device cgroup mounted".to_owned(),
        }
    }
}

/// Decodes the octal escapes (`\040` for a space) that mountinfo uses in paths.
fn unescape(path: &str) -> PathBuf {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes.get(i + 1..i + 4);
        let code = escape
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)))
            .map(|d| (d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
        match code {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 30 0:23 / /sys rw,nosuid shared:7 - sysfs sysfs rw
31 25 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
35 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw shared:14 - cgroup cgroup rw,cpu,cpuacct
36 31 0:31 / /sys/fs/cgroup/devices rw,nosuid shared:15 - cgroup cgroup rw,devices
";

    #[test]
    fn hybrid_host_has_both() {
        let state = CgroupState::parse(HYBRID);
        assert_eq!(
            state.v1_devices,
            Some(PathBuf::from("/sys/fs/cgroup/devices"))
        );
        assert_eq!(state.v2, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert_eq!(state.summary(), "v1 devices + v2");
    }

    #[test]
    fn v1_without_devices_controller_ignored() {
        let line = "35 31 0:30 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n";
        assert_eq!(CgroupState::parse(line).v1_devices, None);
        assert_eq!(
            CgroupState::parse(line).summary(),
            "no device cgroup mounted"
        );
    }

    #[test]
    fn escaped_mount_point_decoded() {
        let line = "32 31 0:27 / /mnt/my\\040cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            CgroupState::parse(line).v2,
            Some(PathBuf::from("/mnt/my cgroup"))
        );
    }
}
