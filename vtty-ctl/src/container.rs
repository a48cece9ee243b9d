//! Resolves a ctid to a container: its init, its processes and its cgroups.
//!
//! A ctid is one of:
//! - an absolute cgroup path, such as `/machine.slice/101`;
//! - a name under the configured cgroup parent, such as `101`;
//! - `pid:N`, any process of the container by its pid on the host.
//!
//! Cgroup paths apply to both hierarchies. The container is the one level-1 pid
//! namespace whose processes the cgroup holds; its init is pid 1 of that namespace.
//! In a hierarchy where the named cgroup does not exist (a runtime that made only
//! v1 cgroups, say), and for `pid:N`, the container's cgroup is the deepest one
//! that contains all of its processes.

use std::collections::BTreeSet;
use std::fmt;

use anyhow::Context as _;

use crate::cgroup::{self, Cgroup, Hierarchies, Membership, Version};
use crate::exit::{self, ExitCode};
use crate::fail;
use crate::pidns::{self, PidNs, Task};

/// A container name as the administrator typed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ctid {
    /// An absolute cgroup path.
    Cgroup(String),
    /// A cgroup name (or relative path) under the cgroup parent.
    Name(String),
    /// A process of the container, by host pid.
    Pid(i32),
}

impl Ctid {
    /// Parses a ctid, rejecting malformed `pid:` forms and paths with `.` or `..`.
    pub fn parse(text: &str) -> exit::Result<Self> {
        if let Some(number) = text.strip_prefix("pid:") {
            return match number.parse::<i32>() {
                Ok(pid) if pid > 0 => Ok(Self::Pid(pid)),
                _ => Err(fail!(
                    ExitCode::Usage,
                    "malformed container {text:?}: use pid:N with a positive process id, \
                     for example pid:4242"
                )),
            };
        }
        let trimmed = text.trim_matches('/');
        if trimmed.is_empty() {
            return Err(fail!(
                ExitCode::Usage,
                "invalid container {text:?}: the root cgroup holds the host itself; name a \
                 container's cgroup (for example 101 or /machine.slice/101) or use pid:N"
            ));
        }
        if trimmed.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
            return Err(fail!(
                ExitCode::Usage,
                "invalid container {text:?}: a cgroup path must not contain empty, '.' or '..' \
                 components"
            ));
        }
        Ok(if text.starts_with('/') {
            Self::Cgroup(format!("/{trimmed}"))
        } else {
            Self::Name(trimmed.to_owned())
        })
    }
}

/// A container's cgroup in one hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The container's cgroup: the named one, or the deepest one that contains
    /// all of the container's processes.
    pub cgroup: Cgroup,
    /// The first process found in the cgroup's subtree that is not part of the
    /// container, or `None` when the cgroup contains this container alone.
    pub shared_with: Option<Intruder>,
}

impl Placement {
    /// Returns true when the cgroup contains this container's processes and nothing
    /// else.
    pub fn exclusive(&self) -> bool {
        self.shared_with.is_none()
    }
}

/// A process outside the container found in the container's cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Intruder {
    /// Host pid.
    pub pid: i32,
    /// Its command name.
    pub comm: String,
    /// True when it runs in the host's pid namespace, false when in another
    /// container's.
    pub host: bool,
}

impl fmt::Display for Intruder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let owner = if self.host { "the host" } else { "another pid namespace" };
        write!(f, "pid {} ({}) of {owner}", self.pid, self.comm)
    }
}

/// A resolved container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// The ctid as typed.
    pub ctid: String,
    /// Host pid of the container's init.
    pub init_pid: i32,
    /// The container's level-1 pid namespace.
    pub pidns: PidNs,
    /// Host pids of every process of the container, sorted.
    pub pids: Vec<i32>,
    /// Its cgroup v1 devices cgroup, when that hierarchy is mounted.
    pub v1: Option<Placement>,
    /// Its cgroup v2 cgroup, when that hierarchy is mounted.
    pub v2: Option<Placement>,
    /// The distinct cgroup pairs that contain its processes: the leaves a helper
    /// process joins to get the device decisions the container gets.
    pub leaves: Vec<Membership>,
}

impl fmt::Display for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "container {}", self.ctid)
    }
}

impl Container {
    /// Returns the placement in `version`.
    pub fn placement(&self, version: Version) -> Option<&Placement> {
        match version {
            Version::V1 => self.v1.as_ref(),
            Version::V2 => self.v2.as_ref(),
        }
    }
}

