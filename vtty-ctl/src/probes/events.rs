//! Decoding the ring-buffer records of the probes, and the async event stream.

use std::collections::VecDeque;
use std::fmt;
use std::os::fd::AsRawFd;

use aya::maps::{MapData, RingBuf};
use log::{info, warn};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use vtty_common::abi::VTTY_INDEX_ALL;
use vtty_common::probe::{
    DETACH_CLOSED, DETACH_ENDED, DETACH_TAKEOVER, Event, EventKind, RegisterEvent,
    UNREGISTER_EXITED, UNREGISTER_IOCTL,
};

use super::error::ProbeError;
use super::handle::{Probes, ProgramLogger};
use super::pins::DirLock;
use crate::driver::{decode_name, terminal_name};

/// What an event says beyond the container and terminal.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EventDetail {
    /// A container was registered.
    Register {
        /// Pid of its init in the initial pid namespace.
        init_pid: i32,
        /// The name given at registration.
        name: String,
    },
    /// A container was unregistered (`reason` is `UNREGISTER_*`).
    Unregister {
        /// Why.
        reason: u32,
    },
    /// A tty was created for a terminal.
    Install,
    /// A terminal was opened; `count` is the open count after it.
    Open {
        /// Open count after the open.
        count: u32,
    },
    /// A terminal was closed; `count` is the open count after it.
    Close {
        /// Open count after the close.
        count: u32,
    },
    /// A host process attached with `VTTY_ATTACH_*` flags.
    Attach {
        /// The attach flags.
        flags: u32,
    },
    /// The attacher left (`reason` is `DETACH_*`).
    Detach {
        /// Why.
        reason: u32,
    },
    /// One write by the container.
    Write {
        /// Bytes that reached the driver.
        offered: u32,
        /// Bytes delivered to the attacher.
        delivered: u32,
        /// Bytes dropped.
        dropped: u32,
    },
}

/// A decoded event of the probes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ProbeEvent {
    /// `CLOCK_MONOTONIC` time of the tracepoint in nanoseconds.
    pub timestamp_ns: u64,
    /// The container's nsid.
    pub nsid: u64,
    /// The terminal index; `None` for register and unregister.
    pub index: Option<u32>,
    /// Thread group id of the task that fired the tracepoint.
    pub tgid: u32,
    /// `comm` of that task.
    pub comm: String,
    /// Kind-specific fields.
    #[serde(flatten)]
    pub detail: EventDetail,
}

impl ProbeEvent {
    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match self.detail {
            EventDetail::Register { .. } => EventKind::Register,
            EventDetail::Unregister { .. } => EventKind::Unregister,
            EventDetail::Install => EventKind::Install,
            EventDetail::Open { .. } => EventKind::Open,
            EventDetail::Close { .. } => EventKind::Close,
            EventDetail::Attach { .. } => EventKind::Attach,
            EventDetail::Detach { .. } => EventKind::Detach,
            EventDetail::Write { .. } => EventKind::Write,
        }
    }
}

/// Why a ring-buffer record could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The record is shorter than its kind needs.
    #[error("record of {len} bytes is shorter than the {needed} bytes of its kind")]
    Short {
        /// Bytes in the record.
        len: usize,
        /// Bytes its kind needs.
        needed: usize,
    },
    /// The kind is not one this build knows.
    #[error("unknown event kind {0}")]
    UnknownKind(u32),
}

