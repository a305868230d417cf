//! Errors. Every error about a running (or just stopped) machine carries a
//! [`ConsoleContext`]: the last console lines and where the full logs are,
//! so a failing test explains itself without re-running.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// How many console lines an error carries.
pub const TAIL_LINES: usize = 50;

/// What the console showed when an error happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleContext {
    /// The last (up to [`TAIL_LINES`]) console lines, `\r` stripped.
    pub tail: Vec<String>,
    /// The full console log of the machine (every boot, appended).
    pub console_log: PathBuf,
    /// QEMU's own output (command line, stderr).
    pub qemu_log: PathBuf,
}

impl fmt::Display for ConsoleContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "--- last {} console lines (full log: {}; QEMU log: {}) ---",
            self.tail.len(),
            self.console_log.display(),
            self.qemu_log.display()
        )?;
        for line in &self.tail {
            writeln!(f, "| {line}")?;
        }
        write!(f, "--- end of console ---")
    }
}

/// A harness failure.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// A file operation of the harness failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The machine description is invalid (e.g. a forward to a non-loopback address).
    #[error("invalid machine configuration: {0}")]
    Config(String),
    /// A required program, firmware or input is missing.
    #[error("{0}")]
    Missing(String),
    /// Building a guest artifact (initrd) failed.
    #[error("building the guest initrd failed: {0}")]
    Guest(String),
    /// The operation needs a running machine.
    #[error("machine {machine}: not running (call start() first)")]
    NotRunning {
        /// Machine name.
        machine: String,
    },
    /// The operation needs a stopped machine.
    #[error("machine {machine}: already running")]
    AlreadyRunning {
        /// Machine name.
        machine: String,
    },
    /// A wait ran out of time.
    #[error("machine {machine}: timed out after {timeout:?} waiting for {what}\n{context}")]
    Timeout {
        /// Machine name.
        machine: String,
        /// What was awaited (e.g. `console /login:/`).
        what: String,
        /// The timeout.
        timeout: Duration,
        /// Console tail and log paths.
        context: Box<ConsoleContext>,
    },
    /// QEMU exited while the harness waited for something else.
    #[error("machine {machine}: QEMU exited ({status}) while waiting for {what}\n{context}")]
    UnexpectedExit {
        /// Machine name.
        machine: String,
        /// What was awaited.
        what: String,
        /// QEMU's exit status.
        status: String,
        /// Console tail and log paths.
        context: Box<ConsoleContext>,
    },
    /// QEMU could not be started or misbehaved (socket, QMP, signal).
    #[error("machine {machine}: {message}\n{context}")]
    Qemu {
        /// Machine name.
        machine: String,
        /// What went wrong.
        message: String,
        /// Console tail and log paths.
        context: Box<ConsoleContext>,
    },
}

impl VmError {
    /// The console context of a machine error, if this is one.
    pub fn context(&self) -> Option<&ConsoleContext> {
        match self {
            VmError::Timeout { context, .. }
            | VmError::UnexpectedExit { context, .. }
            | VmError::Qemu { context, .. } => Some(context),
            _ => None,
        }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> VmError {
        let what = what.into();
        move |source| VmError::Io { what, source }
    }
}

/// Formats an exit status for messages (`exit code 1`, `signal 9`).
pub(crate) fn describe_status(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    }
}

/// Result alias.
pub type Result<T, E = VmError> = std::result::Result<T, E>;
