//! Fixtures for the host tests: test cgroups in the v1 devices and v2
//! hierarchies, a container process with its own pid namespace, a private bpffs,
//! and a process that opens a device node from inside the container's cgroups.
//!
//! Every fixture removes what it created when dropped. Tests that need root or a
//! hierarchy print why they skip and return.

#![allow(dead_code, reason = "each test binary uses a different part of the fixtures")]

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::Command;

use vtty_ctl::cgroup::{Hierarchies, Version};
use vtty_ctl::config::Config;
use vtty_ctl::container::{self, Container};
use vtty_ctl::policy::Context;

/// Which hierarchies a test's container gets its own cgroup in. In a hierarchy
/// without one it stays in the test's own cgroup, which it shares with the host.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub v1: bool,
    pub v2: bool,
}

pub const V1: Layout = Layout { v1: true, v2: false };
pub const V2: Layout = Layout { v1: false, v2: true };
pub const HYBRID: Layout = Layout { v1: true, v2: true };
pub const SHARED: Layout = Layout { v1: false, v2: false };

/// Why the test cannot run here, or `None`.
pub fn skip_reason(layout: Layout) -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("needs root to create cgroups and load BPF programs".to_owned());
    }
    let hierarchies = match Hierarchies::discover() {
        Ok(hierarchies) => hierarchies,
        Err(error) => return Some(format!("cannot read mountinfo: {error}")),
    };
    if layout.v1 && hierarchies.v1_devices.is_none() {
        return Some("no cgroup v1 devices hierarchy is mounted".to_owned());
    }
    if layout.v2 && hierarchies.v2.is_none() {
        return Some("no cgroup v2 hierarchy is mounted".to_owned());
    }
    None
}

/// Returns from the test with a printed reason when it cannot run here.
#[macro_export]
macro_rules! require {
    ($layout:expr) => {
        if let Some(reason) = common::skip_reason($layout) {
            eprintln!("skipped: {reason}");
            return;
        }
    };
}

/// One test's cgroups, container, bpffs and files.
pub struct Env {
    /// Cgroup name, also the basename of the temporary directory.
    pub name: String,
    /// Temporary directory with `bpf/` (a private bpffs), `state/`, `nodes/` and
    /// `config.toml`.
    pub dir: PathBuf,
    pub hierarchies: Hierarchies,
    /// The test cgroups' directories.
    pub v1: Option<PathBuf>,
    pub v2: Option<PathBuf>,
    /// Host pid of the container's init.
    pub init_pid: i32,
    bpffs_mounted: bool,
}

