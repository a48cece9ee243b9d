//! The dashboard's state and how events change it. Nothing here draws; the
//! [`crate::ui`] module reads this state, and the runner carries out the
//! [`Command`]s that [`App::handle`] returns.

pub mod sort;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::widgets::TableState;
use vtty_common::abi::VTTY_TERMINALS;
use vtty_ctl::probes::{EventDetail, Origin, ProbeEvent};
use vtty_ctl::snapshot::{ContainerStats, Sources};

use crate::event::{AppEvent, Command, LogLine, PolicyOutcome, PolicyVerb, Refresh};
use crate::format::Clock;
use crate::keys::{self, Action, Scope};
use crate::rates::{RateTracker, Rates};
use crate::source::{CgroupState, PolicyTarget};

pub use sort::SortColumn;

/// Number of entries the event pane keeps.
pub const EVENT_LOG_LEN: usize = 500;

/// Number of probe events held back while the dashboard is paused; older ones
/// are discarded and counted.
pub const HELD_EVENTS_LEN: usize = 5_000;

/// A container as the list shows it: its counters and the rates derived from them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContainerRow {
    /// Counters from the latest snapshot.
    pub stats: ContainerStats,
    /// Rates against the snapshot before.
    pub rates: Rates,
}

/// Screen shown in the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// One row per container.
    List,
    /// The 12 terminals of the container with this nsid.
    Detail(u64),
}

/// Input mode: the view, the filter or a popup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The list or the detail view.
    Normal,
    /// Typing into the filter.
    Filter,
    /// The help popup, scrolled down by this many lines.
    Help(u16),
    /// Asking whether to run an allow or deny.
    Confirm(PolicyVerb, PolicyTarget),
}

/// Kind of the message shown above the status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// A result or a note.
    Info,
    /// Work that is still running.
    Progress,
    /// Something failed.
    Error,
}

/// A one-off message, such as the result of an allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// How to show it.
    pub kind: MessageKind,
    /// The text.
    pub text: String,
}

/// An entry of the event pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEntry {
    /// A lifecycle event from the probes.
    Probe(ProbeEvent),
    /// A warning or error of the dashboard or a library.
    Log(LogLine),
}

impl LogEntry {
    /// `CLOCK_MONOTONIC` time of the entry in nanoseconds.
    pub fn timestamp_ns(&self) -> u64 {
        match self {
            Self::Probe(event) => event.timestamp_ns,
            Self::Log(line) => line.timestamp_ns,
        }
    }
}

/// The dashboard's whole state.
#[derive(Debug)]
pub struct App {
    /// Time between refreshes.
    pub interval: Duration,
    /// Converts event timestamps to times of day.
    pub clock: Clock,
    /// Sources of the latest numbers.
    pub sources: Sources,
    /// The host's device-cgroup hierarchies.
    pub cgroups: CgroupState,
    /// Origin of the loaded probes; `None` when they are not loaded.
    pub probes: Option<Origin>,
    /// True once the first refresh arrived.
    pub refreshed: bool,
    /// Column the list is sorted by.
    pub sort: SortColumn,
    /// Largest first when true.
    pub descending: bool,
    /// Case-insensitive text that a name or nsid must contain to be listed.
    pub filter: String,
    /// Input mode.
    pub mode: Mode,
    /// The screen in the body.
    pub view: View,
    /// Refreshing and the event pane are stopped.
    pub paused: bool,
    /// The latest one-off message.
    pub message: Option<Message>,
    /// Selection and scroll offset of the container list; the list widget keeps
    /// the offset up to date when it draws.
    pub list_state: TableState,
    /// Selection and scroll offset of the detail view's terminals.
    pub terminal_state: TableState,
    /// Rows the list showed when it was last drawn, for PgUp and PgDn.
    pub page_rows: usize,
    rows: Vec<ContainerRow>,
    rates: RateTracker,
    names: HashMap<u64, String>,
    selected_nsid: Option<u64>,
    log: VecDeque<LogEntry>,
    held: VecDeque<ProbeEvent>,
    held_discarded: u64,
    policy_running: bool,
    refresh_running: bool,
    quit: bool,
    failure: Option<String>,
}

impl App {
    /// Creates a dashboard with no data yet that refreshes every `interval`.
    pub fn new(interval: Duration, clock: Clock) -> Self {
        Self {
            interval,
            clock,
            sources: Sources::default(),
            cgroups: CgroupState::default(),
            probes: None,
            refreshed: false,
            sort: SortColumn::Name,
            descending: false,
            filter: String::new(),
            mode: Mode::Normal,
            view: View::List,
            paused: false,
            message: None,
            list_state: TableState::default(),
            terminal_state: TableState::default().with_selected(Some(0)),
            page_rows: 10,
            rows: Vec::new(),
            rates: RateTracker::default(),
            names: HashMap::new(),
            selected_nsid: None,
            log: VecDeque::new(),
            held: VecDeque::new(),
            held_discarded: 0,
            policy_running: false,
            refresh_running: false,
            quit: false,
            failure: None,
        }
    }

