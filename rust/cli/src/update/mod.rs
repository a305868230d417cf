//! `metalos update …`: A/B offline updates on a running host (Flatcar's
//! gptprio model): stage a bundle into the inactive `/usr` slot, report
//! slot status, mark the booted slot good, roll back.

mod esp;
pub(crate) mod signature;
mod source;
pub(crate) mod stage;
mod status;

use anyhow::Result;
use clap::Subcommand;

/// `metalos update` subcommands.
#[derive(Subcommand)]
pub enum UpdateCommand {
    /// Verify a bundle (directory, bundle.json path or http:// URL; its
    /// bundle.json.sig with the updated disk's own key first), write
    /// its /usr image to the inactive slot, read it back, then give that
    /// slot one trial boot at the highest priority. Also replaces the
    /// bootloader UKI when it differs.
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
        sig: signature::SignatureArgs,
    },
    /// Download and verify a bundle (signature, sizes and sha256) without writing anything.
    Verify {
        /// Bundle location.
        bundle: String,
        /// Trust only this CA (PEM) for https:// bundles.
        #[arg(long, value_name = "PEM")]
        ca_cert: Option<std::path::PathBuf>,
        #[command(flatten)]
        sig: signature::SignatureArgs,
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
    },
    /// Boot the other slot next, if it is marked successful.
    Rollback,
}

fn verify(
    location: &str,
    ca_cert: Option<&std::path::Path>,
    sig: &signature::SignatureArgs,
) -> Result<()> {
    let trust = sig.trust()?;
    let src = source::BundleSource::parse(location, ca_cert)?;
    let m = src.manifest(&trust)?;
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
        } => stage::run(&bundle, disk.as_deref(), ca_cert.as_deref(), &sig, progress),
        UpdateCommand::Verify {
            bundle,
            ca_cert,
            sig,
        } => verify(&bundle, ca_cert.as_deref(), &sig),
        UpdateCommand::Status { json } => status::status(json),
        UpdateCommand::MarkGood { check, auto } => status::mark_good(check, auto),
        UpdateCommand::Rollback => status::rollback(),
    }
}
