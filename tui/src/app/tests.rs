//! Key handling and state updates, with data fed in.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use vtty_ctl::probes::EventDetail;

use super::*;
use crate::testdata::*;

fn three_containers() -> Vec<ContainerStats> {
    vec![
        container("api", 30, &[term(0, 1, 500, 0)]),
        container("db", 10, &[term(0, 2, 100, 100), term(1, 1, 0, 0)]),
        container("web", 20, &[attached(0, 1, 300, 50)]),
    ]
}

fn loaded_app() -> App {
    let mut app = app();
    app.handle(AppEvent::Tick);
    app.handle(refresh(1, three_containers()));
    app
}

fn names(app: &App) -> Vec<String> {
    app.visible_rows()
        .iter()
        .map(|row| row.stats.name.clone())
        .collect()
}

fn selected_name(app: &App) -> Option<String> {
    let index = app.list_state.selected()?;
    Some(app.visible_rows()[index].stats.name.clone())
}

fn ctrl(c: char) -> AppEvent {
    AppEvent::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

#[test]
fn tick_refreshes_one_at_a_time() {
    let mut app = app();
    assert_eq!(app.handle(AppEvent::Tick), vec![Command::Refresh]);
    assert_eq!(
        app.handle(AppEvent::Tick),
        vec![],
        "a refresh is still running"
    );
    app.handle(refresh(1, Vec::new()));
    assert_eq!(app.handle(AppEvent::Tick), vec![Command::Refresh]);
}

#[test]
fn refresh_fills_rows_sorted_by_name() {
    let app = loaded_app();
    assert!(app.refreshed);
    assert_eq!(names(&app), ["api", "db", "web"]);
    assert_eq!(selected_name(&app).as_deref(), Some("api"));
    assert_eq!(app.cgroups, hybrid_cgroups());
}

#[test]
fn pause_freezes_rows_and_events() {
    let mut app = loaded_app();
    app.handle(key('p'));
    assert!(app.paused);
    assert_eq!(
        app.handle(AppEvent::Tick),
        vec![],
        "no refresh while paused"
    );

    app.handle(refresh(2, Vec::new()));
    assert_eq!(
        names(&app),
        ["api", "db", "web"],
        "rows unchanged while paused"
    );

    app.handle(probe_event(10, 10, Some(0), EventDetail::Open { count: 1 }));
    assert!(app.log_entries().is_empty());
    assert_eq!(app.held_events(), (1, 0));

    assert_eq!(app.handle(key('p')), vec![Command::Refresh]);
    assert!(!app.paused);
    assert_eq!(app.log_entries().len(), 1);
    assert_eq!(app.held_events(), (0, 0));
}

#[test]
fn held_events_bounded() {
    let mut app = loaded_app();
    app.handle(key(' '));
    for i in 0..(HELD_EVENTS_LEN as u64 + 3) {
        app.handle(probe_event(i, 10, Some(0), EventDetail::Open { count: 1 }));
    }
    assert_eq!(app.held_events(), (HELD_EVENTS_LEN, 3));
    app.handle(key(' '));
    let message = app.message.clone().expect("message about discarded events");
    assert!(message.text.starts_with("3 events"), "{}", message.text);
}

#[test]
fn write_events_not_listed() {
    let mut app = loaded_app();
    app.handle(probe_event(
        1,
        10,
        Some(0),
        EventDetail::Write {
            offered: 10,
            delivered: 0,
            dropped: 10,
        },
    ));
    assert!(app.log_entries().is_empty());
}

#[test]
fn event_log_bounded() {
    let mut app = loaded_app();
    for i in 0..(EVENT_LOG_LEN as u64 + 5) {
        app.handle(probe_event(i, 10, Some(0), EventDetail::Close { count: 0 }));
    }
    let entries = app.log_entries();
    assert_eq!(entries.len(), EVENT_LOG_LEN);
    assert_eq!(
        entries[0].timestamp_ns(),
        5_000_000,
        "oldest entries dropped first"
    );
}

#[test]
fn selection_moves_and_clamps() {
    let mut app = loaded_app();
    app.handle(key('j'));
    assert_eq!(selected_name(&app).as_deref(), Some("db"));
    app.handle(key_code(KeyCode::Down));
    app.handle(key_code(KeyCode::Down));
    assert_eq!(
        selected_name(&app).as_deref(),
        Some("web"),
        "clamped at the last row"
    );
    app.handle(key('k'));
    assert_eq!(selected_name(&app).as_deref(), Some("db"));
    app.handle(key('g'));
    assert_eq!(selected_name(&app).as_deref(), Some("api"));
    app.handle(key_code(KeyCode::End));
    assert_eq!(selected_name(&app).as_deref(), Some("web"));
    app.handle(key_code(KeyCode::Up));
    app.handle(key_code(KeyCode::Up));
    app.handle(key_code(KeyCode::Up));
    assert_eq!(
        selected_name(&app).as_deref(),
        Some("api"),
        "clamped at the first row"
    );
}

#[test]
fn page_keys_move_by_screen() {
    let mut app = app();
    let containers: Vec<_> = (0..20)
        .map(|i| container(&format!("ct{i:02}"), i, &[]))
        .collect();
    app.handle(refresh(1, containers));
    app.page_rows = 5;
    app.handle(key_code(KeyCode::PageDown));
    assert_eq!(selected_name(&app).as_deref(), Some("ct05"));
    app.handle(key_code(KeyCode::PageDown));
    app.handle(key_code(KeyCode::PageDown));
    app.handle(key_code(KeyCode::PageDown));
    assert_eq!(selected_name(&app).as_deref(), Some("ct19"));
    app.handle(key_code(KeyCode::PageUp));
    assert_eq!(selected_name(&app).as_deref(), Some("ct14"));
}

#[test]
fn selection_follows_container_across_sort() {
    let mut app = loaded_app();
    app.handle(key('j'));
    assert_eq!(selected_name(&app).as_deref(), Some("db"));
    app.handle(key('s'));
    assert_eq!(app.sort, SortColumn::Nsid);
    assert_eq!(names(&app), ["db", "web", "api"]);
    assert_eq!(selected_name(&app).as_deref(), Some("db"));
}

#[test]
fn selection_stays_in_place_when_container_vanishes() {
    let mut app = loaded_app();
    app.handle(key('G'));
    let mut remaining = three_containers();
    remaining.pop();
    app.handle(refresh(2, remaining));
    assert_eq!(selected_name(&app).as_deref(), Some("db"));
    app.handle(refresh(3, Vec::new()));
    assert_eq!(app.list_state.selected(), None);
}

#[test]
fn sort_cycles_with_natural_direction() {
    let mut app = loaded_app();
    app.handle(key('s'));
    assert_eq!((app.sort, app.descending), (SortColumn::Nsid, false));
    app.handle(key('>'));
    assert_eq!((app.sort, app.descending), (SortColumn::Open, true));
    app.handle(key('<'));
    app.handle(key('<'));
    assert_eq!((app.sort, app.descending), (SortColumn::Name, false));
    app.handle(key('<'));
    assert_eq!(
        (app.sort, app.descending),
        (SortColumn::Dropped, true),
        "wraps around"
    );
}

#[test]
fn sort_by_dropped_and_reverse() {
    let mut app = loaded_app();
    app.handle(key('<'));
    assert_eq!(app.sort, SortColumn::Dropped);
    assert_eq!(names(&app), ["db", "web", "api"]);
    app.handle(key('r'));
    assert_eq!(names(&app), ["api", "web", "db"]);
}

#[test]
fn sort_by_rate_uses_rates() {
    let mut app = loaded_app();
    app.handle(refresh(
        3,
        vec![
            container("api", 30, &[term(0, 1, 700, 0)]),
            container("db", 10, &[term(0, 2, 2100, 100), term(1, 1, 0, 0)]),
            container("web", 20, &[attached(0, 1, 300, 50)]),
        ],
    ));
    for _ in 0..4 {
        app.handle(key('s'));
    }
    assert_eq!(app.sort, SortColumn::Rate);
    assert_eq!(names(&app), ["db", "api", "web"]);
    let db = app.visible_rows()[0].rates.written;
    assert_eq!(db, Some(1000.0), "2000 bytes over 2 seconds");
}

#[test]
fn filter_typing_narrows_rows() {
    let mut app = loaded_app();
    app.handle(key('/'));
    assert_eq!(app.mode, Mode::Filter);
    for c in ['W', 'e', 'q'] {
        assert_eq!(app.handle(key(c)), vec![], "q is typed, not quit");
    }
    assert_eq!(app.filter, "Weq");
    assert!(names(&app).is_empty());
    app.handle(key_code(KeyCode::Backspace));
    assert_eq!(names(&app), ["web"], "case-insensitive");
    assert_eq!(selected_name(&app).as_deref(), Some("web"));
    app.handle(key_code(KeyCode::Enter));
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.filter, "We");
}

