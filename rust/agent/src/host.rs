//! What the agent does to the machine it runs on, behind one trait so the
//! decision logic ([`crate::agent`]) is tested without rebooting anything:
//! the booted slot, staging and activating through `metalos_update`,
//! interactive sessions, wall messages and the reboot.

use anyhow::{Context, Result};
use metalos_contract::paths::UsrPath;
use metalos_contract::update::{os_release_version, StagedUpdate};
use metalos_update::{StageRequest, TrustChoice};

/// The running system as the agent needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booted {
    /// VERSION_ID of the running `/usr`.
    pub version: String,
    /// The booted slot is marked successful (mark-good ran).
    pub good: bool,
    /// This boot's id (`/proc/sys/kernel/random/boot_id`).
    pub boot_id: String,
}

/// The machine's side of the update cycle.
pub trait Host {
    /// The running system.
    fn booted(&self) -> Result<Booted>;
    /// A staged, not yet activated update, if any.
    fn staged(&self) -> Result<Option<StagedUpdate>>;
    /// Stages the bundle at `url` into the inactive slot without making it
    /// bootable (the disk's own key checks its signature).
    fn stage(&mut self, url: &str) -> Result<StagedUpdate>;
    /// Makes the staged slot the next boot (one trial).
    fn activate(&mut self) -> Result<StagedUpdate>;
    /// Reboots (returns once the reboot is under way).
    fn reboot(&mut self) -> Result<()>;
    /// Interactive (terminal) sessions logged in now.
    fn interactive_sessions(&self) -> usize;
    /// Tells every terminal `message`.
    fn broadcast(&self, message: &str);
}

/// The real machine.
pub struct SystemHost;

impl Host for SystemHost {
    fn booted(&self) -> Result<Booted> {
        let os_release = UsrPath::OS_RELEASE.on_host();
        let text = std::fs::read_to_string(&os_release)
            .with_context(|| format!("reading {os_release}"))?;
        let version =
            os_release_version(&text).with_context(|| format!("{os_release} has no VERSION_ID"))?;
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .context("reading /proc/sys/kernel/random/boot_id")?
            .trim()
            .to_string();
        let (_, _, slot) = metalos_update::running::booted_slot()?;
        Ok(Booted {
            version,
            good: metalos_update::status::is_successful(&slot),
            boot_id,
        })
    }

    fn staged(&self) -> Result<Option<StagedUpdate>> {
        metalos_update::activate::staged_on(None)
    }

    fn stage(&mut self, url: &str) -> Result<StagedUpdate> {
        let req = StageRequest {
            location: url,
            disk: None,
            ca_cert: None,
            trust: TrustChoice::DiskKey,
            activate: false,
        };
        metalos_update::stage(req, &mut |m| println!("stage: {m}"))
    }

    fn activate(&mut self) -> Result<StagedUpdate> {
        metalos_update::activate(None, &mut |m| println!("activate: {m}"))
    }

    fn reboot(&mut self) -> Result<()> {
        metalos_update::status::reboot()
    }

    fn interactive_sessions(&self) -> usize {
        // utmp lists terminal logins only (as Zincati counts sessions with a tty).
        std::process::Command::new("who")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
            .unwrap_or(0)
    }

    fn broadcast(&self, message: &str) {
        let _ = std::process::Command::new("wall").arg(message).status();
    }
}
