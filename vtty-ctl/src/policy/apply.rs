//! `allow` and `deny` on the device-cgroup side: plan the changes, apply them,
//! verify the real decision with the check helper, and undo on failure.
//!
//! Every step is idempotent: v1 rules are written again as they are, and gate
//! entries are set to their value. A failed `allow` leaves everything as it was.
//! A failed `deny` keeps what it applied, because removing access is never less
//! safe, and reports what still allows access.

use std::fmt;

use anyhow::Context as _;

use super::Context;
use super::check::{self, CheckReport, Finding};
use super::devices::{Access, Device, TtyName};
use super::gate::{self, Gate};
use super::layers::{self, V1State, V2State};
use super::record::Record;
use super::v1::{self, RuleFile};
use crate::cgroup::{Cgroup, Version};
use crate::container::Container;
use crate::exit::{self, ExitCode};
use crate::fail;

/// The change a command requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Grant `rwm`.
    Allow,
    /// Remove all access.
    Deny,
}

impl Change {
    /// Returns the access the change leaves.
    pub fn target(self) -> Access {
        match self {
            Self::Allow => Access::ALL,
            Self::Deny => Access::NONE,
        }
    }

    fn rule_file(self) -> RuleFile {
        match self {
            Self::Allow => RuleFile::Allow,
            Self::Deny => RuleFile::Deny,
        }
    }
}

/// One step of a plan.
#[derive(Clone, Debug)]
pub enum Step {
    /// Write a rule to `devices.allow` or `devices.deny`.
    V1Rule {
        /// The v1 devices cgroup.
        cgroup: Cgroup,
        /// The file.
        file: RuleFile,
        /// The device.
        device: Device,
        /// The access the cgroup allows now, as far as vtty can read it.
        from: Access,
        /// The access it allows afterwards.
        to: Access,
    },
    /// Load, pin and attach vtty's gate with these rules.
    GateCreate {
        /// The v2 cgroup.
        cgroup: Cgroup,
        /// The map entries.
        rules: Vec<(Device, Access)>,
    },
    /// Set one entry of the gate's map.
    GateRule {
        /// The v2 cgroup.
        cgroup: Cgroup,
        /// The device.
        device: Device,
        /// The entry now, `None` when absent.
        from: Option<Access>,
        /// The entry afterwards.
        to: Access,
    },
    /// Attach the pinned gate again after another manager detached it.
    GateReattach {
        /// The v2 cgroup.
        cgroup: Cgroup,
        /// The gate program's id.
        program_id: u32,
    },
}

impl Step {
    /// True when the step changes what is in force.
    pub fn changes(&self) -> bool {
        match self {
            Self::V1Rule { from, to, .. } => from != to,
            Self::GateRule { from, to, .. } => *from != Some(*to),
            Self::GateCreate { .. } | Self::GateReattach { .. } => true,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V1Rule { cgroup, file, device, from, to } => write!(
                f,
                "{cgroup}: write '{} rwm' to {} ({} {from} -> {to})",
                device.rule(),
                file.name(),
                device.name
            ),
            Self::GateCreate { cgroup, rules } => {
                let narrowed: Vec<String> = rules
                    .iter()
                    .filter(|(_, access)| *access != Access::ALL)
                    .map(|(device, access)| format!("{device} {access}"))
                    .collect();
                write!(f, "{cgroup}: attach vtty's device gate with {} rules", rules.len())?;
                if narrowed.is_empty() {
                    write!(f, ", all rwm")
                } else {
                    write!(f, ", rwm except {}", narrowed.join(", "))
                }
            }
            Self::GateRule { cgroup, device, from, to } => {
                let from = from.map_or_else(|| "none".to_owned(), |access| access.to_string());
                write!(f, "{cgroup}: gate rule {device} {from} -> {to}")
            }
            Self::GateReattach { cgroup, program_id } => write!(
                f,
                "{cgroup}: attach vtty's device gate (program {program_id}) again; another manager \
                 detached it"
            ),
        }
    }
}

