//! The cache outside the repository: `$VTTY_CACHE_DIR`, else
//! `${XDG_CACHE_HOME:-$HOME/.cache}/vtty`. It holds the apt configuration for other
//! Debian suites, the trixie build root, the kernel source and the kernel build
//! trees, so that every worktree on a machine shares them.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nix::fcntl::{Flock, FlockArg};

/// Locations inside the cache directory.
pub struct Cache {
    pub root: PathBuf,
}

impl Cache {
    /// Resolves the cache directory from the environment and creates it.
    pub fn open() -> Result<Self> {
        let root = match std::env::var_os("VTTY_CACHE_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => match std::env::var_os("XDG_CACHE_HOME") {
                Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("vtty"),
                _ => match std::env::var_os("HOME") {
                    Some(home) if !home.is_empty() => PathBuf::from(home).join(".cache/vtty"),
                    _ => bail!(
                        "neither VTTY_CACHE_DIR, XDG_CACHE_HOME nor HOME is set; set VTTY_CACHE_DIR to a writable directory"
                    ),
                },
            },
        };
        if !root.is_absolute() {
            bail!(
                "cache directory {} is not an absolute path; set VTTY_CACHE_DIR to an absolute path",
                root.display()
            );
        }
        fs::create_dir_all(&root)
            .with_context(|| format!("creating the cache directory {}", root.display()))?;
        Ok(Self { root })
    }

    /// The alternative apt configuration that sees bookworm-backports, trixie and sid.
    pub fn apt_dir(&self) -> PathBuf {
        self.root.join("apt")
    }

    /// Downloaded `.deb` files installed on the host.
    pub fn debs_dir(&self) -> PathBuf {
        self.root.join("debs")
    }

    /// The trixie build root the kernel is built in.
    pub fn buildroot_dir(&self) -> PathBuf {
        self.root.join("buildroot")
    }

    /// Symlinks that make the nightly toolchain's libLLVM look like an LLVM install.
    pub fn llvm_prefix_dir(&self) -> PathBuf {
        self.root.join("llvm-prefix")
    }

    /// The kernel source package, its unpacked tree and the build trees.
    pub fn linux_dir(&self) -> PathBuf {
        self.root.join("linux")
    }

    /// Takes an exclusive lock named `name` in the cache, waiting for other xtask
    /// processes (other worktrees share the cache) to release it.
    pub fn lock(&self, name: &str) -> Result<Flock<File>> {
        lock_file(&self.root.join(format!("{name}.lock")))
    }
}

/// Takes an exclusive `flock` on `path`, creating it; it is released when the
/// returned value drops.
pub fn lock_file(path: &Path) -> Result<Flock<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(lock),
        Err((file, nix::errno::Errno::EWOULDBLOCK)) => {
            println!(
                "waiting for another xtask that holds {} to finish",
                path.display()
            );
            Flock::lock(file, FlockArg::LockExclusive)
                .map_err(|(_, errno)| errno)
                .with_context(|| format!("locking {}", path.display()))
        }
        Err((_, errno)) => Err(errno).with_context(|| format!("locking {}", path.display())),
    }
}

/// Takes an exclusive `flock` on `path` if nobody holds it, without waiting.
pub fn try_lock_file(path: &Path) -> Result<Option<Flock<File>>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening the lock file {}", path.display()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(errno).with_context(|| format!("locking {}", path.display())),
    }
}

/// Reads a small text file, or `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes `contents` to `path` through a temporary file and a rename, so that a
/// stamp is either complete or absent.
pub fn write_atomic(path: &Path, contents: &str) -> Result<()> {
    let temporary = with_suffix(path, ".tmp");
    fs::write(&temporary, contents).with_context(|| format!("writing {}", temporary.display()))?;
    fs::rename(&temporary, path)
        .with_context(|| format!("renaming {} to {}", temporary.display(), path.display()))
}

/// Appends `suffix` to the last component of `path`: `build-7.3.4-abc` becomes
/// `build-7.3.4-abc.lock`, where `with_extension` would cut at the last dot.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Removes a directory tree if it exists.
pub fn remove_dir_if_exists(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("removing {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_keeps_dotted_names() {
        assert_eq!(
            with_suffix(Path::new("/cache/linux/build-7.3.4-abc"), ".lock"),
            PathBuf::from("/cache/linux/build-7.3.4-abc.lock")
        );
    }
}
