//! The guest kernel: Debian's `linux-source-7.3` (any 7.3.x), the vtty patch series,
//! tinyconfig plus the checked-in fragment, built with LLVM 19 inside the trixie
//! build root. Each build tree is keyed by a hash of everything that goes into it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use crate::apt::AltApt;
use crate::buildroot::{Bind, BuildRoot};
use crate::cache::{self, Cache};
use crate::kconfig;
use crate::progress::{self, Phase};
use crate::setup::{self, Setup};
use crate::workspace::Workspace;

/// The Debian package of the kernel source.
const SOURCE_PACKAGE: &str = "linux-source-7.3";

/// The upstream series every accepted source version starts with.
const SERIES_PREFIX: &str = "7.3.";

/// Mount points of the kernel source and the build output inside the build root.
/// They are fixed so that the paths kbuild records stay valid in every later build.
pub const SOURCE_INSIDE: &str = "/vtty/linux";
pub const OUTPUT_INSIDE: &str = "/vtty/linux-build";

/// Increases whenever the recipe below changes in a way that changes the kernel.
const RECIPE: &str = "vtty kernel recipe 1: tinyconfig + fragment, olddefconfig, make LLVM=-19 all";

/// Build trees kept besides the one in use: the most recently used ones.
const KEEP_TREES: usize = 3;

/// The unpacked, unpatched kernel source.
pub struct Source {
    /// The Debian package version, for example `7.3.4-1~bpo13+1`.
    pub package_version: String,
    /// The upstream version from the source's Makefile, for example `7.3.4`.
    pub kernel_version: String,
    pub tree: PathBuf,
}

impl Source {
    /// Downloads and unpacks the newest `linux-source-7.3` unless one is unpacked
    /// already; the version first unpacked stays in use, so that builds repeat.
    pub fn prepare(cache: &Cache, alt: &mut Option<AltApt>) -> Result<Self> {
        let dir = cache.linux_dir();
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let _lock = cache.lock("linux-source")?;
        let version_file = dir.join("source.version");
        let package_version = match cache::read_optional(&version_file)? {
            Some(version) if source_dir(&dir, version.trim()).join(".unpacked").exists() => {
                version.trim().to_owned()
            }
            _ => {
                let version = fetch(cache, alt)?;
                cache::write_atomic(&version_file, &version)?;
                version
            }
        };
        let tree = source_dir(&dir, &package_version).join(SOURCE_PACKAGE);
        let makefile = tree.join("Makefile");
        let text = fs::read_to_string(&makefile)
            .with_context(|| format!("reading {}", makefile.display()))?;
        let kernel_version = parse_makefile_version(&text).with_context(|| {
            format!(
                "{} has no VERSION, PATCHLEVEL and SUBLEVEL",
                makefile.display()
            )
        })?;
        if !kernel_version.starts_with(SERIES_PREFIX) {
            bail!(
                "{} is Linux {kernel_version}, not {SERIES_PREFIX}x; remove {} to fetch the source again",
                tree.display(),
                version_file.display()
            );
        }
        Ok(Self {
            package_version,
            kernel_version,
            tree,
        })
    }
}

fn source_dir(linux_dir: &Path, package_version: &str) -> PathBuf {
    linux_dir.join(format!("source-{}", package_version.replace(':', "_")))
}

