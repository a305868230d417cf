//! Reading a `/usr` slot's boot payload (`lib/metalos/boot/{vmlinuz,
//! initrd.img,cmdline}`) for kexec ([`crate::slotboot`]; docs/verity.md).
//!
//! A slot with a descriptor is mapped through dm-verity ([`crate::verity`],
//! the root hash from the descriptor [`crate::slotverify`] checked) and its
//! squashfs mounted from the mapping: only the blocks read are hashed, so
//! the cost follows the payload, not the slot, and a corrupted block is an
//! I/O error that rejects the slot ([`SlotRejected`]). Where device-mapper
//! cannot be set up (an initrd without `dm_verity`), the whole slot is
//! re-hashed first and the partition mounted directly, as is a slot
//! without a descriptor (unverified).
//!
//! The payload is copied to [`COPY_DIR`] while its sha256 is compared with
//! the descriptor, so kexec loads exactly the bytes checked; the slot is
//! unmounted and the mapping removed before kexec.

use crate::slotverify::{check_digest, check_whole_slot, read_error_rejection, SlotRejected};
use crate::{sys, verity};
use anyhow::{anyhow, Context};
use metalos_disk::slotdesc::{SlotDescriptor, PAYLOAD_FILES};
use metalos_disk::verity::hex;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the chosen slot is mounted while its payload is copied.
pub const USR_MOUNT: &str = "/run/metalos/usr";
/// Where the payload is copied (tmpfs).
pub const COPY_DIR: &str = "/run/metalos/kexec";
/// The slot payload, relative to the slot's root (= /usr).
const PAYLOAD: &str = metalos_contract::paths::UsrPath::BOOT_PAYLOAD.in_slot();

/// The boot payload copied out of a slot.
#[derive(Debug)]
pub struct Payload {
    /// Where the copies are.
    pub dir: PathBuf,
    /// The slot's own kernel command line (its `cmdline` file).
    pub cmdline: String,
    /// Bytes copied.
    pub bytes: u64,
}

impl Payload {
    /// The copied kernel.
    pub fn kernel(&self) -> PathBuf {
        self.dir.join("vmlinuz")
    }

    /// The copied initrd.
    pub fn initrd(&self) -> PathBuf {
        self.dir.join("initrd.img")
    }
}

/// Why reading a slot's payload failed.
#[derive(Debug)]
enum ReadFailure {
    /// The slot's bytes could not be read: `what` (the mount, a file).
    Slot {
        /// What was being read.
        what: String,
        /// The error.
        error: std::io::Error,
    },
    /// Anything else: a missing payload file, a wrong sha256, the copy not
    /// written.
    Other(anyhow::Error),
}

/// Copies the payload of the slot on `part_dev` (number `slot`, checked
/// descriptor `d`, `None` for a slot from before dm-verity) to
/// [`COPY_DIR`]. A slot with a descriptor that fails is a
/// [`SlotRejected`] (`anyhow::Error::downcast_ref`).
pub fn read_payload(
    prog: &str,
    part_dev: &Path,
    slot: u32,
    d: Option<&SlotDescriptor>,
) -> anyhow::Result<Payload> {
    let Some(d) = d else {
        return mount_and_copy(prog, part_dev, slot, None).map_err(|f| match f {
            ReadFailure::Slot { what, error } => {
                anyhow!(error).context(format!("/usr slot {slot}: reading {what}"))
            }
            ReadFailure::Other(e) => e,
        });
    };
    let reject = |reason: String| SlotRejected { slot, reason };
    let args = verity::VerityArgs::from_descriptor(d)
        .map_err(|e| reject(format!("slot descriptor: {e}")))?;
    let name = format!("metalos-slot{slot}");
    let start = Instant::now();
    let dev = match verity::setup(&name, part_dev, &args) {
        Ok(dev) => dev,
        Err(e) => return read_after_whole_check(prog, part_dev, slot, d, &e),
    };
    let copied = mount_and_copy(prog, &dev, slot, Some(d));
    // kexec replaces this kernel anyway; removing the mapping matters only
    // to keep the next slot's attempt clean.
    if let Err(e) = verity::remove(&name) {
        sys::say(prog, &format!("note: removing {name}: {e}"));
    }
    let payload = copied.map_err(|f| match f {
        ReadFailure::Slot { what, error } => match File::open(part_dev) {
            Ok(part) => read_error_rejection(&part, slot, d, &what, &error).into(),
            Err(e) => reject(format!("cannot open {}: {e}", part_dev.display())).into(),
        },
        ReadFailure::Other(e) => e,
    })?;
    sys::say(
        prog,
        &format!(
            "/usr slot {slot}: verity ok (root {}, {} MiB of payload read through dm-verity in {} ms)",
            d.root_hash,
            payload.bytes >> 20,
            start.elapsed().as_millis()
        ),
    );
    Ok(payload)
}

