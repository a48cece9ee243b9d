//! Screens drawn into ratatui's `TestBackend`, compared line by line with the
//! expected text. Styles that carry meaning (selection, errors) are checked
//! separately.

use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};
use vtty_ctl::probes::{EventDetail, Origin};
use vtty_ctl::snapshot::Sources;

use crate::app::App;
use crate::event::{AppEvent, PolicyOutcome, PolicyVerb};
use crate::source::PolicyTarget;
use crate::testdata::*;

/// Compares a screen with the expected lines and prints the whole actual screen,
/// ready to paste, when they differ.
fn assert_screen(actual: &[String], expected: &[&str]) {
    if actual != expected {
        let pasteable: Vec<String> = actual
            .iter()
            .map(|line| format!("        {line:?},"))
            .collect();
        panic!("screen differs; actual screen:\n{}", pasteable.join("\n"));
    }
}

fn two_refreshes(
    app: &mut App,
    first: Vec<vtty_ctl::snapshot::ContainerStats>,
    second: Vec<vtty_ctl::snapshot::ContainerStats>,
) {
    app.handle(refresh(1, first));
    app.handle(refresh(2, second));
}

fn one_container_app() -> App {
    let mut app = app();
    two_refreshes(
        &mut app,
        vec![container(
            "101",
            4026532001,
            &[term(0, 1, 3000, 3000), attached(1, 2, 5000, 0)],
        )],
        vec![container(
            "101",
            4026532001,
            &[term(0, 1, 4000, 4000), attached(1, 2, 25000, 0)],
        )],
    );
    app.handle(probe_event(
        1500,
        4026532001,
        Some(1),
        EventDetail::Open { count: 2 },
    ));
    app
}

#[test]
fn empty_state() {
    let mut app = app();
    app.handle(refresh(1, Vec::new()));
    assert_screen(
        &screen(&mut app, 80, 24),
        &[
            " vtty-top  0 containers · sort NAME▲ · every 1s                  ? help  q quit",
            "┌ Containers ──────────────────────────────────────────────────────────────────┐",
            "│                                                                              │",
            "│                           No registered containers.                          │",
            "│                   Register one with: vtty-ctl allow <ctid>                   │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "┌ Events ──────────────────────────────────────────────────────────────────────┐",
            "│No events yet.                                                                │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "driver: loaded │ probes: pinned │ cgroup: v1 devices + v2",
        ],
    );
}

#[test]
fn before_first_refresh() {
    let mut app = app();
    assert_screen(
        &screen(&mut app, 80, 12),
        &[
            " vtty-top  0 containers · sort NAME▲ · every 1s                  ? help  q quit",
            "┌ Containers ──────────────────────────────────────────────────────────────────┐",
            "│                                                                              │",
            "│                        Reading the driver's registry…                        │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "driver: checking… │ probes: checking… │ cgroup: checking…",
        ],
    );
}

#[test]
fn one_container() {
    let mut app = one_container_app();
    assert_screen(
        &screen(&mut app, 100, 20),
        &[
            " vtty-top  1 container · sort NAME▲ · every 1s                                       ? help  q quit",
            "┌ Containers ──────────────────────────────────────────────────────────────────────────────────────┐",
            "│  NAME▲       NSID OPEN ATT   B/s DROP/s DROPPED DROP TREND                                       │",
            "│> 101   4026532001 2/12   1 20.5K   1000    4000 █                                                │",
            "│                                                                                                  │",
            "│                                                                                                  │",
            "│                                                                                                  │",
            "│                                                                                                  │",
            "│                                                                                                  │",
            "│                                                                                                  │",
            "│                                                                                                  │",
            "│                                                                                                  │",
            "└──────────────────────────────────────────────────────────────────────────────────────────────────┘",
            "┌ Events ──────────────────────────────────────────────────────────────────────────────────────────┐",
            "│00:00:01.500 open       101          tty2    count 2  getty[321]                                  │",
            "│                                                                                                  │",
            "│                                                                                                  │",
            "│                                                                                                  │",
            "└──────────────────────────────────────────────────────────────────────────────────────────────────┘",
            "driver: loaded │ probes: pinned │ cgroup: v1 devices + v2",
        ],
    );
}

