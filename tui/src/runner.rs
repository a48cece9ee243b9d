//! The draw loop and the tasks that feed it.
//!
//! Every producer (keys, the interval tick, signals, probe events, finished
//! refreshes and policy changes) sends an [`AppEvent`] into one channel. The loop
//! applies each to the [`App`], carries out the returned commands off the loop,
//! and draws. It is generic over ratatui's `Backend`, so tests run it on a
//! `TestBackend`.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event as TerminalEvent, EventStream};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::Backend;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use vtty_ctl::probes::EventStream as ProbeEventStream;
use vtty_ctl::snapshot::Snapshot;

use crate::app::App;
use crate::event::{AppEvent, Command, PolicyOutcome, PolicyVerb, Refresh};
use crate::source::live::failed_sources;
use crate::source::{DataSource, PolicyTarget};
use crate::ui;

/// Events applied before the screen is drawn again, so that a burst draws once
/// but a flood cannot starve the screen.
const EVENTS_PER_DRAW: usize = 256;

/// Runs the dashboard until it quits or every producer is gone. Fails when the
/// dashboard had to stop because reading the terminal failed.
///
/// The first refresh starts at once; later ones follow the ticks in `inbox`.
/// `outbox` is where finished refreshes and policy changes are sent, normally
/// the sending side of `inbox`. It is weak so that the loop alone does not keep
/// the channel open: once the producers and the work in flight are gone, `inbox`
/// ends and so does the loop.
pub async fn run<B, S>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    source: Arc<S>,
    outbox: mpsc::WeakSender<AppEvent>,
    mut inbox: mpsc::Receiver<AppEvent>,
) -> anyhow::Result<()>
where
    B: Backend,
    S: DataSource,
{
    let mut commands = app.handle(AppEvent::Tick);
    loop {
        for command in commands.drain(..) {
            if command == Command::Quit {
                return match app.failure() {
                    Some(error) => Err(anyhow::anyhow!("{error}")),
                    None => Ok(()),
                };
            }
            // With every sender gone no result could come back, and the loop ends
            // once the inbox is empty.
            let Some(outbox) = outbox.upgrade() else {
                continue;
            };
            match command {
                Command::Refresh => spawn_refresh(Arc::clone(&source), outbox),
                Command::Policy(verb, target) => {
                    spawn_policy(Arc::clone(&source), outbox, verb, target)
                }
                Command::Quit => {}
            }
        }
        terminal.draw(|frame| ui::draw(frame, app))?;

        let Some(event) = inbox.recv().await else {
            return Ok(());
        };
        commands = app.handle(event);
        for _ in 1..EVENTS_PER_DRAW {
            if commands.contains(&Command::Quit) {
                break;
            }
            match inbox.try_recv() {
                Ok(event) => commands.extend(app.handle(event)),
                Err(_) => break,
            }
        }
    }
}

fn spawn_refresh<S: DataSource>(source: Arc<S>, outbox: mpsc::Sender<AppEvent>) {
    tokio::spawn(async move {
        let work = tokio::task::spawn_blocking(move || source.refresh());
        let refresh = work.await.unwrap_or_else(|error| Refresh {
            snapshot: Snapshot {
                sources: failed_sources(format!("refresh failed: {error}")),
                ..Snapshot::default()
            },
            ..Refresh::default()
        });
        // A closed channel means the dashboard is exiting.
        let _ = outbox.send(AppEvent::Data(Box::new(refresh))).await;
    });
}

fn spawn_policy<S: DataSource>(
    source: Arc<S>,
    outbox: mpsc::Sender<AppEvent>,
    verb: PolicyVerb,
    target: PolicyTarget,
) {
    tokio::spawn(async move {
        let request = target.clone();
        let work = tokio::task::spawn_blocking(move || match verb {
            PolicyVerb::Allow => source.allow(&request),
            PolicyVerb::Deny => source.deny(&request),
        });
        let result = work
            .await
            .unwrap_or_else(|error| Err(format!("{} did not finish: {error}", verb.name())));
        let _ = outbox
            .send(AppEvent::PolicyDone(PolicyOutcome {
                verb,
                target,
                result,
            }))
            .await;
    });
}

/// Sends a tick every `interval`; a late tick is not made up for.
pub fn spawn_ticker(interval: Duration, outbox: mpsc::Sender<AppEvent>) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The first tick completes at once; the runner already refreshes at start.
        ticker.tick().await;
        loop {
            ticker.tick().await;
            if outbox.send(AppEvent::Tick).await.is_err() {
                return;
            }
        }
    });
}

/// Forwards key presses and resizes from the terminal.
pub fn spawn_input(outbox: mpsc::Sender<AppEvent>) {
    tokio::spawn(async move {
        let mut stream = EventStream::new();
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(TerminalEvent::Key(key)) => AppEvent::Key(key),
                Ok(TerminalEvent::Resize(columns, rows)) => AppEvent::Resize(columns, rows),
                Ok(_) => continue,
                Err(error) => {
                    AppEvent::InputFailed(format!("reading the terminal failed: {error}"))
                }
            };
            if outbox.send(event).await.is_err() {
                return;
            }
        }
        let _ = outbox
            .send(AppEvent::Shutdown(
                "the terminal closed its input".to_owned(),
            ))
            .await;
    });
}

/// Turns SIGTERM, SIGHUP and SIGINT into a clean exit that restores the terminal.
pub fn spawn_signals(outbox: mpsc::Sender<AppEvent>) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = hangup.recv() => "SIGHUP",
            _ = interrupt.recv() => "SIGINT",
        };
        let _ = outbox
            .send(AppEvent::Shutdown(format!("received {name}")))
            .await;
    });
    Ok(())
}

/// Forwards events from the probes' ring buffer until it fails or the dashboard
/// exits. A failure is logged, so it shows in the event pane.
pub fn spawn_probe_events(mut events: ProbeEventStream, outbox: mpsc::Sender<AppEvent>) {
    tokio::spawn(async move {
        loop {
            match events.next().await {
                Ok(event) => {
                    if outbox.send(AppEvent::Probe(event)).await.is_err() {
                        return;
                    }
                }
                Err(error) => {
                    log::error!("reading the probes' events failed, so no more are shown: {error}");
                    return;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests;
