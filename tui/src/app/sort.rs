//! Sort columns of the container list.

use std::cmp::Ordering;

use super::ContainerRow;

/// A column of the container list that rows can be sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortColumn {
    /// Registered name, then nsid.
    Name,
    /// The pid namespace's `ns_id`.
    Nsid,
    /// Terminals with an open file.
    Open,
    /// Terminals with an attacher.
    Attached,
    /// Bytes written per second.
    Rate,
    /// Bytes dropped per second.
    DropRate,
    /// Bytes dropped in total.
    Dropped,
}

impl SortColumn {
    /// Columns in the order the list shows them.
    pub const ALL: [Self; 7] = [
        Self::Name,
        Self::Nsid,
        Self::Open,
        Self::Attached,
        Self::Rate,
        Self::DropRate,
        Self::Dropped,
    ];

    /// Returns the column's heading.
    pub fn title(self) -> &'static str {
        match self {
            Self::Name => "NAME",
            Self::Nsid => "NSID",
            Self::Open => "OPEN",
            Self::Attached => "ATT",
            Self::Rate => "B/s",
            Self::DropRate => "DROP/s",
            Self::Dropped => "DROPPED",
        }
    }

    /// Returns the next column, wrapping around.
    pub fn next(self) -> Self {
        let position = Self::ALL.iter().position(|&c| c == self).unwrap_or(0);
        Self::ALL[(position + 1) % Self::ALL.len()]
    }

    /// Returns the previous column, wrapping around.
    pub fn previous(self) -> Self {
        let position = Self::ALL.iter().position(|&c| c == self).unwrap_or(0);
        Self::ALL[(position + Self::ALL.len() - 1) % Self::ALL.len()]
    }

    /// Returns true when the column starts in descending order: numbers show the largest
    /// first, names and nsids the smallest.
    pub fn descending_by_default(self) -> bool {
        !matches!(self, Self::Name | Self::Nsid)
    }

    /// Orders two rows by this column, in the given direction. Ties go by name, then
    /// nsid, in ascending order whatever the direction, so that rows with equal
    /// values keep their places between refreshes.
    pub fn order(self, descending: bool, a: &ContainerRow, b: &ContainerRow) -> Ordering {
        let by_column = match self {
            Self::Name => a.stats.name.cmp(&b.stats.name),
            Self::Nsid => a.stats.nsid.cmp(&b.stats.nsid),
            Self::Open => a.stats.open_terminals().cmp(&b.stats.open_terminals()),
            Self::Attached => attached_count(a).cmp(&attached_count(b)),
            Self::Rate => compare_rates(a.rates.written, b.rates.written),
            Self::DropRate => compare_rates(a.rates.dropped, b.rates.dropped),
            Self::Dropped => a.stats.bytes_dropped().cmp(&b.stats.bytes_dropped()),
        };
        let directed = if descending {
            by_column.reverse()
        } else {
            by_column
        };
        directed
            .then_with(|| a.stats.name.cmp(&b.stats.name))
            .then_with(|| a.stats.nsid.cmp(&b.stats.nsid))
    }
}

fn attached_count(row: &ContainerRow) -> usize {
    row.stats.terminals.iter().filter(|t| t.attached).count()
}

/// Unknown rates sort below every known rate.
fn compare_rates(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.total_cmp(&b),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
    }
}