impl Env {
    /// Creates the cgroups of `layout` under the name `vtty-test-TAG-PID` and
    /// starts a container in them.
    pub fn new(tag: &str, layout: Layout) -> Self {
        let name = format!("vtty-test-{tag}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("bpf")).expect("create bpf dir");
        fs::create_dir_all(dir.join("state")).expect("create state dir");
        fs::create_dir_all(dir.join("nodes")).expect("create nodes dir");
        let hierarchies = Hierarchies::discover().expect("mountinfo");
        let mut env = Self {
            name: name.clone(),
            dir: dir.clone(),
            hierarchies: hierarchies.clone(),
            v1: None,
            v2: None,
            init_pid: 0,
            bpffs_mounted: false,
        };
        nix::mount::mount(
            Some("bpf"),
            &dir.join("bpf"),
            Some("bpf"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        )
        .expect("mount a private bpffs");
        env.bpffs_mounted = true;
        fs::write(
            dir.join("config.toml"),
            format!(
                "pin_dir = \"{}\"\nstate_dir = \"{}\"\n",
                dir.join("bpf/vtty").display(),
                dir.join("state").display()
            ),
        )
        .expect("write config");
        if layout.v1 {
            let path = hierarchies.v1_devices.as_ref().expect("v1").mount_point.join(&name);
            fs::create_dir(&path).expect("create v1 cgroup");
            env.v1 = Some(path);
        }
        if layout.v2 {
            let path = hierarchies.v2.as_ref().expect("v2").mount_point.join(&name);
            fs::create_dir(&path).expect("create v2 cgroup");
            env.v2 = Some(path);
        }
        env.init_pid = spawn_container(env.v2.as_deref(), None).expect("start the container");
        if let Some(v1) = &env.v1 {
            fs::write(v1.join("cgroup.procs"), env.init_pid.to_string())
                .expect("move the container into v1");
        }
        env
    }

    /// Returns the ctid that names the container: its absolute cgroup path, or
    /// `pid:N` when it has no test cgroup.
    pub fn ctid(&self) -> String {
        if self.v1.is_some() || self.v2.is_some() {
            format!("/{}", self.name)
        } else {
            format!("pid:{}", self.init_pid)
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }

    pub fn pin_dir(&self) -> PathBuf {
        self.dir.join("bpf/vtty")
    }

    pub fn config(&self) -> Config {
        Config {
            cgroup_parent: "/".to_owned(),
            pin_dir: self.pin_dir(),
            state_dir: self.dir.join("state"),
        }
    }

    pub fn context(&self) -> Context {
        Context::new(&self.config()).expect("policy context")
    }

    pub fn container(&self) -> Container {
        container::resolve(&self.ctid(), "/", &self.hierarchies)
            .expect("resolve the test container")
    }

    /// Returns the v2 test cgroup as the library names it.
    pub fn v2_cgroup(&self) -> vtty_ctl::cgroup::Cgroup {
        self.hierarchies.cgroup(Version::V2, &format!("/{}", self.name)).expect("v2 cgroup")
    }

    /// Runs the vtty-ctl binary with this test's configuration.
    pub fn cli(&self, args: &[&str]) -> Run {
        run_cli(args, &[("VTTY_CONFIG", self.config_path().to_str().expect("utf-8 path"))], None)
    }

    /// Makes a character device node in the test directory.
    pub fn node(&self, name: &str, major: u32, minor: u32) -> PathBuf {
        let path = self.dir.join("nodes").join(name);
        if !path.exists() {
            nix::sys::stat::mknod(
                &path,
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::from_bits_truncate(0o600),
                nix::sys::stat::makedev(major.into(), minor.into()),
            )
            .expect("mknod test node");
        }
        path
    }

    /// Opens `node` from a process in the container's test cgroups and returns
    /// the errno (0 when the open succeeded).
    pub fn open_errno(&self, node: &Path) -> i32 {
        let procs: Vec<PathBuf> =
            [&self.v1, &self.v2].into_iter().flatten().map(|d| d.join("cgroup.procs")).collect();
        open_in_cgroups(&procs, node)
    }

    /// Device program ids attached to the v2 test cgroup.
    pub fn attached_programs(&self) -> Vec<u32> {
        vtty_ctl::policy::bpf::device_programs(self.v2.as_ref().expect("v2 cgroup"), false)
            .expect("query")
    }

    /// Everything that a failed command must leave unchanged: the rules vtty
    /// reports, its pins and records, the v1 list and the attached programs.
    pub fn snapshot(&self) -> String {
        let mut text = self.cli(&["rules", &self.ctid()]).stdout;
        for root in [self.dir.join("bpf"), self.dir.join("state")] {
            let mut entries = Vec::new();
            list_tree(&root, &mut entries);
            entries.sort();
            text.push_str(&entries.join("\n"));
            text.push('\n');
        }
        if let Some(v1) = &self.v1 {
            text.push_str(&fs::read_to_string(v1.join("devices.list")).unwrap_or_default());
        }
        if self.v2.is_some() {
            text.push_str(&format!("{:?}", self.attached_programs()));
        }
        text
    }
}

/// Lists the files below `dir`; empty directories are no state.
fn list_tree(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            list_tree(&path, out);
        } else {
            out.push(path.display().to_string());
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        kill(self.init_pid);
        if self.bpffs_mounted {
            // Unmounting drops the pins, which detaches any gate's link.
            let _ = nix::mount::umount2(&self.dir.join("bpf"), nix::mount::MntFlags::MNT_DETACH);
        }
        for dir in [&self.v1, &self.v2].into_iter().flatten() {
            remove_cgroup(dir);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Removes a test cgroup after killing whatever is left in it.
pub fn remove_cgroup(dir: &Path) {
    if let Ok(children) = fs::read_dir(dir) {
        for child in children.flatten() {
            if child.path().is_dir() {
                remove_cgroup(&child.path());
            }
        }
    }
    if let Ok(text) = fs::read_to_string(dir.join("cgroup.procs")) {
        for pid in text.lines().filter_map(|line| line.trim().parse().ok()) {
            kill(pid);
        }
    }
    let _ = fs::write(dir.join("cgroup.freeze"), "0");
    if let Err(error) = fs::remove_dir(dir) {
        eprintln!("warning: could not remove test cgroup {}: {error}", dir.display());
    }
}

/// Kills and reaps a child of this process.
pub fn kill(pid: i32) {
    if pid <= 0 {
        return;
    }
    let pid = nix::unistd::Pid::from_raw(pid);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
}

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Starts `sleep` as pid 1 of a new pid namespace, born into the v2 cgroup `v2`.
/// With `root`, the child also gets its own mount namespace, chroots there and
/// waits without exec (for mknod tests, which write into its root).
pub fn spawn_container(v2: Option<&Path>, root: Option<&Path>) -> io::Result<i32> {
    let sleep = CString::new("/bin/sleep").expect("path");
    let arg0 = CString::new("sleep").expect("arg");
    let arg1 = CString::new("100000").expect("arg");
    let argv = [arg0.as_ptr(), arg1.as_ptr(), std::ptr::null()];
    let root =
        root.map(|root| CString::new(root.as_os_str().as_encoded_bytes()).expect("root path"));
    let v2_dir = v2.map(fs::File::open).transpose()?;

    let mut args = CloneArgs {
        flags: libc::CLONE_NEWPID as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if root.is_some() {
        args.flags |= libc::CLONE_NEWNS as u64;
    }
    if let Some(dir) = &v2_dir {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = dir.as_raw_fd() as u64;
    }
    // SAFETY: clone3 with a zero stack forks. The child makes only raw system
    // calls (mount, chroot, pause, execv, _exit) on memory prepared above.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if pid == 0 {
        // SAFETY: as above; the child never returns.
        unsafe {
            if let Some(root) = &root {
                libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                );
                if libc::chroot(root.as_ptr()) != 0 {
                    libc::_exit(101);
                }
                loop {
                    libc::pause();
                }
            }
            libc::execv(sleep.as_ptr(), argv.as_ptr());
            libc::_exit(127)
        }
    }
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid as i32)
}

/// Forks a process that joins the cgroups whose `cgroup.procs` files are given,
/// opens `node` read-only, and exits with the errno of the open (0 on success).
pub fn open_in_cgroups(procs: &[PathBuf], node: &Path) -> i32 {
    let files: Vec<fs::File> = procs
        .iter()
        .map(|path| fs::OpenOptions::new().write(true).open(path).expect("open cgroup.procs"))
        .collect();
    let node = CString::new(node.as_os_str().as_encoded_bytes()).expect("node path");
    // SAFETY: the child makes only raw system calls on memory prepared above.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: as above; the child never returns.
        unsafe {
            for file in &files {
                if libc::write(file.as_raw_fd(), c"0".as_ptr().cast(), 1) != 1 {
                    libc::_exit(200);
                }
            }
            let fd = libc::open(node.as_ptr(), libc::O_RDONLY | libc::O_NOCTTY | libc::O_NONBLOCK);
            if fd < 0 {
                libc::_exit(*libc::__errno_location());
            }
            libc::close(fd);
            libc::_exit(0)
        }
    }
    assert!(pid > 0, "fork failed: {}", io::Error::last_os_error());
    let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None).expect("waitpid");
    match status {
        nix::sys::wait::WaitStatus::Exited(_, 200) => {
            panic!("the opener could not join the cgroups")
        }
        nix::sys::wait::WaitStatus::Exited(_, code) => code,
        other => panic!("the opener ended with {other:?}"),
    }
}

/// The result of running the CLI.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the vtty-ctl binary with extra environment variables, optionally as `uid`.
pub fn run_cli(args: &[&str], env: &[(&str, &str)], uid: Option<u32>) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vtty-ctl"));
    command.args(args).env_remove("VTTY_CGROUP_PARENT").env_remove("VTTY_CONFIG");
    for (key, value) in env {
        command.env(key, value);
    }
    if let Some(uid) = uid {
        std::os::unix::process::CommandExt::uid(&mut command, uid);
    }
    let output = command.output().expect("run vtty-ctl");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Parses `rules` output into (layer, device, access) triples.
pub fn parse_rules(stdout: &str) -> Vec<(String, String, String)> {
    stdout
        .lines()
        .filter(|line| line.starts_with("v1 ") || line.starts_with("v2 "))
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // v1 /cgroup c 4:2 tty2 --- source...
            (fields[0].to_owned(), format!("{} {}", fields[2], fields[3]), fields[5].to_owned())
        })
        .collect()
}

