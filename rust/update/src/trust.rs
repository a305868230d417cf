//! Bundle signatures (docs/signing.md): `bundle.json.sig` must verify with
//! the key of the disk being updated (or a key the operator names) before
//! anything is written. The disk's key is the one in its booted (offline:
//! next-boot) `/usr` slot, cross-checked with the one built into the
//! bootloader on its ESP ([`crate::keys`]); the machine the code runs on
//! has no say over another disk.

use crate::keys::{self, FoundKey};
use crate::source::BundleSource;
use anyhow::{anyhow, Context, Result};
use metalos_contract::paths::{EspPath, UsrPath};
use metalos_contract::update::{UpdateManifest, BUNDLE_MANIFEST};
use metalos_disk::blockdev::Disk;
use metalos_disk::esp_partition::EspHandle;
use metalos_disk::gpt::{Gpt, Partition};
use metalos_signing::{Signature, VerifyingKey};
use std::path::Path;

/// Printed (stderr) when the running system has no key.
pub const UNVERIFIED: &str = "unverified: this system was built without signing keys";

/// How a bundle's signature is checked.
pub enum Trust {
    /// `bundle.json.sig` must verify with this key (found where the
    /// string says: a file, or a place on the disk).
    Key(Box<VerifyingKey>, String),
    /// The signature is not checked (`--insecure-skip-signature`).
    Skip,
    /// The system or disk has no key (an unsigned build).
    Unsigned,
}

impl Trust {
    /// Trust exactly the key in `path` (`--pubkey`).
    pub fn from_pubkey(path: &Path) -> Result<Trust> {
        let key = VerifyingKey::load(path).context("loading the public key")?;
        Ok(Trust::Key(Box::new(key), path.display().to_string()))
    }

    /// Check nothing, saying so loudly (recovery only).
    pub fn skip() -> Trust {
        eprintln!(
            "WARNING: --insecure-skip-signature: the bundle's signature is NOT checked; \
             whoever serves it decides what this disk boots"
        );
        Trust::Skip
    }

    /// The running system's key (`/usr/lib/metalos/signing.pub`), for
    /// checks that write nothing (`update verify`).
    pub fn running_system() -> Result<Trust> {
        Self::running_system_at(Path::new(&UsrPath::SIGNING_KEY.on_host()))
    }

    fn running_system_at(system: &Path) -> Result<Trust> {
        if !system.exists() {
            eprintln!("{UNVERIFIED}");
            return Ok(Trust::Unsigned);
        }
        let key = VerifyingKey::load(system).context("loading the public key")?;
        Ok(Trust::Key(Box::new(key), system.display().to_string()))
    }

    /// What to trust when writing to `disk`: its own key (see the module
    /// docs). `booted` is the slot that stays; `online` says it is the
    /// running system's (its `/usr` is mounted).
    pub fn of_disk(disk: &Disk, gpt: &Gpt, booted: &Partition, online: bool) -> Result<Trust> {
        let usr = if online {
            running_usr_key(Path::new(&UsrPath::SIGNING_KEY.on_host()))?
        } else {
            let file = std::fs::File::open(&disk.dev)
                .with_context(|| format!("opening {}", disk.dev.display()))?;
            let place = format!(
                "{} slot {} ({})",
                disk.dev.display(),
                booted.number,
                booted.name
            );
            keys::usr_slot_key(&file, booted.first_lba * gpt.sector_size, &place)?
        };
        let bootloader = bootloader_key(disk, gpt)?;
        match keys::reconcile(usr, bootloader)? {
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

    /// Reads bundle.json of `src`, checks its signature as this trust
    /// says, then parses and validates it: the manifest returned is parsed
    /// from exactly the bytes that were verified.
    pub fn read_manifest(&self, src: &BundleSource) -> Result<UpdateManifest> {
        self.verify_manifest(src, src.read_small(BUNDLE_MANIFEST)?)
    }

    /// [`Self::read_manifest`] for bundle.json's `bytes`, read earlier.
    pub fn verify_manifest(&self, src: &BundleSource, bytes: Vec<u8>) -> Result<UpdateManifest> {
        self.check(src, &bytes)?;
        let text = String::from_utf8(bytes).context("bundle.json is not UTF-8")?;
        UpdateManifest::parse(&text).map_err(anyhow::Error::msg)
    }

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

/// The key built into the bootloader UKI on `disk`'s ESP, if any (only
/// its headers and initrd are read).
fn bootloader_key(disk: &Disk, gpt: &Gpt) -> Result<Option<FoundKey>> {
    let bootloader = EspPath::BOOTLOADER.as_str();
    match EspHandle::find(disk, gpt) {
        Some(esp) if esp.exists(bootloader) => {
            // A directory entry may claim more than the partition holds.
            let max = esp.partition_len();
            let initrd = esp
                .with_file(bootloader, |file, len| {
                    if len > max {
                        let why = format!("{len} bytes, more than the {max}-byte ESP");
                        return Err(std::io::Error::other(why));
                    }
                    keys::read_bootloader_initrd(file, len)
                })
                .context("reading the bootloader on the ESP")?
                .flatten();
            let place = format!("{} ESP {bootloader}", disk.dev.display());
            match initrd {
                Some(initrd) => Ok(keys::initrd_key(&initrd, &place)?),
                None => Ok(None),
            }
        }
        _ => Ok(None),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_system_key_the_bundle_is_unverified() {
        let t = Trust::running_system_at(Path::new("/nonexistent/signing.pub")).unwrap();
        assert!(matches!(t, Trust::Unsigned));
    }

    #[test]
    fn a_bad_pubkey_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pub");
        std::fs::write(&p, "nope").unwrap();
        let e = Trust::from_pubkey(&p).err().unwrap();
        assert!(format!("{e:#}").contains("k.pub"), "{e:#}");
    }
}
