//! `vtty-ctl trace`: per-write and lifecycle events while it runs.

use std::collections::HashMap;

use log::warn;

use crate::cli::probes::TraceArgs;
use crate::driver::terminal_name;
use crate::exit;
use crate::probes::environment::require_root;
use crate::probes::{Acquire, EventDetail, ProbeEvent, ProbePaths, Probes, open, snapshot};

use super::filter::find_nsid;
use super::signals::{interrupted, runtime};

/// Which events `trace` prints.
enum Filter {
    /// Every event.
    All,
    /// Events of one nsid.
    Nsid(u64),
    /// Events of the container registered under this name.
    Name(String),
}

/// Switches per-write events on for its lifetime, and off again on every exit
/// path, panics included.
struct WriteEvents<'a> {
    probes: &'a mut Probes,
}

impl<'a> WriteEvents<'a> {
    fn on(probes: &'a mut Probes) -> exit::Result<Self> {
        probes.set_write_events(true)?;
        Ok(Self { probes })
    }
}

impl Drop for WriteEvents<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.probes.set_write_events(false) {
            warn!(
                "switching per-write events off failed: {error}; run `vtty-ctl trace` again and stop it with Ctrl-C"
            );
        }
    }
}

/// Runs `vtty-ctl trace`.
pub fn trace(args: &TraceArgs) -> exit::Result<()> {
    require_root("vtty-ctl trace")?;
    let runtime = runtime()?;
    runtime.block_on(run(args))
}

async fn run(args: &TraceArgs) -> exit::Result<()> {
    let mut probes = open(&ProbePaths::default(), Acquire::ReuseOrLoadPrivate)?;
    let start = snapshot(Ok(&probes));
    let mut names: HashMap<u64, String> =
        start.containers.iter().map(|container| (container.nsid, container.name.clone())).collect();
    let filter = match &args.ctid {
        None => Filter::All,
        Some(ctid) => match find_nsid(ctid, &start.containers) {
            Ok(nsid) => Filter::Nsid(nsid),
            Err(_) => {
                eprintln!(
                    "no container {ctid:?} is registered yet; its events show once it registers"
                );
                match ctid.parse::<u64>() {
                    Ok(nsid) => Filter::Nsid(nsid),
                    Err(_) => Filter::Name(ctid.clone()),
                }
            }
        },
    };
    let lost_before = probes.stats().map(|stats| stats.ringbuf_full).unwrap_or(0);
    let mut events = probes.events()?;
    let mut shown = 0u64;
    {
        let _write_events = WriteEvents::on(&mut probes)?;
        eprintln!("tracing vtty events with per-write events on; Ctrl-C stops");
        let stop = interrupted();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                signal = &mut stop => {
                    let signal = signal?;
                    eprintln!("stopping on {signal}");
                    break;
                }
                event = events.next() => {
                    let event = event?;
                    if let EventDetail::Register { name, .. } = &event.detail {
                        names.insert(event.nsid, name.clone());
                    }
                    let name = names.get(&event.nsid).map(String::as_str).unwrap_or("?");
                    let wanted = match &filter {
                        Filter::All => true,
                        Filter::Nsid(nsid) => event.nsid == *nsid,
                        Filter::Name(wanted) => name == wanted,
                    };
                    if wanted {
                        println!("{}", format_line(&event, name));
                        shown += 1;
                    }
                }
            }
        }
    }
    let lost =
        probes.stats().map(|stats| stats.ringbuf_full.saturating_sub(lost_before)).unwrap_or(0);
    eprintln!(
        "{shown} events shown, {lost} lost because the ring buffer was full, {} undecodable",
        events.malformed()
    );
    if lost > 0 {
        warn!("{lost} events were lost because the ring buffer was full while tracing");
    }
    Ok(())
}

/// One output line: seconds since boot, container, terminal, event, task.
fn format_line(event: &ProbeEvent, name: &str) -> String {
    let terminal = event.index.map_or_else(|| "-".to_owned(), terminal_name);
    format!(
        "{:>14.6}  {name:<12} {:>20}  {terminal:<8} {:<48} {}[{}]",
        event.timestamp_ns as f64 / 1e9,
        event.nsid,
        event.detail.to_string(),
        event.comm,
        event.tgid
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_time_container_and_event() {
        let event = ProbeEvent {
            timestamp_ns: 1_500_000_000,
            nsid: 4026532001,
            index: Some(1),
            tgid: 42,
            comm: "getty".to_owned(),
            detail: EventDetail::Write { offered: 5, delivered: 0, dropped: 5 },
        };
        let line = format_line(&event, "101");
        assert!(line.starts_with("      1.500000  101"), "{line:?}");
        assert!(
            line.contains("4026532001  tty2     write offered=5 delivered=0 dropped=5"),
            "{line:?}"
        );
        assert!(line.ends_with("getty[42]"), "{line:?}");
    }
}
