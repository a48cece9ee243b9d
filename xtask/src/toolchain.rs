//! Rust toolchains for user space and eBPF: the musl target for the guest's static
//! binaries, a nightly with `rust-src` for `-Z build-std=core`, and `bpf-linker`
//! built against that nightly's own libLLVM.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cache::{self, Cache};
use crate::progress::{self, Phase};

/// The target of the guest's static binaries.
pub const MUSL_TARGET: &str = "x86_64-unknown-linux-musl";

/// The nightly that builds the eBPF programs. aya-ebpf 0.2.1 and bpf-linker 0.13.0
/// build with it (LLVM 22); newer nightlies may move to an LLVM that bpf-linker
/// 0.13.0 has no feature for. `AYA_EBPF_TOOLCHAIN` overrides it.
const PINNED_NIGHTLY: &str = "nightly-2026-05-20";

/// The bpf-linker release, the newest that builds with rustc 1.95.
const BPF_LINKER_VERSION: &str = "0.13.0";

/// The environment variable vtty-ctl's build script reads for the eBPF toolchain.
pub const EBPF_TOOLCHAIN_ENV: &str = "AYA_EBPF_TOOLCHAIN";

/// The toolchain set used by every cargo command xtask runs.
pub struct Toolchains {
    /// The rustup name of the eBPF nightly.
    pub ebpf: String,
    /// `$CARGO_HOME/bin`, where `bpf-linker` lives.
    pub cargo_bin: PathBuf,
}

impl Toolchains {
    /// Sets the environment a cargo build of the workspace needs: the eBPF toolchain
    /// and `bpf-linker` on `PATH`.
    pub fn apply(&self, command: &mut Command) {
        command.env(EBPF_TOOLCHAIN_ENV, &self.ebpf);
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.cargo_bin.clone()];
        paths.extend(std::env::split_paths(&path));
        if let Ok(joined) = std::env::join_paths(paths) {
            command.env("PATH", joined);
        }
    }
}

/// Installs what is missing: the musl target, the eBPF nightly with `rust-src`, and
/// a `bpf-linker` linked to that nightly's libLLVM.
pub fn prepare(cache: &Cache) -> Result<Toolchains> {
    let _lock = cache.lock("toolchain")?;
    ensure_musl_target()?;
    let ebpf = ensure_ebpf_nightly()?;
    let cargo_bin = cargo_home()?.join("bin");
    ensure_bpf_linker(cache, &ebpf, &cargo_bin)?;
    Ok(Toolchains { ebpf, cargo_bin })
}

fn cargo_home() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("CARGO_HOME").filter(|home| !home.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    match std::env::var_os("HOME").filter(|home| !home.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".cargo")),
        None => bail!("neither CARGO_HOME nor HOME is set; set CARGO_HOME to cargo's directory"),
    }
}

fn rustup() -> Command {
    let mut command = Command::new("rustup");
    // The proxy that started xtask exports the toolchain it chose; a rustup call for
    // another toolchain must not inherit it.
    command.env_remove("RUSTUP_TOOLCHAIN");
    command
}

fn ensure_musl_target() -> Result<()> {
    let installed = progress::capture(rustup().args(["target", "list", "--installed"]))
        .context("listing rustup targets; is rustup installed?")?;
    if installed.lines().any(|line| line.trim() == MUSL_TARGET) {
        return Ok(());
    }
    let phase = Phase::start(format!("adding the Rust target {MUSL_TARGET}"));
    progress::run_inherited(rustup().args(["target", "add", MUSL_TARGET]))
        .with_context(|| format!("installing the Rust target {MUSL_TARGET}"))?;
    phase.done();
    Ok(())
}

/// Returns the installed toolchain names, without the host triple suffix.
fn installed_toolchains() -> Result<Vec<String>> {
    let text = progress::capture(rustup().args(["toolchain", "list"]))?;
    Ok(text
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(|name| {
            name.trim_end_matches("-x86_64-unknown-linux-gnu")
                .to_owned()
        })
        .collect())
}