#[test]
fn many_containers_scroll() {
    let mut app = app();
    let containers = |second: u64| -> Vec<_> {
        (0..30u64)
            .map(|i| {
                container(
                    &format!("ct{i:02}"),
                    4026532100 + i,
                    &[term(0, 1, second * i * 100, second * i * 10)],
                )
            })
            .collect()
    };
    two_refreshes(&mut app, containers(1), containers(2));
    assert_screen(
        &screen(&mut app, 80, 24),
        &[
            " vtty-top  30 containers · sort NAME▲ · every 1s                 ? help  q quit",
            "┌ Containers ──────────────────────────────────────────────────────────────────┐",
            "│  NAME▲       NSID OPEN ATT  B/s DROP/s DROPPED DROP TREND                    │",
            "│> ct00  4026532100 1/12   -    0      0       0                               │",
            "│  ct01  4026532101 1/12   -  100     10      20 █                             │",
            "│  ct02  4026532102 1/12   -  200     20      40 █                             │",
            "│  ct03  4026532103 1/12   -  300     30      60 █                             │",
            "│  ct04  4026532104 1/12   -  400     40      80 █                             │",
            "│  ct05  4026532105 1/12   -  500     50     100 █                             │",
            "│  ct06  4026532106 1/12   -  600     60     120 █                             │",
            "│  ct07  4026532107 1/12   -  700     70     140 █                             │",
            "│  ct08  4026532108 1/12   -  800     80     160 █                             │",
            "│  ct09  4026532109 1/12   -  900     90     180 █                             │",
            "│  ct10  4026532110 1/12   - 1000    100     200 █                             │",
            "│  ct11  4026532111 1/12   - 1100    110     220 █                             │",
            "│  ct12  4026532112 1/12   - 1200    120     240 █                             │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "┌ Events ──────────────────────────────────────────────────────────────────────┐",
            "│No events yet.                                                                │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "driver: loaded │ probes: pinned │ cgroup: v1 devices + v2",
        ],
    );
    app.handle(key('G'));
    assert_screen(
        &screen(&mut app, 80, 24),
        &[
            " vtty-top  30 containers · sort NAME▲ · every 1s                 ? help  q quit",
            "┌ Containers ──────────────────────────────────────────────────────────────────┐",
            "│  NAME▲       NSID OPEN ATT  B/s DROP/s DROPPED DROP TREND                    │",
            "│  ct17  4026532117 1/12   - 1700    170     340 █                             │",
            "│  ct18  4026532118 1/12   - 1800    180     360 █                             │",
            "│  ct19  4026532119 1/12   - 1900    190     380 █                             │",
            "│  ct20  4026532120 1/12   - 2000    200     400 █                             │",
            "│  ct21  4026532121 1/12   - 2100    210     420 █                             │",
            "│  ct22  4026532122 1/12   - 2200    220     440 █                             │",
            "│  ct23  4026532123 1/12   - 2300    230     460 █                             │",
            "│  ct24  4026532124 1/12   - 2400    240     480 █                             │",
            "│  ct25  4026532125 1/12   - 2500    250     500 █                             │",
            "│  ct26  4026532126 1/12   - 2600    260     520 █                             │",
            "│  ct27  4026532127 1/12   - 2700    270     540 █                             │",
            "│  ct28  4026532128 1/12   - 2800    280     560 █                             │",
            "│> ct29  4026532129 1/12   - 2900    290     580 █                             │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "┌ Events ──────────────────────────────────────────────────────────────────────┐",
            "│No events yet.                                                                │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "driver: loaded │ probes: pinned │ cgroup: v1 devices + v2",
        ],
    );
}

