//! `mknod` into a container whose root is a test directory: modes and owners,
//! entries left alone, `--replace`, a mount over a node, and symlinks that point
//! out of the container.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::PathBuf;

use common::{SHARED, spawn_container};
use vtty_ctl::exit::ExitCode;

/// A container in its own pid and mount namespace, chrooted into `root`.
struct RootContainer {
    dir: PathBuf,
    pid: i32,
}

impl RootContainer {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vtty-mknod-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let dev = dir.join("root/dev");
        fs::create_dir_all(&dev).expect("create dev");
        fs::write(dev.join("tty3"), "not a device").expect("write tty3");
        fs::write(dir.join("outside"), "host file").expect("write outside");
        std::os::unix::fs::symlink(dir.join("outside"), dev.join("tty5")).expect("symlink tty5");
        fs::write(dev.join("tty4"), "").expect("create tty4");
        nix::mount::mount(
            Some("/dev/null"),
            &dev.join("tty4"),
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .expect("bind mount over tty4");
        let pid = spawn_container(None, Some(&dir.join("root")));
        // The container's mount namespace keeps its copy of the bind mount.
        let _ = nix::mount::umount2(&dev.join("tty4"), nix::mount::MntFlags::MNT_DETACH);
        let pid = pid.expect("start the container");
        // Wait until the child has chrooted: its root link changes. The bound only
        // turns a hang into a failure.
        let chrooted = (0..10_000).any(|_| {
            let root = fs::read_link(format!("/proc/{pid}/root")).unwrap_or_default();
            let done = root != std::path::Path::new("/") && !root.as_os_str().is_empty();
            if !done {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            done
        });
        let container = Self { dir, pid };
        assert!(chrooted, "the container did not chroot");
        container
    }

    fn dev(&self, name: &str) -> PathBuf {
        self.dir.join("root/dev").join(name)
    }

    fn run(&self, extra: &[&str]) -> common::Run {
        let ctid = format!("pid:{}", self.pid);
        let mut args = vec!["mknod", ctid.as_str()];
        args.extend_from_slice(extra);
        common::run_cli(&args, &[], None)
    }
}

impl Drop for RootContainer {
    fn drop(&mut self) {
        common::kill(self.pid);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn nodes_created_with_modes() {
    require!(SHARED);
    let container = RootContainer::new("modes");
    let run = container.run(&[]);
    assert_eq!(run.code, ExitCode::Conflict as i32, "tty4 is covered: {run:?}");
    assert!(run.stdout.contains("/dev/console: created"), "{}", run.stdout);
    assert!(run.stdout.contains("/dev/tty4: a "), "{}", run.stdout);
    assert!(run.stdout.contains("never reach vtty"), "{}", run.stdout);
    assert!(run.stdout.contains("/dev/tty3: left alone: a regular file"), "{}", run.stdout);
    assert!(run.stdout.contains("/dev/tty5: left alone: a symlink"), "{}", run.stdout);

    let console = fs::symlink_metadata(container.dev("console")).expect("console");
    assert!(console.file_type().is_char_device());
    assert_eq!(console.rdev(), libc::makedev(5, 1));
    assert_eq!(console.mode() & 0o7777, 0o600);
    assert_eq!((console.uid(), console.gid()), (0, 0));
    for n in [0, 1, 2, 6, 12] {
        let tty = fs::symlink_metadata(container.dev(&format!("tty{n}"))).expect("tty");
        assert!(tty.file_type().is_char_device(), "tty{n}");
        assert_eq!(tty.rdev(), libc::makedev(4, n), "tty{n}");
        assert_eq!(tty.mode() & 0o7777, 0o620, "tty{n}");
        assert_eq!(tty.gid(), 5, "tty{n}");
    }
    assert_eq!(fs::read_to_string(container.dev("tty3")).expect("tty3"), "not a device");
    assert_eq!(fs::read_to_string(container.dir.join("outside")).expect("outside"), "host file");

    let again = container.run(&[]);
    assert!(again.stdout.contains("/dev/console: present"), "{}", again.stdout);
    assert!(!again.stdout.contains("created"), "{}", again.stdout);
}

#[test]
fn replace_swaps_wrong_entries() {
    require!(SHARED);
    let container = RootContainer::new("replace");
    let run = container.run(&["--replace"]);
    assert_eq!(run.code, ExitCode::Conflict as i32, "tty4 stays covered: {run:?}");
    assert!(run.stdout.contains("/dev/tty3: replaced a regular file"), "{}", run.stdout);
    assert!(run.stdout.contains("/dev/tty5: replaced a symlink"), "{}", run.stdout);
    for (name, minor) in [("tty3", 3), ("tty5", 5)] {
        let node = fs::symlink_metadata(container.dev(name)).expect("node");
        assert!(node.file_type().is_char_device(), "{name}");
        assert_eq!(node.rdev(), libc::makedev(4, minor), "{name}");
    }
    let outside = fs::symlink_metadata(container.dir.join("outside")).expect("outside");
    assert!(outside.file_type().is_file(), "the symlink's target stays a file");
    assert_eq!(fs::read_to_string(container.dir.join("outside")).expect("outside"), "host file");
}
