//! Waiting for the signals that end a long-running command.

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::exit::{self, ExitCode};

fn install(kind: SignalKind, name: &str) -> exit::Result<Signal> {
    signal(kind).map_err(|error| {
        crate::fail!(ExitCode::Failure, "installing a {name} handler failed: {error}")
    })
}

/// Resolves on SIGINT (Ctrl-C), SIGTERM or SIGHUP and returns the signal's name.
/// Create it once and poll it in every loop iteration, so that no signal is missed
/// between iterations.
pub async fn interrupted() -> exit::Result<&'static str> {
    let mut interrupt = install(SignalKind::interrupt(), "SIGINT")?;
    let mut terminate = install(SignalKind::terminate(), "SIGTERM")?;
    let mut hangup = install(SignalKind::hangup(), "SIGHUP")?;
    tokio::select! {
        _ = interrupt.recv() => Ok("SIGINT"),
        _ = terminate.recv() => Ok("SIGTERM"),
        _ = hangup.recv() => Ok("SIGHUP"),
    }
}

/// A single-threaded tokio runtime for one command.
pub fn runtime() -> exit::Result<tokio::runtime::Runtime> {
    Ok(crate::probes::current_thread_runtime()?)
}
