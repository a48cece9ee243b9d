//! Drawing: one render function per screen region, all reading an [`App`].
//!
//! ```text
//! title bar      vtty-top, container count, sort, filter, interval, key hints
//! body           the container list or one container's terminals
//! event pane     lifecycle events from the probes, and logged errors
//! status         driver, probes, cgroups; then messages and problems
//! ```
//! The help and confirmation popups draw over the rest.

mod containers;
mod detail;
mod events;
mod popup;
mod status;
mod title;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::bar;

use crate::app::{App, Mode, View};

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &mut App) {
    let area = frame.area();
    let status_height = status::height(app, area.width).min(area.height.saturating_sub(2));
    // The list can scroll, so it gives the event pane a fixed share. The detail view
    // needs all 12 terminals on screen, so it takes what it needs first.
    let (body, events) = match app.view {
        View::List => (
            Constraint::Min(0),
            Constraint::Length(events_height(area.height)),
        ),
        View::Detail(_) => (Constraint::Length(detail::HEIGHT), Constraint::Min(0)),
    };
    let [title_area, body_area, events_area, status_area] = Layout::vertical([
        Constraint::Length(1),
        body,
        events,
        Constraint::Length(status_height),
    ])
    .areas(area);

    title::render(frame, title_area, app);
    match app.view {
        View::List => containers::render(frame, body_area, app),
        View::Detail(nsid) => detail::render(frame, body_area, app, nsid),
    }
    events::render(frame, events_area, app);
    status::render(frame, status_area, app);

    match app.mode.clone() {
        Mode::Help(scroll) => popup::render_help(frame, area, app, scroll),
        Mode::Confirm(verb, target) => popup::render_confirm(frame, area, verb, &target),
        Mode::Normal | Mode::Filter => {}
    }
}

/// Rows of the event pane, borders included: none on very small terminals, a
/// quarter of the screen otherwise (6 at 24 rows).
fn events_height(screen_height: u16) -> u16 {
    if screen_height < 14 {
        0
    } else {
        (screen_height / 4).clamp(6, 14)
    }
}

/// Returns a rectangle of at most `width` x `height` in the middle of `area`.
fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

/// Renders the last `width` values as a one-line sparkline, newest on the right, scaled to
/// the largest of them. Zero is a blank, so a container that drops nothing shows an
/// empty trend, and any nonzero value shows at least the lowest bar.
fn sparkline_text(values: &[u64], width: usize) -> String {
    let levels = [
        bar::ONE_EIGHTH,
        bar::ONE_QUARTER,
        bar::THREE_EIGHTHS,
        bar::HALF,
        bar::FIVE_EIGHTHS,
        bar::THREE_QUARTERS,
        bar::SEVEN_EIGHTHS,
        bar::FULL,
    ];
    let shown = &values[values.len().saturating_sub(width)..];
    let max = shown.iter().copied().max().unwrap_or(0);
    shown
        .iter()
        .map(|&value| {
            if value == 0 || max == 0 {
                " "
            } else {
                let level = (value as u128 * levels.len() as u128).div_ceil(max as u128);
                levels[(level as usize).clamp(1, levels.len()) - 1]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_max() {
        assert_eq!(sparkline_text(&[0, 1, 4, 8], 10), " ▁▄█");
    }

    #[test]
    fn sparkline_keeps_newest() {
        assert_eq!(sparkline_text(&[8, 8, 0, 8], 2), " █");
        assert_eq!(sparkline_text(&[], 5), "");
    }

    #[test]
    fn centered_clamps_to_area() {
        let area = Rect::new(0, 0, 20, 10);
        assert_eq!(centered(area, 10, 4), Rect::new(5, 3, 10, 4));
        assert_eq!(centered(area, 50, 50), area);
    }
}

#[cfg(test)]
mod snapshots;