/// Resolves `ctid` on this host. `parent` is the cgroup under which bare names are
/// looked up.
pub fn resolve(
    ctid_text: &str,
    parent: &str,
    hierarchies: &Hierarchies,
) -> exit::Result<Container> {
    let ctid = Ctid::parse(ctid_text)?;
    let tasks = pidns::scan().context("failed to read the process table in /proc")?;
    match ctid {
        Ctid::Pid(pid) => resolve_pid(ctid_text, pid, &tasks, hierarchies),
        Ctid::Cgroup(path) => resolve_cgroup(ctid_text, &path, None, &tasks, hierarchies),
        Ctid::Name(name) => {
            let path = if parent == "/" { format!("/{name}") } else { format!("{parent}/{name}") };
            resolve_cgroup(ctid_text, &path, Some(parent), &tasks, hierarchies)
        }
    }
}

fn resolve_pid(
    ctid: &str,
    pid: i32,
    tasks: &[Task],
    hierarchies: &Hierarchies,
) -> exit::Result<Container> {
    let Some(task) = tasks.iter().find(|task| task.pid == pid) else {
        return Err(fail!(
            ExitCode::NotFound,
            "no process with pid {pid} (container {ctid}); pass the pid of a running \
             process of the container"
        ));
    };
    let Some(pidns) = task.level1 else {
        return Err(no_pidns_error(&format!(
            "pid {pid} ({}) runs in the host's pid namespace",
            pidns::comm(pid)
        )));
    };
    build(ctid, pidns, None, tasks, hierarchies)
}

fn resolve_cgroup(
    ctid: &str,
    path: &str,
    parent: Option<&str>,
    tasks: &[Task],
    hierarchies: &Hierarchies,
) -> exit::Result<Container> {
    let named: Vec<Cgroup> = [Version::V1, Version::V2]
        .into_iter()
        .filter_map(|version| hierarchies.cgroup(version, path))
        .filter(Cgroup::exists)
        .collect();
    if named.is_empty() {
        return Err(cgroup_not_found(ctid, path, parent, hierarchies));
    }

    let mut pids = BTreeSet::new();
    for cgroup in &named {
        let found = cgroup
            .subtree_procs()
            .with_context(|| format!("failed to list the processes of {}", cgroup.dir.display()))?;
        pids.extend(found);
    }
    if pids.is_empty() {
        return Err(fail!(
            ExitCode::NotFound,
            "cgroup {path} (container {ctid}) holds no processes; start the container first"
        ));
    }

    let namespaces: BTreeSet<PidNs> = tasks
        .iter()
        .filter(|task| pids.contains(&task.pid))
        .filter_map(|task| task.level1)
        .collect();
    if namespaces.len() > 1 {
        let inits: Vec<String> = tasks
            .iter()
            .filter(|task| task.is_level1_init() && pids.contains(&task.pid))
            .map(|task| task.pid.to_string())
            .collect();
        return Err(fail!(
            ExitCode::Usage,
            "cgroup {path} holds processes of {} pid namespaces (inits: {}); name one \
             container with pid:N",
            namespaces.len(),
            if inits.is_empty() { "none in the cgroup".to_owned() } else { inits.join(", ") }
        ));
    }
    let Some(&pidns) = namespaces.first() else {
        return Err(no_pidns_error(&format!(
            "every process in cgroup {path} runs in the host's pid namespace"
        )));
    };
    build(ctid, pidns, Some(path), tasks, hierarchies)
}

/// Builds the container of `pidns`. `named` is the cgroup path the ctid named.
fn build(
    ctid: &str,
    pidns: PidNs,
    named: Option<&str>,
    tasks: &[Task],
    hierarchies: &Hierarchies,
) -> exit::Result<Container> {
    let members: Vec<&Task> = tasks.iter().filter(|task| task.level1 == Some(pidns)).collect();
    let Some(init) = members.iter().find(|task| task.is_level1_init()) else {
        return Err(fail!(
            ExitCode::NotFound,
            "the init (pid 1) of container {ctid}'s pid namespace has exited; restart the \
             container"
        ));
    };

    let mut placements = [None, None];
    for (slot, version) in placements.iter_mut().zip([Version::V1, Version::V2]) {
        *slot = place(version, pidns, named, &members, tasks, hierarchies)?;
    }
    let [v1, v2] = placements;

    let mut leaves: Vec<Membership> = members.iter().map(|task| task.cgroups.clone()).collect();
    leaves.sort_by(|a, b| (&a.v2, &a.v1_devices).cmp(&(&b.v2, &b.v1_devices)));
    leaves.dedup();

    Ok(Container {
        ctid: ctid.to_owned(),
        init_pid: init.pid,
        pidns,
        pids: members.iter().map(|task| task.pid).collect(),
        v1,
        v2,
        leaves,
    })
}

