//! The driver's own totals from debugfs, and their comparison with the probes'.
//!
//! `/sys/kernel/debug/vtty/containers` has one line per object, `key=value` pairs
//! separated by spaces:
//!
//! ```text
//! container nsid=N name=NAME init_pid=P state=registered|fenced
//! terminal nsid=N index=I installed=0|1 open=C attached=0|1 stalled=0|1 written=B delivered=B dropped=B input_dropped=B
//! ```
//!
//! Lines of another object kind and unknown keys are skipped, so that the driver
//! can add to the format.

use std::collections::BTreeMap;
use std::path::Path;

use vtty_common::probe::{TerminalCounters, TerminalKey};

use super::error::ProbeError;

/// Path of the containers file.
pub const CONTAINERS_FILE: &str = "/sys/kernel/debug/vtty/containers";

/// A container line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugfsContainer {
    /// The container's nsid.
    pub nsid: u64,
    /// Its registered name.
    pub name: String,
    /// Pid of its init in the initial pid namespace.
    pub init_pid: i32,
    /// False when the container is fenced after an unregister.
    pub registered: bool,
    /// Its terminal lines, by index.
    pub terminals: BTreeMap<u32, DebugfsTerminal>,
}

/// A terminal line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DebugfsTerminal {
    /// A tty exists for the terminal.
    pub installed: bool,
    /// The tty's open count.
    pub open: u32,
    /// The host has an attach file on it.
    pub attached: bool,
    /// Output is dropped because the attacher stalled.
    pub stalled: bool,
    /// Bytes the container wrote.
    pub written: u64,
    /// Bytes delivered to an attacher.
    pub delivered: u64,
    /// Bytes dropped.
    pub dropped: u64,
    /// Input bytes dropped because the container did not read.
    pub input_dropped: u64,
}

/// The `key=value` pairs of one line.
struct Pairs<'a> {
    line_number: usize,
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Pairs<'a> {
    fn parse(line_number: usize, words: impl Iterator<Item = &'a str>) -> Result<Self, String> {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for word in words {
            let (key, value) = word
                .split_once('=')
                .ok_or_else(|| format!("line {line_number}: expected KEY=VALUE, found {word:?}"))?;
            if pairs.iter().any(|(seen, _)| *seen == key) {
                return Err(format!("line {line_number}: key {key:?} appears twice"));
            }
            pairs.push((key, value));
        }
        Ok(Self { line_number, pairs })
    }

    fn text(&self, key: &str) -> Result<&'a str, String> {
        self.pairs
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| *value)
            .ok_or_else(|| format!("line {}: no {key}=", self.line_number))
    }

    fn number<T: std::str::FromStr>(&self, key: &str) -> Result<T, String> {
        let value = self.text(key)?;
        value.parse().map_err(|_| format!("line {}: invalid {key}={value}", self.line_number))
    }

    fn flag(&self, key: &str) -> Result<bool, String> {
        match self.text(key)? {
            "0" => Ok(false),
            "1" => Ok(true),
            other => {
                Err(format!("line {}: invalid {key}={other}, expected 0 or 1", self.line_number))
            }
        }
    }
}

