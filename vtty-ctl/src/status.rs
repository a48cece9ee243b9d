//! `status`: the driver, the registered containers, the cgroup hierarchies, vtty's
//! device gates and its pinned probes, as far as each can be read.

use std::fmt;
use std::fs;
use std::path::Path;

use crate::cgroup::{Hierarchies, Version};
use crate::config::Config;
use crate::driver::{self, ContainerInfo, Control, TtyDriverInfo};
use crate::policy::gate;
use crate::policy::record::Records;
use crate::probes::PinLayout;

/// One pinned device gate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateStatus {
    /// The cgroup id (its pin directory name).
    pub cgroup_id: u64,
    /// The cgroup path and ctid from vtty's record, when known.
    pub cgroup: Option<(String, String)>,
    /// True attached, false detached, `None` when the cgroup is gone or unreadable.
    pub attached: Option<bool>,
}

/// Everything `status` shows.
#[derive(Clone, Debug)]
pub struct Status {
    /// The driver from `/proc/tty/drivers`, or why it could not be read.
    pub driver: Result<Option<TtyDriverInfo>, String>,
    /// Registered and fenced containers, or why they could not be listed; `None`
    /// without the driver.
    pub containers: Option<Result<Vec<ContainerInfo>, String>>,
    /// The cgroup hierarchies, or why they could not be read.
    pub hierarchies: Result<Hierarchies, String>,
    /// vtty's device gates.
    pub gates: Result<Vec<GateStatus>, String>,
    /// The probes' pins that exist, by short name (`maps/COUNTERS`).
    pub pinned_probes: Vec<String>,
    /// Number of pins a complete load of the probes creates.
    pub probe_pins_expected: usize,
    /// The pin directory.
    pub pin_dir: String,
}

/// Reads the status. Each part carries its own error, so this function returns no
/// error.
pub fn status(config: &Config) -> Status {
    let driver = driver::tty_driver_info()
        .map_err(|error| format!("cannot read /proc/tty/drivers: {error}"));
    let containers = match &driver {
        Ok(Some(_)) => Some(Control::open().and_then(|control| control.list()).map_err(|error| {
            format!("cannot list containers through {}: {error}", driver::CONTROL_DEVICE)
        })),
        _ => None,
    };
    let hierarchies = Hierarchies::discover()
        .map_err(|error| format!("cannot read /proc/self/mountinfo: {error}"));
    let gates = match &hierarchies {
        Ok(hierarchies) => gates(config, hierarchies),
        Err(error) => Err(error.clone()),
    };
    Status {
        driver,
        containers,
        hierarchies,
        gates,
        pinned_probes: pinned_probes(&config.pin_dir),
        probe_pins_expected: PinLayout::new(config.pin_dir.join("probes")).expected_pins().len(),
        pin_dir: config.pin_dir.display().to_string(),
    }
}

fn gates(config: &Config, hierarchies: &Hierarchies) -> Result<Vec<GateStatus>, String> {
    let ids = gate::pinned_gates(&config.pin_dir)
        .map_err(|error| format!("cannot read {}: {error}", config.pin_dir.display()))?;
    let records = Records::new(&config.state_dir);
    Ok(ids
        .into_iter()
        .map(|cgroup_id| {
            let record = records.load(Version::V2, cgroup_id).ok().flatten();
            let cgroup =
                record.as_ref().and_then(|record| hierarchies.cgroup(Version::V2, &record.cgroup));
            let attached = cgroup
                .filter(|cgroup| cgroup.id().ok() == Some(cgroup_id))
                .and_then(|cgroup| gate::inspect(&config.pin_dir, &cgroup).ok().flatten())
                .map(|gate| gate.attached);
            GateStatus { cgroup_id, cgroup: record.map(|r| (r.cgroup, r.ctid)), attached }
        })
        .collect())
}

/// Lists the probes' pins that exist, by their short names (`maps/COUNTERS`).
fn pinned_probes(pin_dir: &Path) -> Vec<String> {
    PinLayout::new(pin_dir.join("probes"))
        .expected_pins()
        .into_iter()
        .filter(|(_, path)| fs::symlink_metadata(path).is_ok())
        .map(|(name, _)| name)
        .collect()
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.driver {
            Ok(Some(info)) => {
                writeln!(f, "driver: loaded, {} major {}", info.node_prefix, info.major)?
            }
            Ok(None) => writeln!(f, "driver: not loaded (no vtty line in /proc/tty/drivers)")?,
            Err(error) => writeln!(f, "driver: {error}")?,
        }

        match &self.containers {
            None => writeln!(f, "containers: none (driver not loaded)")?,
            Some(Err(error)) => writeln!(f, "containers: {error}")?,
            Some(Ok(list)) if list.is_empty() => writeln!(f, "containers: none registered")?,
            Some(Ok(list)) => {
                writeln!(f, "containers:")?;
                writeln!(
                    f,
                    "  {:<20} {:<20} {:>8} {:<10} {:>6} {:>8}",
                    "NAME", "NSID", "INIT", "STATE", "OPEN", "ATTACHED"
                )?;
                for container in list {
                    let open = container.terminals.iter().filter(|t| t.open_count > 0).count();
                    let attached: Vec<String> = container
                        .terminals
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| t.attached)
                        .map(|(index, _)| driver::terminal_name(index as u32))
                        .collect();
                    let attached =
                        if attached.is_empty() { "-".to_owned() } else { attached.join(",") };
                    let state = if container.registered { "registered" } else { "fenced" };
                    writeln!(
                        f,
                        "  {:<20} {:<20} {:>8} {:<10} {:>6} {:>8}",
                        container.name, container.nsid, container.init_pid, state, open, attached
                    )?;
                }
            }
        }

        match &self.hierarchies {
            Ok(hierarchies) => {
                for version in [Version::V1, Version::V2] {
                    match hierarchies.get(version) {
                        Some(h) => writeln!(f, "cgroup {version}: {}", h.mount_point.display())?,
                        None => writeln!(f, "cgroup {version}: not mounted")?,
                    }
                }
            }
            Err(error) => writeln!(f, "cgroups: {error}")?,
        }

        match &self.gates {
            Ok(gates) if gates.is_empty() => {
                writeln!(f, "device gates: none under {}", self.pin_dir)?
            }
            Ok(gates) => {
                writeln!(f, "device gates:")?;
                for gate in gates {
                    let (cgroup, ctid) =
                        gate.cgroup.clone().unwrap_or_else(|| ("?".to_owned(), "?".to_owned()));
                    let state = match gate.attached {
                        Some(true) => "attached",
                        Some(false) => "DETACHED (run allow or deny again)",
                        None => "cgroup gone",
                    };
                    writeln!(
                        f,
                        "  cgroup {cgroup} (id {}, container {ctid}): {state}",
                        gate.cgroup_id
                    )?;
                }
            }
            Err(error) => writeln!(f, "device gates: {error}")?,
        }

        let probes_dir = format!("{}/probes", self.pin_dir);
        let names = &self.pinned_probes;
        if names.is_empty() {
            writeln!(f, "probes: not pinned under {probes_dir}")?;
        } else if names.len() == self.probe_pins_expected {
            writeln!(f, "probes: pinned under {probes_dir}")?;
        } else {
            writeln!(
                f,
                "probes: only {} of {} pins exist under {probes_dir} ({}); run vtty-ctl probes \
                 unload, then vtty-ctl probes load",
                names.len(),
                self.probe_pins_expected,
                names.join(", ")
            )?;
        }
        Ok(())
    }
}
