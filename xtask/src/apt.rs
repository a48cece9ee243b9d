//! Debian packages: the host's own apt (bookworm), and a second apt configuration in
//! the cache that also sees bookworm-backports, trixie, trixie-backports and sid,
//! used only to download packages without changing the system's sources.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};

use crate::cache::{self, Cache};
use crate::progress::{self, Phase};

/// The system's deb822 source list, read for the archive address.
const SYSTEM_SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";

/// The one-line-style source list, the fallback when the deb822 file is absent.
const SYSTEM_SOURCES_LIST: &str = "/etc/apt/sources.list";

/// The suites the alternative configuration lists.
const ALT_SUITES: &[&str] = &[
    "bookworm",
    "bookworm-backports",
    "trixie",
    "trixie-backports",
    "sid",
];

/// Package lists older than this are downloaded again.
const ALT_LISTS_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Waiting time for the dpkg lock when another apt runs.
const DPKG_LOCK_TIMEOUT: &str = "DPkg::Lock::Timeout=600";

/// The Debian archive the host uses and the keyring that signs it.
#[derive(Debug, PartialEq, Eq)]
pub struct Archive {
    pub uri: String,
    pub keyring: String,
}

/// Returns the installed version of a host package, or `None` when it is not
/// installed.
pub fn host_version(package: &str) -> Result<Option<String>> {
    let output = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev}|${Version}", package])
        .output()
        .context("running dpkg-query; is this a Debian system?")?;
    if !output.status.success() {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let Some((status, version)) = text.split_once('|') else {
        return Ok(None);
    };
    Ok(status.starts_with("ii").then(|| version.trim().to_owned()))
}

/// Installs host packages with the system's apt: names from bookworm, or paths of
/// downloaded `.deb` files whose dependencies come from bookworm.
pub fn host_install(cache: &Cache, what: &str, packages: &[String]) -> Result<()> {
    let names: Vec<&str> = packages
        .iter()
        .map(|package| package.rsplit('/').next().unwrap_or(package))
        .collect();
    let phase = Phase::start(format!(
        "installing {what} on the host: {}",
        names.join(" ")
    ));
    let log = cache.root.join("apt-host.log");
    progress::run_logged(
        "apt-get update",
        Command::new("apt-get")
            .args(["-o", DPKG_LOCK_TIMEOUT, "update"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
        &log,
    )?;
    progress::run_logged(
        "apt-get install",
        Command::new("apt-get")
            .args([
                "-o",
                DPKG_LOCK_TIMEOUT,
                "install",
                "-y",
                "--no-install-recommends",
            ])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
        &log,
    )
    .with_context(|| {
        format!(
            "installing {what}: apt-get could not install {}",
            packages.join(" ")
        )
    })?;
    phase.done();
    Ok(())
}

/// Reads the archive address and keyring from the host's apt sources.
pub fn system_archive() -> Result<Archive> {
    let deb822 = cache::read_optional(Path::new(SYSTEM_SOURCES))?;
    if let Some(archive) = deb822.as_deref().and_then(parse_deb822_archive) {
        return Ok(archive);
    }
    let one_line = cache::read_optional(Path::new(SYSTEM_SOURCES_LIST))?;
    if let Some(archive) = one_line.as_deref().and_then(parse_one_line_archive) {
        return Ok(archive);
    }
    bail!(
        "no Debian bookworm archive found in {SYSTEM_SOURCES} or {SYSTEM_SOURCES_LIST}; \
         add a bookworm source to apt"
    )
}

/// Finds the first stanza of a deb822 source file that lists a `bookworm` suite.
fn parse_deb822_archive(text: &str) -> Option<Archive> {
    for stanza in text.split("\n\n") {
        let mut uri = None;
        let mut keyring = None;
        let mut bookworm = false;
        for line in stanza.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            match key.trim() {
                "URIs" => uri = value.split_whitespace().next().map(str::to_owned),
                "Signed-By" => keyring = Some(value.trim().to_owned()),
                "Suites" => bookworm = value.split_whitespace().any(|suite| suite == "bookworm"),
                _ => {}
            }
        }
        if let (true, Some(uri)) = (bookworm, uri) {
            let keyring = keyring
                .filter(|path| path.starts_with('/'))
                .unwrap_or_else(|| DEFAULT_KEYRING.to_owned());
            return Some(Archive { uri, keyring });
        }
    }
    None
}

/// The keyring of Debian's archive signing keys.
const DEFAULT_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// Finds a `deb URI bookworm ...` line of a one-line-style source list.
fn parse_one_line_archive(text: &str) -> Option<Archive> {
    text.lines().find_map(|line| {
        let mut words = line
            .split_whitespace()
            .filter(|word| !word.starts_with('['));
        if words.next()? != "deb" {
            return None;
        }
        let uri = words.next()?;
        (words.next()? == "bookworm").then(|| Archive {
            uri: uri.to_owned(),
            keyring: DEFAULT_KEYRING.to_owned(),
        })
    })
}

/// One version of a package as `apt-cache madison` lists it.
#[derive(Debug, PartialEq, Eq)]
pub struct Offer {
    pub version: String,
    /// The suite and component, for example `bookworm-backports/main`.
    pub suite: String,
}

/// Parses `apt-cache madison` output: `name | version | uri suite/component arch`.
pub fn parse_madison(text: &str) -> Vec<Offer> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('|').map(str::trim);
            let _name = fields.next()?;
            let version = fields.next()?;
            let source = fields.next()?;
            let suite = source.split_whitespace().nth(1)?;
            Some(Offer {
                version: version.to_owned(),
                suite: suite.to_owned(),
            })
        })
        .filter(|offer| !offer.suite.is_empty())
        .collect()
}