#[test]
fn narrow_long_values() {
    let mut app = app();
    let long_name = "a-container-with-a-very-long-registered-name";
    two_refreshes(
        &mut app,
        vec![container(
            long_name,
            18_446_744_073_709_551_000,
            &[term(3, 4, 1 << 40, 1 << 39)],
        )],
        vec![container(
            long_name,
            18_446_744_073_709_551_000,
            &[term(3, 4, (1 << 40) + (1 << 30), (1 << 39) + (1 << 29))],
        )],
    );
    assert_screen(
        &screen(&mut app, 80, 24),
        &[
            " vtty-top  1 container · sort NAME▲ · every 1s                   ? help  q quit",
            "┌ Containers ──────────────────────────────────────────────────────────────────┐",
            "│  NAME▲                           NSID OPEN ATT  B/s DROP/s DROPPED DROP TREND│",
            "│> a-container-wit 18446744073709551000 1/12   - 1.0G 512.0M  512.5G █         │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "┌ Events ──────────────────────────────────────────────────────────────────────┐",
            "│No events yet.                                                                │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "driver: loaded │ probes: pinned │ cgroup: v1 devices + v2",
        ],
    );
}

#[test]
fn detail_view() {
    let mut app = one_container_app();
    app.handle(key_code(KeyCode::Enter));
    assert_screen(
        &screen(&mut app, 80, 24),
        &[
            " vtty-top  1 container · sort NAME▲ · every 1s                   ? help  q quit",
            "┌ 101 · nsid 4026532001 · registered ──────────────────────────────────────────┐",
            "│open 2/12  attached 1  written 20.5K/s  dropped 1000/s  total dropped 4000    │",
            "│drop/s █                                                                      │",
            "│       █                                                                      │",
            "│  TTY     OPEN ATT OPENS CLOSES WRITES WRITTEN DELIVERED DROPPED   B/s DROP/s │",
            "│> console    1   -     2      1     40    4000         0    4000  1000   1000 │",
            "│  tty2       2 yes     3      1    250   25000     25000       0 19.5K      0 │",
            "│  tty3       0   -     0      0      0       0         0       0     0      0 │",
            "│  tty4       0   -     0      0      0       0         0       0     0      0 │",
            "│  tty5       0   -     0      0      0       0         0       0     0      0 │",
            "│  tty6       0   -     0      0      0       0         0       0     0      0 │",
            "│  tty7       0   -     0      0      0       0         0       0     0      0 │",
            "│  tty8       0   -     0      0      0       0         0       0     0      0 │",
            "│  tty9       0   -     0      0      0       0         0       0     0      0 │",
            "│  tty10      0   -     0      0      0       0         0       0     0      0 │",
            "│  tty11      0   -     0      0      0       0         0       0     0      0 │",
            "│  tty12      0   -     0      0      0       0         0       0     0      0 │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "┌ Events of 101 ───────────────────────────────────────────────────────────────┐",
            "│00:00:01.500 open       101          tty2    count 2  getty[321]              │",
            "│                                                                              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "driver: loaded │ probes: pinned │ cgroup: v1 devices + v2",
        ],
    );
}

#[test]
fn help_popup() {
    let mut app = one_container_app();
    app.handle(key('?'));
    assert_screen(
        &screen(&mut app, 80, 24),
        &[
            " v┌ Keys ────────────────────────────────────────────────────────────────────┐t",
            "┌ │Anywhere                                                                  │─┐",
            "│ │  Ctrl-c                quit                                              │ │",
            "│>│                                                                          │ │",
            "│ │Container list and detail view                                            │ │",
            "│ │  ↑ k                   select the previous row                           │ │",
            "│ │  ↓ j                   select the next row                               │ │",
            "│ │  PgUp                  move up one screen                                │ │",
            "│ │  PgDn                  move down one screen                              │ │",
            "│ │  Home g                select the first row                              │ │",
            "│ │  End G                 select the last row                               │ │",
            "│ │  Enter → l             show the selected container's 12 terminals        │ │",
            "│ │  s >                   sort by the next column                           │ │",
            "│ │  <                     sort by the previous column                       │ │",
            "│ │  r                     reverse the sort order                            │ │",
            "│ │  /                     filter containers by name or nsid                 │ │",
            "└─│  p Space               pause or resume refreshing                        │─┘",
            "┌ │  a                     allow the selected container its consoles (asks)  │─┐",
            "│0│  d                     deny the selected container its consoles (asks)   │ │",
            "│ │  ?                     show this help                                    │ │",
            "│ │  q                     quit                                              │ │",
            "│ │                                                                          │ │",
            "└─│Detail view                                                               │─┘",
            "dr└─────────────────────────────────────────────────── ↑↓ scroll · Esc close ┘",
        ],
    );
}