/// Finds the container's cgroup in one hierarchy and whether it shares it.
fn place(
    version: Version,
    pidns: PidNs,
    named: Option<&str>,
    members: &[&Task],
    tasks: &[Task],
    hierarchies: &Hierarchies,
) -> exit::Result<Option<Placement>> {
    if hierarchies.get(version).is_none() {
        return Ok(None);
    }
    let named_cgroup =
        named.and_then(|path| hierarchies.cgroup(version, path)).filter(Cgroup::exists);
    let cgroup = match named_cgroup {
        Some(cgroup) => cgroup,
        None => {
            let paths = members.iter().filter_map(|task| task.cgroups.get(version));
            let path = cgroup::common_ancestor(paths);
            match hierarchies.cgroup(version, &path) {
                Some(cgroup) => cgroup,
                None => return Ok(None),
            }
        }
    };
    let pids = cgroup
        .subtree_procs()
        .with_context(|| format!("failed to list the processes of {}", cgroup.dir.display()))?;
    let shared_with = pids.iter().find_map(|pid| {
        let task = tasks.iter().find(|task| task.pid == *pid)?;
        match task.level1 {
            Some(ns) if ns == pidns => None,
            level1 => Some(Intruder { pid: *pid, comm: pidns::comm(*pid), host: level1.is_none() }),
        }
    });
    Ok(Some(Placement { cgroup, shared_with }))
}

fn no_pidns_error(what: &str) -> exit::Error {
    fail!(
        ExitCode::NotFound,
        "{what}, so it is no container vtty can serve: without a pid namespace of its own, \
         its opens of /dev/console and /dev/ttyN would reach the host's console; run the \
         container with its own pid namespace"
    )
}

fn cgroup_not_found(
    ctid: &str,
    path: &str,
    parent: Option<&str>,
    hierarchies: &Hierarchies,
) -> exit::Error {
    let looked: Vec<String> = [Version::V1, Version::V2]
        .into_iter()
        .filter_map(|version| hierarchies.get(version)?.dir(path))
        .map(|dir| dir.display().to_string())
        .collect();
    if looked.is_empty() {
        return fail!(
            ExitCode::NotFound,
            "no cgroup hierarchy with device control is mounted (neither cgroup v1 devices \
             nor cgroup v2); mount one, or name the container with pid:N"
        );
    }
    match parent {
        Some(parent) => fail!(
            ExitCode::NotFound,
            "no cgroup named {ctid} under {parent} (looked in {}); pass an absolute cgroup \
             path or pid:N, or set --cgroup-parent",
            looked.join(" and ")
        ),
        None => fail!(
            ExitCode::NotFound,
            "no cgroup {path} (looked in {}); check the path in /proc/PID/cgroup of a \
             container process, or use pid:N",
            looked.join(" and ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctid_forms() {
        assert_eq!(Ctid::parse("101").expect("name"), Ctid::Name("101".to_owned()));
        assert_eq!(Ctid::parse("lxc/101").expect("relative"), Ctid::Name("lxc/101".to_owned()));
        assert_eq!(
            Ctid::parse("/machine.slice/101/").expect("absolute"),
            Ctid::Cgroup("/machine.slice/101".to_owned())
        );
        assert_eq!(Ctid::parse("pid:4242").expect("pid"), Ctid::Pid(4242));
    }

    #[test]
    fn malformed_ctids_are_usage_errors() {
        for bad in ["pid:", "pid:x", "pid:-1", "pid:0", "/", "", "a/../b", "/a//b", "./a"] {
            let error = Ctid::parse(bad).expect_err(bad);
            assert_eq!(error.code(), ExitCode::Usage, "{bad}");
            assert!(error.to_string().contains(&format!("{bad:?}")), "{bad}: {error}");
        }
    }
}
