//! Command-line options.

use std::time::Duration;

use clap::{Parser, ValueEnum};
use vtty_ctl::probes::Acquire;

/// Minimum refresh interval of `--interval`.
pub const INTERVAL_MIN: Duration = Duration::from_millis(100);
/// Maximum refresh interval of `--interval`.
pub const INTERVAL_MAX: Duration = Duration::from_secs(3600);

/// Live dashboard of every registered container's consoles: open terminals,
/// attachers, bytes written and dropped, and lifecycle events as they happen.
///
/// Run it as root on a host with the vtty driver loaded. Without the driver it
/// still starts and reports what is missing in its status line. It reuses the
/// probes pinned under /sys/fs/bpf/vtty or loads them (see --probes). Keys are
/// listed by `?` inside the dashboard; `q` quits.
#[derive(Debug, Parser)]
#[command(name = "vtty-top", version, about, long_about)]
pub struct Args {
    /// Refresh interval: milliseconds as a bare number (500), or a number with
    /// the unit ms or s (500ms, 2s, 1.5s); from 100ms to 1 hour.
    #[arg(short, long, value_name = "TIME", default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,

    /// Action when no probes are pinned under /sys/fs/bpf/vtty: load private
    /// ones that go away with the dashboard (load), load and pin them so that they
    /// stay (pin), or run without counters and events from the probes (reuse).
    #[arg(long, value_name = "MODE", default_value = "load")]
    pub probes: ProbeMode,
}

/// Source of the dashboard's probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProbeMode {
    /// Only reuse pinned probes.
    Reuse,
    /// Reuse pinned probes, or load private ones for as long as the dashboard runs.
    Load,
    /// Reuse pinned probes, or load and pin them so that they outlive the dashboard.
    Pin,
}

impl ProbeMode {
    /// Returns the loader's policy for this mode.
    pub fn acquire(self) -> Acquire {
        match self {
            Self::Reuse => Acquire::Reuse,
            Self::Load => Acquire::ReuseOrLoadPrivate,
            Self::Pin => Acquire::ReuseOrLoadPinned,
        }
    }
}

/// Parses an `--interval` value.
pub fn parse_interval(value: &str) -> Result<Duration, String> {
    let text = value.trim();
    let (number, scale_ms) = if let Some(number) = text.strip_suffix("ms") {
        (number, 1.0)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1000.0)
    } else {
        (text, 1.0)
    };
    let invalid = || {
        format!(
            "invalid interval {value:?}: use milliseconds (500) or a number with ms or s (500ms, 2s)"
        )
    };
    let number: f64 = number.trim().parse().map_err(|_| invalid())?;
    if !number.is_finite() || number < 0.0 {
        return Err(invalid());
    }
    let milliseconds = number * scale_ms;
    let range_ms = INTERVAL_MIN.as_millis() as f64..=INTERVAL_MAX.as_millis() as f64;
    if !range_ms.contains(&milliseconds) {
        return Err(format!(
            "interval {value:?} is out of range; use 100ms to 3600s, so that refreshes neither load the host nor stop"
        ));
    }
    Ok(Duration::from_secs_f64(milliseconds / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_valid() {
        Args::command().debug_assert();
    }

    #[test]
    fn interval_units() {
        assert_eq!(parse_interval("500"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_interval("1.5s"), Ok(Duration::from_millis(1500)));
    }

    #[test]
    fn interval_invalid_named() {
        for bad in ["", "fast", "-1s", "1m", "NaN", "inf"] {
            let error = parse_interval(bad).expect_err(bad);
            assert!(error.contains(&format!("{bad:?}")), "{error}");
        }
    }

    #[test]
    fn interval_range_checked() {
        assert!(parse_interval("99ms").is_err());
        assert!(parse_interval("100ms").is_ok());
        assert!(parse_interval("3600s").is_ok());
        assert!(parse_interval("3601s").is_err());
        assert!(parse_interval("1e300s").is_err());
    }

    #[test]
    fn probe_modes_parse() {
        let args = Args::try_parse_from(["vtty-top", "--probes", "pin"]).expect("pin");
        assert_eq!(args.probes.acquire(), Acquire::ReuseOrLoadPinned);
        let args = Args::try_parse_from(["vtty-top", "--probes", "reuse"]).expect("reuse");
        assert_eq!(args.probes.acquire(), Acquire::Reuse);
        assert!(Args::try_parse_from(["vtty-top", "--probes", "always"]).is_err());
    }

    #[test]
    fn default_interval_one_second() {
        let args = Args::try_parse_from(["vtty-top"]).expect("no arguments");
        assert_eq!(args.interval, Duration::from_secs(1));
        assert_eq!(args.probes, ProbeMode::Load);
        let error = Args::try_parse_from(["vtty-top", "--interval", "x"]).expect_err("invalid");
        assert!(
            error.to_string().contains("invalid interval \"x\""),
            "{error}"
        );
    }
}
