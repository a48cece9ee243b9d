//! The hierarchies vtty enforces through for a container, and their state.
//!
//! vtty sets rules in a hierarchy only on a cgroup that contains this container
//! alone, because a rule on a shared cgroup would change its neighbours too. On a hybrid host
//! whose runtime made only v1 cgroups, the container's v2 cgroup is shared, so vtty
//! enforces through v1 and only checks v2. With neither usable it refuses.

use super::Context;
use super::devices::{Access, CONSOLE_MINOR, Device, LAST_TTY, TTY_MAJOR, TTYAUX_MAJOR};
use super::gate::{self, Gate};
use super::record::Record;
use super::v1::{self, List};
use crate::cgroup::{Cgroup, Version};
use crate::container::{Container, Placement};
use crate::exit::{self, ExitCode};
use crate::fail;

use anyhow::Context as _;

/// The cgroups vtty sets rules on, and why others were left out.
#[derive(Clone, Debug, Default)]
pub struct Layers {
    /// The v1 devices cgroup, when vtty enforces through v1.
    pub v1: Option<Cgroup>,
    /// The v2 cgroup, when vtty attaches its gate there.
    pub v2: Option<Cgroup>,
    /// Notes for the user on each hierarchy that is only checked.
    pub notes: Vec<String>,
    /// The same reasons without the note's ending.
    pub reasons: Vec<String>,
}

/// Decides where vtty may set rules for `container`; fails with the reasons when
/// there is no such cgroup.
pub fn enforcement(container: &Container) -> exit::Result<Layers> {
    let layers = layers(container);
    if layers.v1.is_none() && layers.v2.is_none() {
        return Err(fail!(
            ExitCode::Conflict,
            "cannot set device rules for {container}: {}; move the container into a cgroup of \
             its own",
            layers.reasons.join("; ")
        ));
    }
    Ok(layers)
}

/// Decides where vtty may set rules for `container`, possibly nowhere.
pub fn layers(container: &Container) -> Layers {
    let mut layers = Layers::default();
    for version in [Version::V1, Version::V2] {
        match usable(container.placement(version), version) {
            Ok(cgroup) => match version {
                Version::V1 => layers.v1 = Some(cgroup),
                Version::V2 => layers.v2 = Some(cgroup),
            },
            Err(reason) => {
                if container.placement(version).is_some() {
                    layers.notes.push(format!("{reason}, so vtty only checks it"));
                }
                layers.reasons.push(reason);
            }
        }
    }
    layers
}

fn usable(placement: Option<&Placement>, version: Version) -> Result<Cgroup, String> {
    let Some(placement) = placement else {
        return Err(format!("no cgroup {version} hierarchy is mounted"));
    };
    let cgroup = &placement.cgroup;
    if cgroup.is_root() {
        return Err(format!(
            "the container runs in the root {version} cgroup, which holds the whole host"
        ));
    }
    if let Some(intruder) = &placement.shared_with {
        return Err(format!("{cgroup} also holds {intruder}"));
    }
    if version == Version::V1 && !cgroup.file("devices.allow").exists() {
        return Err(format!("{cgroup} has no devices.allow"));
    }
    Ok(cgroup.clone())
}

/// The state of a v1 devices cgroup.
#[derive(Clone, Debug)]
pub struct V1State {
    /// The cgroup.
    pub cgroup: Cgroup,
    /// Its id, the key of vtty's record.
    pub id: u64,
    /// Its `devices.list`.
    pub list: List,
    /// vtty's record of it.
    pub record: Option<Record>,
}

impl V1State {
    /// Reads the list and vtty's record of `cgroup`.
    pub fn load(context: &Context, cgroup: &Cgroup) -> anyhow::Result<Self> {
        let id = cgroup.id().with_context(|| format!("failed to stat {}", cgroup.dir.display()))?;
        let list = v1::read_list(cgroup)
            .with_context(|| format!("failed to read {}", cgroup.file("devices.list").display()))?;
        let record = context.records().load(Version::V1, id)?;
        Ok(Self { cgroup: cgroup.clone(), id, list, record })
    }

    /// The access this cgroup should allow `device`: vtty's recorded rule, else
    /// what `devices.list` shows, else everything (default allow with no vtty rule).
    pub fn intended(&self, device: &Device) -> Access {
        self.recorded(device).or_else(|| self.list.allowed(device)).unwrap_or(Access::ALL)
    }

    /// vtty's recorded rule for `device`.
    pub fn recorded(&self, device: &Device) -> Option<Access> {
        self.record.as_ref().and_then(|record| record.allowed(device))
    }

    /// Names the source of [`Self::intended`].
    pub fn source(&self, device: &Device) -> &'static str {
        match (self.recorded(device), &self.list) {
            (Some(_), _) => "vtty record",
            (None, List::DefaultDeny(_)) => "devices.list",
            (None, List::DefaultAllow) => "default allow",
        }
    }
}

/// The state of vtty's gate on a v2 cgroup.
#[derive(Clone, Debug)]
pub struct V2State {
    /// The cgroup.
    pub cgroup: Cgroup,
    /// Its id, the name of the gate's pin directory.
    pub id: u64,
    /// vtty's gate, if pinned.
    pub gate: Option<Gate>,
}

impl V2State {
    /// Reads vtty's gate of `cgroup`.
    pub fn load(context: &Context, cgroup: &Cgroup) -> anyhow::Result<Self> {
        let id = cgroup.id().with_context(|| format!("failed to stat {}", cgroup.dir.display()))?;
        let gate = gate::inspect(&context.pin_dir, cgroup)?;
        Ok(Self { cgroup: cgroup.clone(), id, gate })
    }

    /// Returns the access vtty's gate gives `device` (everything without a gate).
    pub fn intended(&self, device: &Device) -> Access {
        match &self.gate {
            None => Access::ALL,
            Some(gate) => gate.allowed(device).unwrap_or(if in_fixed_set(device) {
                Access::NONE
            } else {
                Access::ALL
            }),
        }
    }
}

/// Returns true for the devices the gate program denies without a map entry.
fn in_fixed_set(device: &Device) -> bool {
    (device.major == TTYAUX_MAJOR && device.minor == CONSOLE_MINOR)
        || (device.major == TTY_MAJOR && device.minor <= LAST_TTY)
}
