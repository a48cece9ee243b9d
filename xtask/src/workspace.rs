//! Paths of the repository xtask runs in, and builds of the workspace's binaries.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::progress::{self, Phase};
use crate::toolchain::{MUSL_TARGET, Toolchains};

/// The static binaries the guest gets, by cargo package and binary name.
pub const GUEST_BINARIES: &[(&str, &str)] = &[
    ("vtty-ctl", "vtty-ctl"),
    ("vtty-top", "vtty-top"),
    ("vtty-tests", "vtty-guest-tests"),
];

/// The repository root and cargo's target directory.
pub struct Workspace {
    pub root: PathBuf,
    pub target: PathBuf,
}

impl Workspace {
    /// Finds the workspace this xtask binary was built from.
    pub fn locate() -> Result<Self> {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let Some(root) = manifest.parent() else {
            bail!("{} has no parent directory", manifest.display());
        };
        if !root.join("Cargo.toml").is_file() {
            bail!(
                "{} has no Cargo.toml; run xtask through `cargo xtask` inside the vtty repository",
                root.display()
            );
        }
        let target = match std::env::var_os("CARGO_TARGET_DIR").filter(|dir| !dir.is_empty()) {
            Some(dir) => root.join(dir),
            None => root.join("target"),
        };
        Ok(Self {
            root: root.to_path_buf(),
            target,
        })
    }

    pub fn driver_dir(&self) -> PathBuf {
        self.root.join("vtty-driver")
    }

    pub fn kernel_patches_dir(&self) -> PathBuf {
        self.driver_dir().join("kernel-patches")
    }

    pub fn kernel_fragment(&self) -> PathBuf {
        self.driver_dir().join("kernel.config")
    }

    /// Build outputs of the guest: driver objects, initramfs, console logs.
    pub fn guest_dir(&self) -> PathBuf {
        self.target.join("vtty-guest")
    }

    /// A cargo command run in the workspace root with the eBPF toolchain set.
    pub fn cargo(&self, toolchains: &Toolchains, args: &[&str]) -> Command {
        let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        command.args(args).current_dir(&self.root);
        toolchains.apply(&mut command);
        command
    }

    /// Builds the guest's binaries as static musl release executables and returns
    /// their paths by binary name.
    pub fn build_guest_binaries(&self, toolchains: &Toolchains) -> Result<Vec<(String, PathBuf)>> {
        let phase = Phase::start(format!(
            "building static {MUSL_TARGET} binaries for the guest"
        ));
        let mut args = vec!["build", "--release", "--target", MUSL_TARGET];
        for (package, _) in GUEST_BINARIES {
            args.extend(["--package", package]);
        }
        progress::run_inherited(&mut self.cargo(toolchains, &args))
            .context("building the guest's binaries")?;
        let dir = self.target.join(MUSL_TARGET).join("release");
        let mut binaries = Vec::new();
        for (_, binary) in GUEST_BINARIES {
            let path = dir.join(binary);
            if !path.is_file() {
                bail!(
                    "cargo built no {}; check the [[bin]] names of the workspace",
                    path.display()
                );
            }
            binaries.push(((*binary).to_owned(), path));
        }
        phase.done();
        Ok(binaries)
    }
}