/// Downloads the newest `linux-source-7.3` and unpacks its tarball; returns the
/// package version.
fn fetch(cache: &Cache, alt: &mut Option<AltApt>) -> Result<String> {
    let alt = setup::alt_apt(cache, alt)?;
    let offers = alt.offers(SOURCE_PACKAGE)?;
    // `apt-cache madison` lists the newest version first.
    let Some(offer) = offers.first() else {
        bail!("no {SOURCE_PACKAGE} package in bookworm-backports, trixie, trixie-backports or sid");
    };
    let version = offer.version.clone();
    let phase = Phase::start(format!(
        "fetching {SOURCE_PACKAGE} {version} from {}",
        offer.suite
    ));
    let linux_dir = cache.linux_dir();
    let debs = linux_dir.join("debs");
    cache::remove_dir_if_exists(&debs)?;
    alt.download(&[format!("{SOURCE_PACKAGE}={version}")], &debs)?;
    let deb = fs::read_dir(&debs)
        .with_context(|| format!("reading {}", debs.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .find(|path| path.extension().is_some_and(|extension| extension == "deb"))
        .with_context(|| format!("apt-get download left no .deb in {}", debs.display()))?;

    let target = source_dir(&linux_dir, &version);
    cache::remove_dir_if_exists(&target)?;
    let unpacked = target.join("deb");
    fs::create_dir_all(&unpacked).with_context(|| format!("creating {}", unpacked.display()))?;
    let log = linux_dir.join("source.log");
    progress::run_logged(
        "dpkg -x",
        Command::new("dpkg").arg("-x").arg(&deb).arg(&unpacked),
        &log,
    )?;
    let tarball = unpacked.join(format!("usr/src/{SOURCE_PACKAGE}.tar.xz"));
    progress::run_logged(
        "unpacking the kernel source",
        Command::new("tar")
            .arg("-xf")
            .arg(&tarball)
            .arg("-C")
            .arg(&target),
        &log,
    )?;
    cache::remove_dir_if_exists(&unpacked)?;
    cache::remove_dir_if_exists(&debs)?;
    cache::write_atomic(&target.join(".unpacked"), &version)?;
    phase.done();
    Ok(version)
}

/// Reads `VERSION.PATCHLEVEL.SUBLEVEL` from the top-level Makefile.
fn parse_makefile_version(text: &str) -> Option<String> {
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim_start().strip_prefix('='))
            .map(|value| value.trim().to_owned())
    };
    Some(format!(
        "{}.{}.{}",
        field("VERSION")?,
        field("PATCHLEVEL")?,
        field("SUBLEVEL")?
    ))
}

/// A built kernel tree.
pub struct Kernel {
    /// The hash of everything that went into the build, with the version in front.
    pub key: String,
    /// The patched source.
    pub source: PathBuf,
    /// The kbuild output directory (`O=`), where external modules are built against.
    pub output: PathBuf,
    pub bzimage: PathBuf,
    /// The kernel's Rust sample module `rust_minimal.ko`.
    pub rust_minimal: PathBuf,
}

impl Kernel {
    /// Returns the bind mounts that show this tree at the fixed paths inside the
    /// build root.
    pub fn binds(&self) -> Vec<Bind> {
        vec![
            Bind {
                host: self.source.clone(),
                inside: SOURCE_INSIDE,
            },
            Bind {
                host: self.output.clone(),
                inside: OUTPUT_INSIDE,
            },
        ]
    }
}

/// Returns the make invocation every kernel and module build uses inside the build
/// root.
pub fn make_command(jobs: usize) -> Vec<String> {
    vec![
        "make".to_owned(),
        format!("-j{jobs}"),
        "LLVM=-19".to_owned(),
        "KBUILD_BUILD_USER=vtty".to_owned(),
        "KBUILD_BUILD_HOST=xtask".to_owned(),
    ]
}

/// Returns the number of parallel make jobs: one per online CPU.
pub fn jobs() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Inputs of a kernel build, hashed into its key.
struct Inputs {
    patches: Vec<(String, Vec<u8>)>,
    fragment: String,
}

impl Inputs {
    fn read(workspace: &Workspace) -> Result<Self> {
        let fragment_path = workspace.kernel_fragment();
        let fragment = fs::read_to_string(&fragment_path).with_context(|| {
            format!(
                "reading the kernel config fragment {}",
                fragment_path.display()
            )
        })?;
        let mut patches = Vec::new();
        let dir = workspace.kernel_patches_dir();
        if dir.is_dir() {
            for entry in fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
                let path = entry
                    .with_context(|| format!("reading {}", dir.display()))?
                    .path();
                if path
                    .extension()
                    .is_some_and(|extension| extension == "patch")
                {
                    let name = path
                        .file_name()
                        .map(|name| name.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let contents =
                        fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                    patches.push((name, contents));
                }
            }
        }
        patches.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self { patches, fragment })
    }

    fn key(&self, source: &Source, toolchain_versions: &str) -> String {
        let mut hash = Sha256::new();
        let mut field = |name: &str, bytes: &[u8]| {
            hash.update(name.as_bytes());
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        field("recipe", RECIPE.as_bytes());
        field("source", source.package_version.as_bytes());
        field("toolchain", toolchain_versions.as_bytes());
        field("fragment", self.fragment.as_bytes());
        for (name, contents) in &self.patches {
            field("patch-name", name.as_bytes());
            field("patch", contents);
        }
        let digest = hash.finalize();
        let hex: String = digest
            .iter()
            .take(8)
            .map(|byte| format!("{byte:02x}"))
            .collect();
        format!("{}-{hex}", source.kernel_version)
    }
}

