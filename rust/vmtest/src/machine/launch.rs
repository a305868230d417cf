//! How QEMU is run: the program (QEMU, or the namespace launcher of a
//! [`NetnsLab`](crate::NetnsLab) machine), the parent-death signal, and
//! the command line logged to `qemu.log`.

use super::state::Machine;
use crate::error::{describe_status, Result, VmError};
use crate::quote::shell_quote;
use std::fs::File;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};

impl Machine {
    /// The program to run and its arguments: QEMU, or with a
    /// [`NetnsLab`](crate::NetnsLab) `unshare … netns-setup.sh` followed
    /// by QEMU's command line.
    fn launch(&self, args: &[String]) -> (PathBuf, Vec<String>) {
        match (&self.netns_script, self.cfg.first_lab()) {
            (Some(script), Some(lab)) => {
                let (program, mut a) = lab.launcher(script);
                a.push(self.tools.qemu.display().to_string());
                a.extend(args.iter().cloned());
                (program, a)
            }
            _ => (self.tools.qemu.clone(), args.to_vec()),
        }
    }

    /// The command that runs QEMU with `args`, killed when the starting
    /// thread exits (`PR_SET_PDEATHSIG`).
    pub(super) fn command(&self, args: &[String]) -> Command {
        let (program, args) = self.launch(args);
        let mut cmd = Command::new(program);
        cmd.args(args);
        let parent = std::process::id();
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        cmd
    }

    /// Appends the command line of the next boot to `qemu.log`; returns
    /// the log, open for QEMU's output.
    pub(super) fn log_command(&self, args: &[String]) -> Result<File> {
        let path = self.qemu_log();
        let mut log = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(VmError::io(format!("opening {}", path.display())))?;
        let (program, args) = self.launch(args);
        let line = std::iter::once(program.display().to_string())
            .chain(args.iter().map(|a| shell_quote(a)))
            .collect::<Vec<_>>()
            .join(" ");
        writeln!(log, "=== boot {}: {line}", self.boots + 1)
            .map_err(VmError::io(format!("writing {}", path.display())))?;
        Ok(log)
    }

    /// Appends QEMU's exit status to `qemu.log` (best effort).
    pub(super) fn log_exit(&self, status: &ExitStatus) {
        if let Ok(mut log) = File::options().append(true).open(self.qemu_log()) {
            let _ = writeln!(log, "=== QEMU exited: {}", describe_status(status));
        }
    }
}