#[test]
fn filter_escape_clears() {
    let mut app = loaded_app();
    for event in [key('/'), key('d'), key('b'), key_code(KeyCode::Esc)] {
        app.handle(event);
    }
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.filter, "");
    assert_eq!(names(&app).len(), 3);
}

#[test]
fn filter_matches_nsid() {
    let mut app = loaded_app();
    for event in [key('/'), key('3'), key('0')] {
        app.handle(event);
    }
    assert_eq!(names(&app), ["api"]);
}

#[test]
fn filter_ignores_control_keys() {
    let mut app = loaded_app();
    app.handle(key('/'));
    app.handle(AppEvent::Key(KeyEvent::new(
        KeyCode::Char('x'),
        KeyModifiers::ALT,
    )));
    app.handle(key_code(KeyCode::Tab));
    assert_eq!(app.filter, "");
}

#[test]
fn detail_opens_and_goes_back() {
    let mut app = loaded_app();
    app.handle(key('j'));
    app.handle(key_code(KeyCode::Enter));
    assert_eq!(app.view, View::Detail(10));
    assert_eq!(
        app.detail_row().map(|row| row.stats.name.as_str()),
        Some("db")
    );

    app.handle(key('j'));
    assert_eq!(app.terminal_state.selected(), Some(1));
    app.handle(key('G'));
    assert_eq!(app.terminal_state.selected(), Some(11), "12 terminals");
    app.handle(key_code(KeyCode::Down));
    assert_eq!(app.terminal_state.selected(), Some(11));

    app.handle(key_code(KeyCode::Esc));
    assert_eq!(app.view, View::List);
    assert_eq!(selected_name(&app).as_deref(), Some("db"));
}

