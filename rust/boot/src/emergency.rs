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

/// The emergency policy of a PID 1 program: the kernel command line's
/// `metalos.emergency=` wins, else the HostConfig's `boot` section once it
/// has been read, else reboot after 10 s.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// What to do.
    pub action: Action,
    /// How long to show the error first.
    pub delay: Duration,
}

impl Policy {
    /// Adopts the HostConfig's `boot` section.
    pub fn apply_host_config(&mut self, h: &metalos_config::hostconfig::HostConfig) {
        self.action = Action::from_config(h.boot.emergency_action);
        self.delay = Duration::from_secs(h.boot.emergency_delay_seconds.into());
        self.publish();
    }

    /// Makes this policy the one a panic follows (see [`pid1_main`]).
    fn publish(&self) {
        if let Ok(mut p) = PANIC_POLICY.lock() {
            *p = Some(*self);
        }
    }
}

/// The policy in force, for the panic hook: a panic in PID 1 must take the
/// same emergency path as an error, not kill init with a bare backtrace.
static PANIC_POLICY: std::sync::Mutex<Option<Policy>> = std::sync::Mutex::new(None);
/// `metalos.emergency=` from the command line, which wins over the HostConfig.
static CMDLINE_ACTION: std::sync::OnceLock<Action> = std::sync::OnceLock::new();

/// Turns a panic into `FATAL: internal error …` plus the emergency action.
fn install_panic_hook(prog: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let policy = PANIC_POLICY
            .try_lock()
            .ok()
            .and_then(|p| *p)
            .unwrap_or(Policy {
                action: Action::Reboot,
                delay: Duration::from_secs(10),
            });
        let action = CMDLINE_ACTION.get().copied().unwrap_or(policy.action);
        let error = anyhow::anyhow!("internal error (panic{location}): {message}");
        fail(prog, &error, action, policy.delay);
    }));
}

/// The `main` of a PID 1 program: mounts the API filesystems (so the
/// command line can be read), runs `run(cmdline, policy)` and takes the
/// emergency path on error.
pub fn pid1_main(prog: &'static str, run: impl FnOnce(&str, &mut Policy) -> anyhow::Result<()>) {
    install_panic_hook(prog);
    // A failure here is reported (and retried) by `run`.
    let _ = crate::sys::mount_api_filesystems();
    let cmdline = crate::sys::kernel_cmdline();
    let mut policy = Policy {
        action: Action::Reboot,
        delay: Duration::from_secs(10),
    };
    if let Some(a) =
        crate::sys::cmdline_value(&cmdline, "metalos.emergency").and_then(Action::parse)
    {
        let _ = CMDLINE_ACTION.set(a);
    }
    policy.publish();
    if let Err(e) = run(&cmdline, &mut policy) {
        if let Some(a) =
            crate::sys::cmdline_value(&cmdline, "metalos.emergency").and_then(Action::parse)
        {
            policy.action = a;
        }
        fail(prog, &e, policy.action, policy.delay);
    }
}
