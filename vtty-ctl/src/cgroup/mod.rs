//! The two cgroup hierarchies that decide device access: the v1 `devices`
//! controller and cgroup v2 device programs.
//!
//! Hybrid hosts mount both and the kernel checks both on every device access
//! (v2 programs first, then the v1 rules), so vtty evaluates each hierarchy that
//! exists instead of picking "the" version. Cgroup paths are written as the kernel
//! shows them in `/proc/PID/cgroup`: relative to the hierarchy's root, starting
//! with `/`.

pub mod mountinfo;

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

/// A cgroup hierarchy that can decide device access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// The cgroup v1 hierarchy with the `devices` controller.
    V1,
    /// The cgroup v2 hierarchy (device programs).
    V2,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V1 => "v1 devices",
            Self::V2 => "v2",
        })
    }
}

/// One mount of a hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// Mount point, for example `/sys/fs/cgroup/devices`.
    pub mount_point: PathBuf,
    /// The cgroup that the mount shows at its top, `/` for a full mount.
    pub root: String,
}

impl Hierarchy {
    /// Directory of the cgroup at `path`, or `None` when the mount does not show it.
    pub fn dir(&self, path: &str) -> Option<PathBuf> {
        let relative = strip_cgroup_prefix(path, &self.root)?;
        Some(if relative.is_empty() {
            self.mount_point.clone()
        } else {
            self.mount_point.join(relative)
        })
    }
}

/// Returns `path` relative to `root` (without a leading `/`), or `None` when `path`
/// is not `root` or below it.
fn strip_cgroup_prefix<'a>(path: &'a str, root: &str) -> Option<&'a str> {
    let root = root.trim_end_matches('/');
    let rest = path.strip_prefix(root)?;
    if !rest.is_empty() && !rest.starts_with('/') {
        return None;
    }
    Some(rest.trim_start_matches('/'))
}

/// The hierarchies mounted on this host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hierarchies {
    /// The cgroup v1 hierarchy with the `devices` controller.
    pub v1_devices: Option<Hierarchy>,
    /// The cgroup v2 hierarchy.
    pub v2: Option<Hierarchy>,
}

impl Hierarchies {
    /// Reads the mounts from `/proc/self/mountinfo`.
    pub fn discover() -> io::Result<Self> {
        Ok(mountinfo::parse(&fs::read_to_string("/proc/self/mountinfo")?))
    }

    /// Returns the mount of `version`, if it is mounted.
    pub fn get(&self, version: Version) -> Option<&Hierarchy> {
        match version {
            Version::V1 => self.v1_devices.as_ref(),
            Version::V2 => self.v2.as_ref(),
        }
    }

    /// Returns the cgroup at `path` in `version`, if that hierarchy is mounted and
    /// shows it.
    pub fn cgroup(&self, version: Version, path: &str) -> Option<Cgroup> {
        let dir = self.get(version)?.dir(path)?;
        Some(Cgroup { version, path: path.to_owned(), dir })
    }
}

/// A cgroup in one hierarchy.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cgroup {
    /// Its hierarchy.
    pub version: Version,
    /// Path relative to the hierarchy's root, starting with `/`.
    pub path: String,
    /// Its directory in the mounted hierarchy.
    pub dir: PathBuf,
}

impl fmt::Display for Cgroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} cgroup {}", self.version, self.path)
    }
}

impl Cgroup {
    /// True when the directory exists.
    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    /// True for the hierarchy's root cgroup.
    pub fn is_root(&self) -> bool {
        self.path == "/"
    }

    /// Reads the kernel's cgroup id: the inode number of the directory, which the
    /// kernel never reuses within a boot on 64-bit machines.
    pub fn id(&self) -> io::Result<u64> {
        Ok(fs::metadata(&self.dir)?.ino())
    }

    /// Returns the path of a file of the cgroup, such as `devices.list`.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Processes directly in this cgroup.
    pub fn procs(&self) -> io::Result<Vec<i32>> {
        read_procs(&self.file("cgroup.procs"))
    }

    /// Processes in this cgroup and every cgroup below it.
    pub fn subtree_procs(&self) -> io::Result<Vec<i32>> {
        let mut pids = Vec::new();
        collect_procs(&self.dir, &mut pids)?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Returns the parent cgroup, or `None` for the root.
    pub fn parent(&self) -> Option<Cgroup> {
        if self.is_root() {
            return None;
        }
        let path = match self.path.rsplit_once('/') {
            Some(("", _)) | None => "/".to_owned(),
            Some((parent, _)) => parent.to_owned(),
        };
        let dir = self.dir.parent()?.to_path_buf();
        Some(Cgroup { version: self.version, path, dir })
    }
}

fn read_procs(path: &Path) -> io::Result<Vec<i32>> {
    let text = fs::read_to_string(path)?;
    Ok(text.lines().filter_map(|line| line.trim().parse().ok()).collect())
}

fn collect_procs(dir: &Path, pids: &mut Vec<i32>) -> io::Result<()> {
    match read_procs(&dir.join("cgroup.procs")) {
        Ok(found) => pids.extend(found),
        // A cgroup removed while we walk it has no processes left.
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            collect_procs(&entry.path(), pids)?;
        }
    }
    Ok(())
}