#[test]
fn detail_of_vanished_container() {
    let mut app = loaded_app();
    app.handle(key('l'));
    app.handle(refresh(2, Vec::new()));
    assert_eq!(app.view, View::Detail(30));
    assert_eq!(app.detail_row(), None);
    assert_eq!(app.name_of(30), Some("api"), "name remembered");
}

#[test]
fn detail_lists_only_its_events() {
    let mut app = loaded_app();
    app.handle(probe_event(1, 10, Some(0), EventDetail::Open { count: 1 }));
    app.handle(probe_event(2, 20, Some(0), EventDetail::Open { count: 1 }));
    app.handle(AppEvent::Log(LogLine {
        level: crate::event::LogLevel::Warn,
        timestamp_ns: 3,
        text: "probe map read failed".to_owned(),
    }));
    assert_eq!(app.log_entries().len(), 3);
    app.handle(key('j'));
    app.handle(key_code(KeyCode::Enter));
    let entries = app.log_entries();
    assert_eq!(entries.len(), 2, "db's event and the log line");
    assert!(matches!(entries[0], LogEntry::Probe(event) if event.nsid == 10));
}

#[test]
fn allow_asks_then_runs() {
    let mut app = loaded_app();
    app.handle(key('j'));
    assert_eq!(app.handle(key('a')), vec![]);
    let target = PolicyTarget {
        nsid: 10,
        name: "db".to_owned(),
    };
    assert_eq!(app.mode, Mode::Confirm(PolicyVerb::Allow, target.clone()));

    assert_eq!(
        app.handle(key('y')),
        vec![Command::Policy(PolicyVerb::Allow, target.clone())]
    );
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(
        app.message.as_ref().map(|m| m.kind),
        Some(MessageKind::Progress)
    );

    let done = AppEvent::PolicyDone(PolicyOutcome {
        verb: PolicyVerb::Allow,
        target,
        result: Ok("granted 5:1, 4:0..12 and 240:* in /sys/fs/cgroup/devices/db".to_owned()),
    });
    assert_eq!(app.handle(done), vec![Command::Refresh]);
    let message = app.message.clone().expect("result shown");
    assert_eq!(message.kind, MessageKind::Info);
    assert_eq!(
        message.text,
        "allow db (nsid 10): granted 5:1, 4:0..12 and 240:* in /sys/fs/cgroup/devices/db"
    );
}

#[test]
fn deny_failure_shown() {
    let mut app = loaded_app();
    app.handle(key('l'));
    app.handle(key('d'));
    let target = PolicyTarget {
        nsid: 30,
        name: "api".to_owned(),
    };
    assert_eq!(app.mode, Mode::Confirm(PolicyVerb::Deny, target.clone()));
    app.handle(key_code(KeyCode::Enter));
    app.handle(AppEvent::PolicyDone(PolicyOutcome {
        verb: PolicyVerb::Deny,
        target,
        result: Err("not root".to_owned()),
    }));
    let message = app.message.clone().expect("error shown");
    assert_eq!(message.kind, MessageKind::Error);
    assert_eq!(message.text, "deny api (nsid 30) failed: not root");
}

