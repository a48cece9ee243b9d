//! Processes and their pid namespaces, read from `/proc`.
//!
//! A container is a level-1 pid namespace (a child of the initial one) with every
//! namespace nested in it, so each process is sorted by the level-1 namespace it
//! lives in. Namespaces are compared by the device and inode of their nsfs file,
//! which identify a namespace for as long as it is alive. vtty-ctl only compares
//! namespaces of processes it has just read.

use std::fs::{self, File};
use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::fs::MetadataExt as _;

use crate::cgroup::Membership;

/// `NS_GET_PARENT`, `_IO(0xb7, 0x2)` from `<linux/nsfs.h>`: returns a file
/// descriptor of the parent of a pid or user namespace.
const NS_GET_PARENT: libc::Ioctl = 0xb702;

/// A pid namespace, named by its nsfs file's device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PidNs {
    /// Device of the nsfs file.
    pub dev: u64,
    /// Inode of the nsfs file, the number `ls -l /proc/PID/ns/pid` shows.
    pub ino: u64,
}

/// One process as `/proc` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// Pid in the initial pid namespace.
    pub pid: i32,
    /// The `NSpid` line: its pid in each namespace from the initial one down to
    /// its own.
    pub nspid: Vec<i32>,
    /// Its level-1 pid namespace, `None` for a process of the initial one.
    pub level1: Option<PidNs>,
    /// Its cgroups.
    pub cgroups: Membership,
}

impl Task {
    /// True for pid 1 of a level-1 pid namespace: the init of a container.
    pub fn is_level1_init(&self) -> bool {
        self.nspid.len() >= 2 && self.nspid[1] == 1
    }

    /// Reads one process; `Ok(None)` when it exited meanwhile.
    pub fn read(pid: i32) -> io::Result<Option<Self>> {
        let status = match fs::read_to_string(format!("/proc/{pid}/status")) {
            Ok(status) => status,
            Err(error) if gone(&error) => return Ok(None),
            Err(error) => return Err(error),
        };
        let nspid = parse_nspid(&status).unwrap_or_else(|| vec![pid]);
        let level1 = match level1_pidns(pid, nspid.len()) {
            Ok(level1) => level1,
            Err(error) if gone(&error) => return Ok(None),
            Err(error) => return Err(error),
        };
        let cgroups = match Membership::of_pid(pid) {
            Ok(cgroups) => cgroups,
            Err(error) if gone(&error) => return Ok(None),
            Err(error) => return Err(error),
        };
        Ok(Some(Self { pid, nspid, level1, cgroups }))
    }
}

/// True for the errors of reading a process that exited.
fn gone(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::ENOENT | libc::ESRCH))
}

/// Reads every process in `/proc`.
pub fn scan() -> io::Result<Vec<Task>> {
    let mut tasks = Vec::new();
    for entry in fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else {
            continue;
        };
        if let Some(task) = Task::read(pid)? {
            tasks.push(task);
        }
    }
    tasks.sort_by_key(|task| task.pid);
    Ok(tasks)
}

/// Parses the `NSpid:` line of `/proc/PID/status`.
pub fn parse_nspid(status: &str) -> Option<Vec<i32>> {
    let line = status.lines().find_map(|line| line.strip_prefix("NSpid:"))?;
    line.split_whitespace().map(|pid| pid.parse().ok()).collect()
}

/// Finds the level-1 pid namespace of `pid`, whose `NSpid` line has `levels`
/// entries.
fn level1_pidns(pid: i32, levels: usize) -> io::Result<Option<PidNs>> {
    if levels < 2 {
        return Ok(None);
    }
    let file = File::open(format!("/proc/{pid}/ns/pid"))?;
    let mut fd = OwnedFd::from(file);
    for _ in 2..levels {
        // SAFETY: NS_GET_PARENT takes no argument and returns a new file descriptor
        // or -1; `fd` is an open nsfs file for the duration of the call.
        let parent = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_PARENT) };
        if parent < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: on success the ioctl returned a new file descriptor that we own.
        fd = unsafe { OwnedFd::from_raw_fd(parent) };
    }
    let metadata = File::from(fd).metadata()?;
    Ok(Some(PidNs { dev: metadata.dev(), ino: metadata.ino() }))
}

/// Reads the command name of a process, or `?` when it exited.
pub fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|comm| comm.trim_end().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nspid_line_parses() {
        let status = "Name:\tsleep\nTgid:\t4242\nNSpid:\t4242\t17\t1\nNSpgid:\t1\n";
        assert_eq!(parse_nspid(status), Some(vec![4242, 17, 1]));
        assert_eq!(parse_nspid("Name:\tx\n"), None);
    }

    #[test]
    fn own_process_is_in_initial_namespace() {
        let task = Task::read(std::process::id() as i32).expect("read /proc/self").expect("alive");
        assert!(!task.nspid.is_empty());
        if task.nspid.len() == 1 {
            assert_eq!(task.level1, None);
            assert!(!task.is_level1_init());
        }
    }
}
