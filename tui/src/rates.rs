//! Rates derived from successive snapshots.
//!
//! Counters in a snapshot are cumulative, so a rate is the difference between two
//! snapshots divided by the time between them (`taken_at_ns`), which stays right
//! when refreshes are late or the dashboard was paused.

use std::collections::{HashMap, VecDeque};

use vtty_ctl::snapshot::{ContainerStats, Snapshot};

/// Number of drop-rate samples kept per container for its sparkline.
pub const HISTORY_LEN: usize = 240;

/// Rates of one terminal in bytes per second; `None` until two snapshots are known
/// or when a counter went backwards (the probes were reloaded).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TerminalRates {
    /// Bytes the container wrote per second.
    pub written: Option<f64>,
    /// Bytes dropped per second.
    pub dropped: Option<f64>,
}

/// Rates of one container: the sums over its terminals, and each terminal's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rates {
    /// Bytes written per second over all terminals.
    pub written: Option<f64>,
    /// Bytes dropped per second over all terminals.
    pub dropped: Option<f64>,
    /// Per terminal, by index.
    pub terminals: HashMap<u32, TerminalRates>,
}

/// Counters of a container at one snapshot.
#[derive(Clone, Debug)]
struct Sample {
    taken_at_ns: u64,
    /// `(bytes_written, bytes_dropped)` by terminal index.
    counters: HashMap<u32, (u64, u64)>,
}

impl Sample {
    fn of(container: &ContainerStats, taken_at_ns: u64) -> Self {
        let counters = container
            .terminals
            .iter()
            .map(|t| (t.index, (t.bytes_written, t.bytes_dropped)))
            .collect();
        Self {
            taken_at_ns,
            counters,
        }
    }
}

/// Remembers the previous snapshot of every container and the drop-rate history.
#[derive(Clone, Debug, Default)]
pub struct RateTracker {
    previous: HashMap<u64, Sample>,
    history: HashMap<u64, VecDeque<u64>>,
}

impl RateTracker {
    /// Computes every container's rates against the previous snapshot, records the
    /// drop rates in the history and drops the state of containers that are gone.
    pub fn update(&mut self, snapshot: &Snapshot) -> HashMap<u64, Rates> {
        let mut all = HashMap::new();
        for container in &snapshot.containers {
            let sample = Sample::of(container, snapshot.taken_at_ns);
            let rates = match self.previous.get(&container.nsid) {
                Some(previous) => rates_between(previous, &sample),
                None => Rates::default(),
            };
            if let Some(dropped) = rates.dropped {
                let history = self.history.entry(container.nsid).or_default();
                if history.len() == HISTORY_LEN {
                    history.pop_front();
                }
                history.push_back(dropped.round() as u64);
            }
            self.previous.insert(container.nsid, sample);
            all.insert(container.nsid, rates);
        }
        self.previous.retain(|nsid, _| all.contains_key(nsid));
        self.history.retain(|nsid, _| all.contains_key(nsid));
        all
    }

    /// Drop rates of a container, oldest first.
    pub fn drop_history(&self, nsid: u64) -> Vec<u64> {
        self.history
            .get(&nsid)
            .map(|history| history.iter().copied().collect())
            .unwrap_or_default()
    }
}

fn rates_between(previous: &Sample, current: &Sample) -> Rates {
    let elapsed_ns = current.taken_at_ns.saturating_sub(previous.taken_at_ns);
    if elapsed_ns == 0 {
        return Rates::default();
    }
    let seconds = elapsed_ns as f64 / 1e9;
    let per_second =
        |before: u64, after: u64| after.checked_sub(before).map(|d| d as f64 / seconds);

    let mut rates = Rates::default();
    for (&index, &(written, dropped)) in &current.counters {
        let terminal = match previous.counters.get(&index) {
            Some(&(written_before, dropped_before)) => TerminalRates {
                written: per_second(written_before, written),
                dropped: per_second(dropped_before, dropped),
            },
            None => TerminalRates::default(),
        };
        rates.written = add(rates.written, terminal.written);
        rates.dropped = add(rates.dropped, terminal.dropped);
        rates.terminals.insert(index, terminal);
    }
    rates
}

/// Sums rates, where an unknown terminal rate leaves the known part of the sum.
fn add(sum: Option<f64>, rate: Option<f64>) -> Option<f64> {
    match (sum, rate) {
        (Some(sum), Some(rate)) => Some(sum + rate),
        (sum, None) => sum,
        (None, rate) => rate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vtty_ctl::snapshot::TerminalStats;

    fn snapshot(taken_at_ns: u64, nsid: u64, written: u64, dropped: u64) -> Snapshot {
        let terminals = (0..12)
            .map(|index| TerminalStats {
                index,
                bytes_written: if index == 0 { written } else { 0 },
                bytes_dropped: if index == 0 { dropped } else { 0 },
                ..TerminalStats::default()
            })
            .collect();
        let container = ContainerStats {
            nsid,
            terminals,
            ..ContainerStats::default()
        };
        Snapshot {
            taken_at_ns,
            containers: vec![container],
            ..Snapshot::default()
        }
    }

    #[test]
    fn first_snapshot_has_no_rate() {
        let mut tracker = RateTracker::default();
        let rates = tracker.update(&snapshot(1_000_000_000, 7, 100, 50));
        assert_eq!(rates[&7].written, None);
        assert_eq!(rates[&7].dropped, None);
        assert!(tracker.drop_history(7).is_empty());
    }

    #[test]
    fn rate_uses_elapsed_time() {
        let mut tracker = RateTracker::default();
        tracker.update(&snapshot(1_000_000_000, 7, 100, 50));
        let rates = tracker.update(&snapshot(3_000_000_000, 7, 2_100, 1_050));
        assert_eq!(rates[&7].written, Some(1000.0));
        assert_eq!(rates[&7].dropped, Some(500.0));
        assert_eq!(rates[&7].terminals[&0].dropped, Some(500.0));
        assert_eq!(rates[&7].terminals[&1].dropped, Some(0.0));
        assert_eq!(tracker.drop_history(7), vec![500]);
    }

    #[test]
    fn counter_reset_gives_no_rate() {
        let mut tracker = RateTracker::default();
        tracker.update(&snapshot(1_000_000_000, 7, 100, 50));
        let rates = tracker.update(&snapshot(2_000_000_000, 7, 10, 5));
        assert_eq!(rates[&7].terminals[&0].written, None);
        assert_eq!(rates[&7].written, Some(0.0));
    }

    #[test]
    fn vanished_container_forgotten() {
        let mut tracker = RateTracker::default();
        tracker.update(&snapshot(1_000_000_000, 7, 0, 0));
        tracker.update(&snapshot(2_000_000_000, 7, 0, 10));
        assert_eq!(tracker.drop_history(7), vec![10]);
        tracker.update(&snapshot(3_000_000_000, 8, 0, 0));
        assert!(tracker.drop_history(7).is_empty());
        let rates = tracker.update(&snapshot(4_000_000_000, 7, 0, 10));
        assert_eq!(rates[&7].dropped, None);
    }

    #[test]
    fn history_bounded() {
        let mut tracker = RateTracker::default();
        for second in 0..(HISTORY_LEN as u64 + 10) {
            tracker.update(&snapshot(second * 1_000_000_000, 7, 0, second * 3));
        }
        assert_eq!(tracker.drop_history(7).len(), HISTORY_LEN);
    }
}