/// The steps of an `allow` or `deny`.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The container, as `container CTID`.
    pub container: String,
    /// The change.
    pub change: Change,
    /// The devices it applies to.
    pub devices: Vec<Device>,
    /// Every step, including those that change nothing.
    pub steps: Vec<Step>,
    /// Remarks for the user (a hierarchy vtty only checks).
    pub notes: Vec<String>,
}

impl Plan {
    /// Returns the steps that change something.
    pub fn changes(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|step| step.changes())
    }
}

/// The result of a successful `allow` or `deny`.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The plan that was carried out.
    pub plan: Plan,
    /// The check that verified it; `None` for a dry run.
    pub verification: Option<CheckReport>,
}

/// Plans `change` of `names` (every terminal when `None`) for `container`.
pub fn plan(
    context: &Context,
    container: &Container,
    change: Change,
    names: Option<&[TtyName]>,
) -> exit::Result<Plan> {
    let layers = layers::enforcement(container)?;
    let devices = context.device_set(names);
    let target = change.target();
    let mut steps = Vec::new();

    if let Some(cgroup) = &layers.v1 {
        let state = V1State::load(context, cgroup)?;
        for device in &devices {
            let from = state.intended(device);
            steps.push(Step::V1Rule {
                cgroup: cgroup.clone(),
                file: change.rule_file(),
                device: device.clone(),
                from,
                to: target,
            });
        }
    }

    if let Some(cgroup) = &layers.v2 {
        let state = V2State::load(context, cgroup)?;
        let own = state.gate.as_ref().map(|gate| gate.program_id);
        let unpinned = gate::unpinned_gates(cgroup, own)?;
        if !unpinned.is_empty() {
            return Err(fail!(
                ExitCode::Conflict,
                "{}",
                Finding::UnpinnedGates { cgroup: cgroup.clone(), ids: unpinned }
            ));
        }
        match &state.gate {
            None => {
                let rules = context
                    .device_set(None)
                    .into_iter()
                    .map(|device| {
                        let access = if devices.contains(&device) { target } else { Access::ALL };
                        (device, access)
                    })
                    .collect();
                steps.push(Step::GateCreate { cgroup: cgroup.clone(), rules });
            }
            Some(gate) => {
                if !gate.attached {
                    steps.push(Step::GateReattach {
                        cgroup: cgroup.clone(),
                        program_id: gate.program_id,
                    });
                }
                for device in &devices {
                    steps.push(Step::GateRule {
                        cgroup: cgroup.clone(),
                        device: device.clone(),
                        from: gate.allowed(device),
                        to: target,
                    });
                }
            }
        }
    }

    Ok(Plan { container: container.to_string(), change, devices, steps, notes: layers.notes })
}

/// Plans and, unless `dry_run`, applies `change` and verifies it.
///
/// This is the device-cgroup half of `allow`: it does not look at the driver. The
/// CLI's `allow` refuses without the driver and registers the container first,
/// because without the driver 5:1 and 4:N reach the host's console.
pub fn apply(
    context: &Context,
    container: &Container,
    change: Change,
    names: Option<&[TtyName]>,
    dry_run: bool,
) -> exit::Result<Applied> {
    let plan = plan(context, container, change, names)?;
    if dry_run {
        return Ok(Applied { plan, verification: None });
    }
    let uses_gate = plan.steps.iter().any(|step| !matches!(step, Step::V1Rule { .. }));
    if uses_gate {
        context.prepare_pin_dir()?;
    }
    super::prune(context);

    let mut journal = Journal::default();
    if let Err(error) = execute(context, container, &plan, &mut journal) {
        journal.undo(context);
        return Err(error);
    }

    let report = check::evaluate(context, container, &plan.devices)?;
    let problems: Vec<&Finding> =
        report.findings.iter().filter(|f| !f.is_probe_failure()).collect();
    if problems.is_empty() {
        return Ok(Applied { plan, verification: Some(report) });
    }
    let listed: Vec<String> = problems.iter().map(|finding| format!("  - {finding}")).collect();
    match change {
        Change::Allow => {
            journal.undo(context);
            Err(fail!(
                ExitCode::Conflict,
                "cannot allow the consoles of {}; vtty undid its changes:\n{}",
                container,
                listed.join("\n")
            ))
        }
        Change::Deny => Err(fail!(
            ExitCode::Conflict,
            "{} can still reach its consoles after deny; vtty's rules stay in place:\n{}",
            container,
            listed.join("\n")
        )),
    }
}

