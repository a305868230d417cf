//! Starting QEMU: a slot of the global VM limit, the harness sockets, the
//! process, its connections and the console/agent reader threads; or, for
//! [`Machine::run_interactive`], QEMU on this terminal.

use super::qemu_args::ConsoleMode;
use super::sockets::Sockets;
use super::state::{Machine, Running};
use crate::error::{describe_status, Result, VmError};
use crate::qmp::Qmp;
use crate::slots::{self, Slot};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long QEMU may take to connect to the harness's sockets.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// QEMU's connections to the harness sockets, as accepted.
struct Connected {
    console: UnixStream,
    agent: Option<UnixStream>,
    qmp: UnixStream,
}

/// The connections in use: the writing ends, QMP after its handshake, and
/// the threads reading the console and agent into their streams.
struct Attached {
    console_in: UnixStream,
    agent_in: Option<UnixStream>,
    qmp: Qmp,
    threads: Vec<JoinHandle<()>>,
}

impl Machine {
    /// Starts QEMU (waiting for a free slot of the global VM limit first).
    /// Disks, overlays and the VARS store are those of previous boots.
    pub fn start(&mut self) -> Result<()> {
        self.ensure_stopped()?;
        let slot = self.acquire_slot()?;
        let sockets = Sockets::bind(self.cfg.agent)?;
        let args = self.args(&sockets.mode());
        let mut child = self.spawn(&args)?;
        let connected = self.connect(&mut child, &sockets);
        let connected = kill_on_error(&mut child, connected)?;
        let boot = self.boots + 1;
        let header = format!("\n=== metalos-vmtest: {}: boot {boot} ===\n", self.cfg.name);
        let attached = self.attach(connected, &header);
        let attached = kill_on_error(&mut child, attached)?;
        self.boots = boot;
        self.agent_cursor = self.agent.len();
        self.agent_ready = false;
        self.last_exit = None;
        self.running = Some(Running {
            child,
            _slot: slot,
            _sockdir: sockets.dir,
            console_in: attached.console_in,
            agent_in: attached.agent_in,
            qmp: attached.qmp,
            threads: attached.threads,
        });
        Ok(())
    }

    /// Runs QEMU with the serial console (and QEMU monitor, `Ctrl-a c`) on
    /// this process's terminal (`-serial mon:stdio -nographic`) until it
    /// exits. No agent, no QMP, nothing logged but the command line.
    pub fn run_interactive(&mut self) -> Result<ExitStatus> {
        self.ensure_stopped()?;
        let _slot = self.acquire_slot()?;
        let args = self.args(&ConsoleMode::Stdio);
        drop(self.log_command(&args)?);
        self.boots += 1;
        let status = self.command(&args).status().map_err(|e| {
            self.qemu_error(format!("cannot run {}: {e}", self.tools.qemu.display()))
        })?;
        self.last_exit = Some(status);
        self.log_exit(&status);
        Ok(status)
    }

    /// Fails with [`VmError::AlreadyRunning`] while QEMU runs.
    fn ensure_stopped(&self) -> Result<()> {
        if self.running.is_some() {
            return Err(VmError::AlreadyRunning {
                machine: self.cfg.name.clone(),
            });
        }
        Ok(())
    }

    /// A slot of the global VM limit, saying so while it waits.
    fn acquire_slot(&self) -> Result<Slot> {
        let name = &self.cfg.name;
        slots::acquire(&mut |n| {
            eprintln!("metalos-vmtest: {name}: waiting for one of {n} VM slots (METALOS_VM_JOBS)")
        })
    }

    /// Logs the command line and starts QEMU with `args`, its output going
    /// to `qemu.log`.
    fn spawn(&self, args: &[String]) -> Result<Child> {
        let log = self.log_command(args)?;
        let log_err = log
            .try_clone()
            .map_err(VmError::io("duplicating the QEMU log"))?;
        self.command(args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| self.qemu_error(format!("cannot run {}: {e}", self.tools.qemu.display())))
    }

    /// Waits for QEMU to connect the console, agent and QMP sockets.
    fn connect(&self, child: &mut Child, sockets: &Sockets) -> Result<Connected> {
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        let console = self.accept(child, &sockets.console.1, "console", deadline)?;
        let agent = match &sockets.agent {
            Some((_, l)) => Some(self.accept(child, l, "agent", deadline)?),
            None => None,
        };
        let qmp = self.accept(child, &sockets.qmp.1, "QMP", deadline)?;
        Ok(Connected {
            console,
            agent,
            qmp,
        })
    }

    /// Accepts QEMU's connection on `listener`, failing if QEMU exits or
    /// `deadline` passes first.
    fn accept(
        &self,
        child: &mut Child,
        listener: &UnixListener,
        what: &str,
        deadline: Instant,
    ) -> Result<UnixStream> {
        loop {
            match listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false)
                        .map_err(VmError::io(format!("configuring the {what} socket")))?;
                    return Ok(s);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(VmError::io(format!("accepting the {what} socket"))(e)),
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(self.qemu_error(format!(
                    "QEMU exited during startup ({}):\n{}",
                    describe_status(&status),
                    tail_of_file(&self.qemu_log(), 20)
                )));
            }
            if Instant::now() > deadline {
                return Err(self.qemu_error(format!(
                    "QEMU did not connect its {what} socket within {CONNECT_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the console and agent readers (each log gets `header`) and
    /// negotiates QMP.
    fn attach(&self, connected: Connected, header: &str) -> Result<Attached> {
        let Connected {
            console,
            agent,
            qmp,
        } = connected;
        let mut threads = vec![];
        let console_in = console
            .try_clone()
            .map_err(VmError::io("cloning the console socket"))?;
        threads.push(
            self.console
                .attach(console, header, self.cfg.echo_console)
                .map_err(VmError::io("opening the console log"))?,
        );
        let agent_in = match agent {
            Some(s) => {
                let w = s
                    .try_clone()
                    .map_err(VmError::io("cloning the agent socket"))?;
                threads.push(
                    self.agent
                        .attach(s, header, false)
                        .map_err(VmError::io("opening the agent log"))?,
                );
                Some(w)
            }
            None => None,
        };
        let qmp = Qmp::negotiate(qmp).map_err(|m| self.qemu_error(format!("QMP: {m}")))?;
        Ok(Attached {
            console_in,
            agent_in,
            qmp,
            threads,
        })
    }
}

/// Passes `result` through, killing (and reaping) `child` if it failed.
fn kill_on_error<T>(child: &mut Child, result: Result<T>) -> Result<T> {
    if result.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    result
}

/// The last `n` lines of a text file (for startup errors).
fn tail_of_file(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
