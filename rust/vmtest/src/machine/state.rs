//! [`Machine`]: what a built machine holds (its description, files,
//! console and agent streams, the running QEMU) and what it reports about
//! itself.

use super::spec::Spec;
use crate::config::Accel;
use crate::error::{ConsoleContext, Result, VmError, TAIL_LINES};
use crate::paths::Tools;
use crate::qmp::Qmp;
use crate::slots::Slot;
use crate::stream::Stream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::thread::JoinHandle;

/// A running QEMU process and its connections.
pub(super) struct Running {
    pub(super) child: Child,
    pub(super) _slot: Slot,
    pub(super) _sockdir: tempfile::TempDir,
    pub(super) console_in: UnixStream,
    pub(super) agent_in: Option<UnixStream>,
    pub(super) qmp: Qmp,
    pub(super) threads: Vec<JoinHandle<()>>,
}

/// A QEMU virtual machine (see the module docs).
pub struct Machine {
    pub(super) cfg: Spec,
    pub(super) tools: Tools,
    pub(super) accel: Accel,
    pub(super) dir: PathBuf,
    pub(super) vars: Option<PathBuf>,
    pub(super) disk_files: Vec<(PathBuf, &'static str)>,
    /// The namespace setup script, when NICs are on a [`NetnsLab`](crate::NetnsLab).
    pub(super) netns_script: Option<PathBuf>,
    pub(super) console: Stream,
    pub(super) console_cursor: usize,
    pub(super) agent: Stream,
    pub(super) agent_cursor: usize,
    pub(super) agent_ready: bool,
    pub(super) agent_seq: u64,
    pub(super) boots: u32,
    pub(super) running: Option<Running>,
    pub(super) last_exit: Option<ExitStatus>,
}

impl std::fmt::Debug for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Machine")
            .field("name", &self.cfg.name)
            .field("dir", &self.dir)
            .field("running", &self.running.is_some())
            .finish()
    }
}

impl Machine {
    /// The machine's name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The machine directory (logs, VARS copy, overlays).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The console log (all boots).
    pub fn console_log(&self) -> PathBuf {
        self.console.log_path().to_path_buf()
    }

    /// QEMU's log (command lines, stdout/stderr).
    pub fn qemu_log(&self) -> PathBuf {
        self.dir.join("qemu.log")
    }

    /// The files QEMU uses as disks (overlays or the images themselves), in order.
    pub fn disk_files(&self) -> Vec<PathBuf> {
        self.disk_files.iter().map(|d| d.0.clone()).collect()
    }

    /// The private OVMF variable store (UEFI machines).
    pub fn vars_file(&self) -> Option<&Path> {
        self.vars.as_deref()
    }

    /// The pid of the process QEMU was started as (QEMU itself, or the
    /// namespace launcher of a [`NetnsLab`](crate::NetnsLab) machine, whose
    /// network namespace other machines can join:
    /// [`NetnsLab::join`](crate::NetnsLab::join)).
    pub fn launcher_pid(&self) -> Option<u32> {
        self.running.as_ref().map(|r| r.child.id())
    }

    /// Whether QEMU is running.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Everything the console printed so far (all boots).
    pub fn console_text(&self) -> String {
        self.console.text()
    }

    /// The console tail and log paths, as errors carry them.
    pub fn context(&self) -> ConsoleContext {
        ConsoleContext {
            tail: self.console.tail(TAIL_LINES),
            console_log: self.console_log(),
            qemu_log: self.qemu_log(),
        }
    }

    /// A QEMU error of this machine, with the console context.
    pub(super) fn qemu_error(&self, message: impl Into<String>) -> VmError {
        VmError::Qemu {
            machine: self.cfg.name.clone(),
            message: message.into(),
            context: Box::new(self.context()),
        }
    }

    /// The running QEMU, or [`VmError::NotRunning`].
    pub(super) fn running(&mut self) -> Result<&mut Running> {
        let name = self.cfg.name.clone();
        self.running
            .as_mut()
            .ok_or(VmError::NotRunning { machine: name })
    }
}
