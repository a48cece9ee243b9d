//! Device-cgroup policy for the vtty device set: `allow`, `deny`, `rules`, `check`.
//!
//! - [`devices`]: the device set and access bits.
//! - [`v1`]: `devices.allow`, `devices.deny` and `devices.list`.
//! - [`gate`]: vtty's cgroup v2 device program with its pinned rules map.
//! - [`layers`]: which hierarchy vtty sets rules in for a container.
//! - [`apply`], [`rules`], [`check`]: the commands; [`helper`] is the process that
//!   tests the real decision from inside the container's cgroups.
//! - [`record`]: vtty's own record of the rules it set.

pub mod apply;
pub mod bpf;
pub mod check;
pub mod devices;
pub mod gate;
pub mod helper;
pub mod layers;
pub mod record;
pub mod rules;
pub mod v1;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

pub use apply::{Applied, Change, Plan, Step, apply};
pub use check::{CheckReport, Finding, check};
pub use rules::{RulesReport, rules};

use crate::cgroup::{Hierarchies, Version};
use crate::config::{Config, DEFAULT_PIN_DIR};
use crate::driver;
use crate::exit::{self, ExitCode};
use crate::fail;
use devices::{Device, TtyName};
use record::Records;

/// How long the check helper may take before it is killed. It makes about 80
/// system calls, so only a frozen cgroup comes near this.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Paths and facts that the policy commands read and write.
#[derive(Clone, Debug)]
pub struct Context {
    /// The mounted cgroup hierarchies.
    pub hierarchies: Hierarchies,
    /// bpffs directory of vtty's pinned objects.
    pub pin_dir: PathBuf,
    /// Directory of vtty's records.
    pub state_dir: PathBuf,
    /// The vttys major when the driver is loaded.
    pub vttys_major: Option<u32>,
    /// Timeout of the check helper.
    pub probe_timeout: Duration,
}

impl Context {
    /// Discovers the hierarchies and the driver's major for `config`.
    pub fn new(config: &Config) -> exit::Result<Self> {
        let hierarchies = Hierarchies::discover().context("failed to read /proc/self/mountinfo")?;
        let vttys_major = driver::tty_driver_info()
            .context("failed to read /proc/tty/drivers")?
            .map(|info| info.major);
        Ok(Self {
            hierarchies,
            pin_dir: config.pin_dir.clone(),
            state_dir: config.state_dir.clone(),
            vttys_major,
            probe_timeout: PROBE_TIMEOUT,
        })
    }

    /// Lists the device set for `names` (every terminal when `None`).
    pub fn device_set(&self, names: Option<&[TtyName]>) -> Vec<Device> {
        devices::device_set(names, self.vttys_major)
    }

    /// Returns vtty's records under the state directory.
    pub fn records(&self) -> Records {
        Records::new(&self.state_dir)
    }

    /// Makes sure the pin directory is on a bpf filesystem, mounting one at
    /// `/sys/fs/bpf` when that is the default location and nothing is mounted there.
    pub fn prepare_pin_dir(&self) -> exit::Result<()> {
        let mut existing = self.pin_dir.as_path();
        while !existing.exists() {
            match existing.parent() {
                Some(parent) => existing = parent,
                None => break,
            }
        }
        if bpf::is_bpffs(existing)
            .with_context(|| format!("statfs of {} failed", existing.display()))?
        {
            return Ok(());
        }
        let default_root = std::path::Path::new(DEFAULT_PIN_DIR).parent();
        if self.pin_dir == std::path::Path::new(DEFAULT_PIN_DIR) && Some(existing) == default_root {
            bpf::mount_bpffs(existing).with_context(|| {
                format!("failed to mount a bpf filesystem at {}", existing.display())
            })?;
            // A log record, not stderr: the dashboard shares this code and owns the screen.
            log::warn!("mounted a bpf filesystem at {}", existing.display());
            return Ok(());
        }
        Err(fail!(
            ExitCode::Failure,
            "pin directory {} is not on a bpf filesystem; mount one (mount -t bpf bpf {}) or set \
             pin_dir in the configuration file",
            self.pin_dir.display(),
            existing.display()
        ))
    }
}

/// Removes records and gates of cgroups that no longer exist. Cgroup ids are
/// never reused within a boot, so a record whose path now has another id is stale.
pub fn prune(context: &Context) {
    let records = context.records();
    for version in [Version::V1, Version::V2] {
        let Ok(list) = records.list(version) else { continue };
        for (id, record) in list {
            let current = context
                .hierarchies
                .cgroup(version, &record.cgroup)
                .and_then(|cgroup| cgroup.id().ok());
            if current == Some(id) {
                continue;
            }
            if version == Version::V2
                && let Err(error) = gate::remove(&context.pin_dir, id)
            {
                log::warn!("failed to remove the stale gate of {}: {error:#}", record.cgroup);
                continue;
            }
            if let Err(error) = records.remove(version, id) {
                log::warn!("failed to remove the stale record of {}: {error}", record.cgroup);
            }
        }
    }
}
