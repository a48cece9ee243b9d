//! vtty's cgroup v2 device gate: one program per cgroup with a pinned rules map.
//!
//! A gate lives in `<pin dir>/gates/<cgroup id>/` as three pinned objects:
//! `program` (the loaded `vtty_gate` program), `rules` (its `RULES` map) and `link`
//! (the BPF link that attaches the program to the cgroup beside its other
//! programs). The pinned link keeps the gate attached after vtty-ctl
//! exits. `allow` and `deny` only update map entries, so a cgroup never gets a
//! second vtty program. Removing the link detaches the gate and leaves the
//! cgroup's other programs as they were.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow};
use aya::maps::{HashMap, Map, MapData};
use aya::programs::{CgroupDevice, ProgramInfo};

use super::bpf;
use super::devices::{Access, Device};
use crate::cgroup::Cgroup;
use crate::objects;

/// Name of the program in the kernel (`bpftool prog` shows it).
pub const PROGRAM_NAME: &str = "vtty_gate";
/// Name of the rules map in the eBPF object.
pub const MAP_NAME: &str = "RULES";
/// `BPF_DEVCG_DEV_CHAR`.
const DEV_CHAR: u32 = 2;

const PROGRAM_PIN: &str = "program";
const RULES_PIN: &str = "rules";
const LINK_PIN: &str = "link";
/// A new link before it replaces `link`. bpffs rejects names with a dot (`EPERM`).
const STAGED_LINK_PIN: &str = "link_new";

/// Key of the `RULES` map; the same layout as `DeviceKey` in the eBPF program.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeviceKey {
    /// `BPF_DEVCG_DEV_CHAR` or `BPF_DEVCG_DEV_BLOCK`.
    pub kind: u32,
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
}

// SAFETY: three u32 fields without padding, valid for any bit pattern.
unsafe impl aya::Pod for DeviceKey {}

impl DeviceKey {
    /// Builds the key of a character device.
    pub fn of(device: &Device) -> Self {
        Self { kind: DEV_CHAR, major: device.major, minor: device.minor }
    }
}

/// Directory of the gate of the cgroup with `cgroup_id`.
pub fn gate_dir(pin_dir: &Path, cgroup_id: u64) -> PathBuf {
    pin_dir.join("gates").join(cgroup_id.to_string())
}

/// A gate found in the pin directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gate {
    /// Its pin directory.
    pub dir: PathBuf,
    /// Id of its program.
    pub program_id: u32,
    /// True when the program is attached to the cgroup.
    pub attached: bool,
    /// The rules map: allowed access by (major, minor) of character devices.
    pub rules: BTreeMap<(u32, u32), Access>,
}

impl Gate {
    /// Allowed access for `device`; `None` when the map has no entry.
    pub fn allowed(&self, device: &Device) -> Option<Access> {
        self.rules.get(&(device.major, device.minor)).copied()
    }
}

/// Reads the gate of `cgroup`; `Ok(None)` when it has none.
pub fn inspect(pin_dir: &Path, cgroup: &Cgroup) -> anyhow::Result<Option<Gate>> {
    let cgroup_id =
        cgroup.id().with_context(|| format!("failed to stat {}", cgroup.dir.display()))?;
    let dir = gate_dir(pin_dir, cgroup_id);
    let program_pin = dir.join(PROGRAM_PIN);
    if !program_pin.exists() {
        return Ok(None);
    }
    let info = ProgramInfo::from_pin(&program_pin).with_context(|| {
        format!("failed to open the pinned gate program {}", program_pin.display())
    })?;
    let program_id = info.id();
    let attached = bpf::device_programs(&cgroup.dir, false)
        .with_context(|| format!("BPF_PROG_QUERY failed on {}", cgroup.dir.display()))?
        .contains(&program_id);
    let rules = read_rules(&dir)?;
    Ok(Some(Gate { dir, program_id, attached, rules }))
}

fn open_rules(dir: &Path) -> anyhow::Result<HashMap<MapData, DeviceKey, u32>> {
    let path = dir.join(RULES_PIN);
    let data = MapData::from_pin(&path)
        .with_context(|| format!("failed to open the pinned rules map {}", path.display()))?;
    let map = Map::from_map_data(data).context("unexpected type of the pinned rules map")?;
    HashMap::try_from(map).context("unexpected key or value size of the pinned rules map")
}

