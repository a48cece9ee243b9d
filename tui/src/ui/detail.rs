//! The detail view: one container's 12 terminals, named as the container sees
//! them, with the container's drop-rate sparkline.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, HighlightSpacing, Paragraph, Row, Sparkline, Table, Wrap};
use vtty_common::abi::VTTY_TERMINALS;

use crate::app::{App, ContainerRow};
use crate::format;

const HEADERS: [&str; 11] = [
    "TTY",
    "OPEN",
    "ATT",
    "OPENS",
    "CLOSES",
    "WRITES",
    "WRITTEN",
    "DELIVERED",
    "DROPPED",
    "B/s",
    "DROP/s",
];
const HIGHLIGHT: &str = "> ";

/// Rows the view needs to show every terminal: borders, summary, a two-row
/// sparkline, the table header and 12 terminals.
pub const HEIGHT: u16 = 2 + 1 + 2 + 1 + VTTY_TERMINALS as u16;

/// Draws the detail view of the container with `nsid` into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &mut App, nsid: u64) {
    let Some(row) = app.detail_row().cloned() else {
        let name = app
            .name_of(nsid)
            .map(|name| format!("{name} (nsid {nsid})"))
            .unwrap_or(format!("nsid {nsid}"));
        let text = vec![
            Line::raw(""),
            Line::raw(format!("Container {name} is no longer registered.")),
            Line::raw("Press Esc to go back to the list."),
        ];
        let block = Block::bordered().title(" Container ");
        frame.render_widget(
            Paragraph::new(text)
                .alignment(Alignment::Center)
                .wrap(Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    };

    let mut block = Block::bordered().title(title(&row));
    if app.sources.probes_loaded && !row.stats.counted_from_register {
        block =
            block.title_bottom(" opens, closes and writes counted since the probes were loaded ");
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // The sparkline gives up its second row before the table loses a terminal.
    let sparkline_height = if inner.height >= HEIGHT - 2 { 2 } else { 1 };
    let [summary_area, sparkline_area, table_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(sparkline_height),
        Constraint::Min(0),
    ])
    .areas(inner);

    frame.render_widget(Paragraph::new(summary(&row)), summary_area);
    render_sparkline(frame, sparkline_area, app, nsid);
    render_terminals(frame, table_area, app, &row);
}

fn title(row: &ContainerRow) -> String {
    let name = if row.stats.name.is_empty() {
        "?"
    } else {
        &row.stats.name
    };
    let state = if row.stats.registered {
        "registered"
    } else {
        "fenced"
    };
    format!(" {name} · nsid {} · {state} ", row.stats.nsid)
}

fn summary(row: &ContainerRow) -> Line<'static> {
    let stats = &row.stats;
    let attached = stats.terminals.iter().filter(|t| t.attached).count();
    Line::from(vec![
        Span::raw(format!(
            "open {}/{}",
            stats.open_terminals(),
            VTTY_TERMINALS
        )),
        Span::raw(format!("  attached {attached}")),
        Span::raw(format!("  written {}/s", format::rate(row.rates.written))),
        Span::styled(
            format!("  dropped {}/s", format::rate(row.rates.dropped)),
            Style::new().fg(Color::Red),
        ),
        Span::raw(format!(
            "  total dropped {}",
            format::bytes(stats.bytes_dropped())
        )),
    ])
}

fn render_sparkline(frame: &mut Frame, area: Rect, app: &App, nsid: u64) {
    const LABEL: &str = "drop/s ";
    let [label_area, line_area] =
        Layout::horizontal([Constraint::Length(LABEL.len() as u16), Constraint::Min(0)])
            .areas(area);
    frame.render_widget(Paragraph::new(LABEL), label_area);
    let history = app.drop_history(nsid);
    let shown = &history[history.len().saturating_sub(line_area.width as usize)..];
    // A fixed minimum of 1 keeps an all-zero history flat instead of full height.
    let max = shown.iter().copied().max().unwrap_or(0).max(1);
    let sparkline = Sparkline::default()
        .data(shown.iter().copied())
        .max(max)
        .style(Style::new().fg(Color::Red));
    frame.render_widget(sparkline, line_area);
}

fn render_terminals(frame: &mut Frame, area: Rect, app: &mut App, row: &ContainerRow) {
    let probes = app.sources.probes_loaded;
    let cells: Vec<[String; 11]> = (0..VTTY_TERMINALS)
        .map(|index| terminal_cells(row, index, probes))
        .collect();
    let mut widths: Vec<usize> = HEADERS.iter().map(|h| h.len()).collect();
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }

    let rows: Vec<Row> = cells
        .into_iter()
        .map(|cells| {
            Row::new(
                cells
                    .into_iter()
                    .enumerate()
                    .map(|(column, text)| aligned(text, column, &widths)),
            )
        })
        .collect();
    let header = Row::new(
        HEADERS
            .iter()
            .enumerate()
            .map(|(column, text)| aligned(text.to_string(), column, &widths)),
    )
    .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let constraints: Vec<Constraint> = widths
        .iter()
        .map(|&w| Constraint::Length(w as u16))
        .collect();
    let table = Table::new(rows, constraints)
        .header(header)
        .highlight_symbol(HIGHLIGHT)
        .highlight_spacing(HighlightSpacing::Always)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    frame.render_stateful_widget(table, area, &mut app.terminal_state);
}

/// Cells of terminal `index`. Opens, closes and writes are counted only by the
/// probes, so they read `-` while the probes are not loaded.
fn terminal_cells(row: &ContainerRow, index: u32, probes: bool) -> [String; 11] {
    let terminal = row
        .stats
        .terminals
        .iter()
        .find(|t| t.index == index)
        .copied()
        .unwrap_or_default();
    let rates = row.rates.terminals.get(&index).copied().unwrap_or_default();
    let probe_count = |value: u64| {
        if probes {
            value.to_string()
        } else {
            "-".to_owned()
        }
    };
    [
        format::terminal(index),
        terminal.open_count.to_string(),
        match (terminal.attached, terminal.stalled) {
            (true, true) => "stall".to_owned(),
            (true, false) => "yes".to_owned(),
            (false, _) => "-".to_owned(),
        },
        probe_count(terminal.opens),
        probe_count(terminal.closes),
        probe_count(terminal.writes),
        terminal.bytes_written.to_string(),
        terminal.bytes_delivered.to_string(),
        terminal.bytes_dropped.to_string(),
        format::rate(rates.written),
        format::rate(rates.dropped),
    ]
}

fn aligned(text: String, column: usize, widths: &[usize]) -> Cell<'static> {
    if column == 0 {
        Cell::from(text)
    } else {
        Cell::from(format!("{text:>width$}", width = widths[column]))
    }
}