    /// True once the dashboard should exit.
    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// Returns the error that stopped the dashboard, if one did.
    pub fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    /// Applies one event and returns the work the runner must do.
    pub fn handle(&mut self, event: AppEvent) -> Vec<Command> {
        match event {
            AppEvent::Key(key) => self.handle_key(key),
            AppEvent::Resize(..) => Vec::new(),
            AppEvent::Tick => self.request_refresh(),
            AppEvent::Data(refresh) => {
                self.apply_refresh(*refresh);
                Vec::new()
            }
            AppEvent::Probe(event) => {
                self.record_probe_event(event);
                Vec::new()
            }
            AppEvent::PolicyDone(outcome) => {
                self.apply_policy_outcome(outcome);
                self.request_refresh()
            }
            AppEvent::Log(line) => {
                self.push_log(LogEntry::Log(line));
                Vec::new()
            }
            AppEvent::Shutdown(_) => self.quit(),
            AppEvent::InputFailed(error) => {
                self.failure = Some(error);
                self.quit()
            }
        }
    }

    /// Containers that pass the filter, in sort order.
    pub fn visible_rows(&self) -> Vec<&ContainerRow> {
        self.rows
            .iter()
            .filter(|row| self.matches_filter(row))
            .collect()
    }

    /// Number of containers in the latest snapshot, filtered or not.
    pub fn total_rows(&self) -> usize {
        self.rows.len()
    }

    /// Returns the container of the detail view, `None` when it is gone.
    pub fn detail_row(&self) -> Option<&ContainerRow> {
        match self.view {
            View::Detail(nsid) => self.rows.iter().find(|row| row.stats.nsid == nsid),
            View::List => None,
        }
    }

    /// Drop rates of a container, oldest first, one per refresh.
    pub fn drop_history(&self, nsid: u64) -> Vec<u64> {
        self.rates.drop_history(nsid)
    }

    /// Registered name of an nsid, also for containers that are gone.
    pub fn name_of(&self, nsid: u64) -> Option<&str> {
        self.names
            .get(&nsid)
            .map(String::as_str)
            .filter(|name| !name.is_empty())
    }

    /// Event pane entries, oldest first; in the detail view only that container's
    /// events and the log lines.
    pub fn log_entries(&self) -> Vec<&LogEntry> {
        self.log
            .iter()
            .filter(|entry| match (self.view, entry) {
                (View::Detail(nsid), LogEntry::Probe(event)) => event.nsid == nsid,
                _ => true,
            })
            .collect()
    }

    /// Probe events waiting for the dashboard to resume, and how many of them
    /// were discarded because too many arrived.
    pub fn held_events(&self) -> (usize, u64) {
        (self.held.len(), self.held_discarded)
    }

    fn matches_filter(&self, row: &ContainerRow) -> bool {
        if self.filter.is_empty() {
            return true;
        }
        let needle = self.filter.to_lowercase();
        row.stats.name.to_lowercase().contains(&needle)
            || row.stats.nsid.to_string().contains(&needle)
    }

    fn quit(&mut self) -> Vec<Command> {
        self.quit = true;
        vec![Command::Quit]
    }

    fn request_refresh(&mut self) -> Vec<Command> {
        if self.paused || self.refresh_running {
            return Vec::new();
        }
        self.refresh_running = true;
        vec![Command::Refresh]
    }

    fn apply_refresh(&mut self, refresh: Refresh) {
        self.refresh_running = false;
        if self.paused {
            // The screen stays as it was when the pause began.
            return;
        }
        let Refresh {
            snapshot,
            cgroups,
            probes,
        } = refresh;
        let mut rates = self.rates.update(&snapshot);
        for container in &snapshot.containers {
            if !container.name.is_empty() {
                self.names.insert(container.nsid, container.name.clone());
            }
        }
        self.rows = snapshot
            .containers
            .into_iter()
            .map(|stats| ContainerRow {
                rates: rates.remove(&stats.nsid).unwrap_or_default(),
                stats,
            })
            .collect();
        self.sources = snapshot.sources;
        self.cgroups = cgroups;
        self.probes = probes;
        self.refreshed = true;
        self.sort_rows();
    }

