//! Tests of the real programs in the running kernel, on the host.
//!
//! The host has no vtty driver, so these tests attach the programs to syscall
//! tracepoints and read their records through a matching offsets table.
//! `sys_enter_write`, `sys_enter_pread64` and `sys_enter_pwrite64` put `fd` at 16,
//! `buf` at 24 and `count` at 32, so the terminal key becomes (buffer address, fd)
//! and the byte counts are the syscall's `count`. The counting, key deletion, ring buffer, pinning and unload paths are
//! the production ones. The tests need root; elsewhere they skip with a message.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use aya::programs::TracePoint;
use aya::{Ebpf, EbpfLoader};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::statfs::{TRACEFS_MAGIC, statfs};
use vtty_common::probe::{
    EventKind, FIELD_OFFSETS_GLOBAL, Field, FieldOffsets, LAYOUT_VERSION, TRACEPOINTS, TerminalKey,
};

use super::ProbeError;
use super::environment::{ProbePaths, TRACEFS};
use super::events::EventDetail;
use super::handle::{MapSet, Origin, Probes};
use super::loader::{self, Acquire, object_logger, pin_all, take_map};
use super::pins::{PinLayout, PinState};

/// Serializes the tests that mount tracefs or load programs.
static KERNEL: Mutex<()> = Mutex::new(());

/// Mounts tracefs at its default place when it is not mounted (aya attaches
/// through it), and unmounts it again on drop.
struct TracefsMount {
    mounted_here: bool,
}

impl TracefsMount {
    fn ensure() -> Self {
        let mounted = statfs(TRACEFS).is_ok_and(|stats| stats.filesystem_type() == TRACEFS_MAGIC);
        if !mounted {
            mount(Some("tracefs"), TRACEFS, Some("tracefs"), MsFlags::empty(), None::<&str>)
                .expect("mount tracefs at /sys/kernel/tracing");
        }
        Self { mounted_here: !mounted }
    }
}

impl Drop for TracefsMount {
    fn drop(&mut self) {
        if self.mounted_here {
            let _ = umount2(TRACEFS, MntFlags::MNT_DETACH);
        }
    }
}

/// A private bpffs instance on a temporary directory, unmounted and removed on drop.
struct PrivateBpffs {
    dir: PathBuf,
}

impl PrivateBpffs {
    fn mount(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vtty-bpffs-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create bpffs mount point");
        mount(Some("bpf"), &dir, Some("bpf"), MsFlags::empty(), None::<&str>).expect("mount bpffs");
        Self { dir }
    }
}

