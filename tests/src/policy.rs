//! Guest tests of `vtty-ctl` with the driver loaded: registration, allow and deny
//! from inside a container, mknod, check, and the console client under a pipe and
//! under a pseudo-terminal.
//!
//! Each test makes a container: a process cloned into a new pid namespace and
//! into test cgroups in both hierarchies, chrooted into a directory under /tmp
//! whose /dev `vtty-ctl mknod` fills. Work "inside the container" runs in a process
//! that joins the container's pid namespace, cgroups and root. The harness runs
//! every test in its own single-threaded process, so forked children may run
//! ordinary Rust code.

use std::ffi::CString;
use std::fs;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};

/// A named guest test, the same shape as the harness's `Test`.
pub type Test = (&'static str, fn() -> Result<()>);

/// The tests of this module, run by the guest harness.
pub const TESTS: &[Test] = &[
    ("allow_opens_console_deny_restores_eperm", allow_opens_console_deny_restores_eperm),
    ("unregister_revokes_the_grant", unregister_revokes_the_grant),
    ("check_passes_with_vttys_major", check_passes_with_vttys_major),
    ("console_shows_container_output", console_shows_container_output),
    ("console_under_pty", console_under_pty),
    ("console_busy_and_takeover", console_busy_and_takeover),
    ("console_ends_when_container_stops", console_ends_when_container_stops),
    ("register_refuses_host_process", register_refuses_host_process),
    ("status_lists_registered_container", status_lists_registered_container),
];

/// Bound of every wait below; only turns a hang into a failure.
const WATCHDOG: Duration = Duration::from_secs(30);

const V1_ROOT: &str = "/sys/fs/cgroup/devices";
const V2_ROOT: &str = "/sys/fs/cgroup/unified";

/// Runs `vtty-ctl` with `args` and collects its output.
fn vtty_ctl(args: &[&str]) -> Result<Output> {
    Command::new("vtty-ctl")
        .args(args)
        .output()
        .with_context(|| format!("running vtty-ctl {args:?}"))
}

/// Runs `vtty-ctl` and fails unless it exits with `code`.
fn expect_exit(args: &[&str], code: i32) -> Result<Output> {
    let output = vtty_ctl(args)?;
    ensure!(
        output.status.code() == Some(code),
        "vtty-ctl {args:?} exited with {:?}, expected {code}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn require_driver() -> Result<()> {
    ensure!(
        vtty_ctl::driver::tty_driver_info().context("reading /proc/tty/drivers")?.is_some(),
        "the vtty driver is not loaded (no vtty line in /proc/tty/drivers)"
    );
    Ok(())
}

/// A container: pid 1 of a new pid namespace in its own cgroups, chrooted into
/// `root`.
struct Container {
    name: String,
    root: PathBuf,
    v1: PathBuf,
    v2: PathBuf,
    init_pid: i32,
}

impl Container {
    fn start(tag: &str) -> Result<Self> {
        let name = format!("vtty-guest-{tag}");
        let root = PathBuf::from("/tmp").join(&name);
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("dev")).context("creating the container's /dev")?;
        let v1 = Path::new(V1_ROOT).join(&name);
        let v2 = Path::new(V2_ROOT).join(&name);
        fs::create_dir(&v1).with_context(|| format!("creating {}", v1.display()))?;
        fs::create_dir(&v2).with_context(|| format!("creating {}", v2.display()))?;
        let mut container = Self { name, root, v1, v2, init_pid: 0 };

        let root = CString::new(container.root.as_os_str().as_encoded_bytes())?;
        let mut args = CloneArgs {
            flags: libc::CLONE_NEWPID as u64,
            exit_signal: libc::SIGCHLD as u64,
            ..CloneArgs::default()
        };
        let v2_dir = fs::File::open(&container.v2)?;
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = v2_dir.as_raw_fd() as u64;
        // SAFETY: clone3 with a zero stack forks; the child only chroots and pauses.
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
                if libc::chroot(root.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
                    libc::_exit(101);
                }
                loop {
                    libc::pause();
                }
            }
        }
        ensure!(pid > 0, "clone3 failed: {}", std::io::Error::last_os_error());
        container.init_pid = pid as i32;
        fs::write(container.v1.join("cgroup.procs"), container.init_pid.to_string())
            .context("moving the container into its v1 devices cgroup")?;
        wait_until("the container chroots", || {
            Ok(fs::read_link(format!("/proc/{pid}/root"))? == container.root)
        })?;
        Ok(container)
    }

    fn ctid(&self) -> String {
        format!("/{}", self.name)
    }

    /// Runs `work` in a process inside the container and returns what it wrote to
    /// the pipe it gets.
    fn run_inside(&self, work: impl FnOnce(&mut fs::File) -> Result<()>) -> Result<Vec<u8>> {
        let (reader, writer) = pipe()?;
        let pidns = fs::File::open(format!("/proc/{}/ns/pid", self.init_pid))?;
        let procs: Vec<fs::File> = [&self.v1, &self.v2]
            .iter()
            .map(|dir| fs::OpenOptions::new().write(true).open(dir.join("cgroup.procs")))
            .collect::<Result<_, _>>()?;
        let root = CString::new(self.root.as_os_str().as_encoded_bytes())?;
        // SAFETY: the test process is single-threaded (the harness runs each test
        // in its own process), so the child may run ordinary code.
        let outer = unsafe { libc::fork() };
        if outer == 0 {
            drop(reader);
            let status = (|| -> Result<i32> {
                nix::sched::setns(&pidns, nix::sched::CloneFlags::CLONE_NEWPID)?;
                // setns affects children only: fork once more.
                // SAFETY: as above.
                let inner = unsafe { libc::fork() };
                if inner == 0 {
                    let mut out = fs::File::from(writer);
                    let result = (|| -> Result<()> {
                        for file in &procs {
                            (&*file).write_all(b"0")?;
                        }
                        // SAFETY: chroot and chdir take NUL-terminated paths.
                        ensure!(unsafe { libc::chroot(root.as_ptr()) } == 0, "chroot failed");
                        // SAFETY: as above.
                        ensure!(unsafe { libc::chdir(c"/".as_ptr()) } == 0, "chdir failed");
                        work(&mut out)
                    })();
                    let code = match result {
                        Ok(()) => 0,
                        Err(error) => {
                            eprintln!("inside the container: {error:#}");
                            1
                        }
                    };
                    // SAFETY: ends the forked child without running the parent's
                    // destructors a second time.
                    unsafe { libc::_exit(code) }
                }
                let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(inner), None)?;
                Ok(match status {
                    nix::sys::wait::WaitStatus::Exited(_, code) => code,
                    _ => 2,
                })
            })()
            .unwrap_or(3);
            // SAFETY: as above.
            unsafe { libc::_exit(status) }
        }
        drop(writer);
        let mut output = Vec::new();
        fs::File::from(reader).read_to_end(&mut output)?;
        let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(outer), None)?;
        ensure!(
            matches!(status, nix::sys::wait::WaitStatus::Exited(_, 0)),
            "the process inside the container ended with {status:?}"
        );
        Ok(output)
    }

    /// Opens `path` read-write inside the container and returns the errno (0 on
    /// success).
    fn open_errno(&self, path: &str) -> Result<i32> {
        let path = path.to_owned();
        let output = self.run_inside(move |out| {
            let errno = match fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
                .open(&path)
            {
                Ok(_) => 0,
                Err(error) => error.raw_os_error().unwrap_or(-1),
            };
            out.write_all(&errno.to_le_bytes())?;
            Ok(())
        })?;
        let bytes: [u8; 4] =
            output.as_slice().try_into().context("short answer from the container")?;
        Ok(i32::from_le_bytes(bytes))
    }
}

