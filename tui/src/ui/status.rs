//! The status area: driver, probe and cgroup state on one line, then the latest
//! message and every problem a source reported.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use vtty_ctl::probes::Origin;

use crate::app::{App, MessageKind};

/// Lines any one message may take before it is cut.
const MESSAGE_LINES_MAX: u16 = 3;

/// Rows the status area needs at `width` columns.
pub fn height(app: &App, width: u16) -> u16 {
    1 + extra_lines(app)
        .iter()
        .map(|(text, _)| wrapped_rows(text, width))
        .sum::<u16>()
}

/// Draws the status area.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    if area.height == 0 {
        return;
    }
    let mut lines = vec![state_line(app)];
    for (text, style) in extra_lines(app) {
        lines.push(Line::styled(text, style));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), area);
}

fn wrapped_rows(text: &str, width: u16) -> u16 {
    let width = width.max(1) as usize;
    let chars = text.chars().count().max(1);
    (chars.div_ceil(width) as u16).min(MESSAGE_LINES_MAX)
}

fn state_line(app: &App) -> Line<'static> {
    let good = Style::new().fg(Color::Green);
    let bad = Style::new().fg(Color::Red);
    let warn = Style::new().fg(Color::Yellow);
    if !app.refreshed {
        return Line::raw("driver: checking… │ probes: checking… │ cgroup: checking…");
    }

    let mut spans = vec![Span::raw("driver: ")];
    spans.push(if app.sources.driver_loaded {
        Span::styled("loaded", good)
    } else {
        Span::styled("not loaded", bad)
    });

    spans.push(Span::raw(" │ probes: "));
    spans.push(match (app.sources.probes_loaded, app.probes) {
        (true, Some(Origin::Reused)) => Span::styled("pinned", good),
        (true, Some(Origin::LoadedPinned)) => Span::styled("loaded, pinned", good),
        (true, Some(Origin::LoadedPrivate) | None) => Span::styled("loaded", good),
        (false, _) => Span::styled("not loaded", warn),
    });

    spans.push(Span::raw(" │ cgroup: "));
    let cgroup_style = if app.cgroups.problem.is_some() {
        bad
    } else {
        Style::new()
    };
    spans.push(Span::styled(app.cgroups.summary(), cgroup_style));
    if app.sources.ringbuf_full > 0 {
        spans.push(Span::raw(" │ "));
        spans.push(Span::styled(
            format!("events lost: {}", app.sources.ringbuf_full),
            warn,
        ));
    }

    let counts_lost = app.sources.read_failed + app.sources.update_failed;
    if counts_lost > 0 {
        spans.push(Span::raw(" │ "));
        spans.push(Span::styled(format!("counts lost: {counts_lost}"), warn));
    }
    let (held, _) = app.held_events();
    if held > 0 {
        spans.push(Span::raw(format!(" │ {held} events held")));
    }
    Line::from(spans)
}

/// Returns the message line, then one line per problem, each with its style.
fn extra_lines(app: &App) -> Vec<(String, Style)> {
    let mut lines = Vec::new();
    if let Some(message) = &app.message {
        let style = match message.kind {
            MessageKind::Info => Style::new().fg(Color::Green),
            MessageKind::Progress => Style::new().fg(Color::Yellow),
            MessageKind::Error => Style::new().fg(Color::Red),
        };
        lines.push((message.text.clone(), style));
    }
    for problem in &app.sources.problems {
        lines.push((format!("! {problem}"), Style::new().fg(Color::Red)));
    }
    lines
}