/// Parses the containers file; the error names the line.
pub fn parse_containers(text: &str) -> Result<BTreeMap<u64, DebugfsContainer>, String> {
    let mut containers = BTreeMap::new();
    let mut terminals: Vec<(usize, u64, u32, DebugfsTerminal)> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line_number = number + 1;
        let mut words = line.split_whitespace();
        match words.next() {
            Some("container") => {
                let pairs = Pairs::parse(line_number, words)?;
                let nsid: u64 = pairs.number("nsid")?;
                let registered = match pairs.text("state")? {
                    "registered" => true,
                    "fenced" => false,
                    other => return Err(format!("line {line_number}: invalid state={other}")),
                };
                let container = DebugfsContainer {
                    nsid,
                    name: pairs.text("name")?.to_owned(),
                    init_pid: pairs.number("init_pid")?,
                    registered,
                    terminals: BTreeMap::new(),
                };
                if containers.insert(nsid, container).is_some() {
                    return Err(format!(
                        "line {line_number}: container nsid={nsid} is listed twice"
                    ));
                }
            }
            Some("terminal") => {
                let pairs = Pairs::parse(line_number, words)?;
                let terminal = DebugfsTerminal {
                    installed: pairs.flag("installed")?,
                    open: pairs.number("open")?,
                    attached: pairs.flag("attached")?,
                    stalled: pairs.flag("stalled")?,
                    written: pairs.number("written")?,
                    delivered: pairs.number("delivered")?,
                    dropped: pairs.number("dropped")?,
                    input_dropped: pairs.number("input_dropped")?,
                };
                terminals.push((
                    line_number,
                    pairs.number("nsid")?,
                    pairs.number("index")?,
                    terminal,
                ));
            }
            _ => {}
        }
    }
    for (line_number, nsid, index, terminal) in terminals {
        let container = containers.get_mut(&nsid).ok_or_else(|| {
            format!("line {line_number}: terminal of nsid={nsid}, which has no container line")
        })?;
        if container.terminals.insert(index, terminal).is_some() {
            return Err(format!(
                "line {line_number}: terminal nsid={nsid} index={index} is listed twice"
            ));
        }
    }
    Ok(containers)
}

/// Reads and parses the containers file at `path`.
pub fn read_containers(path: &Path) -> Result<BTreeMap<u64, DebugfsContainer>, ProbeError> {
    let text = std::fs::read_to_string(path).map_err(|error| ProbeError::io(path, error))?;
    parse_containers(&text)
        .map_err(|problem| ProbeError::Format { path: path.to_path_buf(), problem })
}

/// One total on which the probes and the driver disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The terminal.
    pub key: TerminalKey,
    /// Which total: `written`, `delivered` or `dropped`.
    pub total: &'static str,
    /// The probes' count.
    pub probes: u64,
    /// The driver's count.
    pub driver: u64,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "nsid={} tty={}: the probes counted {} bytes {}, the driver {}",
            self.key.nsid,
            crate::driver::terminal_name(self.key.index),
            self.probes,
            self.total,
            self.driver
        )
    }
}

