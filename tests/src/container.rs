//! Containers for guest tests: a busybox userland in new pid, mount and uts
//! namespaces, with its own `/dev` of device nodes made by mknod.

use std::io::{BufRead, BufReader};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Child, Command, Output, Stdio};

use anyhow::{Context, Result, bail};

use vtty_ctl::driver::{self, Control};

const BUSYBOX: &str = "/bin/busybox";

/// A running container. Dropping it kills its init, which ends every process in
/// its pid namespace.
pub struct Container {
    /// Registration name (ctid).
    pub name: String,
    /// The container's init, as seen from the host.
    pub init_pid: i32,
    unshare: Child,
}

/// The shell snippet that builds the container's `/dev`: the console, tty0..13
/// and, when the driver is loaded, vttys0..11.
fn dev_setup_script() -> Result<String> {
    let mut script = String::from(
        "mount -t tmpfs -o mode=755 dev /dev && mknod -m 620 /dev/console c 5 1 && \
         mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/zero c 1 5 && \
         mknod -m 666 /dev/urandom c 1 9 && mknod -m 666 /dev/tty c 5 0",
    );
    for minor in 0..=13 {
        script.push_str(&format!(" && mknod -m 620 /dev/tty{minor} c 4 {minor}"));
    }
    if let Some(info) = driver::tty_driver_info().context("read /proc/tty/drivers")? {
        for index in 0..12 {
            script.push_str(&format!(" && mknod -m 620 /dev/vttys{index} c {} {index}", info.major));
        }
    }
    Ok(script)
}

impl Container {
    /// Starts a container named `name` whose init sleeps until killed.
    pub fn start(name: &str) -> Result<Self> {
        let script = format!(
            "{} && hostname {name} && echo ready && exec sleep 2147483647",
            dev_setup_script()?
        );
        let mut unshare = Command::new(BUSYBOX)
            .args(["unshare", "-p", "-m", "-u", "-f", "--mount-proc", BUSYBOX, "sh", "-c"])
            .arg(&script)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .context("start busybox unshare")?;
        let stdout = unshare.stdout.take().context("unshare has no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).context("read the container's ready line")?;
        if line.trim() != "ready" {
            let _ = unshare.kill();
            bail!("container {name} failed to start: {line:?}");
        }
        let init_pid = child_of(unshare.id() as i32)
            .with_context(|| format!("find the init of container {name}"))?;
        Ok(Self { name: name.to_owned(), init_pid, unshare })
    }

    /// A pidfd of the container's init.
    pub fn pidfd(&self) -> Result<OwnedFd> {
        pidfd_open(self.init_pid)
    }

    /// Registers the container under its name; returns its nsid.
    pub fn register(&self, control: &Control) -> Result<u64> {
        let pidfd = self.pidfd()?;
        use std::os::fd::AsRawFd;
        control
            .register(pidfd.as_raw_fd(), &self.name)
            .with_context(|| format!("register container {}", self.name))
    }

    fn command(&self, script: &str) -> Command {
        let mut command = Command::new(BUSYBOX);
        command
            .args(["nsenter", "-t", &self.init_pid.to_string(), "-p", "-m", "-u", "--", BUSYBOX])
            .args(["sh", "-c", script]);
        command
    }

    /// Runs `script` with busybox sh inside the container and waits for it.
    pub fn sh(&self, script: &str) -> Result<Output> {
        self.command(script)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run in container {}: {script}", self.name))
    }

    /// Runs `script` inside the container; fails unless it exits with 0.
    pub fn sh_ok(&self, script: &str) -> Result<String> {
        let output = self.sh(script)?;
        if !output.status.success() {
            bail!(
                "in container {}: `{script}` failed with {}: {}",
                self.name,
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Starts `script` inside the container without waiting.
    pub fn spawn(&self, script: &str) -> Result<Child> {
        self.command(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("start in container {}: {script}", self.name))
    }

    /// Runs `f` in a process inside the container's pid and mount namespaces and
    /// returns its result (0..=255). `f` runs in a forked child of this
    /// multithreaded process, so it must only make syscalls on memory that exists
    /// before the call.
    pub fn run_forked(&self, f: impl Fn() -> i32) -> Result<i32> {
        let pidfd = self.pidfd()?;
        // SAFETY: the child only calls setns, fork, waitpid, `f` and _exit.
        let child = unsafe { libc::fork() };
        if child < 0 {
            bail!("fork failed: {}", std::io::Error::last_os_error());
        }
        if child == 0 {
            use std::os::fd::AsRawFd;
            // SAFETY: plain syscalls; the child is single-threaded, as setns into a
            // mount namespace requires.
            unsafe {
                if libc::setns(pidfd.as_raw_fd(), libc::CLONE_NEWPID | libc::CLONE_NEWNS) != 0 {
                    libc::_exit(254);
                }
                let grandchild = libc::fork();
                if grandchild == 0 {
                    libc::_exit(f() & 0xff);
                }
                let mut status = 0;
                libc::waitpid(grandchild, &mut status, 0);
                libc::_exit(if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 253 });
            }
        }
        let mut status = 0;
        // SAFETY: reaps our child.
        unsafe { libc::waitpid(child, &mut status, 0) };
        if !libc::WIFEXITED(status) {
            bail!("the forked process in container {} did not exit normally", self.name);
        }
        match libc::WEXITSTATUS(status) {
            254 => bail!("setns into container {} failed", self.name),
            253 => bail!("the process in container {} was killed", self.name),
            code => Ok(code),
        }
    }

    /// Kills the container's init and waits for the namespace to end.
    pub fn stop(mut self) -> Result<()> {
        self.kill()
    }

    fn kill(&mut self) -> Result<()> {
        // SAFETY: plain syscall on a pid this test started.
        unsafe { libc::kill(self.init_pid, libc::SIGKILL) };
        self.unshare.wait().context("wait for unshare")?;
        Ok(())
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if matches!(self.unshare.try_wait(), Ok(None)) {
            let _ = self.kill();
        }
    }
}

/// The first child of `parent`, from the parent field of `/proc/*/stat`.
fn child_of(parent: i32) -> Result<i32> {
    for entry in std::fs::read_dir("/proc").context("read /proc")? {
        let name = entry?.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // The command name is in parentheses and may contain spaces.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(parent) {
            return Ok(pid);
        }
    }
    bail!("process {parent} has no child")
}

/// `pidfd_open(2)`.
pub fn pidfd_open(pid: i32) -> Result<OwnedFd> {
    // SAFETY: plain syscall; the result is a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("pidfd_open({pid})"));
    }
    // SAFETY: a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}
