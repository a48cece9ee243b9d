//! Text forms of numbers, times and events as the dashboard shows them.

use vtty_common::abi::{VTTY_ATTACH_TAKEOVER, VTTY_INDEX_ALL};
use vtty_ctl::probes::{EventDetail, detach_reason, unregister_reason};

/// Formats a byte count: exact below 10 000, then with a binary unit suffix
/// (`K` is 1024 bytes, `M` 1024 K, and so on) and one decimal.
pub fn bytes(count: u64) -> String {
    const UNITS: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    if count < 10_000 {
        return count.to_string();
    }
    let mut value = count as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1}{}", UNITS[unit])
}

/// Formats a rate in bytes per second, `-` while no rate is known yet.
pub fn rate(bytes_per_second: Option<f64>) -> String {
    match bytes_per_second {
        Some(value) => bytes(value.round() as u64),
        None => "-".to_owned(),
    }
}

/// Formats an interval the way `--interval` accepts it: `500ms`, `1s`, `1.5s`.
pub fn duration(interval: std::time::Duration) -> String {
    let ms = interval.as_millis();
    if interval.subsec_millis() == 0 {
        format!("{}s", interval.as_secs())
    } else if ms > 1000 {
        format!("{}s", ms as f64 / 1000.0)
    } else {
        format!("{ms}ms")
    }
}

/// The name a container sees for a terminal index (`console`, `tty2` .. `tty12`);
/// `all` for container-level events.
pub fn terminal(index: u32) -> String {
    if index == VTTY_INDEX_ALL {
        "all".to_owned()
    } else {
        vtty_ctl::driver::terminal_name(index)
    }
}

/// Describes what an event carries beyond its container and terminal.
pub fn event_detail(detail: &EventDetail) -> String {
    match detail {
        EventDetail::Register { init_pid, .. } => format!("init pid {init_pid}"),
        EventDetail::Open { count } | EventDetail::Close { count } => format!("count {count}"),
        EventDetail::Attach { flags } if flags & VTTY_ATTACH_TAKEOVER != 0 => "takeover".to_owned(),
        EventDetail::Detach { reason } => detach_reason(*reason).to_owned(),
        EventDetail::Unregister { reason } => unregister_reason(*reason).to_owned(),
        EventDetail::Write {
            offered,
            delivered,
            dropped,
        } => {
            format!("offered {offered} delivered {delivered} dropped {dropped}")
        }
        EventDetail::Attach { .. } | EventDetail::Install => String::new(),
    }
}

/// Converts the monotonic timestamps of events to wall-clock times of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// `CLOCK_REALTIME` minus `CLOCK_MONOTONIC`, in nanoseconds.
    pub realtime_offset_ns: i128,
    /// Offset of the local time zone from UTC, in seconds.
    pub utc_offset_s: i32,
}

impl Clock {
    /// Creates a clock for tests, on which monotonic time 0 is midnight UTC.
    pub const fn fixed() -> Self {
        Self {
            realtime_offset_ns: 0,
            utc_offset_s: 0,
        }
    }

    /// Reads the system clocks and the local time zone now.
    pub fn system() -> Self {
        let realtime = clock_ns(nix::time::ClockId::CLOCK_REALTIME);
        let monotonic = clock_ns(nix::time::ClockId::CLOCK_MONOTONIC);
        let utc_offset_s = chrono::Local::now().offset().local_minus_utc();
        Self {
            realtime_offset_ns: realtime - monotonic,
            utc_offset_s,
        }
    }

    /// Formats a `CLOCK_MONOTONIC` timestamp as local `HH:MM:SS.mmm`.
    pub fn time_of_day(&self, monotonic_ns: u64) -> String {
        const NS_PER_DAY: i128 = 86_400 * 1_000_000_000;
        let local = monotonic_ns as i128
            + self.realtime_offset_ns
            + self.utc_offset_s as i128 * 1_000_000_000;
        let in_day = local.rem_euclid(NS_PER_DAY);
        let ms = in_day / 1_000_000;
        format!(
            "{:02}:{:02}:{:02}.{:03}",
            ms / 3_600_000,
            ms / 60_000 % 60,
            ms / 1000 % 60,
            ms % 1000
        )
    }
}

/// Reads a clock in nanoseconds; 0 if the clock cannot be read, which only makes
/// event times wrong, never the counters.
fn clock_ns(clock: nix::time::ClockId) -> i128 {
    match nix::time::clock_gettime(clock) {
        Ok(time) => time.tv_sec() as i128 * 1_000_000_000 + time.tv_nsec() as i128,
        Err(error) => {
            log::warn!("clock_gettime({clock}) failed: {error}; event times will be wrong");
            0
        }
    }
}

/// `CLOCK_MONOTONIC` now in nanoseconds, the time base of snapshots and events.
pub fn monotonic_now_ns() -> u64 {
    clock_ns(nix::time::ClockId::CLOCK_MONOTONIC).max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_exact_below_ten_thousand() {
        assert_eq!(bytes(0), "0");
        assert_eq!(bytes(9_999), "9999");
    }

    #[test]
    fn bytes_binary_units_above() {
        assert_eq!(bytes(10_000), "9.8K");
        assert_eq!(bytes(1_048_576), "1.0M");
        assert_eq!(bytes(5 * 1024 * 1024 * 1024), "5.0G");
        assert_eq!(bytes(u64::MAX), "16.0E");
    }

    #[test]
    fn rate_unknown_is_dash() {
        assert_eq!(rate(None), "-");
        assert_eq!(rate(Some(2.6)), "3");
    }

    #[test]
    fn durations_as_interval_accepts() {
        use std::time::Duration;
        assert_eq!(duration(Duration::from_millis(500)), "500ms");
        assert_eq!(duration(Duration::from_secs(2)), "2s");
        assert_eq!(duration(Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn terminal_names_as_container_sees() {
        assert_eq!(terminal(0), "console");
        assert_eq!(terminal(1), "tty2");
        assert_eq!(terminal(11), "tty12");
        assert_eq!(terminal(VTTY_INDEX_ALL), "all");
    }

    #[test]
    fn time_of_day_applies_offsets() {
        let clock = Clock {
            realtime_offset_ns: 3_600_000_000_000,
            utc_offset_s: -1800,
        };
        assert_eq!(clock.time_of_day(1_234_000_000), "00:30:01.234");
        assert_eq!(
            Clock::fixed().time_of_day(86_400_000_000_000 + 5_000_000),
            "00:00:00.005"
        );
    }

    #[test]
    fn event_details_named() {
        assert_eq!(event_detail(&EventDetail::Open { count: 2 }), "count 2");
        assert_eq!(
            event_detail(&EventDetail::Detach { reason: 1 }),
            "taken over"
        );
        assert_eq!(
            event_detail(&EventDetail::Unregister { reason: 1 }),
            "init exited"
        );
        assert_eq!(
            event_detail(&EventDetail::Attach {
                flags: VTTY_ATTACH_TAKEOVER
            }),
            "takeover"
        );
        assert_eq!(event_detail(&EventDetail::Attach { flags: 0 }), "");
    }
}
