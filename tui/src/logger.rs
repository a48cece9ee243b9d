//! A `log` backend that shows warnings and errors in the event pane, because
//! writing to stdout or stderr would scribble over the screen.

use log::{Level, LevelFilter, Log, Metadata, Record};
use tokio::sync::mpsc;

use crate::event::{AppEvent, LogLevel, LogLine};
use crate::format;

/// Sends every warning and error record to the dashboard's event channel.
#[derive(Debug)]
pub struct PaneLogger {
    events: mpsc::Sender<AppEvent>,
}

impl PaneLogger {
    /// Installs the logger for the whole process; records below `Warn` are dropped.
    pub fn install(events: mpsc::Sender<AppEvent>) -> Result<(), log::SetLoggerError> {
        log::set_boxed_logger(Box::new(Self { events }))?;
        log::set_max_level(LevelFilter::Warn);
        Ok(())
    }
}

impl Log for PaneLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= Level::Warn
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = if record.level() == Level::Error {
            LogLevel::Error
        } else {
            LogLevel::Warn
        };
        let line = LogLine {
            level,
            timestamp_ns: format::monotonic_now_ns(),
            text: format!("{}: {}", record.target(), record.args()),
        };
        // A full channel means the dashboard is already behind; losing a log line
        // there is better than blocking the thread that logs.
        let _ = self.events.try_send(AppEvent::Log(line));
    }

    fn flush(&self) {}
}