fn read_rules(dir: &Path) -> anyhow::Result<BTreeMap<(u32, u32), Access>> {
    let map = open_rules(dir)?;
    let mut rules = BTreeMap::new();
    for entry in map.iter() {
        let (key, value) = entry.context("failed to read the rules map")?;
        if key.kind == DEV_CHAR {
            rules.insert((key.major, key.minor), Access::from_bits(value));
        }
    }
    Ok(rules)
}

/// Ids of programs named `vtty_gate` attached to `cgroup` other than `own`: gates
/// whose pins were lost. vtty refuses to stack another one on top.
pub fn unpinned_gates(cgroup: &Cgroup, own: Option<u32>) -> anyhow::Result<Vec<u32>> {
    let attached = bpf::device_programs(&cgroup.dir, false)
        .with_context(|| format!("BPF_PROG_QUERY failed on {}", cgroup.dir.display()))?;
    let names = bpf::program_names(&attached);
    Ok(attached
        .into_iter()
        .filter(|id| Some(*id) != own && names.get(id).map(String::as_str) == Some(PROGRAM_NAME))
        .collect())
}

/// Loads a gate whose map contains `rules`, pins it and attaches it to `cgroup`.
///
/// The map is filled before the program is attached, so the gate decides
/// correctly from its first run. On error nothing stays pinned or attached.
pub fn create(pin_dir: &Path, cgroup: &Cgroup, rules: &[(Device, Access)]) -> anyhow::Result<Gate> {
    let cgroup_id =
        cgroup.id().with_context(|| format!("failed to stat {}", cgroup.dir.display()))?;
    let dir = gate_dir(pin_dir, cgroup_id);
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("failed to create {}", parent.display()))?;
    }
    // An existing directory contains another gate's pins, which cleanup must not touch.
    fs::create_dir(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    let result = create_pinned(&dir, cgroup, rules);
    if result.is_err() {
        // Best effort: the error that made creation fail is the one to report.
        let _ = remove_dir(&dir);
    }
    result
}

fn create_pinned(dir: &Path, cgroup: &Cgroup, rules: &[(Device, Access)]) -> anyhow::Result<Gate> {
    let mut ebpf =
        aya::Ebpf::load(objects::DEVICE_GATE).context("failed to load the device gate object")?;
    let map = ebpf
        .take_map(MAP_NAME)
        .ok_or_else(|| anyhow!("the device gate object has no {MAP_NAME} map"))?;
    let mut map: HashMap<MapData, DeviceKey, u32> =
        HashMap::try_from(map).context("unexpected layout of the RULES map")?;
    for (device, access) in rules {
        map.insert(DeviceKey::of(device), access.bits(), 0)
            .with_context(|| format!("failed to set the gate rule for {device}"))?;
    }

    let program: &mut CgroupDevice = ebpf
        .program_mut(PROGRAM_NAME)
        .ok_or_else(|| anyhow!("the device gate object has no {PROGRAM_NAME} program"))?
        .try_into()
        .context("the vtty_gate program is not a cgroup device program")?;
    // The program refers to the map by file descriptor until it is loaded, so the
    // map, which pinning consumes, is pinned only afterwards.
    program.load().context("the kernel rejected the device gate program")?;
    map.pin(dir.join(RULES_PIN)).context("failed to pin the rules map")?;
    program.pin(dir.join(PROGRAM_PIN)).context("failed to pin the device gate program")?;
    let program_id = program.info().context("failed to read the gate program's id")?.id();

    attach_and_pin(program, cgroup, &dir.join(LINK_PIN))?;

    Ok(Gate {
        dir: dir.to_path_buf(),
        program_id,
        attached: true,
        rules: rules.iter().map(|(d, a)| ((d.major, d.minor), *a)).collect(),
    })
}

/// Attaches `program` to `cgroup` with a new BPF link and pins the link at `path`.
/// On error nothing stays attached: the link's only reference is dropped.
fn attach_and_pin(program: &CgroupDevice, cgroup: &Cgroup, path: &Path) -> anyhow::Result<()> {
    let cgroup_fd = File::open(&cgroup.dir)
        .with_context(|| format!("failed to open {}", cgroup.dir.display()))?;
    let program_fd = program.fd().context("the gate program is not loaded")?;
    let link = bpf::link_create(program_fd.as_fd(), cgroup_fd.as_fd()).map_err(|error| {
        let context = if error.raw_os_error() == Some(libc::EPERM) {
            format!(
                "the kernel refused to attach the gate to {}: another program is attached there \
                 without BPF_F_ALLOW_MULTI, so no second program can join it",
                cgroup.dir.display()
            )
        } else {
            format!("failed to attach the gate to {}", cgroup.dir.display())
        };
        anyhow::Error::new(error).context(context)
    })?;
    bpf::pin(link.as_fd(), path)
        .with_context(|| format!("failed to pin the gate's link at {}", path.display()))
}

