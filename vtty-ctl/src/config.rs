//! Settings from `/etc/vtty/config.toml`.
//!
//! Every key is optional:
//!
//! ```toml
//! # Cgroup under which a bare container name such as `101` is looked up, in both
//! # the cgroup v1 devices and the cgroup v2 hierarchy.
//! cgroup_parent = "/machine.slice"
//! # bpffs directory of vtty's pinned objects (device gates under `gates/`).
//! pin_dir = "/sys/fs/bpf/vtty"
//! # Directory of vtty's own records (the v1 rules it set).
//! state_dir = "/run/vtty"
//! ```
//!
//! `VTTY_CONFIG` names another file. A missing default file means defaults; a
//! missing file named by `VTTY_CONFIG` is an error.

use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

use crate::exit::{self, ExitCode};
use crate::fail;

/// Default location of the configuration file.
pub const DEFAULT_PATH: &str = "/etc/vtty/config.toml";
/// Environment variable that names another configuration file.
pub const PATH_ENV: &str = "VTTY_CONFIG";
/// Environment variable that sets the cgroup parent (below the command-line flag,
/// above the file).
pub const CGROUP_PARENT_ENV: &str = "VTTY_CGROUP_PARENT";

/// Default cgroup parent: the root of each hierarchy.
pub const DEFAULT_CGROUP_PARENT: &str = "/";
/// Default bpffs directory of vtty's pinned objects.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/vtty";
/// Default directory of vtty's records.
pub const DEFAULT_STATE_DIR: &str = "/run/vtty";

/// The configuration file as written; absent keys are `None`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Cgroup under which bare container names are looked up.
    pub cgroup_parent: Option<String>,
    /// bpffs directory of vtty's pinned objects.
    pub pin_dir: Option<PathBuf>,
    /// Directory of vtty's records.
    pub state_dir: Option<PathBuf>,
}

/// Settings after applying defaults, the file, the environment and the flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Cgroup path, relative to each hierarchy's root, under which bare names are
    /// looked up. Always starts with `/`.
    pub cgroup_parent: String,
    /// bpffs directory of vtty's pinned objects.
    pub pin_dir: PathBuf,
    /// Directory of vtty's records.
    pub state_dir: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            cgroup_parent: DEFAULT_CGROUP_PARENT.to_owned(),
            pin_dir: PathBuf::from(DEFAULT_PIN_DIR),
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
        }
    }
}

impl Config {
    /// Loads the file named by `VTTY_CONFIG` or the default file, then applies
    /// `cgroup_parent`, which the caller takes from `--cgroup-parent` or
    /// `VTTY_CGROUP_PARENT` (clap reads both).
    pub fn load(cgroup_parent: Option<&str>) -> exit::Result<Self> {
        let (path, required) = match std::env::var_os(PATH_ENV) {
            Some(path) => (PathBuf::from(path), true),
            None => (PathBuf::from(DEFAULT_PATH), false),
        };
        let file = read_file(&path, required)?;
        Self::from_parts(file, cgroup_parent)
    }

    /// Combines a parsed file with an explicit cgroup parent.
    pub fn from_parts(file: FileConfig, cgroup_parent: Option<&str>) -> exit::Result<Self> {
        let defaults = Self::default();
        let parent = cgroup_parent
            .map(str::to_owned)
            .or(file.cgroup_parent)
            .unwrap_or(defaults.cgroup_parent);
        Ok(Self {
            cgroup_parent: normalize_parent(&parent)?,
            pin_dir: file.pin_dir.unwrap_or(defaults.pin_dir),
            state_dir: file.state_dir.unwrap_or(defaults.state_dir),
        })
    }
}

/// Reads and parses a configuration file; a missing optional file yields defaults.
pub fn read_file(path: &Path, required: bool) -> exit::Result<FileConfig> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound && !required => {
            return Ok(FileConfig::default());
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(fail!(
                ExitCode::NotFound,
                "configuration file {} (named by {PATH_ENV}) does not exist; create it or unset {PATH_ENV}",
                path.display()
            ));
        }
        Err(error) => {
            return Err(exit::Error::new(
                ExitCode::Failure,
                anyhow::Error::new(error).context(format!("failed to read {}", path.display())),
            ));
        }
    };
    parse(&text)
        .with_context(|| format!("invalid configuration file {}; fix or remove it", path.display()))
        .map_err(|error| exit::Error::new(ExitCode::Usage, error))
}

/// Parses the text of a configuration file.
pub fn parse(text: &str) -> Result<FileConfig, toml::de::Error> {
    toml::from_str(text)
}

/// Checks a cgroup parent and returns it with one leading `/` and no trailing `/`.
pub fn normalize_parent(parent: &str) -> exit::Result<String> {
    let trimmed = parent.trim_matches('/');
    if trimmed.is_empty() {
        return Ok("/".to_owned());
    }
    if trimmed.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err(fail!(
            ExitCode::Usage,
            "invalid cgroup parent {parent:?}: use a cgroup path such as /machine.slice, \
             without empty, '.' or '..' components"
        ));
    }
    Ok(format!("/{trimmed}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let config =
            Config::from_parts(parse("").expect("empty file parses"), None).expect("valid");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn flag_overrides_file() {
        let file = parse("cgroup_parent = \"/machine.slice\"\n").expect("parses");
        let config = Config::from_parts(file.clone(), None).expect("valid");
        assert_eq!(config.cgroup_parent, "/machine.slice");
        let config = Config::from_parts(file, Some("lxc.payload")).expect("valid");
        assert_eq!(config.cgroup_parent, "/lxc.payload");
    }

    #[test]
    fn all_keys_parse() {
        let file = parse(
            "cgroup_parent = \"/a/b/\"\npin_dir = \"/sys/fs/bpf/x\"\nstate_dir = \"/tmp/s\"\n",
        )
        .expect("parses");
        let config = Config::from_parts(file, None).expect("valid");
        assert_eq!(config.cgroup_parent, "/a/b");
        assert_eq!(config.pin_dir, PathBuf::from("/sys/fs/bpf/x"));
        assert_eq!(config.state_dir, PathBuf::from("/tmp/s"));
    }

    #[test]
    fn unknown_key_rejected() {
        assert!(parse("cgroup_parnet = \"/x\"\n").is_err());
    }

    #[test]
    fn parent_normalization() {
        assert_eq!(normalize_parent("/").expect("root"), "/");
        assert_eq!(normalize_parent("").expect("empty is root"), "/");
        assert_eq!(normalize_parent("machine.slice").expect("relative"), "/machine.slice");
        assert!(normalize_parent("/a/../b").is_err());
        assert!(normalize_parent("/a//b").is_err());
    }
}
