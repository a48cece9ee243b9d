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

#[cfg(test)]
mod tests {
    use super::*;

    fn record_at(logger: &PaneLogger, level: Level, text: &str) {
        let args = format_args!("{text}");
        let record = Record::builder()
            .level(level)
            .target("vtty_ctl::probes")
            .args(args)
            .build();
        logger.log(&record);
    }

    #[test]
    fn warnings_and_errors_forwarded() {
        let (events, mut inbox) = mpsc::channel(4);
        let logger = PaneLogger { events };
        record_at(&logger, Level::Warn, "map read failed");
        record_at(&logger, Level::Error, "stream ended");
        let Ok(AppEvent::Log(warning)) = inbox.try_recv() else {
            panic!("warning not forwarded");
        };
        assert_eq!(warning.level, LogLevel::Warn);
        assert_eq!(warning.text, "vtty_ctl::probes: map read failed");
        let Ok(AppEvent::Log(error)) = inbox.try_recv() else {
            panic!("error not forwarded");
        };
        assert_eq!(error.level, LogLevel::Error);
    }

    #[test]
    fn info_and_debug_dropped() {
        let (events, mut inbox) = mpsc::channel(4);
        let logger = PaneLogger { events };
        record_at(&logger, Level::Info, "loaded");
        record_at(&logger, Level::Debug, "details");
        assert!(inbox.try_recv().is_err());
    }

    #[test]
    fn full_channel_does_not_block() {
        let (events, mut inbox) = mpsc::channel(1);
        let logger = PaneLogger { events };
        record_at(&logger, Level::Warn, "first");
        record_at(&logger, Level::Warn, "second");
        assert!(inbox.try_recv().is_ok());
        assert!(inbox.try_recv().is_err(), "the second record was dropped");
    }
}