/// Builds the kernel for the current inputs, or returns the cached build.
pub fn build(setup: &Setup, workspace: &Workspace) -> Result<Kernel> {
    let inputs = Inputs::read(workspace)?;
    let fragment_name = "vtty-driver/kernel.config";
    let settings = kconfig::parse_fragment(&inputs.fragment, fragment_name)?;
    let key = inputs.key(&setup.source, &setup.buildroot.versions);

    let linux_dir = setup.cache.linux_dir();
    let dir = linux_dir.join(format!("build-{key}"));
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let _lock = cache::lock_file(&cache::with_suffix(&dir, ".lock"))?;
    let kernel = Kernel {
        key: key.clone(),
        source: dir.join("src"),
        output: dir.join("build"),
        bzimage: dir.join("build/arch/x86/boot/bzImage"),
        rust_minimal: dir.join("build/samples/rust/rust_minimal.ko"),
    };

    let built = dir.join("built.ok");
    if built.exists() {
        println!("kernel: Linux {key} is built ({})", dir.display());
    } else {
        let log = dir.join("build.log");
        prepare_source(setup, &inputs, &dir, &kernel, &log)?;
        configure(
            &setup.buildroot,
            &kernel,
            &inputs.fragment,
            &settings,
            fragment_name,
            &dir,
            &log,
        )?;
        let phase = Phase::start(format!(
            "building Linux {key} with {} jobs (log: {})",
            jobs(),
            log.display()
        ));
        let mut argv = make_command(jobs());
        argv.extend([
            "-C".to_owned(),
            SOURCE_INSIDE.to_owned(),
            format!("O={OUTPUT_INSIDE}"),
            "all".to_owned(),
        ]);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        progress::run_logged(
            "make",
            &mut setup.buildroot.command(&argv, &kernel.binds())?,
            &log,
        )?;
        for artefact in [&kernel.bzimage, &kernel.rust_minimal] {
            if !artefact.is_file() {
                bail!(
                    "the kernel build finished without {}; see {}",
                    artefact.display(),
                    log.display()
                );
            }
        }
        cache::write_atomic(&built, &key)?;
        phase.done();
    }

    cache::write_atomic(&dir.join("last-used"), "")?;
    prune(&linux_dir, &dir)?;
    Ok(kernel)
}

/// Copies the unpacked source and applies the patch series in name order.
fn prepare_source(
    setup: &Setup,
    inputs: &Inputs,
    dir: &Path,
    kernel: &Kernel,
    log: &Path,
) -> Result<()> {
    let stamp = dir.join("src.ok");
    if stamp.exists() {
        return Ok(());
    }
    let phase = Phase::start(format!(
        "preparing the kernel source: Linux {} plus {} patches",
        setup.source.kernel_version,
        inputs.patches.len()
    ));
    cache::remove_dir_if_exists(&kernel.source)?;
    cache::remove_dir_if_exists(&kernel.output)?;

    progress::run_logged(
        "copying the kernel source",
        Command::new("cp")
            .args(["-a", "--reflink=auto"])
            .arg(&setup.source.tree)
            .arg(&kernel.source),
        log,
    )?;
    for (name, contents) in &inputs.patches {
        let path = dir.join("patch.tmp");
        fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
        progress::run_logged(
            &format!("applying {name}"),
            Command::new("patch")
                .args(["-p1", "--forward", "--batch", "-d"])
                .arg(&kernel.source)
                .arg("-i")
                .arg(&path),
            log,
        )
        .with_context(|| {
            format!(
                "vtty-driver/kernel-patches/{name} does not apply to Linux {}",
                setup.source.kernel_version
            )
        })?;
    }
    let _ = fs::remove_file(dir.join("patch.tmp"));

    fs::create_dir_all(&kernel.output)
        .with_context(|| format!("creating {}", kernel.output.display()))?;
    cache::write_atomic(&stamp, "")?;
    phase.done();
    Ok(())
}

