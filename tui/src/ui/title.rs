//! The title bar: what is shown and how, and the two keys everyone needs.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{App, Mode};
use crate::format;

/// Draws the title bar.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let hints = Line::from(vec![
        Span::styled("?", Style::new().bold()),
        Span::raw(" help  "),
        Span::styled("q", Style::new().bold()),
        Span::raw(" quit "),
    ]);
    let [left_area, _, right_area] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(hints.width() as u16),
    ])
    .areas(area);

    let mut spans = vec![
        Span::styled(
            " vtty-top ",
            Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ),
        Span::raw(format!(" {} ", container_count(app))),
    ];
    let arrow = if app.descending { "▼" } else { "▲" };
    spans.push(Span::raw(format!("· sort {}{arrow} ", app.sort.title())));
    if app.mode == Mode::Filter {
        spans.push(Span::raw("· filter: "));
        spans.push(Span::styled(
            format!("{}█", app.filter),
            Style::new().fg(Color::Yellow),
        ));
        spans.push(Span::raw(" "));
    } else if !app.filter.is_empty() {
        spans.push(Span::raw("· filter: "));
        spans.push(Span::styled(
            app.filter.clone(),
            Style::new().fg(Color::Yellow),
        ));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::raw(format!(
        "· every {} ",
        format::duration(app.interval)
    )));
    if app.paused {
        spans.push(Span::styled(
            " PAUSED ",
            Style::new().fg(Color::Black).bg(Color::Yellow).bold(),
        ));
    }

    frame.render_widget(Paragraph::new(Line::from(spans)), left_area);
    frame.render_widget(Paragraph::new(hints), right_area);
}

fn container_count(app: &App) -> String {
    let total = app.total_rows();
    let shown = app.visible_rows().len();
    let noun = if total == 1 {
        "container"
    } else {
        "containers"
    };
    if shown == total {
        format!("{total} {noun}")
    } else {
        format!("{shown} of {total} {noun}")
    }
}