/// The cgroups of one process, from `/proc/PID/cgroup`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    /// Its cgroup v2 path (the `0::` line).
    pub v2: Option<String>,
    /// Its cgroup v1 `devices` path.
    pub v1_devices: Option<String>,
}

impl Membership {
    /// Returns the path in `version`.
    pub fn get(&self, version: Version) -> Option<&str> {
        match version {
            Version::V1 => self.v1_devices.as_deref(),
            Version::V2 => self.v2.as_deref(),
        }
    }

    /// Reads `/proc/PID/cgroup`.
    pub fn of_pid(pid: i32) -> io::Result<Self> {
        Ok(parse_proc_cgroup(&fs::read_to_string(format!("/proc/{pid}/cgroup"))?))
    }
}

/// Parses `/proc/PID/cgroup`: lines of `HIERARCHY-ID:CONTROLLERS:PATH`.
pub fn parse_proc_cgroup(text: &str) -> Membership {
    let mut membership = Membership::default();
    for line in text.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            membership.v2 = Some(path.to_owned());
        } else if controllers.split(',').any(|c| c == "devices") {
            membership.v1_devices = Some(path.to_owned());
        }
    }
    membership
}

/// Returns the deepest cgroup path that contains every path given, `/` for none.
pub fn common_ancestor<'a>(paths: impl IntoIterator<Item = &'a str>) -> String {
    let mut common: Option<Vec<&str>> = None;
    for path in paths {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        common = Some(match common {
            None => parts,
            Some(current) => {
                current.iter().zip(&parts).take_while(|(a, b)| a == b).map(|(a, _)| *a).collect()
            }
        });
    }
    format!("/{}", common.unwrap_or_default().join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_cgroup_hybrid() {
        let text = "9:name=systemd:/\n5:devices:/lxc/101\n4:memory:/x\n0::/lxc/101/init.scope\n";
        let membership = parse_proc_cgroup(text);
        assert_eq!(membership.v1_devices.as_deref(), Some("/lxc/101"));
        assert_eq!(membership.v2.as_deref(), Some("/lxc/101/init.scope"));
    }

    #[test]
    fn proc_cgroup_combined_controllers() {
        let membership = parse_proc_cgroup("3:cpu,devices,memory:/a\n");
        assert_eq!(membership.v1_devices.as_deref(), Some("/a"));
        assert_eq!(membership.v2, None);
    }

    #[test]
    fn hierarchy_dir_inside_and_outside_root() {
        let full = Hierarchy { mount_point: "/sys/fs/cgroup".into(), root: "/".to_owned() };
        assert_eq!(full.dir("/"), Some(PathBuf::from("/sys/fs/cgroup")));
        assert_eq!(full.dir("/a/b"), Some(PathBuf::from("/sys/fs/cgroup/a/b")));
        let partial = Hierarchy { mount_point: "/mnt".into(), root: "/lxc".to_owned() };
        assert_eq!(partial.dir("/lxc/101"), Some(PathBuf::from("/mnt/101")));
        assert_eq!(partial.dir("/lxc"), Some(PathBuf::from("/mnt")));
        assert_eq!(partial.dir("/lxcfoo"), None);
        assert_eq!(partial.dir("/other"), None);
    }

    #[test]
    fn parent_walks_to_root() {
        let cgroup = Cgroup {
            version: Version::V2,
            path: "/a/b".to_owned(),
            dir: "/sys/fs/cgroup/a/b".into(),
        };
        let parent = cgroup.parent().expect("has parent");
        assert_eq!(parent.path, "/a");
        assert_eq!(parent.dir, PathBuf::from("/sys/fs/cgroup/a"));
        let root = parent.parent().expect("has root");
        assert_eq!(root.path, "/");
        assert!(root.is_root());
        assert_eq!(root.parent(), None);
    }

    #[test]
    fn common_ancestor_of_paths() {
        assert_eq!(common_ancestor(["/a/b/c", "/a/b/d", "/a/b"]), "/a/b");
        assert_eq!(common_ancestor(["/a/b", "/c"]), "/");
        assert_eq!(common_ancestor(["/a/b/c"]), "/a/b/c");
        assert_eq!(common_ancestor([]), "/");
    }
}