/// Returns the sysroot of a rustup toolchain.
fn sysroot(toolchain: &str) -> Result<PathBuf> {
    let text = progress::capture(rustup().args(["run", toolchain, "rustc", "--print", "sysroot"]))
        .with_context(|| format!("finding the sysroot of the toolchain {toolchain}"))?;
    Ok(PathBuf::from(text.trim()))
}

/// Reads the date of a toolchain from its channel manifest.
fn manifest_date(sysroot: &Path) -> Option<String> {
    let text =
        fs::read_to_string(sysroot.join("lib/rustlib/multirust-channel-manifest.toml")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("date = "))
        .map(|date| date.trim_matches('"').to_owned())
}

fn ensure_ebpf_nightly() -> Result<String> {
    let installed = installed_toolchains()?;
    let name = match std::env::var(EBPF_TOOLCHAIN_ENV) {
        Ok(name) if !name.is_empty() => name,
        _ => {
            let pinned_date = PINNED_NIGHTLY.trim_start_matches("nightly-");
            let plain_nightly_matches = installed.iter().any(|name| name == "nightly")
                && sysroot("nightly")
                    .ok()
                    .and_then(|root| manifest_date(&root))
                    .is_some_and(|date| date == pinned_date);
            if plain_nightly_matches && !installed.iter().any(|name| name == PINNED_NIGHTLY) {
                // The channel toolchain is the pinned build; reuse it instead of
                // downloading the same nightly a second time.
                "nightly".to_owned()
            } else {
                PINNED_NIGHTLY.to_owned()
            }
        }
    };
    if !installed.contains(&name) {
        let phase = Phase::start(format!(
            "installing the Rust toolchain {name} with rust-src"
        ));
        progress::run_inherited(rustup().args([
            "toolchain",
            "install",
            &name,
            "--profile",
            "minimal",
            "--component",
            "rust-src",
        ]))
        .with_context(|| format!("installing the eBPF toolchain {name}"))?;
        phase.done();
    }
    let components = progress::capture(rustup().args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        &name,
    ]))?;
    if !components.lines().any(|line| line.trim() == "rust-src") {
        let phase = Phase::start(format!("adding rust-src to {name}"));
        progress::run_inherited(rustup().args([
            "component",
            "add",
            "rust-src",
            "--toolchain",
            &name,
        ]))
        .with_context(|| format!("adding rust-src to the toolchain {name}"))?;
        phase.done();
    }
    Ok(name)
}

/// The toolchain's libLLVM file name and LLVM major version.
fn toolchain_llvm(toolchain: &str) -> Result<(PathBuf, String)> {
    let root = sysroot(toolchain)?;
    let lib = root.join("lib");
    let entries = fs::read_dir(&lib).with_context(|| format!("reading {}", lib.display()))?;
    let mut library = None;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", lib.display()))?;
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with("libLLVM.so.") && file_name.contains("-rust-") {
            library = Some(entry.path());
        }
    }
    let Some(library) = library else {
        bail!(
            "no libLLVM.so.*-rust-* in {}; the toolchain {toolchain} has no shared LLVM to link bpf-linker against",
            lib.display()
        );
    };
    let verbose = progress::capture(rustup().args(["run", toolchain, "rustc", "-vV"]))?;
    let Some(major) = parse_llvm_major(&verbose) else {
        bail!("`rustc -vV` of {toolchain} printed no LLVM version");
    };
    Ok((library, major))
}

/// Extracts the major version from the `LLVM version: 22.1.4` line of `rustc -vV`.
fn parse_llvm_major(verbose: &str) -> Option<String> {
    verbose
        .lines()
        .find_map(|line| line.strip_prefix("LLVM version: "))
        .and_then(|version| version.trim().split('.').next())
        .filter(|major| !major.is_empty() && major.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_owned)
}

