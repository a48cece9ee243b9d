//! vtty's own record of the cgroups it manages, as JSON files under the state
//! directory (`/run/vtty` by default, so records end with the boot, as cgroups do).
//!
//! `v1/<cgroup id>.json` contains the access vtty set for each device of a v1 devices
//! cgroup, because a default-allow cgroup's `devices.list` hides deny rules.
//! `v2/<cgroup id>.json` names the cgroup and container of a device gate; the gate's
//! rules live in its pinned map. Records are keyed by cgroup id, which the kernel
//! never reuses within a boot, so a cgroup created again under the same path starts
//! without rules.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::devices::{Access, Device};
use crate::cgroup::Version;

/// vtty's record of one cgroup it manages.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The ctid given when vtty last changed the cgroup.
    pub ctid: String,
    /// The cgroup path.
    pub cgroup: String,
    /// v1 only: device (`c 4:2`) to the access letters vtty left allowed (`rwm`,
    /// or empty for none).
    #[serde(default)]
    pub rules: BTreeMap<String, String>,
}

impl Record {
    /// Returns the access vtty left for `device`, or `None` when it never set a
    /// rule for it.
    pub fn allowed(&self, device: &Device) -> Option<Access> {
        self.rules.get(&device.rule()).and_then(|letters| Access::parse(letters))
    }

    /// Records `access` for `device`.
    pub fn set(&mut self, device: &Device, access: Access) {
        self.rules.insert(device.rule(), access.letters());
    }
}

/// The record files under a state directory.
#[derive(Clone, Debug)]
pub struct Records {
    dir: PathBuf,
}

impl Records {
    /// Records under `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        Self { dir: state_dir.to_path_buf() }
    }

    fn version_dir(&self, version: Version) -> PathBuf {
        self.dir.join(match version {
            Version::V1 => "v1",
            Version::V2 => "v2",
        })
    }

    fn path(&self, version: Version, cgroup_id: u64) -> PathBuf {
        self.version_dir(version).join(format!("{cgroup_id}.json"))
    }

    /// Loads the record of a cgroup; `Ok(None)` when there is none.
    pub fn load(&self, version: Version, cgroup_id: u64) -> io::Result<Option<Record>> {
        let path = self.path(version, cgroup_id);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        serde_json::from_str(&text).map(Some).map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "invalid vtty record {}: {error}; delete it and run deny or allow again",
                    path.display()
                ),
            )
        })
    }

    /// Stores a record, replacing the file in one rename so that readers never see
    /// half of it.
    pub fn store(&self, version: Version, cgroup_id: u64, record: &Record) -> io::Result<()> {
        let dir = self.version_dir(version);
        fs::create_dir_all(&dir)?;
        let path = self.path(version, cgroup_id);
        let temporary = dir.join(format!(".{cgroup_id}.json.new"));
        let text = serde_json::to_string_pretty(record).map_err(io::Error::other)?;
        let mut file = fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&temporary, &path)
    }

    /// Removes the record of a cgroup, if any.
    pub fn remove(&self, version: Version, cgroup_id: u64) -> io::Result<()> {
        match fs::remove_file(self.path(version, cgroup_id)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    /// Lists every record of `version` with its cgroup id, sorted by id.
    pub fn list(&self, version: Version) -> io::Result<Vec<(u64, Record)>> {
        let entries = match fs::read_dir(self.version_dir(version)) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        let mut records = Vec::new();
        for entry in entries {
            let name = entry?.file_name();
            let Some(id) =
                name.to_str().and_then(|n| n.strip_suffix(".json")).and_then(|n| n.parse().ok())
            else {
                continue;
            };
            if let Some(record) = self.load(version, id)? {
                records.push((id, record));
            }
        }
        records.sort_by_key(|(id, _)| *id);
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_load_list_remove() {
        let dir = std::env::temp_dir().join(format!("vtty-record-test-{}", std::process::id()));
        let records = Records::new(&dir);
        let tty2 = Device { major: 4, minor: 2, name: "tty2".to_owned() };
        let mut record =
            Record { ctid: "101".to_owned(), cgroup: "/101".to_owned(), ..Record::default() };
        record.set(&tty2, Access::NONE);
        records.store(Version::V1, 77, &record).expect("store");

        let loaded = records.load(Version::V1, 77).expect("load").expect("present");
        assert_eq!(loaded, record);
        assert_eq!(loaded.allowed(&tty2), Some(Access::NONE));
        assert_eq!(records.load(Version::V2, 77).expect("load"), None);
        assert_eq!(records.list(Version::V1).expect("list").len(), 1);

        records.remove(Version::V1, 77).expect("remove");
        records.remove(Version::V1, 77).expect("second remove is fine");
        assert_eq!(records.load(Version::V1, 77).expect("load"), None);
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
