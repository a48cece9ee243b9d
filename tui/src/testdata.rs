//! Containers, snapshots and key presses for the unit and screen tests.

use std::path::PathBuf;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use vtty_ctl::probes::{EventDetail, Origin, ProbeEvent};
use vtty_ctl::snapshot::{ContainerStats, Snapshot, Sources, TerminalStats};

use crate::app::App;
use crate::event::{AppEvent, Refresh};
use crate::format::Clock;
use crate::source::CgroupState;

pub const SECOND_NS: u64 = 1_000_000_000;

/// Builds a dashboard that refreshes every second, with event times shown in UTC from
/// monotonic time 0.
pub fn app() -> App {
    App::new(Duration::from_secs(1), Clock::fixed())
}

/// Counters of one terminal of a test container.
pub struct TerminalSpec {
    pub index: u32,
    pub open_count: u32,
    pub written: u64,
    pub dropped: u64,
    pub attached: bool,
}

/// Builds a registered container with 12 terminals, with counters for those in `busy`.
pub fn container(name: &str, nsid: u64, busy: &[TerminalSpec]) -> ContainerStats {
    let terminals = (0..12)
        .map(|index| match busy.iter().find(|t| t.index == index) {
            Some(t) => TerminalStats {
                index,
                open_count: t.open_count,
                opens: u64::from(t.open_count) + 1,
                closes: 1,
                writes: t.written / 100,
                bytes_written: t.written,
                bytes_delivered: t.written - t.dropped,
                bytes_dropped: t.dropped,
                attached: t.attached,
                ..TerminalStats::default()
            },
            None => TerminalStats {
                index,
                ..TerminalStats::default()
            },
        })
        .collect();
    ContainerStats {
        nsid,
        name: name.to_owned(),
        registered: true,
        counted_from_register: true,
        terminals,
    }
}

/// Builds the counters of terminal `index` with `open_count` open files, which
/// wrote `written` bytes, `dropped` of them dropped.
pub fn term(index: u32, open_count: u32, written: u64, dropped: u64) -> TerminalSpec {
    TerminalSpec {
        index,
        open_count,
        written,
        dropped,
        attached: false,
    }
}

/// Builds the counters of an attached terminal, like [`term`].
pub fn attached(index: u32, open_count: u32, written: u64, dropped: u64) -> TerminalSpec {
    TerminalSpec {
        index,
        open_count,
        written,
        dropped,
        attached: true,
    }
}

/// Sources of a host with the driver and the probes loaded.
pub fn all_sources() -> Sources {
    Sources {
        driver_loaded: true,
        probes_loaded: true,
        ..Sources::default()
    }
}

/// Returns the cgroups of a hybrid host.
pub fn hybrid_cgroups() -> CgroupState {
    CgroupState {
        v1_devices: Some(PathBuf::from("/sys/fs/cgroup/devices")),
        v2: Some(PathBuf::from("/sys/fs/cgroup/unified")),
        problem: None,
    }
}

/// Builds a refresh taken at `second` with all sources present.
pub fn refresh(second: u64, containers: Vec<ContainerStats>) -> AppEvent {
    refresh_with(second, containers, all_sources())
}

/// Builds a refresh taken at `second` with the given sources.
pub fn refresh_with(second: u64, containers: Vec<ContainerStats>, sources: Sources) -> AppEvent {
    let snapshot = Snapshot {
        taken_at_ns: second * SECOND_NS,
        containers,
        sources,
    };
    AppEvent::Data(Box::new(Refresh {
        snapshot,
        cgroups: hybrid_cgroups(),
        probes: Some(Origin::Reused),
    }))
}

/// Builds an event of terminal `index` (`None` for the container) at
/// `millisecond`, fired by `getty[321]`.
pub fn probe_event(
    millisecond: u64,
    nsid: u64,
    index: Option<u32>,
    detail: EventDetail,
) -> AppEvent {
    AppEvent::Probe(ProbeEvent {
        timestamp_ns: millisecond * 1_000_000,
        nsid,
        index,
        tgid: 321,
        comm: "getty".to_owned(),
        detail,
    })
}

/// Builds a key press of a character.
pub fn key(c: char) -> AppEvent {
    AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

/// Builds a key press of a non-character key.
pub fn key_code(code: KeyCode) -> AppEvent {
    AppEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// Draws `app` on a `width` x `height` test terminal and returns its lines.
pub fn screen(app: &mut App, width: u16, height: u16) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| crate::ui::draw(frame, app))
        .expect("draw");
    lines(terminal.backend().buffer())
}

/// Returns the text of a buffer, one string per row, without trailing spaces.
pub fn lines(buffer: &ratatui::buffer::Buffer) -> Vec<String> {
    let width = buffer.area.width as usize;
    buffer
        .content
        .chunks(width)
        .map(|row| {
            row.iter()
                .map(|cell| cell.symbol())
                .collect::<String>()
                .trim_end()
                .to_owned()
        })
        .collect()
}
