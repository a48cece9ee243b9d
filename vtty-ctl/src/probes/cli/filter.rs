//! Selecting one container by the ctid a user typed.

use crate::exit::{self, ExitCode};
use crate::snapshot::ContainerStats;

/// Finds the nsid of `ctid` among `containers`: the container registered under that
/// name, or the one with that nsid.
// NOTE: cgroup paths and `pid:N` are not resolved here; a container registered
// under another name must be named by its registered name or nsid.
pub fn find_nsid(ctid: &str, containers: &[ContainerStats]) -> exit::Result<u64> {
    if let Some(container) = containers.iter().find(|container| container.name == ctid) {
        return Ok(container.nsid);
    }
    if let Ok(nsid) = ctid.parse::<u64>()
        && containers.iter().any(|container| container.nsid == nsid)
    {
        return Ok(nsid);
    }
    Err(crate::fail!(
        ExitCode::NotFound,
        "no container named or with nsid {ctid:?} is known to the driver or the probes; \
         `vtty-ctl stats` lists the registered containers"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(nsid: u64, name: &str) -> ContainerStats {
        ContainerStats { nsid, name: name.to_owned(), ..ContainerStats::default() }
    }

    #[test]
    fn name_wins_over_nsid() {
        let containers = [container(101, "7"), container(7, "web")];
        assert_eq!(find_nsid("7", &containers).expect("found"), 101);
        assert_eq!(find_nsid("web", &containers).expect("found"), 7);
        assert_eq!(find_nsid("101", &containers).expect("found"), 101);
    }

    #[test]
    fn unknown_ctid_is_not_found() {
        let error = find_nsid("db", &[container(1, "web")]).expect_err("unknown");
        assert_eq!(error.code(), ExitCode::NotFound);
        assert!(error.to_string().contains("\"db\""), "{error}");
    }
}