impl Drop for PrivateBpffs {
    fn drop(&mut self) {
        let _ = umount2(&self.dir, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn is_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        true
    } else {
        eprintln!("skipped: needs root to load eBPF programs");
        false
    }
}

/// Offsets that read the `sys_enter_*` records of write, pread64 and pwrite64.
fn syscall_offsets() -> FieldOffsets {
    let mut offsets = FieldOffsets::missing();
    for (field, offset) in [
        (Field::Nsid, 24),
        (Field::Index, 16),
        (Field::Offered, 32),
        (Field::Delivered, 36),
        (Field::Dropped, 32),
        (Field::Count, 32),
        (Field::Reason, 32),
        (Field::Flags, 32),
        (Field::InitPid, 32),
    ] {
        offsets.offsets[field as usize] = offset;
    }
    offsets
}

fn load_object(offsets: &FieldOffsets) -> Ebpf {
    let level = loader::program_log_level();
    EbpfLoader::new()
        .override_global(FIELD_OFFSETS_GLOBAL, offsets, true)
        .override_global(aya_log::LEVEL, &level, false)
        .load(crate::objects::PROBES)
        .expect("load the probes object")
}

fn attach(
    ebpf: &mut Ebpf,
    program: &str,
    event: &str,
) -> aya::programs::trace_point::TracePointLinkId {
    let program: &mut TracePoint =
        ebpf.program_mut(program).expect("program").try_into().expect("tracepoint");
    if program.fd().is_err() {
        program.load().expect("the verifier accepts the program");
    }
    program.attach("syscalls", event).expect("attach to a syscall tracepoint")
}

/// Opens /dev/null on a descriptor below 12, so that it is a valid terminal index.
fn low_fd() -> (std::fs::File, u32) {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .expect("open /dev/null");
    let fd = file.as_raw_fd();
    assert!(
        fd < 12,
        "descriptor {fd} of /dev/null is not below 12; too many open files in the test process"
    );
    (file, fd as u32)
}

#[test]
fn verifier_accepts_every_program() {
    let _serial = KERNEL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !is_root() {
        return;
    }
    let offsets = super::format::tests::fixture_offsets();
    let mut ebpf = load_object(&offsets);
    for tracepoint in TRACEPOINTS {
        let program: &mut TracePoint = ebpf
            .program_mut(tracepoint.name)
            .expect("program")
            .try_into()
            .expect("tracepoint program");
        program
            .load()
            .unwrap_or_else(|error| panic!("verifier rejected {}: {error:?}", tracepoint.name));
    }
}

#[test]
fn programs_count_delete_and_stream() {
    let _serial = KERNEL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !is_root() {
        return;
    }
    let _tracefs = TracefsMount::ensure();
    // Opened before the object, whose maps and programs take many descriptors.
    let (file, fd) = low_fd();
    let mut ebpf = load_object(&syscall_offsets());
    attach(&mut ebpf, "vtty_write", "sys_enter_write");
    attach(&mut ebpf, "vtty_open", "sys_enter_pread64");
    attach(&mut ebpf, "vtty_unregister", "sys_enter_pwrite64");
    let logger = object_logger(&mut ebpf);
    let maps = MapSet::from_maps(|name| take_map(&mut ebpf, name)).expect("maps");
    let layout = PinLayout::new("/nonexistent");
    let mut probes = Probes::from_parts(Origin::LoadedPrivate, layout, maps, logger, Some(ebpf));

    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let _guard = runtime.enter();
    let mut events = probes.events().expect("event stream");

    let written = vec![b'x'; 1000];
    let nsid = written.as_ptr() as u64;
    let sizes = [1usize, 10, 100, 1000];
    probes.set_write_events(true).expect("write events on");
    for size in sizes {
        // SAFETY: `written` contains at least `size` bytes and `fd` is open.
        let done = unsafe { libc::write(file.as_raw_fd(), written.as_ptr().cast(), size) };
        assert_eq!(done, size as isize);
    }
    probes.set_write_events(false).expect("write events off");

    let mut read_into = [0u8; 8];
    let reader_nsid = read_into.as_ptr() as u64;
    // SAFETY: `read_into` has room for 3 bytes and `fd` is open.
    unsafe { libc::pread(file.as_raw_fd(), read_into.as_mut_ptr().cast(), 3, 0) };

    let key = TerminalKey::new(nsid, fd);
    let counters = probes.counters().expect("counters");
    let counted = counters.get(&key).copied().expect("the writes created a key");
    assert_eq!(counted.writes, 4);
    assert_eq!(counted.bytes_written, 1111);
    assert_eq!(counted.bytes_dropped, 1111);
    assert_eq!(counted.bytes_delivered, 0);
    let opened =
        counters.get(&TerminalKey::new(reader_nsid, fd)).copied().expect("the pread created a key");
    assert_eq!(opened.opens, 1);
    assert_eq!(
        probes.open_counts().expect("open counts").get(&TerminalKey::new(reader_nsid, fd)),
        Some(&3)
    );

    // A pwrite64 from the same buffer acts as an unregister of nsid `nsid`.
    // SAFETY: `written` contains 5 bytes and `fd` is open.
    unsafe { libc::pwrite(file.as_raw_fd(), written.as_ptr().cast(), 5, 0) };
    assert!(!probes.counters().expect("counters").contains_key(&key), "unregister deleted the key");
    assert!(probes.counters().expect("counters").contains_key(&TerminalKey::new(reader_nsid, fd)));

    let received = runtime.block_on(async {
        let mut mine = Vec::new();
        while mine.len() < sizes.len() + 2 {
            let event = tokio::time::timeout(std::time::Duration::from_secs(30), events.next())
                .await
                .expect("events arrive well within the watchdog")
                .expect("event");
            if event.nsid == nsid || event.nsid == reader_nsid {
                mine.push(event);
            }
        }
        mine
    });
    let offered: Vec<u32> = received
        .iter()
        .filter_map(|event| match event.detail {
            EventDetail::Write { offered, .. } => Some(offered),
            _ => None,
        })
        .collect();
    assert_eq!(offered, [1, 10, 100, 1000]);
    let kinds: Vec<EventKind> = received.iter().map(|event| event.kind()).collect();
    assert_eq!(&kinds[4..], [EventKind::Open, EventKind::Unregister]);
    assert_eq!(received[4].detail, EventDetail::Open { count: 3 });
    assert_eq!(received[5].detail, EventDetail::Unregister { reason: 5 });
    assert!(received.iter().all(|event| event.tgid == std::process::id()));
    // Other processes' syscalls fire the programs too. Those on descriptors of 12
    // and up count as read failures, so the failure counts are not checked here.
    assert_eq!(events.malformed(), 0);
}

#[test]
fn pins_are_reused_and_unloaded() {
    let _serial = KERNEL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !is_root() {
        return;
    }
    let _tracefs = TracefsMount::ensure();
    let bpffs = PrivateBpffs::mount("pins");
    let paths = ProbePaths { tracefs: PathBuf::from(TRACEFS), bpffs: bpffs.dir.clone() };
    let layout = PinLayout::new(paths.pin_dir());

    let mut ebpf = load_object(&syscall_offsets());
    let links: Vec<_> = TRACEPOINTS
        .iter()
        .map(|tracepoint| {
            (tracepoint.name, attach(&mut ebpf, tracepoint.name, "sys_enter_getppid"))
        })
        .collect();
    std::fs::create_dir_all(layout.dir()).expect("pin dir");
    layout.create_dirs().expect("pin subdirectories");
    pin_all(&layout, &mut ebpf, links).expect("pin");
    drop(ebpf);
    assert_eq!(layout.state(), PinState::Complete);

    let program_ids: Vec<u32> =
        super::status(&paths).expect("status").links.iter().map(|link| link.program_id).collect();
    assert_eq!(program_ids.len(), TRACEPOINTS.len(), "every link is pinned and alive");

    // A second open reuses the pins instead of loading again.
    let probes = loader::open(&paths, Acquire::ReuseOrLoadPinned).expect("reuse");
    assert_eq!(probes.origin(), Origin::Reused);
    assert_eq!(probes.layout_version().expect("layout"), LAYOUT_VERSION);
    let again: Vec<u32> =
        super::status(&paths).expect("status").links.iter().map(|link| link.program_id).collect();
    assert_eq!(again, program_ids);

    // The pinned links count: a getppid fires every program.
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() };
    drop(probes);

