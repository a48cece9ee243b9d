//! `rules`: what vtty has in force for a container, per hierarchy and device.

use std::fmt;

use super::Context;
use super::devices::{Access, Device};
use super::layers::{self, V1State, V2State};
use crate::cgroup::Version;
use crate::container::Container;
use crate::exit;

/// One device in one hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleLine {
    /// The hierarchy.
    pub version: Version,
    /// The cgroup path.
    pub cgroup: String,
    /// The device.
    pub device: Device,
    /// The access in force there.
    pub access: Access,
    /// Source of the access: `vtty record`, `devices.list`, `default allow`, `gate`,
    /// `no gate`, or `detached gate (R)` with the gate's rule R that is not in force.
    pub source: String,
}

/// The result of `rules`.
#[derive(Clone, Debug)]
pub struct RulesReport {
    /// The container, as `container CTID`.
    pub container: String,
    /// Host pid of its init.
    pub init_pid: i32,
    /// One line per hierarchy vtty enforces through and device.
    pub lines: Vec<RuleLine>,
    /// Hierarchies vtty only checks, and why.
    pub notes: Vec<String>,
}

impl RulesReport {
    /// Returns the access in force for `device` in `version`.
    pub fn access(&self, version: Version, device: &Device) -> Option<Access> {
        self.lines
            .iter()
            .find(|line| line.version == version && &line.device == device)
            .map(|line| line.access)
    }
}

impl fmt::Display for RulesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} (init pid {})", self.container, self.init_pid)?;
        let width = self.lines.iter().map(|line| line.cgroup.len()).max().unwrap_or(6).max(6);
        writeln!(
            f,
            "LAYER  {:<width$}  {:<10} {:<8} {:<6} SOURCE",
            "CGROUP", "DEVICE", "NAME", "ACCESS"
        )?;
        for line in &self.lines {
            let layer = match line.version {
                Version::V1 => "v1",
                Version::V2 => "v2",
            };
            writeln!(
                f,
                "{layer:<6} {:<width$}  {:<10} {:<8} {:<6} {}",
                line.cgroup,
                line.device.rule(),
                line.device.name,
                line.access.to_string(),
                line.source
            )?;
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

/// Lists what vtty has in force for `container`.
pub fn rules(context: &Context, container: &Container) -> exit::Result<RulesReport> {
    let layers = layers::layers(container);
    let devices = context.device_set(None);
    let mut lines = Vec::new();

    if let Some(cgroup) = &layers.v1 {
        let state = V1State::load(context, cgroup)?;
        for device in &devices {
            lines.push(RuleLine {
                version: Version::V1,
                cgroup: cgroup.path.clone(),
                device: device.clone(),
                access: state.intended(device),
                source: state.source(device).to_owned(),
            });
        }
    }

    if let Some(cgroup) = &layers.v2 {
        let state = V2State::load(context, cgroup)?;
        for device in &devices {
            let (access, source) = match &state.gate {
                None => (Access::ALL, "no gate".to_owned()),
                Some(gate) if gate.attached => (state.intended(device), "gate".to_owned()),
                Some(_) => (Access::ALL, format!("detached gate ({})", state.intended(device))),
            };
            lines.push(RuleLine {
                version: Version::V2,
                cgroup: cgroup.path.clone(),
                device: device.clone(),
                access,
                source,
            });
        }
    }

    let mut notes = layers.notes;
    if layers.v1.is_none() && layers.v2.is_none() {
        notes.push(format!("vtty can set no rules for {container}: {}", layers.reasons.join("; ")));
    }
    Ok(RulesReport { container: container.to_string(), init_pid: container.init_pid, lines, notes })
}
