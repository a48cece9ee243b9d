//! `check`: lists the device programs in force and tests the real decision from a
//! helper process in each cgroup pair that contains the container's processes.
//!
//! The expected decision for a device is what vtty intends in each hierarchy
//! (its gate's rules in v2, its record or `devices.list` in v1), ANDed as the kernel
//! does. When the helper sees something else, two more helpers, one in each
//! hierarchy alone, tell which hierarchy differs, and that names the cause: another
//! manager's program, a v1 ancestor, or a vtty rule that someone removed.

use std::fmt;

use super::Context;
use super::devices::{Access, Device};
use super::gate;
use super::helper::{self, Decision, NodeDir};
use super::layers::{self, V1State, V2State};
use super::{bpf, v1};
use crate::cgroup::{Cgroup, Version};
use crate::container::Container;
use crate::exit;

/// A device program that runs for a cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramRef {
    /// Program id.
    pub id: u32,
    /// Program name as the kernel stores it (at most 15 bytes).
    pub name: String,
    /// True for this container's vtty gate.
    pub own_gate: bool,
}

impl fmt::Display for ProgramRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.id, self.name)?;
        if self.own_gate {
            f.write_str(" (vtty's gate)")?;
        }
        Ok(())
    }
}

/// The helper's view from one cgroup pair of the container.
#[derive(Clone, Debug)]
pub struct LeafCheck {
    /// The v2 cgroup, when that hierarchy is mounted.
    pub v2: Option<Cgroup>,
    /// The v1 devices cgroup, when that hierarchy is mounted.
    pub v1: Option<Cgroup>,
    /// Device programs that run for the v2 cgroup (`BPF_F_QUERY_EFFECTIVE`).
    pub programs: Vec<ProgramRef>,
    /// The helper's decision per device; empty when the helper failed.
    pub decisions: Vec<Decision>,
}

impl LeafCheck {
    fn describe(&self) -> String {
        let parts: Vec<String> =
            [&self.v2, &self.v1].into_iter().flatten().map(Cgroup::to_string).collect();
        parts.join(" + ")
    }
}

/// A way in which the policy in force differs from what vtty intends.
#[derive(Clone, Debug)]
pub enum Finding {
    /// vtty's gate is pinned but no longer attached to its cgroup.
    GateDetached {
        /// The gate's cgroup.
        cgroup: Cgroup,
        /// The gate program's id.
        program_id: u32,
    },
    /// `vtty_gate` programs attached to the cgroup without pins in vtty's pin
    /// directory.
    UnpinnedGates {
        /// The cgroup.
        cgroup: Cgroup,
        /// Their program ids.
        ids: Vec<u32>,
    },
    /// Another manager's v2 program denies access that vtty intends to allow.
    ForeignProgram {
        /// The v2 cgroup the helper ran in.
        cgroup: Cgroup,
        /// The other programs that run for it.
        programs: Vec<ProgramRef>,
        /// Devices with the access that is denied.
        denied: Vec<(Device, Access)>,
    },
    /// The v1 devices hierarchy denies access that vtty intends to allow.
    V1Denies {
        /// The v1 cgroup the helper ran in.
        cgroup: Cgroup,
        /// The nearest ancestor whose `devices.list` lacks the access, if one shows it.
        ancestor: Option<Cgroup>,
        /// Devices with the access that is denied.
        denied: Vec<(Device, Access)>,
    },
    /// The v1 devices hierarchy allows access that vtty denied.
    V1RuleLost {
        /// The v1 cgroup the helper ran in.
        cgroup: Cgroup,
        /// Devices with the access that is allowed.
        allowed: Vec<(Device, Access)>,
    },
    /// The v2 programs allow access that vtty's attached gate denies.
    GateNotEnforcing {
        /// The v2 cgroup the helper ran in.
        cgroup: Cgroup,
        /// Devices with the access that is allowed.
        allowed: Vec<(Device, Access)>,
    },
    /// The decision differs, but neither hierarchy alone explains it.
    Unexplained {
        /// The cgroup pair.
        leaf: String,
        /// Devices with the expected and the real access.
        devices: Vec<(Device, Access, Access)>,
    },
    /// The helper could not run or returned an error other than `EPERM`.
    ProbeFailed {
        /// The cgroup pair.
        leaf: String,
        /// What failed.
        error: String,
    },
}

impl Finding {
    /// True when the check could not see the decision at all.
    pub fn is_probe_failure(&self) -> bool {
        matches!(self, Self::ProbeFailed { .. })
    }
}

