//! The defined failure path: say why on the console, then do the
//! configured emergency action — never hang silently.

use crate::sys::say;
use std::time::Duration;

/// What to do after a fatal error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Reboot after the delay (the default: firmware/bootloader may try another slot).
    Reboot,
    /// Power off after the delay.
    Poweroff,
    /// Start /bin/sh on the console if the initrd has one, else reboot.
    Shell,
}

impl Action {
    /// The HostConfig's `boot.emergency-action`.
    pub fn from_config(a: metalos_config::hostconfig::EmergencyAction) -> Self {
        use metalos_config::hostconfig::EmergencyAction as E;
        match a {
            E::Reboot => Self::Reboot,
            E::Poweroff => Self::Poweroff,
            E::Shell => Self::Shell,
        }
    }

    /// Parses `reboot`, `poweroff`, `shell`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reboot" => Some(Self::Reboot),
            "poweroff" => Some(Self::Poweroff),
            "shell" => Some(Self::Shell),
            _ => None,
        }
    }
}

/// Prints `error` and performs `action` after `delay`. Never returns.
pub fn fail(prog: &str, error: &anyhow::Error, action: Action, delay: Duration) -> ! {
    say(prog, &format!("FATAL: {error:#}"));
    if action == Action::Shell && std::path::Path::new("/bin/sh").exists() {
        say(prog, "starting an emergency shell (exit to reboot)");
        let _ = std::process::Command::new("/bin/sh").status();
    } else {
        say(
            prog,
            &format!("emergency action: {action:?} in {} s", delay.as_secs()),
        );
        std::thread::sleep(delay);
    }
    // SAFETY: sync/reboot take no pointers.
    unsafe {
        libc::sync();
        libc::reboot(if action == Action::Poweroff {
            libc::LINUX_REBOOT_CMD_POWER_OFF
        } else {
            libc::LINUX_REBOOT_CMD_RESTART
        });
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
