//! Checks of what the probes need from the system: root, tracefs with the driver's
//! tracepoints, and bpffs for pinning.

use std::path::{Path, PathBuf};

use nix::sys::statfs::{BPF_FS_MAGIC, FsType, TRACEFS_MAGIC, statfs};
use vtty_common::probe::{TRACE_SYSTEM, TRACEPOINTS};

use super::error::ProbeError;

/// Default tracefs mount point.
pub const TRACEFS: &str = "/sys/kernel/tracing";
/// Mount point of tracefs inside debugfs, used when only debugfs is mounted.
pub const TRACEFS_IN_DEBUGFS: &str = "/sys/kernel/debug/tracing";
/// Default bpffs mount point.
pub const BPFFS: &str = "/sys/fs/bpf";

/// Mount points the probes use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbePaths {
    /// tracefs mount point, where `events/vtty/*/format` are read.
    pub tracefs: PathBuf,
    /// bpffs mount point; the probes pin under `vtty/probes/` in it.
    pub bpffs: PathBuf,
}

impl Default for ProbePaths {
    fn default() -> Self {
        Self { tracefs: PathBuf::from(TRACEFS), bpffs: PathBuf::from(BPFFS) }
    }
}

impl ProbePaths {
    /// Returns the directory of vtty's pins in bpffs, shared with the device-cgroup
    /// gates.
    pub fn vtty_dir(&self) -> PathBuf {
        self.bpffs.join("vtty")
    }

    /// Returns the directory of the probes' pins.
    pub fn pin_dir(&self) -> PathBuf {
        self.vtty_dir().join("probes")
    }
}

/// Fails unless the effective user is root.
pub fn require_root(action: &'static str) -> Result<(), ProbeError> {
    if nix::unistd::geteuid().is_root() { Ok(()) } else { Err(ProbeError::NotRoot { action }) }
}

fn is_filesystem(path: &Path, magic: FsType) -> bool {
    statfs(path).is_ok_and(|stats| stats.filesystem_type() == magic)
}

/// Returns the tracefs mount to use: `paths.tracefs`, or tracefs inside debugfs
/// when `paths.tracefs` is the default and not mounted (as aya looks it up).
pub fn tracefs_root(paths: &ProbePaths) -> Result<PathBuf, ProbeError> {
    if is_filesystem(&paths.tracefs, TRACEFS_MAGIC) {
        return Ok(paths.tracefs.clone());
    }
    let in_debugfs = Path::new(TRACEFS_IN_DEBUGFS);
    if paths.tracefs == Path::new(TRACEFS) && is_filesystem(in_debugfs, TRACEFS_MAGIC) {
        return Ok(in_debugfs.to_path_buf());
    }
    Err(ProbeError::TracefsNotMounted { path: paths.tracefs.clone() })
}

/// Returns the directory of the `vtty` tracing system under a tracefs mount.
pub fn trace_system_dir(tracefs: &Path) -> PathBuf {
    tracefs.join("events").join(TRACE_SYSTEM)
}

/// Checks that every tracepoint of the driver exists under `tracefs`.
pub fn require_tracepoints(tracefs: &Path) -> Result<(), ProbeError> {
    let system = trace_system_dir(tracefs);
    if !system.is_dir() {
        return Err(ProbeError::TracepointsNotFound { dir: system });
    }
    for tracepoint in TRACEPOINTS {
        let dir = system.join(tracepoint.name);
        if !dir.is_dir() {
            return Err(ProbeError::TracepointMissing { event: tracepoint.name, dir });
        }
    }
    Ok(())
}

/// Fails unless bpffs is mounted at `paths.bpffs`.
pub fn require_bpffs(paths: &ProbePaths) -> Result<(), ProbeError> {
    if is_filesystem(&paths.bpffs, BPF_FS_MAGIC) {
        Ok(())
    } else {
        Err(ProbeError::BpffsNotMounted { path: paths.bpffs.clone() })
    }
}

/// True when bpffs is mounted at `paths.bpffs`.
pub fn has_bpffs(paths: &ProbePaths) -> bool {
    is_filesystem(&paths.bpffs, BPF_FS_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_root_is_rejected() {
        if nix::unistd::geteuid().is_root() {
            eprintln!("skipped: checks the error a user other than root gets");
            return;
        }
        let error = crate::probes::open(&ProbePaths::default(), crate::probes::Acquire::Reuse)
            .expect_err("not root");
        assert_eq!(error.exit_code(), crate::exit::ExitCode::Permission);
        assert!(error.to_string().contains("needs root"), "{error}");
    }

    #[test]
    fn pin_dir_is_under_vtty() {
        let paths = ProbePaths::default();
        assert_eq!(paths.pin_dir(), Path::new("/sys/fs/bpf/vtty/probes"));
    }

    #[test]
    fn plain_directory_is_not_tracefs() {
        let dir = std::env::temp_dir();
        let paths = ProbePaths { tracefs: dir.clone(), bpffs: dir.clone() };
        let error = tracefs_root(&paths).expect_err("a temp directory is not tracefs");
        let message = error.to_string();
        assert!(message.contains("mount -t tracefs tracefs"), "{message}");
        assert!(message.contains(&dir.display().to_string()), "{message}");
    }

    #[test]
    fn plain_directory_is_not_bpffs() {
        let dir = std::env::temp_dir();
        let paths = ProbePaths { tracefs: dir.clone(), bpffs: dir };
        let error = require_bpffs(&paths).expect_err("a temp directory is not bpffs");
        assert!(error.to_string().contains("mount -t bpf bpf"), "{error}");
    }

    #[test]
    fn missing_trace_system_names_the_driver() {
        let dir = std::env::temp_dir().join(format!("vtty-no-tracepoints-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("events")).expect("create events dir");
        let error = require_tracepoints(&dir).expect_err("no vtty system");
        std::fs::remove_dir_all(&dir).expect("remove test dir");
        let message = error.to_string();
        assert!(message.starts_with("vtty tracepoints not found"), "{message}");
        assert!(message.contains("modprobe vtty"), "{message}");
    }
}
