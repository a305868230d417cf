//! The harness's Unix sockets of one boot (console, optional agent, QMP)
//! in a private temp directory; QEMU connects to them as a client.

use super::qemu_args::ConsoleMode;
use crate::error::{Result, VmError};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

/// A bound, non-blocking listening socket and its path.
pub(super) type Listener = (PathBuf, UnixListener);

/// The listening sockets of one boot.
pub(super) struct Sockets {
    /// The private directory holding them (removed when dropped).
    pub(super) dir: tempfile::TempDir,
    /// `console.sock`: the first serial port.
    pub(super) console: Listener,
    /// `agent.sock`: the second serial port, with the agent enabled.
    pub(super) agent: Option<Listener>,
    /// `qmp.sock`: the QMP monitor.
    pub(super) qmp: Listener,
}

impl Sockets {
    /// Binds the console, (with `agent`) agent and QMP sockets in a new
    /// temp directory.
    pub(super) fn bind(agent: bool) -> Result<Sockets> {
        let dir = tempfile::Builder::new()
            .prefix("metalos-vm-")
            .tempdir()
            .map_err(VmError::io("creating a socket directory"))?;
        let bind = |name: &str| -> Result<Listener> {
            let p = dir.path().join(name);
            let l =
                UnixListener::bind(&p).map_err(VmError::io(format!("binding {}", p.display())))?;
            l.set_nonblocking(true)
                .map_err(VmError::io(format!("configuring {}", p.display())))?;
            Ok((p, l))
        };
        let console = bind("console.sock")?;
        let agent = if agent {
            Some(bind("agent.sock")?)
        } else {
            None
        };
        let qmp = bind("qmp.sock")?;
        Ok(Sockets {
            dir,
            console,
            agent,
            qmp,
        })
    }

    /// The console mode that makes QEMU connect to these sockets.
    pub(super) fn mode(&self) -> ConsoleMode<'_> {
        ConsoleMode::Sockets {
            console: &self.console.0,
            agent: self.agent.as_ref().map(|a| a.0.as_path()),
            qmp: &self.qmp.0,
        }
    }
}
