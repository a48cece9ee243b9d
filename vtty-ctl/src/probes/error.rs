//! Errors of the probe loader, each naming the object that failed and the fix.

use std::io;
use std::path::PathBuf;

use crate::exit::{self, ExitCode};

/// An error of loading, reusing, reading or removing the probes.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The caller is not root.
    #[error(
        "{action} needs root (bpf(2) and perf_event_open(2) on kernel tracepoints); run it as root"
    )]
    NotRoot {
        /// What the caller tried, for example `loading the probes`.
        action: &'static str,
    },

    /// tracefs is not mounted where the tracepoints are looked up.
    #[error("tracefs is not mounted at {path}; mount it with `mount -t tracefs tracefs {path}`")]
    TracefsNotMounted {
        /// The expected mount point.
        path: PathBuf,
    },

    /// bpffs is not mounted where the probes are pinned.
    #[error("bpffs is not mounted at {path}; mount it with `mount -t bpf bpf {path}`")]
    BpffsNotMounted {
        /// The expected mount point.
        path: PathBuf,
    },

    /// The `vtty` tracing system does not exist: the driver is not loaded.
    #[error(
        "vtty tracepoints not found ({dir} does not exist): the vtty driver is not loaded; \
         load it with `modprobe vtty` (it needs Linux 7.3 with the vtty patch series) and try again"
    )]
    TracepointsNotFound {
        /// The directory of the `vtty` tracing system.
        dir: PathBuf,
    },

    /// One of the driver's tracepoints is missing.
    #[error(
        "tracepoint vtty:{event} not found ({dir} does not exist): the loaded vtty driver \
         does not match this vtty-ctl; load the driver of the same release"
    )]
    TracepointMissing {
        /// The missing event.
        event: &'static str,
        /// Its directory in tracefs.
        dir: PathBuf,
    },

    /// A tracepoint `format` file does not describe the fields the programs read.
    #[error(
        "{path}: {problem}; the loaded vtty driver does not match this vtty-ctl, load the \
         driver of the same release"
    )]
    Format {
        /// The `format` file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },

    /// Two events put a shared field at different offsets.
    #[error(
        "field `{field}` is at offset {first} in vtty:{first_event} but at offset {second} in \
         vtty:{second_event}; the probes need one offset per field, so the loaded vtty driver \
         does not match this vtty-ctl; load the driver of the same release"
    )]
    OffsetMismatch {
        /// The field name.
        field: &'static str,
        /// The first event that has the field.
        first_event: &'static str,
        /// Its offset there.
        first: u16,
        /// The event that disagrees.
        second_event: &'static str,
        /// Its offset there.
        second: u16,
    },

    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },

    /// aya found no support for BPF global data, which the programs need for their
    /// field offsets and log level.
    #[error(
        "this kernel failed aya's check for BPF global data, which the probes need for their \
         field offsets and log level: the check loads a BPF_PROG_TYPE_SOCKET_FILTER program, \
         which needs Linux 5.2 or newer built with CONFIG_NET=y; run a kernel with CONFIG_NET=y"
    )]
    NoGlobalData,

    /// The eBPF object could not be loaded.
    #[error("loading the probes' eBPF object failed")]
    Load(#[source] aya::EbpfError),

    /// A program could not be loaded into the kernel or attached.
    #[error("{step} program {program} failed")]
    Program {
        /// `loading` or `attaching`.
        step: &'static str,
        /// The program (also the tracepoint) name.
        program: &'static str,
        /// The error.
        #[source]
        source: aya::programs::ProgramError,
    },

    /// The embedded object lacks a program; the build of vtty-ctl is broken.
    #[error("the probes' eBPF object has no program {program}; rebuild vtty-ctl")]
    MissingProgram {
        /// The program name.
        program: &'static str,
    },

    /// The embedded object lacks a map; the build of vtty-ctl is broken.
    #[error("the probes' eBPF object has no map {map}; rebuild vtty-ctl")]
    MissingMap {
        /// The map name.
        map: &'static str,
    },

    /// A link could not be pinned or reopened.
    #[error("{step} link {path} failed")]
    Link {
        /// What was done with it.
        step: &'static str,
        /// The pin path.
        path: PathBuf,
        /// The error.
        #[source]
        source: aya::programs::links::LinkError,
    },

    /// A map could not be opened, pinned or read.
    #[error("{step} map {map} failed")]
    Map {
        /// What was done with it.
        step: &'static str,
        /// The map name.
        map: &'static str,
        /// The error.
        #[source]
        source: aya::maps::MapError,
    },

    /// A map has another type than the programs declare.
    #[error(
        "map {map} is not a {expected}; the pinned probes are not vtty's, run \
         `vtty-ctl probes unload` and then `vtty-ctl probes load`"
    )]
    MapType {
        /// The map name.
        map: &'static str,
        /// The type the programs declare.
        expected: &'static str,
    },

    /// An object could not be pinned.
    #[error("pinning {path} failed")]
    Pin {
        /// The pin path.
        path: PathBuf,
        /// The error.
        #[source]
        source: aya::pin::PinError,
    },

    /// The kernel cannot pin tracepoint links.
    #[error(
        "this kernel attaches tracepoint programs without BPF links, which cannot be pinned \
         (BPF_LINK_TYPE_PERF_EVENT needs Linux 5.15 or newer); load the probes without pinning"
    )]
    LinksNotPinnable,

    /// Nothing is pinned.
    #[error(
        "the probes are not loaded (nothing is pinned under {dir}); run `vtty-ctl probes load`"
    )]
    NotLoaded {
        /// The pin directory.
        dir: PathBuf,
    },

    /// Some pins exist but not all.
    #[error(
        "the pins under {dir} are incomplete (missing: {missing}); run `vtty-ctl probes unload` \
         and then `vtty-ctl probes load`"
    )]
    IncompletePins {
        /// The pin directory.
        dir: PathBuf,
        /// The missing pin names, comma-separated.
        missing: String,
    },

    /// The pinned maps were created by a vtty-ctl with another map layout.
    #[error(
        "the probes pinned under {dir} use map layout {found}, this vtty-ctl uses {expected}; \
         run `vtty-ctl probes unload` and then `vtty-ctl probes load`"
    )]
    LayoutMismatch {
        /// The pin directory.
        dir: PathBuf,
        /// The layout version found in the pinned `SETTINGS` map.
        found: u32,
        /// The layout version of this build.
        expected: u32,
    },

    /// Another process reads the ring buffer of the pinned probes.
    #[error(
        "another process is reading the probes' events (it holds the lock {lock}); a ring \
         buffer has one reader, so stop that process (vtty-top or vtty-ctl trace) first"
    )]
    EventsBusy {
        /// The lock directory.
        lock: PathBuf,
    },

    /// The ring buffer was already taken from this handle.
    #[error("the probes' event stream is already open in this process")]
    EventsTaken,

    /// A tokio runtime could not start because its signal driver needs a Unix socket
    /// pair.
    #[error(
        "starting the tokio runtime failed: its signal handling needs a Unix socket pair, and \
         socketpair(AF_UNIX) failed with {error}; run a kernel with CONFIG_UNIX=y"
    )]
    NoUnixSockets {
        /// The error of socketpair(2), shown in the message.
        error: io::Error,
    },

    /// An async API was called outside a tokio runtime.
    #[error("{what} needs a running tokio runtime")]
    NoRuntime {
        /// The API.
        what: &'static str,
    },
}

impl ProbeError {
    /// Wraps an I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// The exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::NotRoot { .. } => ExitCode::Permission,
            Self::TracepointsNotFound { .. }
            | Self::TracepointMissing { .. }
            | Self::Format { .. }
            | Self::OffsetMismatch { .. } => ExitCode::DriverMissing,
            Self::NotLoaded { .. } => ExitCode::NotFound,
            Self::IncompletePins { .. } | Self::LayoutMismatch { .. } | Self::EventsBusy { .. } => {
                ExitCode::Conflict
            }
            _ if self.is_permission_denied() => ExitCode::Permission,
            _ => ExitCode::Failure,
        }
    }

    /// True when the kernel refused an operation with `EPERM` or `EACCES` (lockdown,
    /// missing capabilities in a user namespace).
    pub fn is_permission_denied(&self) -> bool {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(error) = source {
            let errno = error.downcast_ref::<io::Error>().and_then(io::Error::raw_os_error);
            if matches!(errno, Some(libc::EPERM | libc::EACCES)) {
                return true;
            }
            source = error.source();
        }
        false
    }
}

impl From<ProbeError> for exit::Error {
    fn from(error: ProbeError) -> Self {
        exit::Error::new(error.exit_code(), error)
    }
}