/// Runs tinyconfig, adds the fragment, resolves it with olddefconfig and checks that
/// every fragment line survived.
fn configure(
    buildroot: &BuildRoot,
    kernel: &Kernel,
    fragment: &str,
    settings: &[kconfig::Setting],
    fragment_name: &str,
    dir: &Path,
    log: &Path,
) -> Result<()> {
    let resolved_copy = dir.join("config");
    if resolved_copy.exists() {
        return Ok(());
    }
    let phase = Phase::start("configuring: tinyconfig + vtty-driver/kernel.config");
    let make = |target: &str| -> Result<()> {
        let mut argv = make_command(1);
        argv.extend([
            "-C".to_owned(),
            SOURCE_INSIDE.to_owned(),
            format!("O={OUTPUT_INSIDE}"),
            target.to_owned(),
        ]);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        progress::run_logged(
            &format!("make {target}"),
            &mut buildroot.command(&argv, &kernel.binds())?,
            log,
        )
    };
    make("rustavailable").context(
        "the build root's Rust toolchain does not satisfy this kernel; the log above names the missing piece",
    )?;
    make("tinyconfig")?;
    let config_path = kernel.output.join(".config");
    let mut config = fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    config.push_str("\n# vtty-driver/kernel.config\n");
    config.push_str(fragment);
    fs::write(&config_path, config)
        .with_context(|| format!("writing {}", config_path.display()))?;
    make("olddefconfig")?;
    let resolved = fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let problems = kconfig::unmet(settings, &kconfig::parse_config(&resolved), fragment_name);
    if !problems.is_empty() {
        bail!(
            "{} line(s) of {fragment_name} did not survive olddefconfig (a dependency is missing or \
             the symbol does not exist in this kernel):\n  {}\nthe resolved config is {}",
            problems.len(),
            problems.join("\n  "),
            config_path.display()
        );
    }
    fs::copy(&config_path, &resolved_copy)
        .with_context(|| format!("copying {}", config_path.display()))?;
    phase.done();
    Ok(())
}

/// Deletes kernel build trees beyond the most recently used ones; trees used in the
/// last day stay, since another worktree may be using them.
fn prune(linux_dir: &Path, current: &Path) -> Result<()> {
    let mut trees = Vec::new();
    for entry in
        fs::read_dir(linux_dir).with_context(|| format!("reading {}", linux_dir.display()))?
    {
        let path = entry
            .with_context(|| format!("reading {}", linux_dir.display()))?
            .path();
        let is_tree = path.is_dir()
            && path
                .file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("build-"));
        if !is_tree || path == current {
            continue;
        }
        let used = fs::metadata(path.join("last-used"))
            .and_then(|meta| meta.modified())
            .unwrap_or(std::time::SystemTime::UNIX_EPOCH);
        trees.push((used, path));
    }
    trees.sort_by_key(|(used, _)| std::cmp::Reverse(*used));
    let day = std::time::Duration::from_secs(24 * 60 * 60);
    for (used, path) in trees.into_iter().skip(KEEP_TREES) {
        let recent = used.elapsed().is_ok_and(|age| age < day);
        if recent {
            continue;
        }
        let lock_path = cache::with_suffix(&path, ".lock");
        let Some(_lock) = cache::try_lock_file(&lock_path)? else {
            continue;
        };
        println!("kernel: removing the unused build tree {}", path.display());
        cache::remove_dir_if_exists(&path)?;
        let _ = fs::remove_file(&lock_path);
    }
    Ok(())
}