fn read_record<T: Copy>(bytes: &[u8]) -> Result<T, DecodeError> {
    let needed = size_of::<T>();
    if bytes.len() < needed {
        return Err(DecodeError::Short { len: bytes.len(), needed });
    }
    // SAFETY: `bytes` holds at least size_of::<T>() bytes, the read is unaligned,
    // and `T` is a #[repr(C)] record of integers and byte arrays, valid for any bit
    // pattern.
    Ok(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// Decodes one ring-buffer record.
pub fn decode(bytes: &[u8]) -> Result<ProbeEvent, DecodeError> {
    let event: Event = read_record(bytes)?;
    let kind = EventKind::from_raw(event.kind).ok_or(DecodeError::UnknownKind(event.kind))?;
    let detail = match kind {
        EventKind::Register => {
            let record: RegisterEvent = read_record(bytes)?;
            EventDetail::Register { init_pid: event.value as i32, name: decode_name(&record.name) }
        }
        EventKind::Unregister => EventDetail::Unregister { reason: event.value },
        EventKind::Install => EventDetail::Install,
        EventKind::Open => EventDetail::Open { count: event.value },
        EventKind::Close => EventDetail::Close { count: event.value },
        EventKind::Attach => EventDetail::Attach { flags: event.value },
        EventKind::Detach => EventDetail::Detach { reason: event.value },
        EventKind::Write => EventDetail::Write {
            offered: event.offered,
            delivered: event.delivered,
            dropped: event.dropped,
        },
    };
    Ok(ProbeEvent {
        timestamp_ns: event.timestamp_ns,
        nsid: event.nsid,
        index: (event.index != VTTY_INDEX_ALL).then_some(event.index),
        tgid: event.tgid,
        comm: decode_name(&event.comm),
        detail,
    })
}

/// The name of an unregister reason.
pub fn unregister_reason(reason: u32) -> &'static str {
    match reason {
        UNREGISTER_IOCTL => "unregistered",
        UNREGISTER_EXITED => "init exited",
        _ => "unknown reason",
    }
}

/// The name of a detach reason.
pub fn detach_reason(reason: u32) -> &'static str {
    match reason {
        DETACH_CLOSED => "closed",
        DETACH_TAKEOVER => "taken over",
        DETACH_ENDED => "terminal ended",
        _ => "unknown reason",
    }
}

impl fmt::Display for EventDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Register { init_pid, name } => {
                write!(f, "register name={name} init_pid={init_pid}")
            }
            Self::Unregister { reason } => {
                write!(f, "unregister reason={}", unregister_reason(*reason))
            }
            Self::Install => write!(f, "install"),
            Self::Open { count } => write!(f, "open count={count}"),
            Self::Close { count } => write!(f, "close count={count}"),
            Self::Attach { flags } => write!(f, "attach flags={flags:#x}"),
            Self::Detach { reason } => write!(f, "detach reason={}", detach_reason(*reason)),
            Self::Write { offered, delivered, dropped } => {
                write!(f, "write offered={offered} delivered={delivered} dropped={dropped}")
            }
        }
    }
}

impl fmt::Display for ProbeEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let terminal = self.index.map_or_else(|| "-".to_owned(), terminal_name);
        write!(
            f,
            "nsid={} tty={terminal} {} by {}[{}]",
            self.nsid, self.detail, self.comm, self.tgid
        )
    }
}

/// The reader of the probes' ring buffers: decoded events, and the programs' log
/// records forwarded to the `log` crate.
///
/// A ring buffer has a single consumer position, so for pinned probes the stream
/// holds a lock that keeps a second reader out.
pub struct EventStream {
    ring: AsyncFd<RingBuf<MapData>>,
    logs: Option<AsyncFd<ProgramLogger>>,
    pending: VecDeque<ProbeEvent>,
    malformed: u64,
    _reader_lock: Option<DirLock>,
}

impl Probes {
    /// Opens the event stream; needs a tokio runtime. Per-write events left on by
    /// a reader that did not exit cleanly are switched off.
    pub fn events(&mut self) -> Result<EventStream, ProbeError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ProbeError::NoRuntime { what: "the probes' event stream" });
        }
        let reader_lock = if self.is_pinned() {
            let lock_path = self.layout.events_lock_path();
            match DirLock::try_lock(&lock_path)? {
                Some(lock) => Some(lock),
                None => return Err(ProbeError::EventsBusy { lock: lock_path }),
            }
        } else {
            None
        };
        if self.write_events()? {
            info!(
                "per-write events were left on by a reader that did not exit cleanly; switching them off"
            );
            self.set_write_events(false)?;
        }
        let events = self.events.take().ok_or(ProbeError::EventsTaken)?;
        let ring = RingBuf::try_from(events).map_err(|source| ProbeError::Map {
            step: "opening",
            map: "EVENTS",
            source,
        })?;
        let ring = register(ring)?;
        let logs = match self.logger.take() {
            Some(logger) => Some(register(logger)?),
            None => None,
        };
        Ok(EventStream {
            ring,
            logs,
            pending: VecDeque::new(),
            malformed: 0,
            _reader_lock: reader_lock,
        })
    }
}