fn execute(
    context: &Context,
    container: &Container,
    plan: &Plan,
    journal: &mut Journal,
) -> exit::Result<()> {
    // v1 first: the kernel rejects a rule the parent forbids before anything else
    // has changed.
    let mut v1_records: Vec<(V1State, Record)> = Vec::new();
    for step in &plan.steps {
        if let Step::V1Rule { cgroup, file, device, from, to } = step {
            if v1_records.iter().all(|(state, _)| &state.cgroup != cgroup) {
                let state = V1State::load(context, cgroup)?;
                let mut record = state.record.clone().unwrap_or_default();
                record.ctid = container.ctid.clone();
                record.cgroup = cgroup.path.clone();
                journal.push(Undo::V1Record { id: state.id, prior: state.record.clone() });
                v1_records.push((state, record));
            }
            write_v1(cgroup, *file, device)?;
            journal.push(Undo::V1Rule {
                cgroup: cgroup.clone(),
                device: device.clone(),
                prior: *from,
            });
            if let Some((_, record)) =
                v1_records.iter_mut().find(|(state, _)| &state.cgroup == cgroup)
            {
                record.set(device, *to);
            }
        }
    }
    for (state, record) in &v1_records {
        context
            .records()
            .store(Version::V1, state.id, record)
            .with_context(|| format!("failed to store vtty's record of {}", state.cgroup))?;
    }

    for step in &plan.steps {
        match step {
            Step::GateCreate { cgroup, rules } => {
                let gate = gate::create(&context.pin_dir, cgroup, rules)
                    .map_err(|error| gate_error(error, cgroup))?;
                let id = cgroup
                    .id()
                    .with_context(|| format!("failed to stat {}", cgroup.dir.display()))?;
                journal.push(Undo::GateCreated { cgroup_id: id });
                let record = Record {
                    ctid: container.ctid.clone(),
                    cgroup: cgroup.path.clone(),
                    ..Record::default()
                };
                context
                    .records()
                    .store(Version::V2, id, &record)
                    .with_context(|| format!("failed to store vtty's record of {cgroup}"))?;
                drop(gate);
            }
            Step::GateReattach { cgroup, .. } => {
                let gate = current_gate(context, cgroup)?;
                gate::reattach(&gate, cgroup).map_err(|error| gate_error(error, cgroup))?;
                journal.push(Undo::GateReattached { gate });
            }
            Step::GateRule { cgroup, device, from, to } => {
                let gate = current_gate(context, cgroup)?;
                gate::update(&gate, &[(device.clone(), *to)])?;
                journal.push(Undo::GateRule { gate, device: device.clone(), prior: *from });
            }
            Step::V1Rule { .. } => {}
        }
    }
    Ok(())
}

fn current_gate(context: &Context, cgroup: &Cgroup) -> exit::Result<Gate> {
    gate::inspect(&context.pin_dir, cgroup)?.ok_or_else(|| {
        fail!(
            ExitCode::Failure,
            "vtty's gate on {cgroup} disappeared while vtty-ctl ran; run the command again"
        )
    })
}