/// Sets rules in the gate's map; each entry changes in one map update.
pub fn update(gate: &Gate, rules: &[(Device, Access)]) -> anyhow::Result<()> {
    let mut map = open_rules(&gate.dir)?;
    for (device, access) in rules {
        map.insert(DeviceKey::of(device), access.bits(), 0)
            .with_context(|| format!("failed to set the gate rule for {device}"))?;
    }
    Ok(())
}

/// Puts one entry of the gate's map back to `prior`, removing it for `None`.
pub fn restore(gate: &Gate, device: &Device, prior: Option<Access>) -> anyhow::Result<()> {
    let mut map = open_rules(&gate.dir)?;
    let key = DeviceKey::of(device);
    match prior {
        Some(access) => map.insert(key, access.bits(), 0),
        None => map.remove(&key),
    }
    .with_context(|| format!("failed to restore the gate rule for {device}"))
}

/// Attaches the pinned program again after another manager detached it, and
/// replaces the pinned link in one rename.
pub fn reattach(gate: &Gate, cgroup: &Cgroup) -> anyhow::Result<()> {
    let program_pin = gate.dir.join(PROGRAM_PIN);
    let program = CgroupDevice::from_pin(&program_pin).with_context(|| {
        format!("failed to open the pinned gate program {}", program_pin.display())
    })?;
    let staged = gate.dir.join(STAGED_LINK_PIN);
    let _ = fs::remove_file(&staged);
    attach_and_pin(&program, cgroup, &staged)?;
    if let Err(error) = fs::rename(&staged, gate.dir.join(LINK_PIN)) {
        let _ = detach_pinned_link(&staged);
        return Err(anyhow::Error::new(error).context("failed to replace the gate's pinned link"));
    }
    Ok(())
}

/// Detaches and unpins the gate of `cgroup`, leaving the cgroup's other programs
/// as they were. Does nothing when there is no gate.
pub fn remove(pin_dir: &Path, cgroup_id: u64) -> anyhow::Result<()> {
    let dir = gate_dir(pin_dir, cgroup_id);
    if !dir.exists() {
        return Ok(());
    }
    remove_dir(&dir)
        .with_context(|| format!("failed to remove the gate pinned in {}", dir.display()))
}

/// Removes the pinned objects of a gate directory, detaching the link first.
///
/// The kernel frees an unpinned link from a work queue, so unpinning alone would
/// leave the program attached for a moment. `BPF_LINK_DETACH` detaches it before
/// this function returns.
fn remove_dir(dir: &Path) -> io::Result<()> {
    for name in [LINK_PIN, STAGED_LINK_PIN] {
        detach_pinned_link(&dir.join(name))?;
    }
    for name in [LINK_PIN, STAGED_LINK_PIN, PROGRAM_PIN, RULES_PIN] {
        match fs::remove_file(dir.join(name)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
    }
    fs::remove_dir(dir)
}

/// Detaches the link pinned at `path` from its cgroup and removes the pin.
/// Does nothing when there is no pin; a link that is already detached is fine.
pub fn detach_pinned_link(path: &Path) -> io::Result<()> {
    let link = match bpf::open_pinned(path) {
        Ok(link) => link,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    match bpf::detach_link(link.as_fd()) {
        // ENOLINK: another manager detached it already.
        Err(error) if error.raw_os_error() != Some(libc::ENOLINK) => return Err(error),
        _ => {}
    }
    fs::remove_file(path)
}

/// Path of the gate's pinned link.
pub fn link_path(gate: &Gate) -> PathBuf {
    gate.dir.join(LINK_PIN)
}

/// Cgroup ids of every gate pinned under `pin_dir`.
pub fn pinned_gates(pin_dir: &Path) -> io::Result<Vec<u64>> {
    let entries = match fs::read_dir(pin_dir.join("gates")) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut ids = Vec::new();
    for entry in entries {
        if let Some(id) = entry?.file_name().to_str().and_then(|name| name.parse().ok()) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(ids)
}
