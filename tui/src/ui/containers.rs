//! The container list: one row per registered container, with a sparkline of its
//! drop rate.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Cell, HighlightSpacing, Paragraph, Row, Table, Wrap};
use vtty_common::abi::VTTY_TERMINALS;

use crate::app::{App, ContainerRow, SortColumn};
use crate::format;

const HIGHLIGHT: &str = "> ";
const TREND_TITLE: &str = "DROP TREND";
/// Widest name column; longer names are cut.
const NAME_WIDTH_MAX: usize = 24;
/// Narrowest name column when the trend needs the space.
const NAME_WIDTH_MIN: usize = 8;
/// Trend width that the name column gives way to.
const TREND_WIDTH_MIN: usize = TREND_TITLE.len();

/// Draws the container list into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &mut App) {
    let block = Block::bordered().title(" Containers ");
    let inner = block.inner(area);
    app.page_rows = inner.height.saturating_sub(1).max(1) as usize;

    let visible = app.visible_rows();
    if visible.is_empty() {
        let text = empty_text(app);
        let paragraph = Paragraph::new(text)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true })
            .block(block);
        frame.render_widget(paragraph, area);
        return;
    }

    let cells: Vec<[String; 7]> = visible.iter().map(|row| row_cells(row)).collect();
    let headers: Vec<String> = SortColumn::ALL
        .iter()
        .map(|&column| header(app, column))
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    widths[0] = widths[0].min(NAME_WIDTH_MAX);

    // The trend takes what the other columns leave, with one column gap each. A long
    // name is cut further before the trend gets narrower than its title.
    let used = HIGHLIGHT.len() + widths.iter().sum::<usize>() + widths.len();
    let shortfall = (used + TREND_WIDTH_MIN).saturating_sub(inner.width as usize);
    widths[0] = widths[0]
        .saturating_sub(shortfall)
        .max(NAME_WIDTH_MIN.min(widths[0]));
    let used = HIGHLIGHT.len() + widths.iter().sum::<usize>() + widths.len();
    let trend_width = (inner.width as usize).saturating_sub(used);
    let histories: Vec<Vec<u64>> = visible
        .iter()
        .map(|row| app.drop_history(row.stats.nsid))
        .collect();

    let rows: Vec<Row> = visible
        .iter()
        .zip(cells)
        .zip(&histories)
        .map(|((row, cells), history)| {
            let mut row_cells: Vec<Cell> = cells
                .into_iter()
                .enumerate()
                .map(|(column, text)| aligned_cell(text, column, &widths))
                .collect();
            row_cells.push(
                Cell::from(super::sparkline_text(history, trend_width))
                    .style(Style::new().fg(Color::Red)),
            );
            let style = if row.stats.registered {
                Style::new()
            } else {
                Style::new().fg(Color::DarkGray)
            };
            Row::new(row_cells).style(style)
        })
        .collect();

    let mut header_cells: Vec<Cell> = headers
        .into_iter()
        .enumerate()
        .map(|(column, text)| aligned_cell(text, column, &widths))
        .collect();
    header_cells.push(Cell::from(TREND_TITLE));
    let header = Row::new(header_cells)
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));

    let mut constraints: Vec<Constraint> = widths
        .iter()
        .map(|&w| Constraint::Length(w as u16))
        .collect();
    constraints.push(Constraint::Fill(1));
    let table = Table::new(rows, constraints)
        .header(header)
        .block(block)
        .highlight_symbol(HIGHLIGHT)
        .highlight_spacing(HighlightSpacing::Always)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    frame.render_stateful_widget(table, area, &mut app.list_state);
}

fn header(app: &App, column: SortColumn) -> String {
    if column == app.sort {
        let arrow = if app.descending { "▼" } else { "▲" };
        format!("{}{arrow}", column.title())
    } else {
        column.title().to_owned()
    }
}

fn row_cells(row: &ContainerRow) -> [String; 7] {
    let stats = &row.stats;
    let name = match (stats.name.is_empty(), stats.registered) {
        (true, _) => "?".to_owned(),
        (false, true) => stats.name.clone(),
        (false, false) => format!("{} (fenced)", stats.name),
    };
    let attached = stats.terminals.iter().filter(|t| t.attached).count();
    [
        name,
        stats.nsid.to_string(),
        format!("{}/{}", stats.open_terminals(), VTTY_TERMINALS),
        if attached == 0 {
            "-".to_owned()
        } else {
            attached.to_string()
        },
        format::rate(row.rates.written),
        format::rate(row.rates.dropped),
        format::bytes(stats.bytes_dropped()),
    ]
}

/// Names are left-aligned, numbers right-aligned.
fn aligned_cell(text: String, column: usize, widths: &[usize]) -> Cell<'static> {
    if column == 0 {
        Cell::from(text)
    } else {
        Cell::from(format!("{text:>width$}", width = widths[column]))
    }
}

fn empty_text(app: &App) -> Vec<Line<'static>> {
    let mut lines = vec![Line::raw("")];
    if !app.refreshed {
        lines.push(Line::raw("Reading the driver's registry…"));
    } else if app.total_rows() > 0 {
        lines.push(Line::raw(format!(
            "No container matches the filter \"{}\".",
            app.filter
        )));
        lines.push(Line::raw("Press / and then Esc to clear it."));
    } else if !app.sources.driver_loaded {
        lines.push(Line::raw("No containers: the vtty driver is not loaded."));
        lines.push(Line::raw("The status line below says what is missing."));
    } else {
        lines.push(Line::raw("No registered containers."));
        lines.push(Line::raw("Register one with: vtty-ctl allow <ctid>"));
    }
    lines
}