#[test]
fn confirmation_cancel_changes_nothing() {
    let mut app = loaded_app();
    app.handle(key('d'));
    assert_eq!(app.handle(key('n')), vec![]);
    assert_eq!(app.mode, Mode::Normal);
    let message = app.message.clone().expect("cancel shown");
    assert!(
        message.text.contains("cancelled; nothing changed"),
        "{}",
        message.text
    );
    app.handle(key('a'));
    assert_eq!(app.handle(key_code(KeyCode::Esc)), vec![]);
    assert_eq!(app.handle(key('x')), vec![], "other keys ignored");
}

#[test]
fn confirmation_ignores_other_keys() {
    let mut app = loaded_app();
    app.handle(key('a'));
    for event in [key('q'), key('j'), key('d')] {
        assert_eq!(app.handle(event), vec![]);
    }
    assert!(matches!(app.mode, Mode::Confirm(PolicyVerb::Allow, _)));
    assert!(!app.should_quit());
}

#[test]
fn policy_while_running_rejected() {
    let mut app = loaded_app();
    app.handle(key('a'));
    app.handle(key('y'));
    app.handle(key('d'));
    assert_eq!(app.mode, Mode::Normal);
    let message = app.message.clone().expect("rejection shown");
    assert_eq!(message.kind, MessageKind::Error);
    assert!(message.text.contains("still running"), "{}", message.text);
}

#[test]
fn policy_without_selection_rejected() {
    let mut app = app();
    app.handle(refresh(1, Vec::new()));
    app.handle(key('a'));
    assert_eq!(app.mode, Mode::Normal);
    let message = app.message.clone().expect("rejection shown");
    assert_eq!(message.text, "no container selected to allow");
}

#[test]
fn policy_on_unnamed_container_rejected() {
    let mut app = app();
    app.handle(refresh(1, vec![container("", 99, &[])]));
    app.handle(key('a'));
    assert_eq!(app.mode, Mode::Normal);
    let message = app.message.clone().expect("rejection shown");
    assert!(
        message.text.starts_with("nsid 99 has no registered name"),
        "{}",
        message.text
    );
}

#[test]
fn help_opens_scrolls_and_closes() {
    let mut app = loaded_app();
    app.handle(key('?'));
    assert_eq!(app.mode, Mode::Help(0));
    app.handle(key('j'));
    app.handle(key_code(KeyCode::Down));
    app.handle(key('k'));
    assert_eq!(app.mode, Mode::Help(1));
    assert_eq!(app.handle(key('q')), vec![], "q closes the help only");
    assert_eq!(app.mode, Mode::Normal);
    assert!(!app.should_quit());
}

#[test]
fn quit_from_every_mode() {
    let mut app = loaded_app();
    assert_eq!(app.handle(key('q')), vec![Command::Quit]);
    assert!(app.should_quit());

    let mut app = loaded_app();
    app.handle(key('/'));
    assert_eq!(app.handle(ctrl('c')), vec![Command::Quit]);

    let mut app = loaded_app();
    app.handle(key('?'));
    assert_eq!(app.handle(ctrl('c')), vec![Command::Quit]);

    let mut app = loaded_app();
    assert_eq!(
        app.handle(AppEvent::Shutdown("received SIGTERM".to_owned())),
        vec![Command::Quit]
    );
}

#[test]
fn key_release_ignored() {
    let mut app = loaded_app();
    let mut release = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
    release.kind = KeyEventKind::Release;
    assert_eq!(app.handle(AppEvent::Key(release)), vec![]);
    assert!(!app.should_quit());
}

#[test]
fn resize_changes_no_state() {
    let mut app = loaded_app();
    assert_eq!(app.handle(AppEvent::Resize(100, 40)), vec![]);
    assert_eq!(names(&app).len(), 3);
}

#[test]
fn register_event_names_container() {
    let mut app = loaded_app();
    let detail = EventDetail::Register {
        init_pid: 500,
        name: "new".to_owned(),
    };
    app.handle(probe_event(1, 77, None, detail));
    assert_eq!(app.name_of(77), Some("new"));
    assert_eq!(app.log_entries().len(), 1);
}

#[test]
fn input_failure_quits_with_error() {
    let mut app = loaded_app();
    let failed =
        AppEvent::InputFailed("reading the terminal failed: Function not implemented".to_owned());
    assert_eq!(app.handle(failed), vec![Command::Quit]);
    assert!(app.should_quit());
    assert_eq!(
        app.failure(),
        Some("reading the terminal failed: Function not implemented")
    );
}