#[test]
fn help_popup_scrolls_to_end() {
    let mut app = one_container_app();
    app.handle(key('?'));
    for _ in 0..100 {
        app.handle(key('j'));
    }
    let screen = screen(&mut app, 80, 24);
    assert!(
        screen[22].contains("Terminals are named as the container sees them"),
        "{screen:#?}"
    );
    assert!(screen[23].contains("↑↓ scroll"), "{screen:#?}");
}

#[test]
fn trend_shows_drop_history() {
    let mut app = app();
    for (second, dropped) in [(1, 0), (2, 0), (3, 10), (4, 30), (5, 70), (6, 150)] {
        app.handle(refresh(
            second,
            vec![container("101", 42, &[term(0, 1, dropped, dropped)])],
        ));
    }
    let screen = screen(&mut app, 80, 24);
    assert_eq!(
        screen[3],
        "│> 101     42 1/12   -  80     80     150  ▁▂▄█                                │"
    );
}

#[test]
fn confirm_popup() {
    let mut app = one_container_app();
    app.handle(key('a'));
    assert_screen(
        &screen(&mut app, 80, 24),
        &[
            " vtty-top  1 container · sort NAME▲ · every 1s                   ? help  q quit",
            "┌ Containers ──────────────────────────────────────────────────────────────────┐",
            "│  NAME▲       NSID OPEN ATT   B/s DROP/s DROPPED DROP TREND                   │",
            "│> 101   4026532001 2/12   1 20.5K   1000    4000 █                            │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│         ┌ Allow 101? ──────────────────────────────────────────────┐         │",
            "│         │Container 101 (nsid 4026532001).                          │         │",
            "│         │                                                          │         │",
            "│         │Grants character devices 5:1, 4:0..12 and the vttys major │         │",
            "│         │(rwm) in its device cgroups, v1 and v2, so that it can    │         │",
            "│         │open its consoles.                                        │         │",
            "│         │                                                          │         │",
            "│         │y allow   n cancel                                        │         │",
            "│         │                                                          │         │",
            "└─────────└──────────────────────────────────────────────────────────┘─────────┘",
            "┌ Events ──────────────────────────────────────────────────────────────────────┐",
            "│00:00:01.500 open       101          tty2    count 2  getty[321]              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "driver: loaded │ probes: pinned │ cgroup: v1 devices + v2",
        ],
    );
}

#[test]
fn error_in_status_line() {
    let mut app = app();
    let sources = Sources {
        problems: vec![
            "vtty driver not loaded: /proc/tty/drivers has no vtty line; load the module"
                .to_owned(),
        ],
        ..Sources::default()
    };
    app.handle(refresh_with(1, Vec::new(), sources));
    app.handle(AppEvent::PolicyDone(PolicyOutcome {
        verb: PolicyVerb::Deny,
        target: PolicyTarget {
            nsid: 7,
            name: "web".to_owned(),
        },
        result: Err("no cgroup named web under /sys/fs/cgroup/machine.slice".to_owned()),
    }));
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test terminal");
    terminal
        .draw(|frame| crate::ui::draw(frame, &mut app))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    assert_screen(
        &lines(buffer),
        &[
            " vtty-top  0 containers · sort NAME▲ · every 1s                  ? help  q quit",
            "┌ Containers ──────────────────────────────────────────────────────────────────┐",
            "│                                                                              │",
            "│                 No containers: the vtty driver is not loaded.                │",
            "│                  The status line below says what is missing.                 │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "┌ Events ──────────────────────────────────────────────────────────────────────┐",
            "│No events: lifecycle events come from the probes, which are not loaded.       │",
            "│                                                                              │",
            "│                                                                              │",
            "│                                                                              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "driver: not loaded │ probes: not loaded │ cgroup: v1 devices + v2",
            "deny web (nsid 7) failed: no cgroup named web under /sys/fs/cgroup/machine.slice",
            "! vtty driver not loaded: /proc/tty/drivers has no vtty line; load the module",
        ],
    );
    assert_eq!(buffer[(0, 22)].fg, Color::Red, "policy error is red");
    assert_eq!(buffer[(0, 23)].fg, Color::Red, "problem is red");
}

