//! `metalos update …`: argument handling and printing for the A/B update
//! library ([`metalos_update`]): stage a bundle into the inactive `/usr`
//! slot, report slot status, mark the booted slot good, roll back.

use anyhow::Result;
use clap::Subcommand;
use metalos_update::{BundleSource, StageRequest, Trust, TrustChoice};
use serde_json::json;
use std::path::PathBuf;

/// `--pubkey` / `--insecure-skip-signature` flags shared by `stage` and `verify`.
#[derive(clap::Args, Clone, Debug)]
pub struct SignatureArgs {
    /// Verify bundle.json.sig with this public key (PEM, `signing.pub`)
    /// instead of the key of the disk being updated (its /usr slot's
    /// /usr/lib/metalos/signing.pub and its bootloader's).
    #[arg(long, value_name = "PEM")]
    pub pubkey: Option<PathBuf>,
    /// Do not check the bundle's signature (prints a warning). Only for
    /// recovery: anyone who can serve the bundle decides what is written.
    #[arg(long, conflicts_with = "pubkey")]
    pub insecure_skip_signature: bool,
}

impl SignatureArgs {
    /// What the flags decide, if anything.
    fn explicit(&self) -> Result<Option<Trust>> {
        if self.insecure_skip_signature {
            return Ok(Some(Trust::skip()));
        }
        self.pubkey.as_deref().map(Trust::from_pubkey).transpose()
    }

    /// For `stage`: the flags, else the disk's own key.
    fn stage_choice(&self) -> Result<TrustChoice> {
        Ok(match self.explicit()? {
            Some(t) => TrustChoice::Given(t),
            None => TrustChoice::DiskKey,
        })
    }

    /// For `verify` (nothing is written): the flags, else the running system's key.
    fn verify_trust(&self) -> Result<Trust> {
        match self.explicit()? {
            Some(t) => Ok(t),
            None => Trust::running_system(),
        }
    }
}

/// `metalos update` subcommands.
#[derive(Subcommand)]
pub enum UpdateCommand {
    /// Verify a bundle (directory, bundle.json path or http:// URL; its
    /// bundle.json.sig with the updated disk's own key first), write
    /// its /usr image to the inactive slot, read it back, then give that
    /// slot one trial boot at the highest priority. Also replaces the
    /// bootloader UKI when it differs. With --no-activate the slot stays
    /// disabled (an unrelated reboot boots the old one) until `activate`.
    Stage {
        /// Bundle location.
        bundle: String,
        /// Update this disk image or device instead of the running system
        /// (its next-boot slot is kept, the other one written).
        #[arg(long, value_name = "DISK")]
        disk: Option<std::path::PathBuf>,
        /// Trust only this CA (PEM) for https:// bundles instead of the built-in roots.
        #[arg(long, value_name = "PEM")]
        ca_cert: Option<std::path::PathBuf>,
        #[command(flatten)]
        sig: SignatureArgs,
        /// Write and verify the slot but do not make it bootable: the new
        /// bootloader waits as EFI/BOOT/BOOTX64.NEW and a record on the ESP
        /// (metalos/staged-update.json) until `metalos update activate`.
        #[arg(long)]
        no_activate: bool,
    },
    /// Make the slot a `stage --no-activate` wrote the next boot (one
    /// trial): its bytes are read back against the staged sha256 first,
    /// then the waiting bootloader is swapped in.
    Activate {
        /// Activate on this disk image or device instead of the running system.
        #[arg(long, value_name = "DISK")]
        disk: Option<std::path::PathBuf>,
    },
    /// Download and verify a bundle (signature, sizes and sha256) without writing anything.
    Verify {
        /// Bundle location.
        bundle: String,
        /// Trust only this CA (PEM) for https:// bundles.
        #[arg(long, value_name = "PEM")]
        ca_cert: Option<std::path::PathBuf>,
        #[command(flatten)]
        sig: SignatureArgs,
    },
    /// Show both slots: version, priority, tries, successful, booted, next.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Mark the booted slot successful.
    MarkGood {
        /// Only when this shell command exits 0.
        #[arg(long, value_name = "CMD")]
        check: Option<String>,
        /// Use the HostConfig's update.mark-good-delay-seconds and
        /// update.health-check (what the default image runs at boot).
        #[arg(long, conflicts_with = "check")]
        auto: bool,
        /// When the booted slot is on its trial boot and the check fails,
        /// reboot (the bootloader then boots the other slot: a rollback).
        #[arg(long)]
        reboot_on_failed_trial: bool,
    },
    /// Boot the other slot next, if it is marked successful.
    Rollback,
    /// The update agent (metalos-update-agent.service): follow the release
    /// channel configured in /usr/lib|/etc|/run/metalos/update.d/*.toml,
    /// stage updates without activating them, reboot when the strategy
    /// (immediate, periodic, fleet_lock) allows; docs/fleet-updates.md.
    Agent(crate::update_agent::AgentArgs),
}

