//! `vtty-top`: live dashboard of every container's consoles.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Parser;
use tokio::sync::mpsc;
use vtty_top::app::App;
use vtty_top::cli::Args;
use vtty_top::format::Clock;
use vtty_top::logger::PaneLogger;
use vtty_top::runner;
use vtty_top::source::live::LiveSource;
use vtty_top::terminal::Screen;

/// Capacity of the event channel between the producers and the draw loop.
const EVENT_QUEUE_LEN: usize = 1024;

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vtty-top: {error:#}");
            ExitCode::from(vtty_ctl::exit::ExitCode::Failure as u8)
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        bail!(
            "standard input and output must be a terminal, because vtty-top draws a full-screen \
             dashboard; for plain numbers use vtty-ctl stats"
        );
    }
    // crossterm reads resize signals and tokio reads SIGTERM through socket pairs;
    // tokio panics when it cannot create one, so check first.
    std::os::unix::net::UnixStream::pair().context(
        "creating a Unix socket pair failed; vtty-top needs Unix domain sockets \
         (CONFIG_UNIX) for terminal input and signals",
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime failed")?;
    runtime.block_on(run_dashboard(args))
}

async fn run_dashboard(args: Args) -> anyhow::Result<()> {
    let (outbox, inbox) = mpsc::channel(EVENT_QUEUE_LEN);
    PaneLogger::install(outbox.clone()).context("installing the logger failed")?;
    runner::spawn_signals(outbox.clone()).context("installing signal handlers failed")?;
    let mut screen = Screen::enter().context("setting up the terminal failed")?;
    // Opened after the logger is installed, so that loader warnings reach the
    // event pane instead of the screen.
    let source = Arc::new(LiveSource::open(args.probes.acquire(), outbox.clone()));
    runner::spawn_input(outbox.clone());
    runner::spawn_ticker(args.interval, outbox.clone());

    let mut app = App::new(args.interval, Clock::system());
    runner::run(
        screen.terminal(),
        &mut app,
        source,
        outbox.downgrade(),
        inbox,
    )
    .await
}