#[test]
fn selected_row_reversed() {
    let mut app = one_container_app();
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test terminal");
    terminal
        .draw(|frame| crate::ui::draw(frame, &mut app))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    assert!(
        buffer[(3, 3)].modifier.contains(Modifier::REVERSED),
        "selected row"
    );
}

#[test]
fn filter_editing_shown() {
    let mut app = one_container_app();
    for event in [key('/'), key('x'), key('y')] {
        app.handle(event);
    }
    assert_screen(
        &screen(&mut app, 80, 8),
        &[
            " vtty-top  0 of 1 container · sort NAME▲ · filter: xy█ · every 1 ? help  q quit",
            "┌ Containers ──────────────────────────────────────────────────────────────────┐",
            "│                                                                              │",
            "│                     No container matches the filter \"xy\".                    │",
            "│                       Press / and then Esc to clear it.                      │",
            "│                                                                              │",
            "└──────────────────────────────────────────────────────────────────────────────┘",
            "driver: loaded │ probes: pinned │ cgroup: v1 devices + v2",
        ],
    );
}

#[test]
fn tiny_terminal_draws() {
    let mut app = one_container_app();
    for (width, height) in [(1, 1), (10, 3), (20, 5), (40, 10)] {
        assert_eq!(screen(&mut app, width, height).len(), height as usize);
    }
    app.handle(key_code(KeyCode::Enter));
    app.handle(key('?'));
    assert_eq!(screen(&mut app, 10, 3).len(), 3);
}

#[test]
fn detail_marks_stall_and_partial_counts() {
    let mut app = app();
    let mut stats = container("101", 42, &[attached(0, 1, 500, 100)]);
    stats.terminals[0].stalled = true;
    stats.counted_from_register = false;
    app.handle(refresh(1, vec![stats]));
    app.handle(key_code(KeyCode::Enter));
    let screen = screen(&mut app, 80, 24);
    assert!(
        screen[6].starts_with("│> console    1 stall"),
        "{screen:#?}"
    );
    assert!(
        screen[18].contains("opens, closes and writes counted since the probes were loaded"),
        "{screen:#?}"
    );
}

#[test]
fn status_names_probe_origin() {
    let cases = [
        (Some(Origin::Reused), "probes: pinned"),
        (Some(Origin::LoadedPinned), "probes: loaded, pinned"),
        (Some(Origin::LoadedPrivate), "probes: loaded"),
    ];
    for (origin, expected) in cases {
        let mut app = app();
        app.handle(refresh(1, Vec::new()));
        app.probes = origin;
        let screen = screen(&mut app, 80, 24);
        assert!(
            screen[23].contains(&format!("│ {expected} │")),
            "{screen:#?}"
        );
    }
}

#[test]
fn status_reports_missing_probes_and_losses() {
    let mut app = app();
    let sources = Sources {
        driver_loaded: true,
        ringbuf_full: 3,
        read_failed: 1,
        update_failed: 1,
        ..Sources::default()
    };
    app.handle(refresh_with(1, Vec::new(), sources));
    let screen = screen(&mut app, 100, 24);
    assert_eq!(
        screen[23],
        "driver: loaded │ probes: not loaded │ cgroup: v1 devices + v2 │ events lost: 3 │ counts lost: 2"
    );
}