/// The alternative apt configuration, stored in the cache.
pub struct AltApt {
    dir: PathBuf,
}

impl AltApt {
    /// Writes the configuration when missing and refreshes stale package lists.
    pub fn prepare(cache: &Cache) -> Result<Self> {
        let dir = cache.apt_dir();
        for sub in ["lists/partial", "archives/partial"] {
            fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("creating {}", dir.join(sub).display()))?;
        }
        let archive = system_archive()?;
        let sources: String = ALT_SUITES
            .iter()
            .map(|suite| {
                format!(
                    "deb [signed-by={}] {} {suite} main\n",
                    archive.keyring, archive.uri
                )
            })
            .collect();
        let sources_path = dir.join("sources.list");
        let unchanged = cache::read_optional(&sources_path)?.as_deref() == Some(sources.as_str());
        if !unchanged {
            cache::write_atomic(&sources_path, &sources)?;
        }
        let alt = Self { dir };
        let stamp = alt.dir.join("lists.updated");
        let fresh = unchanged
            && fs::metadata(&stamp)
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|modified| SystemTime::now().duration_since(modified).ok())
                .is_some_and(|age| age < ALT_LISTS_MAX_AGE);
        if !fresh {
            let phase = Phase::start(format!(
                "downloading package lists of {} from {}",
                ALT_SUITES.join(", "),
                archive.uri
            ));
            progress::run_logged(
                "apt-get update",
                &mut alt.command("apt-get", &["update"]),
                &alt.log(),
            )?;
            cache::write_atomic(&stamp, "")?;
            phase.done();
        }
        Ok(alt)
    }

    fn log(&self) -> PathBuf {
        self.dir.join("apt.log")
    }

    /// Builds an apt command that uses only this configuration's sources and lists.
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut command = Command::new(program);
        let dir = self.dir.display();
        for option in [
            format!("Dir::Etc::SourceList={dir}/sources.list"),
            "Dir::Etc::SourceParts=-".to_owned(),
            format!("Dir::State::Lists={dir}/lists"),
            format!("Dir::Cache::Archives={dir}/archives"),
            "Dir::Cache::pkgcache=".to_owned(),
            "Dir::Cache::srcpkgcache=".to_owned(),
        ] {
            command.arg("-o").arg(option);
        }
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        command
    }

    /// Lists every version of `package` in the configured suites.
    pub fn offers(&self, package: &str) -> Result<Vec<Offer>> {
        let text = progress::capture(&mut self.command("apt-cache", &["madison", package]))?;
        Ok(parse_madison(&text))
    }

    /// Downloads `name=version` packages into `destination`.
    pub fn download(&self, specs: &[String], destination: &Path) -> Result<()> {
        fs::create_dir_all(destination)
            .with_context(|| format!("creating {}", destination.display()))?;
        let args: Vec<&str> = std::iter::once("download")
            .chain(specs.iter().map(String::as_str))
            .collect();
        progress::run_logged(
            "apt-get download",
            self.command("apt-get", &args).current_dir(destination),
            &self.log(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_bookworm_stanza() {
        let text = "Types: deb\nURIs: http://deb.example.org/debian\nSuites: bookworm bookworm-updates\n\
                    Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
                    Types: deb\nURIs: http://security.example.org/debian-security\n\
                    Suites: bookworm-security\n";
        assert_eq!(
            parse_deb822_archive(text),
            Some(Archive {
                uri: "http://deb.example.org/debian".to_owned(),
                keyring: DEFAULT_KEYRING.to_owned(),
            })
        );
    }

    #[test]
    fn deb822_without_bookworm() {
        let text = "Types: deb\nURIs: http://deb.example.org/debian\nSuites: trixie\n";
        assert_eq!(parse_deb822_archive(text), None);
    }

    #[test]
    fn one_line_source() {
        let text = "# comment\ndeb [arch=amd64] http://deb.example.org/debian bookworm main\n";
        assert_eq!(
            parse_one_line_archive(text).map(|archive| archive.uri),
            Some("http://deb.example.org/debian".to_owned())
        );
    }

    #[test]
    fn madison_lines() {
        let text = " qemu-system-x86 | 1:10.0.2+ds-2+deb13u1~bpo12+1 | http://deb.example.org/debian bookworm-backports/main amd64 Packages\n \
                    qemu-system-x86 | 1:7.2+dfsg-7+deb12u13 | http://deb.example.org/debian bookworm/main amd64 Packages\n";
        assert_eq!(
            parse_madison(text),
            vec![
                Offer {
                    version: "1:10.0.2+ds-2+deb13u1~bpo12+1".to_owned(),
                    suite: "bookworm-backports/main".to_owned(),
                },
                Offer {
                    version: "1:7.2+dfsg-7+deb12u13".to_owned(),
                    suite: "bookworm/main".to_owned(),
                },
            ]
        );
    }
}
