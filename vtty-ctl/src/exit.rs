//! Exit codes of the vtty tools and the error type that carries one.

use std::fmt;

/// Process exit codes; `vtty-ctl --help` lists them from [`ExitCode::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitCode {
    /// Everything worked.
    Success = 0,
    /// A failure that fits no other class.
    Failure = 1,
    /// Invalid command-line usage or a value that does not parse.
    Usage = 2,
    /// A named container, cgroup, process or file does not exist.
    NotFound = 3,
    /// The caller lacks a privilege (not root, no `CAP_SYS_ADMIN`).
    Permission = 4,
    /// The vtty driver or its tracepoints are not present.
    DriverMissing = 5,
    /// Another component's state prevents the change (a parent cgroup or another
    /// device manager forbids it, a terminal is busy).
    Conflict = 6,
    /// A check ran and found the policy not in force.
    CheckFailed = 7,
}

impl ExitCode {
    /// Every exit code, in numeric order.
    pub const ALL: [Self; 8] = [
        Self::Success,
        Self::Failure,
        Self::Usage,
        Self::NotFound,
        Self::Permission,
        Self::DriverMissing,
        Self::Conflict,
        Self::CheckFailed,
    ];

    /// Describes the code in a few words, for help texts.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "a failure that fits no other class",
            Self::Usage => "invalid usage or a value that does not parse",
            Self::NotFound => "a named container, cgroup, process or file does not exist",
            Self::Permission => "not root, or the kernel refused for lack of privilege",
            Self::DriverMissing => "the vtty driver or its tracepoints are not present",
            Self::Conflict => {
                "another component prevents the change (a parent cgroup, another device \
                 manager, a busy terminal)"
            }
            Self::CheckFailed => "a check found the policy not in force",
        }
    }
}

/// Formats the "Exit status" section of a help text from [`ExitCode::ALL`].
pub fn exit_status_help() -> String {
    let lines: Vec<String> = ExitCode::ALL
        .iter()
        .map(|code| format!("  {}  {}", *code as i32, code.meaning()))
        .collect();
    format!("Exit status:\n{}", lines.join("\n"))
}

/// An error with the exit code the process should end with.
#[derive(Debug)]
pub struct Error {
    code: ExitCode,
    inner: anyhow::Error,
}

impl Error {
    /// Wraps `inner` with `code`.
    pub fn new(code: ExitCode, inner: impl Into<anyhow::Error>) -> Self {
        Self { code, inner: inner.into() }
    }

    /// The exit code for this error.
    pub fn code(&self) -> ExitCode {
        self.code
    }

    /// The underlying error with its cause chain.
    pub fn inner(&self) -> &anyhow::Error {
        &self.inner
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.inner)
    }
}

impl std::error::Error for Error {}

impl From<anyhow::Error> for Error {
    fn from(inner: anyhow::Error) -> Self {
        // An anyhow error that already wraps an `Error` keeps its code.
        match inner.downcast::<Error>() {
            Ok(error) => error,
            Err(inner) => Self { code: ExitCode::Failure, inner },
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Builds an [`Error`] from a message: `fail!(ExitCode::NotFound, "no cgroup {path}")`.
#[macro_export]
macro_rules! fail {
    ($code:expr, $($arg:tt)+) => {
        $crate::exit::Error::new($code, ::anyhow::anyhow!($($arg)+))
    };
}