use std::os::unix::fs::OpenOptionsExt as _;

impl Drop for Container {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.init_pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pid, None);
        for dir in [&self.v1, &self.v2] {
            let _ = fs::remove_dir(dir);
        }
        let _ = fs::remove_dir_all(&self.root);
    }
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

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 writes two descriptors into `fds`.
    ensure!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == 0, "pipe2 failed");
    // SAFETY: pipe2 returned two new descriptors that we own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Polls `condition` until it is true or the watchdog expires.
fn wait_until(what: &str, mut condition: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + WATCHDOG;
    while Instant::now() < deadline {
        if condition().unwrap_or(false) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("timed out waiting until {what}")
}

/// Starts a container with device nodes and the console grant.
fn allowed_container(tag: &str) -> Result<Container> {
    require_driver()?;
    let container = Container::start(tag)?;
    let ctid = container.ctid();
    expect_exit(&["mknod", &ctid], 0)?;
    expect_exit(&["allow", &ctid], 0)?;
    Ok(container)
}

fn allow_opens_console_deny_restores_eperm() -> Result<()> {
    let container = allowed_container("allow")?;
    let ctid = container.ctid();
    ensure!(container.open_errno("/dev/console")? == 0, "/dev/console does not open after allow");
    ensure!(container.open_errno("/dev/tty2")? == 0, "/dev/tty2 does not open after allow");

    expect_exit(&["deny", &ctid, "--tty", "console"], 0)?;
    let errno = container.open_errno("/dev/console")?;
    ensure!(errno == libc::EPERM, "/dev/console after deny: errno {errno}, expected EPERM");
    ensure!(container.open_errno("/dev/tty2")? == 0, "deny --tty console also denied tty2");

    expect_exit(&["allow", &ctid, "--tty", "console"], 0)?;
    ensure!(container.open_errno("/dev/console")? == 0, "/dev/console after the second allow");
    Ok(())
}

fn unregister_revokes_the_grant() -> Result<()> {
    let container = allowed_container("unregister")?;
    let ctid = container.ctid();
    expect_exit(&["unregister", &ctid], 0)?;
    let errno = container.open_errno("/dev/console")?;
    ensure!(errno == libc::EPERM, "/dev/console after unregister: errno {errno}, expected EPERM");
    let rules = stdout(&expect_exit(&["rules", &ctid], 0)?);
    ensure!(!rules.lines().any(|line| line.contains(" rwm ")), "unregister left a grant:\n{rules}");
    Ok(())
}

fn check_passes_with_vttys_major() -> Result<()> {
    let container = allowed_container("check")?;
    let ctid = container.ctid();
    let major = vtty_ctl::driver::tty_driver_info()?.context("driver")?.major;
    let check = stdout(&expect_exit(&["check", &ctid], 0)?);
    ensure!(
        check.contains(&format!("c {major}:11")),
        "check does not test the vttys major:\n{check}"
    );
    expect_exit(&["deny", &ctid], 0)?;
    expect_exit(&["check", &ctid], 0)?;
    Ok(())
}

/// Starts `vtty-ctl console` with piped standard streams and waits until it has
/// attached, which it reports on standard error.
fn spawn_console(args: &[&str]) -> Result<(Child, std::io::BufReader<std::process::ChildStderr>)> {
    let mut child = Command::new("vtty-ctl")
        .arg("console")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting vtty-ctl console")?;
    let mut stderr = std::io::BufReader::new(child.stderr.take().context("stderr")?);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line)?;
    ensure!(line.contains("attached to"), "vtty-ctl console did not attach: {line}");
    Ok((child, stderr))
}

