//! Verifying a `/usr` slot before it boots (docs/verity.md): the slot
//! descriptor's signature (with `/etc/metalos/signing.pub` of the
//! bootloader initrd, when present), the data against the verity root hash
//! (block by block as [`crate::slotread`] reads the payload through
//! dm-verity, or the whole slot at once), and the boot payload's sha256.
//! A failure is a [`SlotRejected`]: the caller marks the slot unbootable
//! and tries the other one.

use crate::sys;
use metalos_disk::readat::ReadAt;
use metalos_disk::slotdesc::DescriptorError;
use metalos_disk::slotdesc::{SignatureState, SlotDescriptor, PAYLOAD_FILES};
use metalos_disk::slotverity::{check_slot, read_descriptor, SlotVerityError};
use metalos_disk::verity::hex;
use metalos_signing::VerifyingKey;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Instant;

/// The operator's public key in the bootloader initrd.
pub const TRUSTED_KEY: &str = metalos_contract::paths::InitrdPath::SIGNING_KEY.as_str();

/// A slot that must not be booted, and why.
#[derive(Debug, thiserror::Error)]
#[error("/usr slot {slot} failed verification: {reason}")]
pub struct SlotRejected {
    /// Partition number.
    pub slot: u32,
    /// Why.
    pub reason: String,
}

/// The trusted key, if the initrd carries one. A key file that cannot
/// be read is an error for every slot (never "no key").
pub fn trusted_key() -> Result<Option<VerifyingKey>, String> {
    if !Path::new(TRUSTED_KEY).exists() {
        return Ok(None);
    }
    VerifyingKey::load(Path::new(TRUSTED_KEY))
        .map(Some)
        .map_err(|e| format!("the trusted key {TRUSTED_KEY} is unusable: {e}"))
}

/// Reads the descriptor of the slot on `part_dev` and checks its
/// signature with the trusted key. `Ok(None)`: a slot written before
/// dm-verity (no descriptor), accepted only without a trusted key, with a
/// loud `unverified` line. The data is checked as it is read
/// ([`crate::slotread`]), or all at once by [`check_whole_slot`].
pub fn verify_descriptor(
    prog: &str,
    part_dev: &Path,
    slot: u32,
) -> Result<Option<SlotDescriptor>, SlotRejected> {
    let reject = |reason: String| SlotRejected { slot, reason };
    let key = trusted_key().map_err(reject)?;
    let file = std::fs::File::open(part_dev)
        .map_err(|e| reject(format!("cannot open {}: {e}", part_dev.display())))?;
    verify_descriptor_on(&file, slot, key.as_ref(), |m| sys::say(prog, &m))
}

/// [`verify_descriptor`] on the slot's bytes (`part`, from offset 0), with
/// the trusted key `key`; progress and warnings go to `say`.
pub fn verify_descriptor_on<D: ReadAt + ?Sized>(
    part: &D,
    slot: u32,
    key: Option<&VerifyingKey>,
    mut say: impl FnMut(String),
) -> Result<Option<SlotDescriptor>, SlotRejected> {
    let reject = |reason: String| SlotRejected { slot, reason };
    let block = match read_descriptor(part, 0) {
        Ok(b) => b,
        Err(SlotVerityError::Descriptor(DescriptorError::Magic)) if key.is_none() => {
            say(format!("unverified: /usr slot {slot} has no verity descriptor (an image from before dm-verity); booting it without verity"));
            return Ok(None);
        }
        Err(e) => return Err(reject(format!("slot descriptor: {e}"))),
    };
    let state = block.signature_state(key);
    match (key, &state) {
        (Some(_), SignatureState::Valid(fp)) => {
            say(format!("/usr slot {slot}: descriptor signed-valid by {fp}"));
        }
        (Some(k), _) => {
            return Err(reject(format!(
                "payload signature {state}; this bootloader requires a signature by {}",
                k.fingerprint()
            )))
        }
        (None, _) => say(format!("unverified: no {TRUSTED_KEY} in the bootloader; /usr slot {slot} descriptor is {state} (not checked against a trusted key)")),
    }
    Ok(Some(block.descriptor))
}

/// [`verify_descriptor_on`], then [`check_whole_slot`] when the slot has a
/// descriptor.
pub fn verify_slot_on<D: ReadAt + ?Sized>(
    part: &D,
    slot: u32,
    key: Option<&VerifyingKey>,
    mut say: impl FnMut(String),
) -> Result<Option<SlotDescriptor>, SlotRejected> {
    let Some(d) = verify_descriptor_on(part, slot, key, &mut say)? else {
        return Ok(None);
    };
    check_whole_slot(part, slot, &d, say)?;
    Ok(Some(d))
}

/// Re-hashes every data block of the slot and compares the root hash, the
/// verity superblock and the stored tree with the descriptor
/// ([`check_slot`]): what the bootloader does when it cannot read the
/// slot through dm-verity.
pub fn check_whole_slot<D: ReadAt + ?Sized>(
    part: &D,
    slot: u32,
    d: &SlotDescriptor,
    mut say: impl FnMut(String),
) -> Result<(), SlotRejected> {
    let start = Instant::now();
    check_slot(part, 0, d).map_err(|e| SlotRejected {
        slot,
        reason: format!("verity check: {e}"),
    })?;
    say(format!(
        "/usr slot {slot}: verity ok (root {}, {} MiB hashed in {} ms)",
        d.root_hash,
        d.data_blocks.saturating_mul(4096) >> 20,
        start.elapsed().as_millis()
    ));
    Ok(())
}

/// The rejection for `error`, met reading `what` through the slot's
/// dm-verity device. The whole slot is re-hashed to tell a corrupted block
/// (named as [`check_whole_slot`] names it) from another read error.
pub fn read_error_rejection<D: ReadAt + ?Sized>(
    part: &D,
    slot: u32,
    d: &SlotDescriptor,
    what: &str,
    error: &std::io::Error,
) -> SlotRejected {
    let reason = match check_slot(part, 0, d) {
        Err(e) => format!("verity check: {e} (found reading {what} through dm-verity: {error})"),
        Ok(()) => format!(
            "reading {what} through dm-verity: {error} (the slot itself hashes to its root hash)"
        ),
    };
    SlotRejected { slot, reason }
}

/// Compares the payload files read by `read` (`None`: absent, left to
/// the caller) with the descriptor.
pub fn check_payload_with(
    d: &SlotDescriptor,
    slot: u32,
    mut read: impl FnMut(&str) -> Option<std::io::Result<Vec<u8>>>,
) -> Result<(), SlotRejected> {
    for name in PAYLOAD_FILES {
        let Some(bytes) = read(name) else {
            continue;
        };
        let bytes = bytes.map_err(|e| SlotRejected {
            slot,
            reason: format!("reading {name}: {e}"),
        })?;
        check_digest(d, slot, name, &hex(&Sha256::digest(&bytes)))?;
    }
    Ok(())
}

/// Compares the sha256 `got` (hex) of the payload file `name` with the
/// descriptor's.
pub fn check_digest(
    d: &SlotDescriptor,
    slot: u32,
    name: &str,
    got: &str,
) -> Result<(), SlotRejected> {
    let reject = |reason: String| SlotRejected { slot, reason };
    let want = d
        .payload
        .get(name)
        .ok_or_else(|| reject(format!("the descriptor has no sha256 for {name}")))?;
    if got != want {
        return Err(reject(format!(
            "{name} has sha256 {got}, the descriptor says {want}"
        )));
    }
    Ok(())
}

#[cfg(test)]
#[path = "slotverify_tests.rs"]
mod tests;
