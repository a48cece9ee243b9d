//! Popups drawn over the screen: the key help and the allow/deny confirmation.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use crate::app::App;
use crate::event::PolicyVerb;
use crate::format;
use crate::keys::{self, BINDINGS, Scope};
use crate::source::PolicyTarget;

const KEYS_WIDTH: usize = 22;

/// Draws the help popup from the key binding table, scrolled down by `scroll`
/// lines (clamped so that the last line stays at the bottom).
pub fn render_help(frame: &mut Frame, area: Rect, app: &App, scroll: u16) {
    let lines = help_lines(app);
    let popup = super::centered(area, 76, lines.len() as u16 + 2);
    let block = Block::bordered()
        .title(" Keys ")
        .title_bottom(Line::from(" ↑↓ scroll · Esc close ").right_aligned());
    let visible = block.inner(popup).height;
    let scroll = scroll.min((lines.len() as u16).saturating_sub(visible));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(block).scroll((scroll, 0)),
        popup,
    );
}

fn help_lines(app: &App) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    for scope in Scope::ALL {
        if !lines.is_empty() {
            lines.push(Line::raw(""));
        }
        lines.push(Line::styled(
            scope.heading(),
            Style::new().add_modifier(Modifier::BOLD),
        ));
        for binding in BINDINGS.iter().filter(|binding| binding.scope == scope) {
            lines.push(Line::from(vec![
                Span::styled(
                    format!("  {:<KEYS_WIDTH$}", keys::keys_label(binding)),
                    Style::new().fg(Color::Cyan),
                ),
                Span::raw(binding.help),
            ]));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::raw(format!(
        "Refreshes every {} (--interval). Sizes are bytes; K is 1024 bytes.",
        format::duration(app.interval)
    )));
    lines.push(Line::raw(
        "Terminals are named as the container sees them: console, tty2 .. tty12.",
    ));
    lines
}

/// Draws the question asked before an allow or deny.
pub fn render_confirm(frame: &mut Frame, area: Rect, verb: PolicyVerb, target: &PolicyTarget) {
    let (title, effect) = match verb {
        PolicyVerb::Allow => (
            format!(" Allow {}? ", target.name),
            "Grants character devices 5:1, 4:0..12 and the vttys major (rwm) in its device \
             cgroups, v1 and v2, so that it can open its consoles.",
        ),
        PolicyVerb::Deny => (
            format!(" Deny {}? ", target.name),
            "Takes the grant of 5:1, 4:0..12 and the vttys major away: its opens of \
             /dev/console and /dev/ttyN fail with EPERM.",
        ),
    };
    let lines = vec![
        Line::raw(format!("Container {}.", target.label())),
        Line::raw(""),
        Line::raw(effect),
        Line::raw(""),
        Line::from(vec![
            Span::styled("y", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(format!(" {}   ", verb.name())),
            Span::styled("n", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(" cancel"),
        ]),
    ];
    let popup = super::centered(area, 60, 10);
    let block = Block::bordered()
        .title(title)
        .border_style(Style::new().fg(Color::Yellow));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(block),
        popup,
    );
}