/// Without dm-verity (`why`): the whole slot re-hashed, then the payload
/// read from the partition itself.
fn read_after_whole_check(
    prog: &str,
    part_dev: &Path,
    slot: u32,
    d: &SlotDescriptor,
    why: &verity::VerityError,
) -> anyhow::Result<Payload> {
    sys::say(
        prog,
        &format!(
            "/usr slot {slot}: cannot read it through dm-verity ({why}); re-hashing the whole slot"
        ),
    );
    let reject = |reason: String| SlotRejected { slot, reason };
    let part = File::open(part_dev)
        .map_err(|e| reject(format!("cannot open {}: {e}", part_dev.display())))?;
    check_whole_slot(&part, slot, d, |m| sys::say(prog, &m))?;
    mount_and_copy(prog, part_dev, slot, Some(d)).map_err(|f| match f {
        ReadFailure::Slot { what, error } => reject(format!("reading {what}: {error}")).into(),
        ReadFailure::Other(e) => e,
    })
}

/// Mounts `dev` (the slot, or its dm-verity device) read-only at
/// [`USR_MOUNT`], copies the payload to [`COPY_DIR`] and unmounts it.
fn mount_and_copy(
    prog: &str,
    dev: &Path,
    slot: u32,
    d: Option<&SlotDescriptor>,
) -> Result<Payload, ReadFailure> {
    let source = dev.to_str().unwrap_or_default();
    sys::mount(source, USR_MOUNT, "squashfs", libc::MS_RDONLY, "").map_err(|error| {
        ReadFailure::Slot {
            what: "the squashfs".into(),
            error,
        }
    })?;
    let copied = copy_payload(
        &Path::new(USR_MOUNT).join(PAYLOAD),
        Path::new(COPY_DIR),
        slot,
        d,
    );
    if let Err(e) = sys::umount(USR_MOUNT) {
        sys::say(prog, &format!("note: {e}"));
    }
    copied
}

/// Copies the payload files from `src` to `dst`, comparing each one's
/// sha256 with the descriptor `d` (when given) as it is read. On failure
/// `dst` is removed: no partial payload is left for the next slot.
fn copy_payload(
    src: &Path,
    dst: &Path,
    slot: u32,
    d: Option<&SlotDescriptor>,
) -> Result<Payload, ReadFailure> {
    let copied = copy_checked(src, dst, slot, d);
    if copied.is_err() {
        let _ = std::fs::remove_dir_all(dst);
    }
    copied
}

/// [`copy_payload`] without the clean-up.
fn copy_checked(
    src: &Path,
    dst: &Path,
    slot: u32,
    d: Option<&SlotDescriptor>,
) -> Result<Payload, ReadFailure> {
    for name in PAYLOAD_FILES {
        let path = src.join(name);
        match std::fs::metadata(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ReadFailure::Other(anyhow!(
                    "slot {slot} has no boot payload ({})",
                    path.display()
                )))
            }
            Err(error) => {
                return Err(ReadFailure::Slot {
                    what: path.display().to_string(),
                    error,
                })
            }
        }
    }
    let other = |e: anyhow::Error| ReadFailure::Other(e);
    std::fs::create_dir_all(dst)
        .with_context(|| format!("creating {}", dst.display()))
        .map_err(other)?;
    let mut bytes = 0;
    for name in PAYLOAD_FILES {
        let (len, digest) = copy_hashed(&src.join(name), &dst.join(name))?;
        if let Some(d) = d {
            check_digest(d, slot, name, &digest).map_err(|r| other(r.into()))?;
        }
        bytes += len;
    }
    let cmdline = std::fs::read_to_string(dst.join("cmdline"))
        .with_context(|| format!("slot {slot}: its cmdline is not text"))
        .map_err(other)?;
    Ok(Payload {
        dir: dst.to_owned(),
        cmdline,
        bytes,
    })
}

/// Copies `src` to `dst`; returns the length and sha256 (hex) of the
/// bytes copied. A read error is the slot's ([`ReadFailure::Slot`]).
fn copy_hashed(src: &Path, dst: &Path) -> Result<(u64, String), ReadFailure> {
    let slot_err = |error| ReadFailure::Slot {
        what: src.display().to_string(),
        error,
    };
    let write_err = |e: std::io::Error| {
        ReadFailure::Other(anyhow!(e).context(format!("writing {}", dst.display())))
    };
    let mut from = File::open(src).map_err(slot_err)?;
    let mut to = File::create(dst).map_err(write_err)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(slot_err(e)),
        };
        hash.update(&buf[..n]);
        to.write_all(&buf[..n]).map_err(write_err)?;
        len += n as u64;
    }
    Ok((len, hex(&hash.finalize())))
}

#[cfg(test)]
#[path = "slotread_tests.rs"]
mod tests;
