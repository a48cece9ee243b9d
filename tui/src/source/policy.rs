//! Allow and deny through the device-cgroup policy library of `vtty-ctl`.

use std::io;

use vtty_ctl::config::Config;
use vtty_ctl::container;
use vtty_ctl::driver::{self, Control};
use vtty_ctl::policy::{self, Applied, Change, Context};

use super::PolicyTarget;

/// Grants (`Change::Allow`) or removes (`Change::Deny`) the console device set of
/// a registered container and returns a one-line summary of what changed.
///
/// The container is resolved as `pid:N` from the init pid the driver registered
/// for its nsid, so the change reaches exactly the container on screen whatever
/// cgroup parent is configured.
pub fn change(change: Change, target: &PolicyTarget) -> Result<String, String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("changing device cgroups needs root; run vtty-top as root".to_owned());
    }
    let control = Control::open().map_err(|error| match error.kind() {
        io::ErrorKind::NotFound => format!(
            "{} is missing, so the vtty driver is not loaded; load it first",
            driver::CONTROL_DEVICE
        ),
        _ => format!("opening {} failed: {error}", driver::CONTROL_DEVICE),
    })?;
    let listed = control.list().map_err(|error| {
        format!(
            "listing containers on {} failed: {error}",
            driver::CONTROL_DEVICE
        )
    })?;
    let Some(info) = listed.iter().find(|info| info.nsid == target.nsid) else {
        return Err(format!(
            "nsid {} is no longer registered with the driver; nothing changed",
            target.nsid
        ));
    };
    if change == Change::Allow && !info.registered {
        return Err(format!(
            "{} was unregistered and stays fenced until its init exits; restart the container, \
             then allow it again",
            target.name
        ));
    }

    let config = Config::load(None).map_err(|error| error.to_string())?;
    let context = Context::new(&config).map_err(|error| error.to_string())?;
    if change == Change::Allow && context.vttys_major.is_none() {
        return Err(
            "the vtty driver is not loaded, so 5:1 and 4:N would reach the host's own \
                    console; load the driver first"
                .to_owned(),
        );
    }
    let ctid = format!("pid:{}", info.init_pid);
    let container = container::resolve(&ctid, &config.cgroup_parent, &context.hierarchies)
        .map_err(|error| error.to_string())?;
    let applied = policy::apply(&context, &container, change, None, false)
        .map_err(|error| error.to_string())?;
    Ok(summary(&applied))
}

/// Summarizes what an allow or deny changed and whether the check confirmed it.
fn summary(applied: &Applied) -> String {
    let changed = applied.plan.changes().count();
    let mut text = match changed {
        0 => "nothing to change".to_owned(),
        1 => "changed 1 rule".to_owned(),
        n => format!("changed {n} rules"),
    };
    if let Some(report) = &applied.verification {
        match report
            .findings
            .iter()
            .find(|finding| finding.is_probe_failure())
        {
            Some(finding) => text.push_str(&format!("; not verified: {finding}")),
            None => text.push_str("; verified"),
        }
    }
    for note in &applied.plan.notes {
        text.push_str(&format!("; {note}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use vtty_ctl::cgroup::{Cgroup, Version};
    use vtty_ctl::policy::check::{CheckReport, Finding};
    use vtty_ctl::policy::devices::{Access, Device};
    use vtty_ctl::policy::v1::RuleFile;
    use vtty_ctl::policy::{Plan, Step};

    use super::*;

    fn v1_rule(minor: u32, from: Access, to: Access) -> Step {
        Step::V1Rule {
            cgroup: Cgroup {
                version: Version::V1,
                path: "/ct101".to_owned(),
                dir: PathBuf::from("/sys/fs/cgroup/devices/ct101"),
            },
            file: RuleFile::Allow,
            device: Device {
                major: 4,
                minor,
                name: format!("tty{minor}"),
            },
            from,
            to,
        }
    }

    fn applied(steps: Vec<Step>, findings: Option<Vec<Finding>>, notes: Vec<String>) -> Applied {
        let plan = Plan {
            container: "container 101".to_owned(),
            change: Change::Allow,
            devices: Vec::new(),
            steps,
            notes,
        };
        let verification = findings.map(|findings| CheckReport {
            container: "container 101".to_owned(),
            init_pid: 4321,
            devices: Vec::new(),
            expected: Vec::new(),
            leaves: Vec::new(),
            findings,
            notes: Vec::new(),
        });
        Applied { plan, verification }
    }

    #[test]
    fn summary_nothing_to_change() {
        let steps = vec![v1_rule(2, Access::ALL, Access::ALL)];
        assert_eq!(
            summary(&applied(steps, None, Vec::new())),
            "nothing to change"
        );
    }

    #[test]
    fn summary_counts_verified_changes() {
        let steps = vec![
            v1_rule(2, Access::NONE, Access::ALL),
            v1_rule(3, Access::NONE, Access::ALL),
        ];
        assert_eq!(
            summary(&applied(steps, Some(Vec::new()), Vec::new())),
            "changed 2 rules; verified"
        );
    }

    #[test]
    fn summary_reports_unverified_change() {
        let steps = vec![v1_rule(2, Access::NONE, Access::ALL)];
        let failure = Finding::ProbeFailed {
            leaf: "/ct101".to_owned(),
            error: "timed out".to_owned(),
        };
        let expected = format!("changed 1 rule; not verified: {failure}");
        assert_eq!(
            summary(&applied(steps, Some(vec![failure]), Vec::new())),
            expected
        );
    }

    #[test]
    fn summary_keeps_notes() {
        let notes = vec!["v2 is only checked".to_owned()];
        assert_eq!(
            summary(&applied(Vec::new(), None, notes)),
            "nothing to change; v2 is only checked"
        );
    }
}