/// Reads from `source` until `needle` appears or the watchdog expires.
fn read_until(source: &mut impl std::io::Read, needle: &str) -> Result<String> {
    let deadline = Instant::now() + WATCHDOG;
    let mut seen = Vec::new();
    let mut buffer = [0u8; 1024];
    while Instant::now() < deadline {
        let count = source.read(&mut buffer)?;
        if count == 0 {
            break;
        }
        seen.extend_from_slice(&buffer[..count]);
        if String::from_utf8_lossy(&seen).contains(needle) {
            return Ok(String::from_utf8_lossy(&seen).into_owned());
        }
    }
    bail!("{needle:?} did not arrive; got {:?}", String::from_utf8_lossy(&seen))
}

fn write_inside(container: &Container, path: &'static str, text: &'static str) -> Result<()> {
    container.run_inside(move |_| {
        let mut tty = fs::OpenOptions::new().write(true).custom_flags(libc::O_NOCTTY).open(path)?;
        tty.write_all(text.as_bytes())?;
        Ok(())
    })?;
    Ok(())
}

fn console_shows_container_output() -> Result<()> {
    let container = allowed_container("output")?;
    let (mut child, _stderr) = spawn_console(&[&container.ctid(), "--escape", "none"])?;
    write_inside(&container, "/dev/console", "hello from the container\n")?;
    let mut out = child.stdout.take().context("stdout")?;
    read_until(&mut out, "hello from the container")?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )?;
    let status = child.wait()?;
    ensure!(status.code() == Some(1), "console after SIGTERM exited with {status}");
    Ok(())
}

fn console_busy_and_takeover() -> Result<()> {
    let container = allowed_container("takeover")?;
    let ctid = container.ctid();
    let (mut first, mut first_stderr) = spawn_console(&[&ctid, "tty3", "--escape", "none"])?;
    let busy = expect_exit(&["console", &ctid, "tty3"], 6)?;
    ensure!(
        String::from_utf8_lossy(&busy.stderr).contains("--force"),
        "busy error does not name --force"
    );

    let (mut second, _second_stderr) = spawn_console(&[&ctid, "3", "--force", "--escape", "none"])?;
    let message = read_until(&mut first_stderr, "ended")?;
    ensure!(message.contains("took it over") || message.contains("ended"), "{message}");
    ensure!(first.wait()?.success(), "the first attacher should end normally on EOF");
    second.kill()?;
    second.wait()?;
    Ok(())
}

