//! The host's device-cgroup hierarchies, as the status line shows them.
//!
//! Hosts can be hybrid: a cgroup v1 `devices` hierarchy and cgroup v2 may both be
//! mounted, and the kernel enforces both, so the dashboard reports each one.

use std::path::PathBuf;

use vtty_ctl::cgroup::Hierarchies;

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
    /// Finds the hierarchies in `/proc/self/mountinfo`.
    pub fn read() -> Self {
        match Hierarchies::discover() {
            Ok(hierarchies) => Self {
                v1_devices: hierarchies.v1_devices.map(|mount| mount.mount_point),
                v2: hierarchies.v2.map(|mount| mount.mount_point),
                problem: None,
            },
            Err(error) => Self {
                problem: Some(format!("reading /proc/self/mountinfo failed: {error}")),
                ..Self::default()
            },
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_each_hierarchy() {
        let both = CgroupState {
            v1_devices: Some(PathBuf::from("/sys/fs/cgroup/devices")),
            v2: Some(PathBuf::from("/sys/fs/cgroup/unified")),
            problem: None,
        };
        assert_eq!(both.summary(), "v1 devices + v2");
        let v2 = CgroupState {
            v1_devices: None,
            ..both.clone()
        };
        assert_eq!(v2.summary(), "v2 only");
        let v1 = CgroupState { v2: None, ..both };
        assert_eq!(v1.summary(), "v1 devices only");
        assert_eq!(CgroupState::default().summary(), "no device cgroup mounted");
    }

    #[test]
    fn problem_replaces_summary() {
        let state = CgroupState {
            problem: Some("reading failed".to_owned()),
            ..CgroupState::default()
        };
        assert_eq!(state.summary(), "reading failed");
    }

    #[test]
    fn host_hierarchies_read() {
        let state = CgroupState::read();
        assert_eq!(state.problem, None);
    }
}
