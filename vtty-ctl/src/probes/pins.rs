//! The pin directory of the probes in bpffs, and the locks that keep two loaders or
//! two event readers apart.
//!
//! Layout under `<bpffs>/vtty/probes/`: `maps/<MAP>` for every map, `links/<event>`
//! for the link of every tracepoint program, and `events-reader/`, an empty
//! directory whose `flock` is held by the one process reading the ring buffers.
//! The directory itself is `flock`ed while probes are loaded, reused or removed.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Once;

use log::warn;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use vtty_common::probe::{TRACEPOINTS, maps};

use super::error::ProbeError;

/// Paths of the pins under one pin directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinLayout {
    dir: PathBuf,
}

/// The pins that exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PinState {
    /// No pin exists.
    Absent,
    /// Every map and link is pinned.
    Complete,
    /// Some pins exist, these are missing.
    Incomplete(Vec<String>),
}

impl PinLayout {
    /// Creates the layout under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Returns the pin directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Directory of the map pins.
    pub fn maps_dir(&self) -> PathBuf {
        self.dir.join("maps")
    }

    /// Directory of the link pins.
    pub fn links_dir(&self) -> PathBuf {
        self.dir.join("links")
    }

    /// Pin path of map `name`.
    pub fn map_path(&self, name: &str) -> PathBuf {
        self.maps_dir().join(name)
    }

    /// Pin path of the link of tracepoint `event`.
    pub fn link_path(&self, event: &str) -> PathBuf {
        self.links_dir().join(event)
    }

    /// Returns the directory that the ring-buffer reader locks.
    pub fn events_lock_path(&self) -> PathBuf {
        self.dir.join("events-reader")
    }

    /// Lists every pin a complete load creates, with a short name for messages.
    pub fn expected_pins(&self) -> Vec<(String, PathBuf)> {
        let maps = maps::ALL.iter().map(|name| (format!("maps/{name}"), self.map_path(name)));
        let links = TRACEPOINTS.iter().map(|tracepoint| {
            (format!("links/{}", tracepoint.name), self.link_path(tracepoint.name))
        });
        maps.chain(links).collect()
    }

    /// Checks which of the expected pins exist.
    pub fn state(&self) -> PinState {
        let expected = self.expected_pins();
        let missing: Vec<String> = expected
            .iter()
            .filter(|(_, path)| fs::symlink_metadata(path).is_err())
            .map(|(name, _)| name.clone())
            .collect();
        if missing.is_empty() {
            PinState::Complete
        } else if missing.len() == expected.len() {
            PinState::Absent
        } else {
            PinState::Incomplete(missing)
        }
    }

    /// Creates the pin directories.
    pub fn create_dirs(&self) -> Result<(), ProbeError> {
        for dir in [self.maps_dir(), self.links_dir(), self.events_lock_path()] {
            create_dir(&dir)?;
        }
        Ok(())
    }

    /// Removes every pin and directory under the pin directory, links first so
    /// that the programs stop before their maps go, then the pin directory itself
    /// and its parent if that is empty. Returns the removed pins.
    pub fn remove_all(&self) -> Result<Vec<PathBuf>, ProbeError> {
        let mut removed = Vec::new();
        for dir in [self.links_dir(), self.maps_dir()] {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(ProbeError::io(&dir, error)),
            };
            for entry in entries {
                let path = entry.map_err(|error| ProbeError::io(&dir, error))?.path();
                fs::remove_file(&path).map_err(|error| ProbeError::io(&path, error))?;
                removed.push(path);
            }
        }
        for dir in [self.links_dir(), self.maps_dir(), self.events_lock_path(), self.dir.clone()] {
            remove_dir_if_present(&dir)?;
        }
        if let Some(parent) = self.dir.parent() {
            // The parent contains other vtty pins (device-cgroup gates), so it stays
            // unless it is empty.
            match fs::remove_dir(parent) {
                Ok(()) => {}
                Err(error)
                    if matches!(
                        error.raw_os_error(),
                        Some(libc::ENOTEMPTY | libc::EEXIST | libc::ENOENT)
                    ) => {}
                Err(error) => return Err(ProbeError::io(parent, error)),
            }
        }
        Ok(removed)
    }
}

fn create_dir(dir: &Path) -> Result<(), ProbeError> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(ProbeError::io(dir, error)),
    }
}

fn remove_dir_if_present(dir: &Path) -> Result<(), ProbeError> {
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(ProbeError::io(dir, error)),
    }
}

/// An exclusive `flock` on a directory, released on drop.
///
/// A kernel built without `CONFIG_FILE_LOCKING` fails every `flock` with `ENOSYS`.
/// There the lock is granted without being taken, and a warning tells the user
/// that two loaders or event readers at once are not kept apart.
#[derive(Debug)]
pub struct DirLock {
    _lock: Option<Flock<File>>,
}

impl DirLock {
    /// Creates `dir` and its parents if needed and waits for its lock.
    pub fn create_and_lock(dir: &Path) -> Result<Self, ProbeError> {
        Self::lock(dir, true)?.ok_or_else(|| {
            ProbeError::io(
                dir,
                io::Error::other("the directory was removed repeatedly while waiting for its lock"),
            )
        })
    }

    /// Waits for the lock of `dir` if it exists; `Ok(None)` when it does not.
    pub fn lock_existing(dir: &Path) -> Result<Option<Self>, ProbeError> {
        Self::lock(dir, false)
    }

