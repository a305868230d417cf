//! Bundle signatures (docs/signing.md): `bundle.json.sig` must verify with
//! the key of the disk being updated (or `--pubkey`) before anything is
//! written. The disk's key is the one in its booted (offline: next-boot)
//! `/usr` slot, cross-checked with the one built into the bootloader on
//! its ESP ([`metalos_image::trust`]); the machine the command runs on
//! has no say over another disk.

use super::esp::BOOTLOADER;
use super::source::BundleSource;
use anyhow::{anyhow, Context, Result};
use metalos_boot::blockdev::Disk;
use metalos_boot::esp::EspHandle;
use metalos_disk::gpt::{Gpt, Partition};
use metalos_image::bundle::BUNDLE_MANIFEST;
use metalos_image::trust::{self, FoundKey};
use metalos_signing::{Signature, VerifyingKey};
use std::path::{Path, PathBuf};

/// The public key a signed build puts into `/usr`.
pub const SYSTEM_PUBKEY: &str = "/usr/lib/metalos/signing.pub";

/// Printed (stderr) when the running system has no key.
pub const UNVERIFIED: &str = "unverified: this system was built without signing keys";

/// How a bundle's signature is checked.
pub enum Trust {
    /// `bundle.json.sig` must verify with this key (found where the
    /// string says: a file, or a place on the disk).
    Key(Box<VerifyingKey>, String),
    /// `--insecure-skip-signature`.
    Skip,
    /// The running system has no key (an unsigned build).
    Unsigned,
}

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
    /// What to trust: the flags, else the running system's key.
    pub fn trust(&self) -> Result<Trust> {
        self.trust_with(Path::new(SYSTEM_PUBKEY))
    }

    fn trust_with(&self, system: &Path) -> Result<Trust> {
        if let Some(t) = self.explicit()? {
            return Ok(t);
        }
        if !system.exists() {
            eprintln!("{UNVERIFIED}");
            return Ok(Trust::Unsigned);
        }
        let key = VerifyingKey::load(system).context("loading the public key")?;
        Ok(Trust::Key(Box::new(key), system.display().to_string()))
    }

    /// What the flags say, if they decide: `--insecure-skip-signature` or `--pubkey`.
    fn explicit(&self) -> Result<Option<Trust>> {
        if self.insecure_skip_signature {
            eprintln!(
                "WARNING: --insecure-skip-signature: the bundle's signature is NOT checked; \
                 whoever serves it decides what this disk boots"
            );
            return Ok(Some(Trust::Skip));
        }
        let Some(path) = &self.pubkey else {
            return Ok(None);
        };
        let key = VerifyingKey::load(path).context("loading the public key")?;
        Ok(Some(Trust::Key(Box::new(key), path.display().to_string())))
    }

    /// What to trust when writing to `disk`: the flags, else the disk's
    /// own key (see the module docs). `booted` is the slot that stays;
    /// `online` says it is the running system's (its `/usr` is mounted).
    pub fn trust_for_disk(
        &self,
        disk: &Disk,
        gpt: &Gpt,
        booted: &Partition,
        online: bool,
    ) -> Result<Trust> {
        if let Some(t) = self.explicit()? {
            return Ok(t);
        }
        let usr = if online {
            running_usr_key(Path::new(SYSTEM_PUBKEY))?
        } else {
            let file = std::fs::File::open(&disk.dev)
                .with_context(|| format!("opening {}", disk.dev.display()))?;
            let place = format!(
                "{} slot {} ({})",
                disk.dev.display(),
                booted.number,
                booted.name
            );
            trust::usr_slot_key(&file, booted.first_lba * gpt.sector_size, &place)?
        };
        let bootloader = match EspHandle::find(disk, gpt) {
            Some(esp) if esp.exists(BOOTLOADER) => {
                let uki = esp
                    .read(BOOTLOADER, esp.partition_len())
                    .context("reading the bootloader on the ESP")?;
                let place = format!("{} ESP {BOOTLOADER}", disk.dev.display());
                trust::bootloader_key(&uki, &place)?
            }
            _ => None,
        };
        match trust::reconcile(usr, bootloader)? {
            Some(FoundKey { key, place }) => Ok(Trust::Key(Box::new(key), place)),
            None if online => {
                eprintln!("{UNVERIFIED}");
                Ok(Trust::Unsigned)
            }
            None => {
                eprintln!(
                    "unverified: {} was built without signing keys",
                    disk.dev.display()
                );
                Ok(Trust::Unsigned)
            }
        }
    }
}

/// The running system's `/usr` key, if it has one.
fn running_usr_key(path: &Path) -> Result<Option<FoundKey>> {
    if !path.exists() {
        return Ok(None);
    }
    let key = VerifyingKey::load(path).context("loading the system's public key")?;
    Ok(Some(FoundKey {
        key,
        place: format!("the running system: {}", path.display()),
    }))
}

impl Trust {
    /// Checks `manifest` (the bytes of bundle.json) against
    /// `bundle.json.sig` of `src`.
    pub fn check(&self, src: &BundleSource, manifest: &[u8]) -> Result<()> {
        let Trust::Key(key, key_path) = self else {
            return Ok(());
        };
        let sig_name = format!("{BUNDLE_MANIFEST}.sig");
        let where_ = src.describe(&sig_name);
        let fp = key.fingerprint();
        let refuse = |why: String| {
            anyhow!("{where_}: {why}; the bundle must be signed by key {fp} ({key_path}); nothing was changed")
        };
        let bytes = src
            .read_small(&sig_name)
            .map_err(|e| refuse(format!("no signature (unsigned bundle?): {e:#}")))?;
        let sig = Signature::from_file_bytes(&bytes).map_err(|e| refuse(e.to_string()))?;
        metalos_signing::verify(key, manifest, &sig).map_err(|_| {
            refuse(format!(
                "the signature of {BUNDLE_MANIFEST} does not verify (another key, or a modified {BUNDLE_MANIFEST})"
            ))
        })?;
        eprintln!("{BUNDLE_MANIFEST}: signature verified (key {fp})");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_system_key_the_bundle_is_unverified() {
        let args = SignatureArgs {
            pubkey: None,
            insecure_skip_signature: false,
        };
        let t = args
            .trust_with(Path::new("/nonexistent/signing.pub"))
            .unwrap();
        assert!(matches!(t, Trust::Unsigned));
    }

    #[test]
    fn a_bad_pubkey_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pub");
        std::fs::write(&p, "nope").unwrap();
        let args = SignatureArgs {
            pubkey: Some(p),
            insecure_skip_signature: false,
        };
        let e = args.trust().err().unwrap();
        assert!(format!("{e:#}").contains("k.pub"), "{e:#}");
    }
}