/// Registers a ring-buffer reader with the tokio reactor.
fn register<T: AsRawFd>(inner: T) -> Result<AsyncFd<T>, ProbeError> {
    // SAFETY: `inner` owns its map descriptor, which stays open and unchanged until
    // `inner` drops together with the AsyncFd.
    unsafe { AsyncFd::register_with_interest(inner, Interest::READABLE) }
        .map_err(|error| ProbeError::io("ring buffer", error.into()))
}

impl EventStream {
    /// Waits for the next event. Log records that arrive meanwhile go to the `log`
    /// crate.
    pub async fn next(&mut self) -> Result<ProbeEvent, ProbeError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            let Self { ring, logs, pending, malformed, .. } = self;
            let logs_ready = async {
                match logs {
                    Some(logs) => logs.readable_mut().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                guard = ring.readable_mut() => {
                    let mut guard = guard.map_err(|error| ProbeError::io("EVENTS ring buffer", error))?;
                    drain_ring(guard.get_inner_mut(), pending, malformed);
                    guard.clear_ready();
                }
                guard = logs_ready => {
                    let mut guard = guard.map_err(|error| ProbeError::io("AYA_LOGS ring buffer", error))?;
                    guard.get_inner_mut().flush();
                    guard.clear_ready();
                }
            }
        }
    }

    /// Returns the events that are in the ring buffer now, without waiting.
    pub fn drain(&mut self) -> Vec<ProbeEvent> {
        drain_ring(self.ring.get_mut(), &mut self.pending, &mut self.malformed);
        if let Some(logs) = self.logs.as_mut() {
            logs.get_mut().flush();
        }
        self.pending.drain(..).collect()
    }

    /// Records that could not be decoded since the stream opened.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }
}

/// An event stream with its own single-threaded runtime, for callers without one.
pub struct BlockingEvents {
    runtime: tokio::runtime::Runtime,
    stream: EventStream,
}

impl Probes {
    /// Opens the event stream on a private tokio runtime; see [`Probes::events`].
    pub fn blocking_events(&mut self) -> Result<BlockingEvents, ProbeError> {
        let runtime = current_thread_runtime()?;
        let stream = {
            let _context = runtime.enter();
            self.events()?
        };
        Ok(BlockingEvents { runtime, stream })
    }
}

/// Builds a single-threaded tokio runtime with I/O and timers.
///
/// With tokio's `signal` feature, which vtty-ctl enables, every runtime with I/O
/// also starts tokio's signal driver, and that driver panics when it cannot create
/// its Unix socket pair (a kernel without `CONFIG_UNIX`). Creating a pair first
/// turns the panic into an error.
pub fn current_thread_runtime() -> Result<tokio::runtime::Runtime, ProbeError> {
    std::os::unix::net::UnixStream::pair().map_err(|error| ProbeError::NoUnixSockets { error })?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| ProbeError::io("tokio runtime", error))
}

impl BlockingEvents {
    /// Waits up to `timeout` for the next event; `Ok(None)` when none arrived.
    pub fn next_timeout(
        &mut self,
        timeout: std::time::Duration,
    ) -> Result<Option<ProbeEvent>, ProbeError> {
        let Self { runtime, stream } = self;
        runtime.block_on(async {
            match tokio::time::timeout(timeout, stream.next()).await {
                Ok(event) => event.map(Some),
                Err(_) => Ok(None),
            }
        })
    }