    /// Locks `dir`, retrying when it was removed (by an unload) while this process
    /// waited, so that the lock is always on the directory that is at `dir` now.
    fn lock(dir: &Path, create: bool) -> Result<Option<Self>, ProbeError> {
        const ATTEMPTS: usize = 16;
        for _ in 0..ATTEMPTS {
            if create {
                fs::create_dir_all(dir).map_err(|error| ProbeError::io(dir, error))?;
            }
            let file = match File::open(dir) {
                Ok(file) => file,
                Err(error) if !create && error.kind() == io::ErrorKind::NotFound => {
                    return Ok(None);
                }
                Err(error) => return Err(ProbeError::io(dir, error)),
            };
            let lock = match Flock::lock(file, FlockArg::LockExclusive) {
                Ok(lock) => lock,
                Err((_, Errno::ENOSYS)) => return Ok(Some(Self::unsupported(dir))),
                Err((_, errno)) => return Err(ProbeError::io(dir, io::Error::from(errno))),
            };
            if same_directory(&lock, dir) {
                return Ok(Some(Self { _lock: Some(lock) }));
            }
        }
        Ok(None)
    }

    /// Locks the existing directory `dir` without waiting; `Ok(None)` when another
    /// process holds the lock.
    pub fn try_lock(dir: &Path) -> Result<Option<Self>, ProbeError> {
        let file = File::open(dir).map_err(|error| ProbeError::io(dir, error))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(Self { _lock: Some(lock) })),
            Err((_, Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, Errno::ENOSYS)) => Ok(Some(Self::unsupported(dir))),
            Err((_, errno)) => Err(ProbeError::io(dir, io::Error::from(errno))),
        }
    }

    /// Returns the lock of `dir` on a kernel without file locking, and warns once
    /// per process that nothing is locked.
    fn unsupported(dir: &Path) -> Self {
        static WARNING: Once = Once::new();
        WARNING.call_once(|| {
            warn!(
                "flock on {} failed with ENOSYS: this kernel has no file locking \
                 (CONFIG_FILE_LOCKING), so vtty-ctl cannot keep two probe loaders or event \
                 readers apart; run one at a time",
                dir.display()
            );
        });
        Self { _lock: None }
    }
}

/// True when the locked file is still the directory at `dir`.
fn same_directory(lock: &Flock<File>, dir: &Path) -> bool {
    let (Ok(held), Ok(current)) = (lock.metadata(), fs::metadata(dir)) else {
        return false;
    };
    held.dev() == current.dev() && held.ino() == current.ino()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vtty-pins-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn layout_lists_every_map_and_link() {
        let layout = PinLayout::new("/sys/fs/bpf/vtty/probes");
        let pins = layout.expected_pins();
        assert_eq!(pins.len(), maps::ALL.len() + TRACEPOINTS.len());
        assert!(pins.contains(&(
            "maps/COUNTERS".to_owned(),
            PathBuf::from("/sys/fs/bpf/vtty/probes/maps/COUNTERS")
        )));
        assert!(pins.contains(&(
            "links/vtty_write".to_owned(),
            PathBuf::from("/sys/fs/bpf/vtty/probes/links/vtty_write")
        )));
    }

    #[test]
    fn state_tells_absent_partial_and_complete() {
        // Plain files stand in for pins: the state check only looks at names.
        let dir = scratch("state");
        let layout = PinLayout::new(dir.join("vtty").join("probes"));
        assert_eq!(layout.state(), PinState::Absent);
        fs::create_dir_all(layout.dir()).expect("create pin dir");
        layout.create_dirs().expect("create dirs");
        fs::write(layout.map_path("COUNTERS"), b"").expect("write");
        match layout.state() {
            PinState::Incomplete(missing) => {
                assert!(missing.contains(&"maps/EVENTS".to_owned()), "{missing:?}");
                assert!(!missing.contains(&"maps/COUNTERS".to_owned()), "{missing:?}");
            }
            other => panic!("expected incomplete, got {other:?}"),
        }
        for (_, path) in layout.expected_pins() {
            fs::write(path, b"").expect("write");
        }
        assert_eq!(layout.state(), PinState::Complete);

        let removed = layout.remove_all().expect("remove");
        assert_eq!(removed.len(), layout.expected_pins().len());
        assert!(!layout.dir().exists());
        assert!(!dir.join("vtty").exists(), "empty parent is removed");
        fs::remove_dir(&dir).expect("scratch dir is empty");
    }

    #[test]
    fn remove_keeps_a_parent_with_other_pins() {
        let dir = scratch("parent");
        let layout = PinLayout::new(dir.join("vtty").join("probes"));
        fs::create_dir_all(layout.dir()).expect("create pin dir");
        layout.create_dirs().expect("create dirs");
        fs::create_dir_all(dir.join("vtty").join("gates")).expect("gates dir");
        layout.remove_all().expect("remove");
        assert!(dir.join("vtty").join("gates").is_dir());
        fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn second_lock_on_a_directory_is_refused() {
        let dir = scratch("lock");
        let first = DirLock::create_and_lock(&dir).expect("first lock");
        assert!(DirLock::try_lock(&dir).expect("try lock").is_none());
        drop(first);
        let second = DirLock::try_lock(&dir).expect("try lock");
        assert!(second.is_some());
        drop(second);
        fs::remove_dir(&dir).expect("cleanup");
    }
}
