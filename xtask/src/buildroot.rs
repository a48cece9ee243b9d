//! The kernel build root: a Debian trixie tree made with `debootstrap`, holding the
//! LLVM 19, Rust 1.85 and pahole toolchain that Linux 7.3 needs (bookworm's are too
//! old). Commands run inside it through `chroot` in a private mount namespace, so
//! the mounts they need vanish with the process.

use std::ffi::{CStr, CString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use nix::mount::{MsFlags, mount};
use nix::sched::{CloneFlags, unshare};

use crate::apt;
use crate::cache::{self, Cache};
use crate::progress::{self, Phase};

/// The Debian suite of the build root.
const SUITE: &str = "trixie";

/// Packages installed in the build root. Changing this list installs the new ones
/// into the existing root.
const PACKAGES: &[&str] = &[
    "bc",
    "bindgen",
    "bison",
    "clang-19",
    "cpio",
    "flex",
    "libc6-dev",
    "libclang-19-dev",
    "libelf-dev",
    "libssl-dev",
    "lld-19",
    "llvm-19",
    "lz4",
    "make",
    "pahole",
    "python3",
    "rust-src",
    "rustc",
    "rustfmt",
    "xz-utils",
];

/// Commands whose `--version` output identifies the toolchain; it goes into the
/// kernel build key.
const VERSION_COMMANDS: &[&[&str]] = &[
    &["clang-19", "--version"],
    &["ld.lld-19", "--version"],
    &["rustc", "--version"],
    &["bindgen", "--version"],
    &["pahole", "--version"],
    &["make", "--version"],
];

/// A directory of the host made visible inside the build root.
pub struct Bind {
    pub host: PathBuf,
    /// Absolute path inside the build root.
    pub inside: &'static str,
}

/// The trixie build root.
pub struct BuildRoot {
    pub root: PathBuf,
    /// `--version` output of the toolchain inside, one tool after another.
    pub versions: String,
}

impl BuildRoot {
    /// Creates or completes the build root and returns it.
    pub fn prepare(cache: &Cache) -> Result<Self> {
        let _lock = cache.lock("buildroot")?;
        let dir = cache.buildroot_dir();
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let root = dir.join(SUITE);
        let bootstrapped = dir.join(format!("{SUITE}.bootstrapped"));
        let installed = dir.join(format!("{SUITE}.packages"));
        let versions_path = dir.join(format!("{SUITE}.versions"));
        let log = dir.join(format!("{SUITE}.log"));

        if !bootstrapped.exists() {
            bootstrap(&root, &log)?;
            cache::write_atomic(&bootstrapped, "")?;
            let _ = fs::remove_file(&installed);
        }
        let wanted = PACKAGES.join("\n");
        let mut build_root = Self {
            root,
            versions: String::new(),
        };
        if cache::read_optional(&installed)?.as_deref() != Some(wanted.as_str()) {
            build_root.install_packages(&log)?;
            cache::write_atomic(&installed, &wanted)?;
            let _ = fs::remove_file(&versions_path);
        }
        build_root.versions = match cache::read_optional(&versions_path)? {
            Some(text) => text,
            None => {
                let text = build_root.query_versions()?;
                cache::write_atomic(&versions_path, &text)?;
                text
            }
        };
        Ok(build_root)
    }

    fn install_packages(&self, log: &Path) -> Result<()> {
        let phase = Phase::start(format!(
            "installing the kernel toolchain into the {SUITE} build root"
        ));
        copy_resolv_conf(&self.root)?;
        progress::run_logged(
            "apt-get update (build root)",
            &mut self.command(&["apt-get", "update"], &[])?,
            log,
        )?;
        let mut install = vec!["apt-get", "install", "-y", "--no-install-recommends"];
        install.extend_from_slice(PACKAGES);
        progress::run_logged(
            "apt-get install (build root)",
            &mut self.command(&install, &[])?,
            log,
        )?;
        phase.done();
        Ok(())
    }

    fn query_versions(&self) -> Result<String> {
        let mut text = String::new();
        for argv in VERSION_COMMANDS {
            let output = progress::capture(&mut self.command(argv, &[])?).with_context(|| {
                format!("{} in the build root {}", argv[0], self.root.display())
            })?;
            text.push_str(output.lines().next().unwrap_or_default().trim());
            text.push('\n');
        }
        Ok(text)
    }

    /// Pairs each toolchain command with the first line of its `--version` output.
    pub fn version_lines(&self) -> Vec<(&'static str, &str)> {
        VERSION_COMMANDS
            .iter()
            .map(|argv| argv[0])
            .zip(self.versions.lines())
            .collect()
    }

    /// Builds a command that runs `argv` inside the build root with `/proc` mounted,
    /// the host's `/dev` bound, and `binds` bound at their inside paths, which it
    /// creates. The working directory is `/`.
    pub fn command(&self, argv: &[&str], binds: &[Bind]) -> Result<Command> {
        create_mount_points(&self.root, binds)?;
        let mut command = Command::new(argv[0]);
        command.args(&argv[1..]);
        command.env_clear();
        command.env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        command.env("HOME", "/root");
        command.env("LC_ALL", "C.UTF-8");
        command.env("DEBIAN_FRONTEND", "noninteractive");

        let entry = ChrootEntry::new(&self.root, binds);
        // SAFETY: the closure runs in the forked child before exec. It only calls
        // unshare, mount, chroot and chdir, which are async-signal-safe system calls,
        // on C strings built before the fork. It allocates nothing, because nix passes
        // a `&CStr` straight to the system call. So it cannot deadlock on a lock that
        // another thread of the parent held at the fork.
        unsafe {
            command.pre_exec(move || entry.enter().map_err(std::io::Error::from));
        }
        Ok(command)
    }
}

/// Paths prepared before the fork for entering the build root.
struct ChrootEntry {
    root: CString,
    proc_dir: CString,
    dev_dir: CString,
    host_dev: CString,
    binds: Vec<(CString, CString)>,
}

impl ChrootEntry {
    fn new(root: &Path, binds: &[Bind]) -> Self {
        let c_path = |path: &Path| CString::new(path.as_os_str().as_bytes()).unwrap_or_default();
        Self {
            root: c_path(root),
            proc_dir: c_path(&root.join("proc")),
            dev_dir: c_path(&root.join("dev")),
            host_dev: c_path(Path::new("/dev")),
            binds: binds
                .iter()
                .map(|bind| {
                    let inside = root.join(bind.inside.trim_start_matches('/'));
                    (c_path(&bind.host), c_path(&inside))
                })
                .collect(),
        }
    }

    fn enter(&self) -> nix::Result<()> {
        unshare(CloneFlags::CLONE_NEWNS)?;
        mount(
            None::<&CStr>,
            c"/",
            None::<&CStr>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&CStr>,
        )?;
        mount(
            Some(c"proc"),
            self.proc_dir.as_c_str(),
            Some(c"proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&CStr>,
        )?;
        mount(
            Some(self.host_dev.as_c_str()),
            self.dev_dir.as_c_str(),
            None::<&CStr>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&CStr>,
        )?;
        for (host, inside) in &self.binds {
            mount(
                Some(host.as_c_str()),
                inside.as_c_str(),
                None::<&CStr>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&CStr>,
            )?;
        }
        nix::unistd::chroot(self.root.as_c_str())?;
        nix::unistd::chdir(c"/")
    }
}

/// Creates the mount points of `binds` inside the build root.
fn create_mount_points(root: &Path, binds: &[Bind]) -> Result<()> {
    for bind in binds {
        let inside = root.join(bind.inside.trim_start_matches('/'));
        fs::create_dir_all(&inside).with_context(|| format!("creating {}", inside.display()))?;
        if !bind.host.is_dir() {
            bail!(
                "{} is not a directory; it cannot be bound into the build root",
                bind.host.display()
            );
        }
    }
    Ok(())
}

fn copy_resolv_conf(root: &Path) -> Result<()> {
    let target = root.join("etc/resolv.conf");
    // debootstrap may leave a symlink here; replace it with the host's file.
    let _ = fs::remove_file(&target);
    fs::copy("/etc/resolv.conf", &target)
        .with_context(|| format!("copying /etc/resolv.conf to {}", target.display()))?;
    Ok(())
}

fn bootstrap(root: &Path, log: &Path) -> Result<()> {
    let archive = apt::system_archive()?;
    let phase = Phase::start(format!(
        "creating the {SUITE} build root with debootstrap at {}",
        root.display()
    ));
    cache::remove_dir_if_exists(root)?;
    progress::run_logged(
        "debootstrap",
        Command::new("debootstrap")
            .arg("--variant=minbase")
            .arg(format!("--keyring={}", archive.keyring))
            .arg(SUITE)
            .arg(root)
            .arg(&archive.uri),
        log,
    )?;
    phase.done();
    Ok(())
}
