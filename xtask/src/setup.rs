//! `cargo xtask setup`: installs everything the other commands need, idempotently.
//! Every other command runs it first; with nothing missing it takes about a second.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::apt::{self, AltApt};
use crate::buildroot::BuildRoot;
use crate::cache::Cache;
use crate::kernel::Source;
use crate::progress;
use crate::toolchain::{self, Toolchains};

/// Host packages from bookworm: the guest's busybox, the build root's debootstrap,
/// and the tools that unpack and patch the kernel source.
const HOST_PACKAGES: &[&str] = &["busybox-static", "debootstrap", "patch", "xz-utils"];

/// The qemu packages that must come from bookworm-backports together. Bookworm's
/// own qemu 7.2 conflicts with the qemu-utils 10.x that this machine kind ships.
const QEMU_PACKAGES: &[&str] = &["qemu-system-x86", "qemu-system-common", "qemu-system-data"];

/// The lowest qemu major version the guest is run with.
const QEMU_MIN_MAJOR: u32 = 10;

/// Everything the build and the guest need, ready to use.
pub struct Setup {
    pub cache: Cache,
    pub buildroot: BuildRoot,
    pub toolchains: Toolchains,
    pub source: Source,
}

/// Installs what is missing and returns the ready parts.
pub fn run() -> Result<Setup> {
    let start = Instant::now();
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "xtask needs root: it installs packages, and builds the kernel in a chroot; run it as root"
        );
    }
    let cache = Cache::open()?;
    let mut alt = None;
    ensure_host_packages(&cache)?;
    ensure_qemu(&cache, &mut alt)?;
    let buildroot = BuildRoot::prepare(&cache)?;
    let toolchains = toolchain::prepare(&cache)?;
    let source = Source::prepare(&cache, &mut alt)?;
    println!(
        "setup: toolchains, qemu and Linux {} ready in {} (cache {})",
        source.kernel_version,
        progress::format_elapsed(start.elapsed()),
        cache.root.display()
    );
    Ok(Setup {
        cache,
        buildroot,
        toolchains,
        source,
    })
}

/// Returns the alternative apt configuration, preparing it on first use.
pub fn alt_apt<'a>(cache: &Cache, alt: &'a mut Option<AltApt>) -> Result<&'a AltApt> {
    if alt.is_none() {
        *alt = Some(AltApt::prepare(cache)?);
    }
    alt.as_ref()
        .context("the alternative apt configuration was not prepared")
}

fn ensure_host_packages(cache: &Cache) -> Result<()> {
    let mut missing = Vec::new();
    for package in HOST_PACKAGES {
        if apt::host_version(package)?.is_none() {
            missing.push((*package).to_owned());
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let _lock = cache.lock("apt")?;
    apt::host_install(cache, "build and guest tools", &missing)
}

/// Parses the upstream major version of a Debian qemu version such as
/// `1:10.0.2+ds-2+deb13u1~bpo12+1`.
fn qemu_major(version: &str) -> Option<u32> {
    let upstream = version.split_once(':').map_or(version, |(_, rest)| rest);
    upstream.split('.').next()?.parse().ok()
}

fn ensure_qemu(cache: &Cache, alt: &mut Option<AltApt>) -> Result<()> {
    let installed = apt::host_version("qemu-system-x86")?;
    if installed
        .as_deref()
        .and_then(qemu_major)
        .is_some_and(|major| major >= QEMU_MIN_MAJOR)
        && apt::host_version("seabios")?.is_some()
    {
        return Ok(());
    }

    let _lock = cache.lock("apt")?;
    let alt = alt_apt(cache, alt)?;
    let offers = alt.offers("qemu-system-x86")?;
    // Match an installed qemu-utils exactly, because its version pins the others.
    let utils = apt::host_version("qemu-utils")?;
    // `apt-cache madison` lists the newest version first.
    let backports = |offer: &&apt::Offer| offer.suite.starts_with("bookworm-backports/");
    let chosen = offers
        .iter()
        .filter(backports)
        .find(|offer| utils.as_deref().is_none_or(|utils| utils == offer.version))
        .or_else(|| offers.iter().find(backports))
        .filter(|offer| qemu_major(&offer.version).is_some_and(|major| major >= QEMU_MIN_MAJOR));
    let Some(chosen) = chosen else {
        bail!(
            "no qemu-system-x86 {QEMU_MIN_MAJOR}.x found in bookworm-backports; install qemu-system-x86 >= {QEMU_MIN_MAJOR} by hand"
        );
    };

    let seabios = alt.offers("seabios")?;
    let Some(seabios) = seabios
        .iter()
        .find(|offer| offer.suite.starts_with("bookworm-backports/"))
        .or_else(|| {
            seabios
                .iter()
                .find(|offer| offer.suite.starts_with("bookworm/"))
        })
    else {
        bail!("no seabios found in bookworm or bookworm-backports; install seabios by hand");
    };
    let mut specs: Vec<String> = QEMU_PACKAGES
        .iter()
        .map(|package| format!("{package}={}", chosen.version))
        .collect();
    specs.push(format!("seabios={}", seabios.version));

    let destination = cache.debs_dir().join("qemu");
    crate::cache::remove_dir_if_exists(&destination)?;
    alt.download(&specs, &destination)?;
    let debs = deb_files(&destination)?;
    apt::host_install(cache, &format!("qemu {}", chosen.version), &debs)
}

/// Lists the `.deb` files of a folder as `./`-style paths apt-get installs from.
fn deb_files(dir: &Path) -> Result<Vec<String>> {
    let mut debs = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("reading {}", dir.display()))?
            .path();
        if path.extension().is_some_and(|extension| extension == "deb") {
            debs.push(path.display().to_string());
        }
    }
    debs.sort();
    Ok(debs)
}

/// Prints every tool version in use, the host's and the build root's.
pub fn print_versions(setup: &Setup) -> Result<()> {
    println!("Host ({})", os_release());
    for package in [
        "qemu-system-x86",
        "seabios",
        "busybox-static",
        "debootstrap",
    ] {
        let version = apt::host_version(package)?.unwrap_or_else(|| "not installed".to_owned());
        println!("  {package:<26} {version}");
    }
    for (tool, version) in toolchain::versions(&setup.toolchains) {
        println!("  {tool:<26} {version}");
    }
    println!(
        "Kernel build root (Debian trixie, {})",
        setup.buildroot.root.display()
    );
    for (tool, version) in setup.buildroot.version_lines() {
        println!("  {tool:<26} {version}");
    }
    println!("Kernel source");
    println!(
        "  Linux {} from linux-source-7.3 {}",
        setup.source.kernel_version, setup.source.package_version
    );
    Ok(())
}

fn os_release() -> String {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("PRETTY_NAME="))
        .map(|name| name.trim_matches('"').to_owned())
        .unwrap_or_else(|| {
            progress::capture(Command::new("uname").arg("-sr"))
                .map(|text| text.trim().to_owned())
                .unwrap_or_default()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_major_with_epoch() {
        assert_eq!(qemu_major("1:10.0.2+ds-2+deb13u1~bpo12+1"), Some(10));
    }

    #[test]
    fn qemu_major_old() {
        assert_eq!(qemu_major("1:7.2+dfsg-7+deb12u13"), Some(7));
    }
}