fn gate_error(error: anyhow::Error, cgroup: &Cgroup) -> exit::Error {
    let code = if format!("{error:#}").contains("without BPF_F_ALLOW_MULTI") {
        ExitCode::Conflict
    } else {
        ExitCode::Failure
    };
    exit::Error::new(code, error.context(format!("failed to set vtty's device gate on {cgroup}")))
}

/// Writes a v1 rule for `device`, naming the forbidding ancestor on `EPERM`.
fn write_v1(cgroup: &Cgroup, file: RuleFile, device: &Device) -> exit::Result<()> {
    match v1::write_rule(cgroup, file, device, Access::ALL) {
        Ok(()) => Ok(()),
        Err(error) if error.raw_os_error() == Some(libc::EPERM) => {
            let rule = format!("{} rwm", device.rule());
            Err(match v1::forbidding_ancestor(cgroup, device, Access::ALL) {
                Some(ancestor) => fail!(
                    ExitCode::Conflict,
                    "the parent cgroup {} forbids '{rule}' ({}), so {cgroup} cannot allow it; allow \
                     it there first: echo '{rule}' > {}",
                    ancestor.path,
                    device.name,
                    ancestor.file("devices.allow").display()
                ),
                None => fail!(
                    ExitCode::Conflict,
                    "an ancestor of {cgroup} forbids '{rule}' ({}); its deny rules are hidden under \
                     default allow, so write '{rule}' to devices.allow of each ancestor of {}",
                    device.name,
                    cgroup.path
                ),
            })
        }
        Err(error) => Err(exit::Error::new(
            ExitCode::Failure,
            anyhow::Error::new(error).context(format!(
                "failed to write '{} rwm' to {}",
                device.rule(),
                cgroup.file(file.name()).display()
            )),
        )),
    }
}

/// The action that returns to the state before a step.
enum Undo {
    V1Rule { cgroup: Cgroup, device: Device, prior: Access },
    V1Record { id: u64, prior: Option<Record> },
    GateCreated { cgroup_id: u64 },
    GateReattached { gate: Gate },
    GateRule { gate: Gate, device: Device, prior: Option<Access> },
}

#[derive(Default)]
struct Journal {
    undo: Vec<Undo>,
}

impl Journal {
    fn push(&mut self, undo: Undo) {
        self.undo.push(undo);
    }

    /// Undoes every step in reverse order. Undo is best effort: an error here
    /// cannot be acted on, and the error that caused the undo is the one reported.
    fn undo(&mut self, context: &Context) {
        while let Some(undo) = self.undo.pop() {
            let result: anyhow::Result<()> = match undo {
                Undo::V1Rule { cgroup, device, prior } => restore_v1(&cgroup, &device, prior),
                Undo::V1Record { id, prior: Some(record) } => {
                    context.records().store(Version::V1, id, &record).map_err(Into::into)
                }
                Undo::V1Record { id, prior: None } => {
                    context.records().remove(Version::V1, id).map_err(Into::into)
                }
                Undo::GateCreated { cgroup_id } => gate::remove(&context.pin_dir, cgroup_id)
                    .and_then(|()| {
                        context.records().remove(Version::V2, cgroup_id).map_err(Into::into)
                    }),
                Undo::GateReattached { gate } => {
                    gate::detach_pinned_link(&gate::link_path(&gate)).map_err(Into::into)
                }
                Undo::GateRule { gate, device, prior } => gate::restore(&gate, &device, prior),
            };
            if let Err(error) = result {
                log::warn!("undo failed: {error:#}");
            }
        }
    }
}

fn restore_v1(cgroup: &Cgroup, device: &Device, prior: Access) -> anyhow::Result<()> {
    if !prior.is_empty() {
        v1::write_rule(cgroup, RuleFile::Allow, device, prior)?;
    }
    let denied = Access::ALL.without(prior);
    if !denied.is_empty() {
        v1::write_rule(cgroup, RuleFile::Deny, device, denied)?;
    }
    Ok(())
}