    fn sort_rows(&mut self) {
        let (column, descending) = (self.sort, self.descending);
        self.rows.sort_by(|a, b| column.order(descending, a, b));
        self.sync_selection();
    }

    fn record_probe_event(&mut self, event: ProbeEvent) {
        // Per-write events only appear while `vtty-ctl trace` has them switched on;
        // they would flood the pane, whose purpose is the lifecycle.
        if let EventDetail::Write { .. } = event.detail {
            return;
        }
        // The name is known from the register event on, before the next refresh.
        if let EventDetail::Register { name, .. } = &event.detail
            && !name.is_empty()
        {
            self.names.insert(event.nsid, name.clone());
        }
        if self.paused {
            if self.held.len() == HELD_EVENTS_LEN {
                self.held.pop_front();
                self.held_discarded += 1;
            }
            self.held.push_back(event);
        } else {
            self.push_log(LogEntry::Probe(event));
        }
    }

    fn push_log(&mut self, entry: LogEntry) {
        if self.log.len() == EVENT_LOG_LEN {
            self.log.pop_front();
        }
        self.log.push_back(entry);
    }

    fn apply_policy_outcome(&mut self, outcome: PolicyOutcome) {
        self.policy_running = false;
        let PolicyOutcome {
            verb,
            target,
            result,
        } = outcome;
        self.message = Some(match result {
            Ok(summary) => Message {
                kind: MessageKind::Info,
                text: format!("{} {}: {summary}", verb.name(), target.label()),
            },
            Err(error) => Message {
                kind: MessageKind::Error,
                text: format!("{} {} failed: {error}", verb.name(), target.label()),
            },
        });
    }

