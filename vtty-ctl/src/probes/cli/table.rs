//! The table `vtty-ctl stats` prints.

use std::fmt::Write as _;

use crate::driver::terminal_name;
use crate::snapshot::{Snapshot, TerminalStats};

const HEADER: [&str; 11] = [
    "CONTAINER",
    "NSID",
    "TTY",
    "OPEN",
    "OPENS",
    "CLOSES",
    "WRITES",
    "WRITTEN",
    "DELIVERED",
    "DROPPED",
    "ATTACHED",
];

/// True for a terminal worth a row: open, attached, or with counted activity.
fn is_active(terminal: &TerminalStats) -> bool {
    terminal.open_count > 0
        || terminal.attached
        || terminal.opens > 0
        || terminal.writes > 0
        || terminal.attaches > 0
}

/// Renders one row per active terminal, or one row per container without any.
/// A container whose counters started after its registration is marked `*`.
pub fn render(snapshot: &Snapshot) -> String {
    let mut rows: Vec<[String; 11]> = Vec::new();
    let mut partial = false;
    for container in &snapshot.containers {
        let mut name =
            if container.name.is_empty() { "?".to_owned() } else { container.name.clone() };
        if !container.counted_from_register && snapshot.sources.probes_loaded {
            name.push('*');
            partial = true;
        }
        let active: Vec<&TerminalStats> =
            container.terminals.iter().filter(|t| is_active(t)).collect();
        if active.is_empty() {
            let mut row: [String; 11] = Default::default();
            row[0] = name;
            row[1] = container.nsid.to_string();
            row[2] = "-".to_owned();
            rows.push(row);
            continue;
        }
        for terminal in active {
            rows.push([
                name.clone(),
                container.nsid.to_string(),
                terminal_name(terminal.index),
                terminal.open_count.to_string(),
                terminal.opens.to_string(),
                terminal.closes.to_string(),
                terminal.writes.to_string(),
                terminal.bytes_written.to_string(),
                terminal.bytes_delivered.to_string(),
                terminal.bytes_dropped.to_string(),
                if terminal.attached { "yes" } else { "no" }.to_owned(),
            ]);
        }
    }

    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    let header = HEADER.map(str::to_owned);
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (column, (cell, width)) in row.iter().zip(widths).enumerate() {
            // Names and terminals align left, numbers right.
            let _ = if column == 0 || column == 2 || column == 10 {
                write!(line, "{cell:<width$}  ")
            } else {
                write!(line, "{cell:>width$}  ")
            };
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if rows.is_empty() {
        out.push_str("(no containers registered)\n");
    }
    if partial {
        out.push_str("* counted since the probes were loaded, after the container registered\n");
    }
    let sources = &snapshot.sources;
    if sources.ringbuf_full > 0 || sources.read_failed > 0 || sources.update_failed > 0 {
        let _ = writeln!(
            out,
            "probe losses: {} events (ring buffer full), {} unreadable records, {} lost updates",
            sources.ringbuf_full, sources.read_failed, sources.update_failed
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{ContainerStats, Sources};

    fn terminals() -> Vec<TerminalStats> {
        (0..12).map(|index| TerminalStats { index, ..TerminalStats::default() }).collect()
    }

    #[test]
    fn active_terminals_get_rows() {
        let mut web = ContainerStats {
            nsid: 7,
            name: "web".to_owned(),
            registered: true,
            counted_from_register: true,
            terminals: terminals(),
        };
        web.terminals[0] = TerminalStats {
            index: 0,
            open_count: 1,
            opens: 1,
            writes: 2,
            bytes_written: 30,
            bytes_dropped: 30,
            ..TerminalStats::default()
        };
        web.terminals[2] =
            TerminalStats { index: 2, attached: true, attaches: 1, ..TerminalStats::default() };
        let idle = ContainerStats {
            nsid: 8,
            name: "db".to_owned(),
            registered: true,
            counted_from_register: false,
            terminals: terminals(),
        };
        let snapshot = Snapshot {
            taken_at_ns: 0,
            containers: vec![idle, web],
            sources: Sources {
                driver_loaded: true,
                probes_loaded: true,
                ringbuf_full: 3,
                ..Sources::default()
            },
        };
        let expected = "\
CONTAINER  NSID  TTY      OPEN  OPENS  CLOSES  WRITES  WRITTEN  DELIVERED  DROPPED  ATTACHED
db*           8  -
web           7  console     1      1       0       2       30          0       30  no
web           7  tty3        0      0       0       0        0          0        0  yes
* counted since the probes were loaded, after the container registered
probe losses: 3 events (ring buffer full), 0 unreadable records, 0 lost updates
";
        assert_eq!(render(&snapshot), expected);
    }

    #[test]
    fn empty_snapshot_says_so() {
        let rendered = render(&Snapshot::default());
        assert!(rendered.ends_with("(no containers registered)\n"), "{rendered}");
    }
}
