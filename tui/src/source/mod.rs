//! Sources of the dashboard's numbers, and the target of its allow and deny.
//!
//! The app and its tests only see [`DataSource`]; [`live::LiveSource`] is the real
//! implementation over the driver, the probes and the policy library of `vtty-ctl`.

pub mod cgroup;
pub mod live;
pub mod policy;

pub use cgroup::CgroupState;

use crate::event::Refresh;

/// A container named for a policy change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyTarget {
    /// The pid namespace's `ns_id`.
    pub nsid: u64,
    /// The registered name, which is the container's ctid.
    pub name: String,
}

impl PolicyTarget {
    /// Returns the container's name as the confirmation and result messages show it.
    pub fn label(&self) -> String {
        if self.name.is_empty() {
            format!("nsid {}", self.nsid)
        } else {
            format!("{} (nsid {})", self.name, self.nsid)
        }
    }
}

/// The dashboard's view of the host: snapshots, cgroup state and policy changes.
///
/// Every method may block for a while (ioctls, map reads, a policy check that runs a
/// helper process), so the runner calls them off the draw loop.
pub trait DataSource: Send + Sync + 'static {
    /// Takes a snapshot of every container and reads the state of the driver, the
    /// probes and the cgroup hierarchies. A missing source is reported in
    /// `snapshot.sources.problems`, never as a failure.
    fn refresh(&self) -> Refresh;

    /// Lets the container open its consoles; returns a summary of what changed.
    fn allow(&self, target: &PolicyTarget) -> Result<String, String>;

    /// Takes the container's console grant away; returns a summary of what changed.
    fn deny(&self, target: &PolicyTarget) -> Result<String, String>;
}
