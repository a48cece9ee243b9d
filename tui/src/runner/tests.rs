//! The draw loop on a `TestBackend` with a data source of fixed numbers.

use std::sync::Mutex;

use ratatui::backend::TestBackend;
use vtty_ctl::snapshot::ContainerStats;

use super::*;
use crate::testdata::{self, SECOND_NS};
use vtty_ctl::probes::Origin;

/// A data source whose snapshots count up one second each and whose policy
/// calls are recorded. Every call is also announced on `calls`.
struct FixedSource {
    containers: Vec<ContainerStats>,
    snapshots: Mutex<u64>,
    policy_calls: Mutex<Vec<(PolicyVerb, PolicyTarget)>>,
    calls: mpsc::UnboundedSender<()>,
}

impl FixedSource {
    fn new(containers: Vec<ContainerStats>) -> (Arc<Self>, mpsc::UnboundedReceiver<()>) {
        let (calls, announced) = mpsc::unbounded_channel();
        let source = Self {
            containers,
            snapshots: Mutex::new(0),
            policy_calls: Mutex::new(Vec::new()),
            calls,
        };
        (Arc::new(source), announced)
    }
}

impl DataSource for FixedSource {
    fn refresh(&self) -> Refresh {
        let mut count = self.snapshots.lock().expect("lock");
        *count += 1;
        let _ = self.calls.send(());
        let snapshot = Snapshot {
            taken_at_ns: *count * SECOND_NS,
            containers: self.containers.clone(),
            sources: testdata::all_sources(),
        };
        Refresh {
            snapshot,
            cgroups: testdata::hybrid_cgroups(),
            probes: Some(Origin::Reused),
        }
    }

    fn allow(&self, target: &PolicyTarget) -> Result<String, String> {
        self.policy_calls
            .lock()
            .expect("lock")
            .push((PolicyVerb::Allow, target.clone()));
        let _ = self.calls.send(());
        Ok("granted".to_owned())
    }

    fn deny(&self, target: &PolicyTarget) -> Result<String, String> {
        self.policy_calls
            .lock()
            .expect("lock")
            .push((PolicyVerb::Deny, target.clone()));
        let _ = self.calls.send(());
        Err("deny failed on purpose".to_owned())
    }
}

/// Runs the loop with `events` queued. The test's own sender is dropped once the
/// source has seen `calls` calls. The work in flight then keeps the channel open
/// until its results are in, and then the loop ends. The watchdog only turns a hang
/// into a failure.
async fn run_to_end(
    source: Arc<FixedSource>,
    mut announced: mpsc::UnboundedReceiver<()>,
    events: Vec<AppEvent>,
    calls: usize,
) -> (App, Terminal<TestBackend>) {
    let (outbox, inbox) = mpsc::channel(64);
    for event in events {
        outbox.send(event).await.expect("queue event");
    }
    let weak = outbox.downgrade();
    let controller = async move {
        for _ in 0..calls {
            announced.recv().await.expect("source call");
        }
        drop(outbox);
    };
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test terminal");
    let mut app = testdata::app();
    let watchdog = Duration::from_secs(60);
    let runner = run(&mut terminal, &mut app, source, weak, inbox);
    let (result, ()) = tokio::time::timeout(watchdog, async { tokio::join!(runner, controller) })
        .await
        .expect("runner finished before the watchdog");
    result.expect("runner succeeded");
    (app, terminal)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_refresh_drawn() {
    let (source, announced) = FixedSource::new(vec![testdata::container("101", 42, &[])]);
    let (app, terminal) = run_to_end(Arc::clone(&source), announced, Vec::new(), 1).await;
    assert_eq!(*source.snapshots.lock().expect("lock"), 1);
    assert!(app.refreshed);
    let screen = testdata::lines(terminal.backend().buffer());
    assert!(screen[3].starts_with("│> 101"), "{screen:#?}");
    assert!(screen[23].starts_with("driver: loaded"), "{screen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_key_ends_loop() {
    let (source, announced) = FixedSource::new(Vec::new());
    let events = vec![testdata::key('q'), testdata::key('?')];
    let (app, _) = run_to_end(source, announced, events, 1).await;
    assert!(app.should_quit());
    assert_eq!(
        app.mode,
        crate::app::Mode::Normal,
        "keys after q are not read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_reaches_source_and_result_shown() {
    let (source, announced) = FixedSource::new(vec![testdata::container("101", 42, &[])]);
    let events = vec![
        testdata::refresh(1, vec![testdata::container("101", 42, &[])]),
        testdata::key('a'),
        testdata::key('y'),
    ];
    let (app, terminal) = run_to_end(Arc::clone(&source), announced, events, 2).await;
    let target = PolicyTarget {
        nsid: 42,
        name: "101".to_owned(),
    };
    assert_eq!(
        *source.policy_calls.lock().expect("lock"),
        vec![(PolicyVerb::Allow, target)]
    );
    let message = app.message.clone().expect("result shown");
    assert_eq!(message.text, "allow 101 (nsid 42): granted");
    let screen = testdata::lines(terminal.backend().buffer());
    assert_eq!(screen[23], "allow 101 (nsid 42): granted", "{screen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_error_shown() {
    let (source, announced) = FixedSource::new(vec![testdata::container("101", 42, &[])]);
    let events = vec![
        testdata::refresh(1, vec![testdata::container("101", 42, &[])]),
        testdata::key('d'),
        testdata::key('y'),
    ];
    let (app, _) = run_to_end(source, announced, events, 2).await;
    let message = app.message.clone().expect("error shown");
    assert_eq!(
        message.text,
        "deny 101 (nsid 42) failed: deny failed on purpose"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_failure_fails_run() {
    let (outbox, inbox) = mpsc::channel(4);
    let failed = AppEvent::InputFailed("reading the terminal failed: broken".to_owned());
    outbox.send(failed).await.expect("queue event");
    let (source, _announced) = FixedSource::new(Vec::new());
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test terminal");
    let mut app = testdata::app();
    let result = run(&mut terminal, &mut app, source, outbox.downgrade(), inbox).await;
    let error = result.expect_err("input failure is an error");
    assert_eq!(error.to_string(), "reading the terminal failed: broken");
}
