//! The event pane: register, install, open, close, attach, detach and unregister
//! as they happen, and the errors the dashboard logged.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use vtty_common::probe::EventKind;
use vtty_ctl::probes::ProbeEvent;

use crate::app::{App, LogEntry, View};
use crate::event::{LogLevel, LogLine};
use crate::format;

/// Draws the newest entries that fit into `area`, oldest at the top.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    // Below three rows only the borders would show.
    if area.height < 3 {
        return;
    }
    let title = match app.view {
        View::Detail(nsid) => match app.name_of(nsid) {
            Some(name) => format!(" Events of {name} "),
            None => format!(" Events of nsid {nsid} "),
        },
        View::List => " Events ".to_owned(),
    };
    let block = Block::bordered().title(title);
    let rows = block.inner(area).height as usize;
    let entries = app.log_entries();

    let lines: Vec<Line> = if entries.is_empty() {
        vec![Line::styled(
            empty_text(app),
            Style::new().fg(Color::DarkGray),
        )]
    } else {
        entries[entries.len().saturating_sub(rows)..]
            .iter()
            .map(|entry| match entry {
                LogEntry::Probe(event) => probe_line(app, event),
                LogEntry::Log(line) => log_line(app, line),
            })
            .collect()
    };
    let paragraph = Paragraph::new(lines).block(block);
    let paragraph = if entries.is_empty() {
        paragraph.wrap(Wrap { trim: true })
    } else {
        paragraph
    };
    frame.render_widget(paragraph, area);
}

fn empty_text(app: &App) -> String {
    if app.refreshed && !app.sources.probes_loaded {
        "No events: lifecycle events come from the probes, which are not loaded.".to_owned()
    } else {
        "No events yet.".to_owned()
    }
}

fn probe_line(app: &App, event: &ProbeEvent) -> Line<'static> {
    let kind = event.kind();
    let color = match kind {
        EventKind::Register | EventKind::Attach | EventKind::Open | EventKind::Install => {
            Color::Green
        }
        EventKind::Unregister | EventKind::Detach | EventKind::Close => Color::Yellow,
        EventKind::Write => Color::Gray,
    };
    let container = match app.name_of(event.nsid) {
        Some(name) => name.to_owned(),
        None => format!("nsid {}", event.nsid),
    };
    let mut details = format::event_detail(&event.detail);
    if !event.comm.is_empty() {
        if !details.is_empty() {
            details.push_str("  ");
        }
        details.push_str(&format!("{}[{}]", event.comm, event.tgid));
    }
    let terminal = event
        .index
        .map_or_else(|| "all".to_owned(), format::terminal);
    Line::from(vec![
        Span::styled(
            app.clock.time_of_day(event.timestamp_ns),
            Style::new().fg(Color::DarkGray),
        ),
        Span::raw(" "),
        Span::styled(format!("{:<10}", kind.name()), Style::new().fg(color)),
        Span::raw(format!(" {container:<12} {terminal:<7} {details}")),
    ])
}

fn log_line(app: &App, line: &LogLine) -> Line<'static> {
    let (label, color) = match line.level {
        LogLevel::Error => ("error", Color::Red),
        LogLevel::Warn => ("warning", Color::Yellow),
    };
    Line::from(vec![
        Span::styled(
            app.clock.time_of_day(line.timestamp_ns),
            Style::new().fg(Color::DarkGray),
        ),
        Span::raw(" "),
        Span::styled(format!("{label:<10}"), Style::new().fg(color)),
        Span::raw(format!(" {}", line.text)),
    ])
}