    let unloaded = loader::unload(&paths).expect("unload");
    assert_eq!(unloaded.removed.len(), layout.expected_pins().len());
    assert!(!layout.dir().exists());
    assert!(!paths.vtty_dir().exists());
    // The kernel frees detached programs after an RCU grace period. The loop ends
    // as soon as they are gone, and only a hang runs into its watchdog.
    let watchdog = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let alive = aya::programs::loaded_programs()
            .filter_map(Result::ok)
            .filter(|program| program_ids.contains(&program.id()))
            .count();
        if alive == 0 {
            break;
        }
        assert!(std::time::Instant::now() < watchdog, "{alive} programs still loaded after unload");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(loader::unload(&paths).expect("second unload").removed.is_empty());
}

#[test]
fn load_without_driver_leaves_nothing() {
    let _serial = KERNEL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !is_root() {
        return;
    }
    let _tracefs = TracefsMount::ensure();
    if Path::new(TRACEFS).join("events/vtty").exists() {
        eprintln!("skipped: the vtty driver is loaded here");
        return;
    }
    let bpffs = PrivateBpffs::mount("nodriver");
    let paths = ProbePaths { tracefs: PathBuf::from(TRACEFS), bpffs: bpffs.dir.clone() };
    let programs_before = aya::programs::loaded_programs().count();
    for acquire in [Acquire::ReuseOrLoadPinned, Acquire::ReuseOrLoadPrivate] {
        let error = loader::open(&paths, acquire).expect_err("no driver");
        assert!(matches!(error, ProbeError::TracepointsNotFound { .. }), "{error}");
        let message = error.to_string();
        assert!(message.starts_with("vtty tracepoints not found"), "{message}");
        assert!(message.contains("modprobe vtty"), "{message}");
        assert_eq!(error.exit_code(), crate::exit::ExitCode::DriverMissing);
    }
    // A fresh bpffs contains the kernel's own `maps.debug` and `progs.debug`.
    let left: Vec<String> = std::fs::read_dir(&bpffs.dir)
        .expect("read bpffs")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".debug"))
        .collect();
    assert!(left.is_empty(), "nothing pinned: {left:?}");
    assert!(aya::programs::loaded_programs().count() <= programs_before, "nothing stays loaded");
    let error = loader::open(&paths, Acquire::Reuse).expect_err("nothing pinned");
    assert!(error.to_string().contains("run `vtty-ctl probes load`"), "{error}");
}