fn verify(location: &str, ca_cert: Option<&std::path::Path>, sig: &SignatureArgs) -> Result<()> {
    let trust = sig.verify_trust()?;
    let src = BundleSource::parse(location, ca_cert)?;
    let m = trust.read_manifest(&src)?;
    src.copy_verified(&m.usr, &mut std::io::sink(), |_| {})?;
    if let Some(bl) = &m.bootloader {
        src.copy_verified(bl, &mut std::io::sink(), |_| {})?;
    }
    println!(
        "bundle {location}: version {}, {} verified",
        m.version,
        if m.bootloader.is_some() {
            "/usr image and bootloader"
        } else {
            "/usr image"
        }
    );
    Ok(())
}

/// Runs an `update` subcommand.
pub fn run(cmd: UpdateCommand, progress: &crate::progress::Progress) -> Result<()> {
    match cmd {
        UpdateCommand::Stage {
            bundle,
            disk,
            ca_cert,
            sig,
            no_activate,
        } => {
            let req = StageRequest {
                location: &bundle,
                disk: disk.as_deref(),
                ca_cert: ca_cert.as_deref(),
                trust: sig.stage_choice()?,
                activate: !no_activate,
            };
            metalos_update::stage(req, &mut |m| progress.step(m)).map(drop)
        }
        UpdateCommand::Activate { disk } => {
            metalos_update::activate(disk.as_deref(), &mut |m| progress.step(m)).map(drop)
        }
        UpdateCommand::Verify {
            bundle,
            ca_cert,
            sig,
        } => verify(&bundle, ca_cert.as_deref(), &sig),
        UpdateCommand::Status { json } => print_status(json),
        UpdateCommand::MarkGood {
            check,
            auto,
            reboot_on_failed_trial,
        } => mark_good(check, auto, reboot_on_failed_trial),
        UpdateCommand::Agent(args) => crate::update_agent::run(args),
        UpdateCommand::Rollback => {
            println!("{}", metalos_update::status::rollback()?);
            Ok(())
        }
    }
}

/// `metalos update mark-good`; a failed trial reboots into the other
/// slot when asked to.
fn mark_good(check: Option<String>, auto: bool, reboot_on_failed_trial: bool) -> Result<()> {
    let err = match metalos_update::status::mark_good(check, auto) {
        Ok(said) => {
            println!("{said}");
            return Ok(());
        }
        Err(e) => e,
    };
    if !reboot_on_failed_trial {
        return Err(err);
    }
    match metalos_update::status::failed_trial()? {
        Some(said) => {
            eprintln!("error: {err:#}");
            println!("{said}: rebooting");
            metalos_update::status::reboot()
        }
        None => Err(err),
    }
}

/// `metalos update status [--json]`.
fn print_status(as_json: bool) -> Result<()> {
    let (disk, slots) = metalos_update::status::status()?;
    let staged = metalos_update::activate::staged_on(None)?;
    if as_json {
        let rows: Vec<_> = slots
            .iter()
            .map(|s| {
                json!({
                    "slot": s.slot, "label": s.label, "guid": s.guid, "version": s.version,
                    "priority": s.priority, "tries": s.tries, "successful": s.successful,
                    "booted": s.booted, "next": s.next,
                })
            })
            .collect();
        let staged = staged.map(|s| json!({"version": s.version, "slot": s.slot}));
        let doc = json!({ "disk": disk, "slots": rows, "staged": staged });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "{:<5} {:<8} {:<10} {:>8} {:>5} {:>10}  state",
        "slot", "label", "version", "priority", "tries", "successful"
    );
    for s in &slots {
        let mut state = vec![];
        if s.booted {
            state.push("booted");
        }
        if s.next {
            state.push("boots next");
        }
        println!(
            "{:<5} {:<8} {:<10} {:>8} {:>5} {:>10}  {}",
            s.slot,
            s.label,
            s.version.as_deref().unwrap_or("-"),
            s.priority,
            s.tries,
            s.successful,
            state.join(", ")
        );
    }
    if let Some(s) = staged {
        println!(
            "staged: version {} in slot {}, disabled until `metalos update activate`",
            s.version, s.slot
        );
    }
    Ok(())
}