    fn handle_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        if keys::lookup(&[Scope::Global], &key) == Some(Action::Quit) {
            return self.quit();
        }
        match self.mode.clone() {
            Mode::Help(scroll) => {
                self.handle_help_key(&key, scroll);
                Vec::new()
            }
            Mode::Confirm(verb, target) => self.handle_confirm_key(&key, verb, target),
            Mode::Filter => {
                self.handle_filter_key(&key);
                Vec::new()
            }
            Mode::Normal => self.handle_view_key(&key),
        }
    }

    fn handle_help_key(&mut self, key: &KeyEvent, scroll: u16) {
        match keys::lookup(&[Scope::Help], key) {
            Some(Action::Up) => self.mode = Mode::Help(scroll.saturating_sub(1)),
            Some(Action::Down) => self.mode = Mode::Help(scroll.saturating_add(1)),
            Some(Action::CloseHelp) => self.mode = Mode::Normal,
            _ => {}
        }
    }

    fn handle_confirm_key(
        &mut self,
        key: &KeyEvent,
        verb: PolicyVerb,
        target: PolicyTarget,
    ) -> Vec<Command> {
        match keys::lookup(&[Scope::Confirm], key) {
            Some(Action::Confirm) => {
                self.mode = Mode::Normal;
                self.policy_running = true;
                self.message = Some(Message {
                    kind: MessageKind::Progress,
                    text: format!("running {} on {}…", verb.name(), target.label()),
                });
                vec![Command::Policy(verb, target)]
            }
            Some(Action::Cancel) => {
                self.mode = Mode::Normal;
                self.message = Some(Message {
                    kind: MessageKind::Info,
                    text: format!(
                        "{} on {} cancelled; nothing changed",
                        verb.name(),
                        target.label()
                    ),
                });
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn handle_filter_key(&mut self, key: &KeyEvent) {
        match keys::lookup(&[Scope::Filter], key) {
            Some(Action::FilterAccept) => self.mode = Mode::Normal,
            Some(Action::FilterClear) => {
                self.filter.clear();
                self.mode = Mode::Normal;
            }
            Some(Action::FilterBackspace) => {
                self.filter.pop();
            }
            _ => {
                let typed = match key.code {
                    KeyCode::Char(c)
                        if !key
                            .modifiers
                            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
                    {
                        c
                    }
                    _ => return,
                };
                self.filter.push(typed);
            }
        }
        self.sync_selection();
    }

    fn handle_view_key(&mut self, key: &KeyEvent) -> Vec<Command> {
        let scopes: &[Scope] = match self.view {
            View::List => &[Scope::Views],
            View::Detail(_) => &[Scope::Detail, Scope::Views],
        };
        let Some(action) = keys::lookup(scopes, key) else {
            return Vec::new();
        };
        match action {
            Action::Up => self.move_selection(-1),
            Action::Down => self.move_selection(1),
            Action::PageUp => self.move_selection(-(self.page_rows.max(1) as isize)),
            Action::PageDown => self.move_selection(self.page_rows.max(1) as isize),
            Action::First => self.move_selection(isize::MIN),
            Action::Last => self.move_selection(isize::MAX),
            Action::Detail => self.open_detail(),
            Action::Back => self.view = View::List,
            Action::NextSort => self.set_sort(self.sort.next()),
            Action::PreviousSort => self.set_sort(self.sort.previous()),
            Action::ReverseSort => {
                self.descending = !self.descending;
                self.sort_rows();
            }
            Action::Filter => {
                self.view = View::List;
                self.mode = Mode::Filter;
            }
            Action::Pause => return self.toggle_pause(),
            Action::Allow => self.ask_policy(PolicyVerb::Allow),
            Action::Deny => self.ask_policy(PolicyVerb::Deny),
            Action::Help => self.mode = Mode::Help(0),
            Action::Quit => return self.quit(),
            Action::FilterAccept
            | Action::FilterClear
            | Action::FilterBackspace
            | Action::Confirm
            | Action::Cancel
            | Action::CloseHelp => {}
        }
        Vec::new()
    }

    fn set_sort(&mut self, column: SortColumn) {
        self.sort = column;
        self.descending = column.descending_by_default();
        self.sort_rows();
    }

    fn toggle_pause(&mut self) -> Vec<Command> {
        self.paused = !self.paused;
        if self.paused {
            return Vec::new();
        }
        let held: Vec<ProbeEvent> = self.held.drain(..).collect();
        for event in held {
            self.push_log(LogEntry::Probe(event));
        }
        if self.held_discarded > 0 {
            self.message = Some(Message {
                kind: MessageKind::Info,
                text: format!(
                    "{} events arrived while paused and were not kept",
                    self.held_discarded
                ),
            });
            self.held_discarded = 0;
        }
        self.request_refresh()
    }

    fn open_detail(&mut self) {
        if let (View::List, Some(nsid)) = (self.view, self.selected_nsid) {
            self.view = View::Detail(nsid);
            self.terminal_state.select(Some(0));
        }
    }

    fn ask_policy(&mut self, verb: PolicyVerb) {
        if self.policy_running {
            self.message = Some(Message {
                kind: MessageKind::Error,
                text: "an allow or deny is still running; wait for its result".to_owned(),
            });
            return;
        }
        let nsid = match self.view {
            View::Detail(nsid) => Some(nsid),
            View::List => self.selected_nsid,
        };
        let Some(nsid) = nsid else {
            self.message = Some(Message {
                kind: MessageKind::Error,
                text: format!("no container selected to {}", verb.name()),
            });
            return;
        };
        let name = self.names.get(&nsid).cloned().unwrap_or_default();
        if name.is_empty() {
            self.message = Some(Message {
                kind: MessageKind::Error,
                text: format!(
                    "nsid {nsid} has no registered name to pass to {}; run vtty-ctl {} with its cgroup or pid:N",
                    verb.name(),
                    verb.name()
                ),
            });
            return;
        }
        self.mode = Mode::Confirm(verb, PolicyTarget { nsid, name });
    }

    /// Moves the selection of the current view by `delta` rows, clamped to the rows
    /// there are (`isize::MIN` and `isize::MAX` reach the first and last row).
    fn move_selection(&mut self, delta: isize) {
        match self.view {
            View::List => {
                let visible: Vec<u64> = self
                    .visible_rows()
                    .iter()
                    .map(|row| row.stats.nsid)
                    .collect();
                if visible.is_empty() {
                    return;
                }
                let current = self.list_state.selected().unwrap_or(0);
                let next = current.saturating_add_signed(delta).min(visible.len() - 1);
                self.selected_nsid = Some(visible[next]);
                self.list_state.select(Some(next));
            }
            View::Detail(_) => {
                let last = VTTY_TERMINALS as usize - 1;
                let current = self.terminal_state.selected().unwrap_or(0);
                let next = current.saturating_add_signed(delta).min(last);
                self.terminal_state.select(Some(next));
            }
        }
    }

    /// Keeps the selected container selected after the rows changed; when it is
    /// gone, the row at the same position is selected.
    fn sync_selection(&mut self) {
        let visible: Vec<u64> = self
            .visible_rows()
            .iter()
            .map(|row| row.stats.nsid)
            .collect();
        if visible.is_empty() {
            self.list_state.select(None);
            return;
        }
        let position = self
            .selected_nsid
            .and_then(|nsid| visible.iter().position(|&n| n == nsid))
            .unwrap_or_else(|| {
                self.list_state
                    .selected()
                    .unwrap_or(0)
                    .min(visible.len() - 1)
            });
        self.selected_nsid = Some(visible[position]);
        self.list_state.select(Some(position));
    }
}

#[cfg(test)]
mod tests;