fn list_devices(devices: &[(Device, Access)]) -> String {
    let items: Vec<String> =
        devices.iter().map(|(device, access)| format!("{device} {}", access.letters())).collect();
    items.join(", ")
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::GateDetached { cgroup, program_id } => write!(
                f,
                "vtty's device gate (program {program_id}) is no longer attached to {cgroup}: \
                 another manager removed it (runc update and systemd daemon-reload replace device \
                 programs); run allow or deny again to re-attach it"
            ),
            Self::UnpinnedGates { cgroup, ids } => write!(
                f,
                "{cgroup} has vtty_gate programs {ids:?} that vtty's pin directory does not hold; \
                 detach them (bpftool cgroup detach or bpftool link detach) so that vtty can \
                 attach one gate of its own"
            ),
            Self::ForeignProgram { cgroup, programs, denied } => {
                let names: Vec<String> = programs.iter().map(ProgramRef::to_string).collect();
                write!(
                    f,
                    "another manager's device program denies {} in {cgroup} (programs running \
                     there besides vtty's: {}). A cgroup v2 program can only narrow access, so \
                     grant it through that manager: systemd units take DeviceAllow=<node> rwm \
                     (for example DeviceAllow=/dev/console rwm), OCI runtimes take {{\"allow\": \
                     true, \"type\": \"c\", \"major\": M, \"minor\": N, \"access\": \"rwm\"}} in \
                     linux.resources.devices (docker run --device-cgroup-rule 'c M:N rwm')",
                    list_devices(denied),
                    if names.is_empty() { "none listed".to_owned() } else { names.join(", ") }
                )
            }
            Self::V1Denies { cgroup, ancestor, denied } => {
                write!(f, "the v1 devices hierarchy denies {} in {cgroup}", list_devices(denied))?;
                match ancestor {
                    Some(ancestor) => write!(
                        f,
                        "; its ancestor {} does not allow it: write the rule to {} first",
                        ancestor.path,
                        ancestor.file("devices.allow").display()
                    ),
                    None => f.write_str(
                        "; a rule vtty did not set forbids it (an ancestor's deny rules are hidden \
                         under default allow): write the rule to devices.allow of each ancestor",
                    ),
                }
            }
            Self::V1RuleLost { cgroup, allowed } => write!(
                f,
                "{cgroup} allows {} although vtty denied it: someone wrote devices.allow since; \
                 run deny again",
                list_devices(allowed)
            ),
            Self::GateNotEnforcing { cgroup, allowed } => write!(
                f,
                "{cgroup} allows {} although vtty's gate denies it; the gate does not run for this \
                 cgroup (check `bpftool cgroup tree`)",
                list_devices(allowed)
            ),
            Self::Unexplained { leaf, devices } => {
                let items: Vec<String> = devices
                    .iter()
                    .map(|(device, expected, real)| {
                        format!("{device} expected {expected}, found {real}")
                    })
                    .collect();
                write!(f, "in {leaf}: {}; neither hierarchy alone explains it", items.join(", "))
            }
            Self::ProbeFailed { leaf, error } => write!(f, "could not test {leaf}: {error}"),
        }
    }
}

/// The result of `check`.
#[derive(Clone, Debug)]
pub struct CheckReport {
    /// The container, as `container CTID`.
    pub container: String,
    /// Host pid of its init.
    pub init_pid: i32,
    /// The devices checked.
    pub devices: Vec<Device>,
    /// The decision vtty intends, per device.
    pub expected: Vec<Access>,
    /// One entry per cgroup pair that contains the container's processes.
    pub leaves: Vec<LeafCheck>,
    /// Differences and failures.
    pub findings: Vec<Finding>,
    /// Remarks that are no failure (a hierarchy vtty only checks).
    pub notes: Vec<String>,
}

impl CheckReport {
    /// True when the decision everywhere is what vtty intends.
    pub fn ok(&self) -> bool {
        self.findings.is_empty()
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} (init pid {})", self.container, self.init_pid)?;
        for leaf in &self.leaves {
            writeln!(f, "{}:", leaf.describe())?;
            if leaf.v2.is_some() {
                let programs: Vec<String> =
                    leaf.programs.iter().map(ProgramRef::to_string).collect();
                let programs =
                    if programs.is_empty() { "none".to_owned() } else { programs.join(", ") };
                writeln!(f, "  effective device programs: {programs}")?;
            }
            if leaf.decisions.is_empty() {
                continue;
            }
            writeln!(f, "  {:<10} {:<8} {:<8} REAL", "DEVICE", "NAME", "EXPECTED")?;
            for ((device, expected), decision) in
                self.devices.iter().zip(&self.expected).zip(&leaf.decisions)
            {
                writeln!(
                    f,
                    "  {:<10} {:<8} {:<8} {}",
                    device.rule(),
                    device.name,
                    expected.to_string(),
                    decision.allowed()
                )?;
            }
        }
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        if self.findings.is_empty() {
            writeln!(f, "ok: the decision matches vtty's rules")?;
        } else {
            writeln!(f, "problems:")?;
            for finding in &self.findings {
                writeln!(f, "  - {finding}")?;
            }
        }
        Ok(())
    }
}