fn console_ends_when_container_stops() -> Result<()> {
    let container = allowed_container("stops")?;
    let (mut child, mut stderr) = spawn_console(&[&container.ctid(), "--escape", "none"])?;
    drop(container);
    read_until(&mut stderr, "ended")?;
    ensure!(child.wait()?.success(), "console should exit 0 on EOF");
    Ok(())
}

fn register_refuses_host_process() -> Result<()> {
    require_driver()?;
    let ctid = format!("pid:{}", std::process::id());
    let output = expect_exit(&["register", &ctid], 3)?;
    ensure!(String::from_utf8_lossy(&output.stderr).contains("host's pid namespace"));
    Ok(())
}

fn status_lists_registered_container() -> Result<()> {
    let container = allowed_container("status")?;
    let status = stdout(&expect_exit(&["status"], 0)?);
    ensure!(status.contains("driver: loaded"), "{status}");
    ensure!(status.contains(&container.ctid()), "status does not list the container:\n{status}");
    ensure!(status.contains("registered"), "{status}");
    Ok(())
}

/// A pseudo-terminal pair: the test keeps the master, and `vtty-ctl console` gets
/// the slave as its controlling terminal.
struct Pty {
    master: fs::File,
    slave: fs::File,
}

fn open_pty() -> Result<Pty> {
    let master = nix::pty::posix_openpt(nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY)?;
    nix::pty::grantpt(&master)?;
    nix::pty::unlockpt(&master)?;
    let name = nix::pty::ptsname_r(&master)?;
    let slave =
        fs::OpenOptions::new().read(true).write(true).custom_flags(libc::O_NOCTTY).open(&name)?;
    // SAFETY: `into_raw_fd` hands over the master descriptor, which we own.
    let master = unsafe { fs::File::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(master)) };
    Ok(Pty { master, slave })
}

fn set_window_size(fd: &fs::File, rows: u16, cols: u16) -> Result<()> {
    let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a `struct winsize`.
    ensure!(
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) } == 0,
        "TIOCSWINSZ failed"
    );
    Ok(())
}

fn console_under_pty() -> Result<()> {
    let container = allowed_container("pty")?;
    let pty = open_pty()?;
    let before = nix::sys::termios::tcgetattr(&pty.slave)?;
    set_window_size(&pty.master, 24, 80)?;

    let slave_fd = pty.slave.as_raw_fd();
    let mut command = Command::new("vtty-ctl");
    command.args(["console", &container.ctid(), "tty2"]);
    // SAFETY: runs in the forked child before exec: make a session with the pty
    // slave as its controlling terminal and standard streams.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            if libc::setsid() < 0 || libc::ioctl(slave_fd, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            for target in 0..3 {
                if libc::dup2(slave_fd, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = command.spawn().context("starting vtty-ctl console on a pty")?;
    let mut master = pty.master.try_clone()?;
    read_until(&mut master, "attached to")?;
    let raw = nix::sys::termios::tcgetattr(&pty.slave)?;
    ensure!(
        !raw.local_flags.contains(nix::sys::termios::LocalFlags::ICANON),
        "the console did not put the terminal in raw mode"
    );

    // The container's output reaches the pty.
    write_inside(&container, "/dev/tty2", "ping from tty2\n")?;
    read_until(&mut master, "ping from tty2")?;

    // A window size change reaches the container's TIOCGWINSZ.
    set_window_size(&pty.master, 33, 101)?;
    wait_until("the container sees 33x101", || {
        let answer = container.run_inside(|out| {
            let tty = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
                .open("/dev/tty2")?;
            let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
            // SAFETY: TIOCGWINSZ writes a `struct winsize`.
            ensure!(
                unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGWINSZ, &mut size) } == 0,
                "TIOCGWINSZ failed"
            );
            out.write_all(&size.ws_row.to_le_bytes())?;
            out.write_all(&size.ws_col.to_le_bytes())?;
            Ok(())
        })?;
        Ok(answer == [33u8, 0, 101, 0])
    })?;

    // The escape sequence detaches, and the terminal modes come back.
    (&pty.master).write_all(b"\x1d.")?;
    read_until(&mut master, "detached from tty2")?;
    let status = child.wait()?;
    ensure!(status.success(), "console after the escape exited with {status}");
    let after = nix::sys::termios::tcgetattr(&pty.slave)?;
    ensure!(after.local_flags == before.local_flags, "local modes not restored");
    ensure!(after.input_flags == before.input_flags, "input modes not restored");
    ensure!(after.output_flags == before.output_flags, "output modes not restored");
    Ok(())
}