#[test]
fn unmounted_filesystems_name_the_mount_command() {
    if !is_root() {
        return;
    }
    let empty = std::env::temp_dir().join(format!("vtty-unmounted-{}", std::process::id()));
    std::fs::create_dir_all(&empty).expect("create dir");
    let paths = ProbePaths { tracefs: empty.clone(), bpffs: empty.clone() };
    let error = loader::open(&paths, Acquire::ReuseOrLoadPinned).expect_err("no tracefs");
    assert!(
        error.to_string().contains(&format!("mount -t tracefs tracefs {}", empty.display())),
        "{error}"
    );
    let error = loader::open(&paths, Acquire::Reuse).expect_err("no bpffs");
    assert!(
        error.to_string().contains(&format!("mount -t bpf bpf {}", empty.display())),
        "{error}"
    );
    let error = loader::unload(&paths).expect_err("no bpffs");
    assert!(matches!(error, ProbeError::BpffsNotMounted { .. }), "{error}");
    std::fs::remove_dir(&empty).expect("cleanup");
}

#[test]
fn commands_fail_cleanly_without_driver() {
    let _serial = KERNEL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !is_root() {
        return;
    }
    let _tracefs = TracefsMount::ensure();
    if Path::new(TRACEFS).join("events/vtty").exists() {
        eprintln!("skipped: the vtty driver is loaded here");
        return;
    }
    use crate::cli::probes::{ProbesArgs, ProbesCommand, StatsArgs};
    use crate::exit::ExitCode;

    let load = ProbesArgs { command: ProbesCommand::Load { pin: true } };
    let error = super::cli::probes(&load).expect_err("no driver");
    assert_eq!(error.code(), ExitCode::DriverMissing);
    assert!(error.to_string().starts_with("vtty tracepoints not found"), "{error}");
    assert!(!Path::new("/sys/fs/bpf/vtty/probes").exists(), "load without the driver created pins");

    let stats = StatsArgs { json: false, watch: None, ctid: None };
    let error = super::cli::stats(&stats).expect_err("neither driver nor probes");
    assert_eq!(error.code(), ExitCode::DriverMissing);
    assert!(error.to_string().contains("vtty is not loaded"), "{error}");

    let watch = StatsArgs { json: true, watch: Some(0), ctid: None };
    assert_eq!(super::cli::stats(&watch).expect_err("zero period").code(), ExitCode::Usage);
}