/// Checks every device of the vtty set for `container`.
pub fn check(context: &Context, container: &Container) -> exit::Result<CheckReport> {
    evaluate(context, container, &context.device_set(None))
}

/// Checks `devices` for `container`.
pub fn evaluate(
    context: &Context,
    container: &Container,
    devices: &[Device],
) -> exit::Result<CheckReport> {
    let layers = layers::layers(container);
    let v1_state = layers.v1.as_ref().map(|cgroup| V1State::load(context, cgroup)).transpose()?;
    let v2_state = layers.v2.as_ref().map(|cgroup| V2State::load(context, cgroup)).transpose()?;
    let own_gate =
        v2_state.as_ref().and_then(|state| state.gate.as_ref()).map(|gate| gate.program_id);

    let mut findings = Vec::new();
    if let Some(state) = &v2_state {
        if let Some(gate) = state.gate.as_ref().filter(|gate| !gate.attached) {
            findings.push(Finding::GateDetached {
                cgroup: state.cgroup.clone(),
                program_id: gate.program_id,
            });
        }
        let unpinned = gate::unpinned_gates(&state.cgroup, own_gate)?;
        if !unpinned.is_empty() {
            findings.push(Finding::UnpinnedGates { cgroup: state.cgroup.clone(), ids: unpinned });
        }
    }

    let intended_v1 =
        |device: &Device| v1_state.as_ref().map_or(Access::ALL, |state| state.intended(device));
    let intended_v2 =
        |device: &Device| v2_state.as_ref().map_or(Access::ALL, |state| state.intended(device));
    let expected: Vec<Access> =
        devices.iter().map(|d| intended_v1(d).intersection(intended_v2(d))).collect();

    let nodes = NodeDir::create(devices)?;
    let mut leaves = Vec::new();
    for membership in &container.leaves {
        let v2 =
            membership.v2.as_deref().and_then(|path| context.hierarchies.cgroup(Version::V2, path));
        let v1 = membership
            .v1_devices
            .as_deref()
            .and_then(|path| context.hierarchies.cgroup(Version::V1, path));
        let mut leaf = LeafCheck { v2, v1, programs: Vec::new(), decisions: Vec::new() };
        if let Some(cgroup) = &leaf.v2 {
            match effective_programs(cgroup, own_gate) {
                Ok(programs) => leaf.programs = programs,
                Err(error) => findings.push(Finding::ProbeFailed {
                    leaf: leaf.describe(),
                    error: format!("{error:#}"),
                }),
            }
        }
        match helper::probe(&nodes, leaf.v2.as_ref(), leaf.v1.as_ref(), context.probe_timeout) {
            Ok(decisions) => leaf.decisions = decisions,
            Err(error) => {
                findings.push(Finding::ProbeFailed {
                    leaf: leaf.describe(),
                    error: format!("{error:#}"),
                });
                leaves.push(leaf);
                continue;
            }
        }
        let gate_detached = findings.iter().any(|f| matches!(f, Finding::GateDetached { .. }));
        let explain = Explain {
            nodes: &nodes,
            context,
            intended_v1: &intended_v1,
            intended_v2: &intended_v2,
            gate_detached,
        };
        findings.extend(explain.leaf(&leaf, devices, &expected));
        leaves.push(leaf);
    }

    Ok(CheckReport {
        container: container.to_string(),
        init_pid: container.init_pid,
        devices: devices.to_vec(),
        expected,
        leaves,
        findings,
        notes: layers.notes,
    })
}

fn effective_programs(cgroup: &Cgroup, own_gate: Option<u32>) -> anyhow::Result<Vec<ProgramRef>> {
    let ids = bpf::device_programs(&cgroup.dir, true)?;
    let names = bpf::program_names(&ids);
    Ok(ids
        .into_iter()
        .map(|id| ProgramRef {
            id,
            name: names.get(&id).cloned().unwrap_or_else(|| "?".to_owned()),
            own_gate: Some(id) == own_gate,
        })
        .collect())
}

/// Attributes differences in one cgroup pair to a hierarchy.
struct Explain<'a> {
    nodes: &'a NodeDir,
    context: &'a Context,
    intended_v1: &'a dyn Fn(&Device) -> Access,
    intended_v2: &'a dyn Fn(&Device) -> Access,
    gate_detached: bool,
}