fn ensure_bpf_linker(cache: &Cache, toolchain: &str, cargo_bin: &Path) -> Result<()> {
    let (library, major) = toolchain_llvm(toolchain)?;
    let prefix_lib = cache.llvm_prefix_dir().join("lib");
    let stamp_path = cache.root.join("bpf-linker.stamp");
    let stamp = format!(
        "bpf-linker {BPF_LINKER_VERSION} llvm-{major} {}\n",
        library.display()
    );
    let binary = cargo_bin.join("bpf-linker");
    let runs = Command::new(&binary)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success());
    if runs && cache::read_optional(&stamp_path)?.as_deref() == Some(stamp.as_str()) {
        return Ok(());
    }

    let phase = Phase::start(format!(
        "building bpf-linker {BPF_LINKER_VERSION} against the libLLVM {major} of {toolchain}"
    ));
    // bpf-linker's build script links `$LLVM_PREFIX/lib/libLLVM.so` and records that
    // folder as the binary's run path, where it then loads the versioned name.
    cache::remove_dir_if_exists(&prefix_lib)?;
    fs::create_dir_all(&prefix_lib)
        .with_context(|| format!("creating {}", prefix_lib.display()))?;
    let Some(file_name) = library.file_name() else {
        bail!("{} has no file name", library.display());
    };
    for link in [prefix_lib.join("libLLVM.so"), prefix_lib.join(file_name)] {
        std::os::unix::fs::symlink(&library, &link)
            .with_context(|| format!("linking {} to {}", link.display(), library.display()))?;
    }
    let log = cache.root.join("bpf-linker.log");
    let mut install = Command::new("cargo");
    install
        .env_remove("RUSTUP_TOOLCHAIN")
        .env("LLVM_PREFIX", cache.llvm_prefix_dir())
        .args([
            "install",
            "--locked",
            "--force",
            "bpf-linker",
            "--version",
            BPF_LINKER_VERSION,
        ])
        .args([
            "--no-default-features",
            "--features",
            &format!("llvm-{major}"),
        ]);
    progress::run_logged("cargo install bpf-linker", &mut install, &log).with_context(|| {
        format!(
            "bpf-linker {BPF_LINKER_VERSION} did not build with LLVM {major}; if it has no llvm-{major} \
             feature, set {EBPF_TOOLCHAIN_ENV} to a nightly with an LLVM it supports"
        )
    })?;
    cache::write_atomic(&stamp_path, &stamp)?;
    phase.done();
    Ok(())
}

/// `--version` lines of the Rust tools in use.
pub fn versions(toolchains: &Toolchains) -> Vec<(String, String)> {
    let first_line = |command: &mut Command| {
        progress::capture(command)
            .map(|text| text.lines().next().unwrap_or_default().trim().to_owned())
            .unwrap_or_else(|error| format!("unavailable: {error:#}"))
    };
    vec![
        (
            "rustc (user space)".to_owned(),
            first_line(Command::new("rustc").arg("--version")),
        ),
        (
            "cargo".to_owned(),
            first_line(Command::new("cargo").arg("--version")),
        ),
        (
            format!("rustc (eBPF, {})", toolchains.ebpf),
            first_line(rustup().args(["run", &toolchains.ebpf, "rustc", "--version"])),
        ),
        (
            "bpf-linker".to_owned(),
            first_line(Command::new(toolchains.cargo_bin.join("bpf-linker")).arg("--version")),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llvm_major_from_rustc() {
        let text = "rustc 1.97.0-nightly\nhost: x86_64-unknown-linux-gnu\nLLVM version: 22.1.4\n";
        assert_eq!(parse_llvm_major(text).as_deref(), Some("22"));
    }

    #[test]
    fn llvm_major_missing() {
        assert_eq!(parse_llvm_major("rustc 1.95.0\n"), None);
    }
}