/// Builds the expected `rules` lines for `layers` when `denied` devices (`c 4:2`)
/// have no access and every other device of the set has rwm.
pub fn expected_rules(layers: &[&str], denied: &[&str]) -> Vec<(String, String, String)> {
    let mut devices: Vec<String> = (0..=12).map(|minor| format!("c 4:{minor}")).collect();
    devices.push("c 5:1".to_owned());
    let mut lines = Vec::new();
    for layer in layers {
        for device in &devices {
            let access = if denied.contains(&device.as_str()) { "---" } else { "rwm" };
            lines.push((layer.to_string(), device.clone(), access.to_owned()));
        }
    }
    lines
}

/// A cgroup device program loaded the way runc and systemd do it (plain
/// `BPF_PROG_LOAD` and `BPF_PROG_ATTACH` with `BPF_F_ALLOW_MULTI`) that denies
/// every access to 5:1. Detached when dropped.
pub struct ForeignProgram {
    program: OwnedFd,
    cgroup: fs::File,
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> u64 {
    let bytes = [
        code,
        (src << 4) | dst,
        off.to_le_bytes()[0],
        off.to_le_bytes()[1],
        imm.to_le_bytes()[0],
        imm.to_le_bytes()[1],
        imm.to_le_bytes()[2],
        imm.to_le_bytes()[3],
    ];
    u64::from_le_bytes(bytes)
}

fn sys_bpf<T>(command: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a `#[repr(C)]` prefix of `union bpf_attr` for `command`.
    let ret =
        unsafe { libc::syscall(libc::SYS_bpf, command, attr as *mut T, std::mem::size_of::<T>()) };
    if ret < 0 { Err(io::Error::last_os_error()) } else { Ok(ret) }
}

impl ForeignProgram {
    /// Loads the program and attaches it to the cgroup directory `cgroup`.
    pub fn attach(cgroup: &Path) -> Self {
        const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
        const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
        const MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
        const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT
        let program = [
            insn(LDX_W, 2, 1, 4, 0), // r2 = ctx->major
            insn(JNE_K, 2, 0, 4, 5), // if r2 != 5 goto allow
            insn(LDX_W, 2, 1, 8, 0), // r2 = ctx->minor
            insn(JNE_K, 2, 0, 2, 1), // if r2 != 1 goto allow
            insn(MOV_K, 0, 0, 0, 0), // r0 = 0 (deny)
            insn(EXIT, 0, 0, 0, 0),
            insn(MOV_K, 0, 0, 0, 1), // allow: r0 = 1
            insn(EXIT, 0, 0, 0, 0),
        ];
        let license = c"GPL";
        let mut name = [0u8; 16];
        name[..12].copy_from_slice(b"foreign_deny");
        let mut attr = ProgLoadAttr {
            prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt: program.len() as u32,
            insns: program.as_ptr() as u64,
            license: license.as_ptr() as u64,
            prog_name: name,
            expected_attach_type: BPF_CGROUP_DEVICE,
            ..ProgLoadAttr::default()
        };
        let fd = sys_bpf(BPF_PROG_LOAD, &mut attr).expect("load the foreign program");
        // SAFETY: BPF_PROG_LOAD returned a new descriptor that we own.
        let program = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        let cgroup = fs::File::open(cgroup).expect("open cgroup");
        let mut attach = ProgAttachAttr {
            target_fd: cgroup.as_raw_fd() as u32,
            attach_bpf_fd: program.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            attach_flags: BPF_F_ALLOW_MULTI,
            ..ProgAttachAttr::default()
        };
        sys_bpf(BPF_PROG_ATTACH, &mut attach).expect("attach the foreign program");
        Self { program, cgroup }
    }
}

impl Drop for ForeignProgram {
    fn drop(&mut self) {
        let mut detach = ProgAttachAttr {
            target_fd: self.cgroup.as_raw_fd() as u32,
            attach_bpf_fd: self.program.as_raw_fd() as u32,
            attach_type: BPF_CGROUP_DEVICE,
            ..ProgAttachAttr::default()
        };
        let _ = sys_bpf(BPF_PROG_DETACH, &mut detach);
    }
}