impl Explain<'_> {
    fn leaf(&self, leaf: &LeafCheck, devices: &[Device], expected: &[Access]) -> Vec<Finding> {
        let mut findings = Vec::new();
        let mut differing = Vec::new();
        for (i, (device, decision)) in devices.iter().zip(&leaf.decisions).enumerate() {
            if let Some(errno) = decision.failure() {
                findings.push(Finding::ProbeFailed {
                    leaf: leaf.describe(),
                    error: format!(
                        "testing {device} failed: {}",
                        std::io::Error::from_raw_os_error(errno)
                    ),
                });
            } else if decision.allowed() != expected[i] {
                differing.push(i);
            }
        }
        if differing.is_empty() {
            return findings;
        }

        // One helper per hierarchy alone; the other hierarchy is vtty-ctl's own cgroup.
        // NOTE: this attribution assumes vtty-ctl's own cgroups allow the device set;
        // when they do not, the finding names the wrong hierarchy.
        let timeout = self.context.probe_timeout;
        let v2_alone =
            leaf.v2.as_ref().map(|cgroup| helper::probe(self.nodes, Some(cgroup), None, timeout));
        let v1_alone =
            leaf.v1.as_ref().map(|cgroup| helper::probe(self.nodes, None, Some(cgroup), timeout));
        for result in [&v2_alone, &v1_alone].into_iter().flatten() {
            if let Err(error) = result {
                findings.push(Finding::ProbeFailed {
                    leaf: leaf.describe(),
                    error: format!("{error:#}"),
                });
            }
        }
        let v2_alone = v2_alone.and_then(Result::ok);
        let v1_alone = v1_alone.and_then(Result::ok);

        let (mut foreign, mut loose_v2, mut v1_denied, mut v1_loose, mut unexplained) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in differing {
            let device = &devices[i];
            let mut explained = false;
            if let Some(decisions) = &v2_alone {
                let (real, intended) = (decisions[i].allowed(), (self.intended_v2)(device));
                if !real.contains(intended) {
                    foreign.push((device.clone(), intended.without(real)));
                    explained = true;
                }
                if !intended.contains(real) {
                    if !self.gate_detached {
                        loose_v2.push((device.clone(), real.without(intended)));
                    }
                    explained = true;
                }
            }
            if let Some(decisions) = &v1_alone {
                let (real, intended) = (decisions[i].allowed(), (self.intended_v1)(device));
                if !real.contains(intended) {
                    v1_denied.push((device.clone(), intended.without(real)));
                    explained = true;
                }
                if !intended.contains(real) {
                    v1_loose.push((device.clone(), real.without(intended)));
                    explained = true;
                }
            }
            if !explained {
                unexplained.push((device.clone(), expected[i], leaf.decisions[i].allowed()));
            }
        }

        if let (Some(cgroup), false) = (&leaf.v2, foreign.is_empty()) {
            let programs = leaf.programs.iter().filter(|p| !p.own_gate).cloned().collect();
            findings.push(Finding::ForeignProgram {
                cgroup: cgroup.clone(),
                programs,
                denied: foreign,
            });
        }
        if let (Some(cgroup), false) = (&leaf.v2, loose_v2.is_empty()) {
            findings.push(Finding::GateNotEnforcing { cgroup: cgroup.clone(), allowed: loose_v2 });
        }
        if let (Some(cgroup), false) = (&leaf.v1, v1_denied.is_empty()) {
            let (device, access) = &v1_denied[0];
            let ancestor = v1::forbidding_ancestor(cgroup, device, *access);
            findings.push(Finding::V1Denies {
                cgroup: cgroup.clone(),
                ancestor,
                denied: v1_denied,
            });
        }
        if let (Some(cgroup), false) = (&leaf.v1, v1_loose.is_empty()) {
            findings.push(Finding::V1RuleLost { cgroup: cgroup.clone(), allowed: v1_loose });
        }
        if !unexplained.is_empty() {
            findings.push(Finding::Unexplained { leaf: leaf.describe(), devices: unexplained });
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn foreign_program_message_names_the_fixes() {
        let cgroup = Cgroup {
            version: Version::V2,
            path: "/101".to_owned(),
            dir: "/sys/fs/cgroup/101".into(),
        };
        let console = Device { major: 5, minor: 1, name: "console".to_owned() };
        let finding = Finding::ForeignProgram {
            cgroup,
            programs: vec![ProgramRef { id: 91, name: "sd_devices".to_owned(), own_gate: false }],
            denied: vec![(console, Access::READ.union(Access::WRITE))],
        };
        let text = finding.to_string();
        assert!(text.contains("c 5:1 (console) rw"), "{text}");
        assert!(text.contains("91 sd_devices"), "{text}");
        assert!(text.contains("DeviceAllow="), "{text}");
        assert!(text.contains("linux.resources.devices"), "{text}");
    }
}