/// Compares the probes' byte totals with the driver's for the containers in
/// `nsids` (those the probes counted from registration on). A terminal the probes
/// never saw counts as zero.
pub fn compare(
    probes: &BTreeMap<TerminalKey, TerminalCounters>,
    driver: &BTreeMap<u64, DebugfsContainer>,
    nsids: impl IntoIterator<Item = u64>,
) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    for nsid in nsids {
        let Some(container) = driver.get(&nsid) else { continue };
        for (&index, terminal) in &container.terminals {
            let key = TerminalKey::new(nsid, index);
            let counted = probes.get(&key).copied().unwrap_or_default();
            let totals = [
                ("written", counted.bytes_written, terminal.written),
                ("delivered", counted.bytes_delivered, terminal.delivered),
                ("dropped", counted.bytes_dropped, terminal.dropped),
            ];
            for (total, probes, driver) in totals {
                if probes != driver {
                    mismatches.push(Mismatch { key, total, probes, driver });
                }
            }
        }
    }
    mismatches
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
container nsid=4026532001 name=101 init_pid=4242 state=registered
terminal nsid=4026532001 index=0 installed=1 open=2 attached=1 stalled=0 written=120 delivered=100 dropped=20 input_dropped=0
terminal nsid=4026532001 index=1 installed=0 open=0 attached=0 stalled=0 written=0 delivered=0 dropped=0 input_dropped=0
container nsid=4026532002 name=web-2 init_pid=5000 state=fenced
terminal nsid=4026532002 index=11 installed=1 open=1 attached=0 stalled=1 written=9 delivered=0 dropped=9 input_dropped=3
";

    #[test]
    fn sample_parses() {
        let containers = parse_containers(SAMPLE).expect("parses");
        assert_eq!(containers.len(), 2);
        let first = &containers[&4026532001];
        assert_eq!(first.name, "101");
        assert_eq!(first.init_pid, 4242);
        assert!(first.registered);
        assert_eq!(first.terminals.len(), 2);
        let console = first.terminals[&0];
        assert!(console.installed && console.attached && !console.stalled);
        assert_eq!(
            (console.open, console.written, console.delivered, console.dropped),
            (2, 120, 100, 20)
        );
        let fenced = &containers[&4026532002];
        assert!(!fenced.registered);
        assert!(fenced.terminals[&11].stalled);
        assert_eq!(fenced.terminals[&11].input_dropped, 3);
    }

    #[test]
    fn unknown_kinds_and_keys_are_skipped() {
        let text = "container nsid=1 name=a init_pid=2 state=registered color=blue\nattacher nsid=1 pid=3\n\n";
        let containers = parse_containers(text).expect("parses");
        assert_eq!(containers[&1].name, "a");
    }

    #[test]
    fn broken_lines_name_their_number() {
        let cases = [
            ("container nsid=x name=a init_pid=2 state=registered", "line 1: invalid nsid=x"),
            ("container nsid=1 name=a init_pid=2", "line 1: no state="),
            ("container nsid=1 name=a init_pid=2 state=gone", "line 1: invalid state=gone"),
            (
                "container nsid=1 nsid=2 name=a init_pid=2 state=fenced",
                "line 1: key \"nsid\" appears twice",
            ),
            ("container nsid=1 name a", "line 1: expected KEY=VALUE, found \"name\""),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_containers(text).expect_err(text), expected);
        }
        let orphan = "terminal nsid=5 index=0 installed=1 open=0 attached=0 stalled=0 written=0 delivered=0 dropped=0 input_dropped=0";
        assert_eq!(
            parse_containers(orphan).expect_err("orphan"),
            "line 1: terminal of nsid=5, which has no container line"
        );
        let bad_flag = format!(
            "{}\n{}",
            "container nsid=5 name=a init_pid=1 state=registered",
            orphan.replace("attached=0", "attached=2")
        );
        assert_eq!(
            parse_containers(&bad_flag).expect_err("flag"),
            "line 2: invalid attached=2, expected 0 or 1"
        );
        let twice =
            format!("container nsid=5 name=a init_pid=1 state=registered\n{orphan}\n{orphan}");
        assert_eq!(
            parse_containers(&twice).expect_err("twice"),
            "line 3: terminal nsid=5 index=0 is listed twice"
        );
    }

    #[test]
    fn compare_reports_each_differing_total() {
        let driver = parse_containers(SAMPLE).expect("parses");
        let mut probes = BTreeMap::new();
        probes.insert(
            TerminalKey::new(4026532001, 0),
            TerminalCounters {
                bytes_written: 120,
                bytes_delivered: 100,
                bytes_dropped: 19,
                ..TerminalCounters::default()
            },
        );
        let mismatches = compare(&probes, &driver, [4026532001]);
        assert_eq!(
            mismatches,
            [Mismatch {
                key: TerminalKey::new(4026532001, 0),
                total: "dropped",
                probes: 19,
                driver: 20
            }]
        );
        assert_eq!(
            mismatches[0].to_string(),
            "nsid=4026532001 tty=console: the probes counted 19 bytes dropped, the driver 20"
        );
        probes.get_mut(&TerminalKey::new(4026532001, 0)).expect("key").bytes_dropped = 20;
        assert!(compare(&probes, &driver, [4026532001]).is_empty());
        assert_eq!(
            compare(&probes, &driver, [4026532002]).len(),
            2,
            "terminal 11 unseen by the probes"
        );
    }
}
