//! Stopping QEMU: waiting for the guest to power off, the power cord
//! ([`Machine::crash`]), the power button, a clean `quit`, a restart, and
//! the cleanup after QEMU exited (also when the [`Machine`] is dropped).

use super::state::{Machine, Running};
use crate::error::{describe_status, Result, VmError};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

impl Machine {
    /// Waits until QEMU exits by itself (the guest powered off, or rebooted
    /// with [`MachineBuilder::no_reboot`](super::MachineBuilder::no_reboot));
    /// returns QEMU's exit status.
    pub fn wait_for_shutdown(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        if self.running.is_none() {
            return self.last_exit.ok_or(VmError::NotRunning {
                machine: self.cfg.name.clone(),
            });
        }
        loop {
            if let Some(s) = self.poll_exit() {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                return Err(VmError::Timeout {
                    machine: self.cfg.name.clone(),
                    what: "the guest to power off".into(),
                    timeout,
                    context: Box::new(self.context()),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills QEMU at once (`SIGKILL`), like pulling the power cord: the
    /// guest's unflushed writes are lost, what reached the disk stays.
    pub fn crash(&mut self) -> Result<()> {
        let r = self.running()?;
        let _ = r.child.kill();
        let status = r
            .child
            .wait()
            .map_err(|e| self.qemu_error(format!("waiting for QEMU: {e}")))?;
        self.finish(status);
        Ok(())
    }

    /// Presses the ACPI power button (QMP `system_powerdown`); the guest
    /// decides what to do (busybox init without `acpid` ignores it).
    pub fn press_power_button(&mut self) -> Result<()> {
        let r = self.running()?;
        let res = r.qmp.execute("system_powerdown");
        res.map(|_| ()).map_err(|m| self.qemu_error(m))
    }

    /// Stops QEMU cleanly (QMP `quit`: QEMU flushes its disk caches and
    /// exits; the guest gets no warning), killing it if it has not exited
    /// within 30 s. A stopped machine is a no-op. To let the guest shut
    /// down itself, run e.g. `poweroff -f` through the agent and call
    /// [`Machine::wait_for_shutdown`].
    pub fn shutdown(&mut self) -> Result<()> {
        let Some(r) = self.running.as_mut() else {
            return Ok(());
        };
        let _ = r.qmp.execute("quit");
        match self.wait_for_shutdown(Duration::from_secs(30)) {
            Ok(_) => Ok(()),
            Err(VmError::Timeout { .. }) => self.crash(),
            Err(e) => Err(e),
        }
    }

    /// Stops QEMU if it runs (hard, like [`Machine::crash`]; call
    /// [`Machine::shutdown`] first for a clean stop) and starts it again
    /// with the same disks (overlays included) and OVMF variable store.
    /// Console matching continues after the previous match.
    pub fn restart(&mut self) -> Result<()> {
        if self.running.is_some() {
            self.crash()?;
        }
        self.start()
    }

    /// Reaps QEMU if it has exited; returns its status.
    pub(super) fn poll_exit(&mut self) -> Option<ExitStatus> {
        let status = match self.running.as_mut()?.child.try_wait() {
            Ok(Some(s)) => s,
            _ => return None,
        };
        self.finish(status);
        Some(status)
    }

    /// Waits up to 5 s for QEMU to exit after a stream closed; describes
    /// how it ended.
    pub(super) fn exit_status_after_eof(&mut self) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(s) = self.poll_exit() {
                return describe_status(&s);
            }
            if let Some(s) = &self.last_exit {
                return describe_status(s);
            }
            if Instant::now() > deadline {
                return "console closed".into();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Cleans up after QEMU exited: joins the readers, frees the slot.
    fn finish(&mut self, status: ExitStatus) {
        if let Some(r) = self.running.take() {
            let Running {
                threads,
                console_in,
                agent_in,
                ..
            } = r;
            drop(console_in);
            drop(agent_in);
            for t in threads {
                let _ = t.join();
            }
        }
        self.console.close();
        self.agent.close();
        self.last_exit = Some(status);
        self.log_exit(&status);
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if let Some(r) = self.running.as_mut() {
            let _ = r.child.kill();
            if let Ok(status) = r.child.wait() {
                self.finish(status);
            }
        }
        // The overlays hold what the guest wrote (up to hundreds of MB
        // per machine): kept beside the logs only when a test failed.
        if !std::thread::panicking() {
            for (file, format) in &self.disk_files {
                if *format == "qcow2" {
                    let _ = std::fs::remove_file(file);
                }
            }
        }
    }
}