    /// Records that could not be decoded since the stream opened.
    pub fn malformed(&self) -> u64 {
        self.stream.malformed()
    }
}

/// Moves every record of the ring buffer into `pending`, counting undecodable ones.
fn drain_ring(
    ring: &mut RingBuf<MapData>,
    pending: &mut VecDeque<ProbeEvent>,
    malformed: &mut u64,
) {
    while let Some(record) = ring.next() {
        match decode(&record) {
            Ok(event) => pending.push_back(event),
            Err(error) => {
                if *malformed == 0 {
                    warn!(
                        "skipping an undecodable probe event ({error}); later ones are only counted"
                    );
                }
                *malformed += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_event(kind: EventKind, index: u32, value: u32) -> Event {
        let mut comm = [0u8; 16];
        comm[..4].copy_from_slice(b"bash");
        Event {
            timestamp_ns: 42,
            nsid: 4026532001,
            kind: kind as u32,
            index,
            tgid: 77,
            value,
            offered: 0,
            delivered: 0,
            dropped: 0,
            pad: 0,
            comm,
        }
    }

    fn bytes_of<T>(value: &T) -> Vec<u8> {
        // SAFETY: the records are #[repr(C)] integers without implicit padding.
        unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>()) }
            .to_vec()
    }

    #[test]
    fn open_event_decodes() {
        let event = decode(&bytes_of(&raw_event(EventKind::Open, 3, 2))).expect("decodes");
        assert_eq!(event.kind(), EventKind::Open);
        assert_eq!(event.index, Some(3));
        assert_eq!(event.detail, EventDetail::Open { count: 2 });
        assert_eq!(event.comm, "bash");
        assert_eq!(event.to_string(), "nsid=4026532001 tty=tty4 open count=2 by bash[77]");
    }

    #[test]
    fn register_event_carries_the_name() {
        let mut name = [0u8; 64];
        name[..3].copy_from_slice(b"101");
        let record =
            RegisterEvent { event: raw_event(EventKind::Register, VTTY_INDEX_ALL, 1234), name };
        let event = decode(&bytes_of(&record)).expect("decodes");
        assert_eq!(event.index, None);
        assert_eq!(event.detail, EventDetail::Register { init_pid: 1234, name: "101".to_owned() });
    }

    #[test]
    fn register_without_name_is_short() {
        let bytes = bytes_of(&raw_event(EventKind::Register, VTTY_INDEX_ALL, 1));
        assert_eq!(decode(&bytes), Err(DecodeError::Short { len: 64, needed: 128 }));
    }

    #[test]
    fn write_event_carries_byte_counts() {
        let mut raw = raw_event(EventKind::Write, 0, 0);
        raw.offered = 10;
        raw.delivered = 4;
        raw.dropped = 6;
        let event = decode(&bytes_of(&raw)).expect("decodes");
        assert_eq!(event.detail, EventDetail::Write { offered: 10, delivered: 4, dropped: 6 });
        assert_eq!(
            event.to_string(),
            "nsid=4026532001 tty=console write offered=10 delivered=4 dropped=6 by bash[77]"
        );
    }

    #[test]
    fn bad_records_are_rejected() {
        assert_eq!(decode(&[0u8; 10]), Err(DecodeError::Short { len: 10, needed: 64 }));
        let mut raw = raw_event(EventKind::Open, 0, 0);
        raw.kind = 99;
        assert_eq!(decode(&bytes_of(&raw)), Err(DecodeError::UnknownKind(99)));
    }

    #[test]
    fn reasons_have_names() {
        assert_eq!(
            EventDetail::Unregister { reason: UNREGISTER_EXITED }.to_string(),
            "unregister reason=init exited"
        );
        assert_eq!(
            EventDetail::Detach { reason: DETACH_TAKEOVER }.to_string(),
            "detach reason=taken over"
        );
        assert_eq!(detach_reason(9), "unknown reason");
    }
}
