//! Staging a bundle into the inactive `/usr` slot: verify (signature,
//! sizes, sha256) before the disk is touched, disable the slot, write it,
//! read it back; then either give it one trial boot at once (the bootloader
//! UKI follows when the bundle carries another one), or leave it disabled
//! with a record on the ESP for [`crate::activate`] (`--no-activate`: the
//! update agent stages early and reboots later).

use crate::activate;
use crate::fault::fault_point;
use crate::source::BundleSource;
use crate::target::{hash_range, target_disk};
use crate::trust::Trust;
use anyhow::{bail, Context, Result};
use metalos_contract::update::{BundleFile, StagedUpdate};
use metalos_disk::esp_partition::EspHandle;
use metalos_disk::gpt::{Gpt, Partition};
use metalos_disk::slots;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Where downloads are kept until verified (on ROOT, not in RAM).
const DOWNLOAD_DIR: &str = "/var/lib/metalos/update";

/// Which key a bundle must be signed with.
pub enum TrustChoice {
    /// The target disk's own key ([`Trust::of_disk`]).
    DiskKey,
    /// This one, decided by the caller ([`Trust::from_pubkey`], [`Trust::skip`]).
    Given(Trust),
}

/// What to stage where.
pub struct StageRequest<'a> {
    /// The bundle: a directory, its bundle.json, or an http(s) URL.
    pub location: &'a str,
    /// An image file or device to update offline; `None`: the running system.
    pub disk: Option<&'a Path>,
    /// For https: trust only this CA (PEM).
    pub ca_cert: Option<&'a Path>,
    /// Whose key the bundle must be signed with.
    pub trust: TrustChoice,
    /// Make the slot the next boot (one trial) now; `false`: leave it
    /// disabled until [`crate::activate::activate`].
    pub activate: bool,
}

/// Stages `req`, reporting each step to `progress`. Returns what the slot
/// now holds.
pub fn stage(req: StageRequest<'_>, progress: &mut dyn FnMut(&str)) -> Result<StagedUpdate> {
    let src = BundleSource::parse(req.location, req.ca_cert)?;
    let (disk, mut gpt, booted) = target_disk(req.disk)?;
    // The disk's own key decides (never the key of the host running this).
    let trust = match req.trust {
        TrustChoice::DiskKey => Trust::of_disk(&disk, &gpt, &booted, req.disk.is_none())?,
        TrustChoice::Given(t) => t,
    };
    // Signature first: nothing below writes for an unsigned or forged bundle.
    let manifest = trust
        .read_manifest(&src)
        .with_context(|| format!("reading the bundle at {}", req.location))?;
    let target = inactive_slot(&gpt, &booted, manifest.usr.size)?;
    progress(&format!(
        "staging version {} into slot {} ({}); booted: slot {} ({})",
        manifest.version, target.number, target.name, booted.number, booted.name
    ));
    // 1. Verified bytes before the slot is touched.
    let staged = verified_usr_image(&src, &manifest.usr, req.disk, progress)?;
    // 2. The slot is about to be overwritten: never bootable meanwhile,
    // and an earlier record of what it held is void.
    let esp = EspHandle::find(&disk, &gpt).context("the boot disk has no ESP")?;
    activate::forget(&esp)?;
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk.dev)?;
    slots::disable(&mut gpt, target.number);
    slots::write_synced(&gpt, &dev).context("disabling the target slot")?;
    // 3. Write, sync, read back.
    progress(&format!(
        "writing {} bytes to slot {} of {}",
        manifest.usr.size,
        target.number,
        disk.dev.display()
    ));
    write_and_read_back(&dev, &gpt, &target, &staged, &manifest.usr)?;
    if src.is_remote() {
        let _ = std::fs::remove_file(&staged);
    }
    // 4. The bootloader waits as BOOTX64.NEW when the bundle carries another.
    let mut record = StagedUpdate {
        version: manifest.version.clone(),
        slot: target.number,
        partition_guid: target.guid.to_string(),
        usr: manifest.usr.clone(),
        bootloader: None,
    };
    if let Some(bl) = &manifest.bootloader {
        if crate::bootloader::stage_bootloader(&esp, &src, bl)? {
            record.bootloader = Some(bl.clone());
        }
    }
    // 5. One trial boot now, or a record for `activate`.
    if req.activate {
        activate::make_next_boot(&dev, &mut gpt, &esp, &record, progress)?;
    } else {
        activate::remember(&esp, &record)?;
        progress(&format!(
            "slot {} ({}) holds version {} (verified) but stays disabled until `metalos update activate`",
            target.number, target.name, record.version
        ));
    }
    Ok(record)
}

/// The `/usr` slot that is not `booted`, checked to hold `size` bytes.
fn inactive_slot(gpt: &Gpt, booted: &Partition, size: u64) -> Result<Partition> {
    let target = slots::usr_slots(gpt)
        .into_iter()
        .find(|p| p.number != booted.number)
        .cloned()
        .context("the boot disk has no second /usr slot")?;
    let capacity = target.sectors() * gpt.sector_size;
    if size > capacity {
        bail!(
            "the bundle's /usr image is {size} bytes but slot {} ({}) holds only {capacity}; nothing was changed",
            target.number,
            target.name
        );
    }
    Ok(target)
}

/// A local file holding the verified `/usr` image: the bundle's own file
/// for a directory, a download for a URL (next to the image offline, on
/// ROOT on a host).
fn verified_usr_image(
    src: &BundleSource,
    usr: &BundleFile,
    disk_arg: Option<&Path>,
    progress: &mut dyn FnMut(&str),
) -> Result<PathBuf> {
    if let BundleSource::Dir(dir) = src {
        src.copy_verified(usr, &mut std::io::sink(), |_| {})?;
        return Ok(dir.join(&usr.file));
    }
    let dir = match disk_arg {
        Some(d) => d
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf(),
        None => Path::new(DOWNLOAD_DIR).to_path_buf(),
    };
    std::fs::create_dir_all(&dir)?;
    let part = dir.join(".metalos-usr.img.part");
    let mut out =
        std::fs::File::create(&part).with_context(|| format!("creating {}", part.display()))?;
    progress(&format!("downloading {} ({} bytes)", usr.file, usr.size));
    if let Err(e) = src.copy_verified(usr, &mut out, |_| {}) {
        let _ = std::fs::remove_file(&part);
        return Err(e.context("download failed; nothing was changed"));
    }
    out.sync_all()?;
    Ok(part)
}

/// Writes `staged` into `target` (through the whole disk, at the slot's
/// offset), syncs, and reads it back against the manifest's sha256.
fn write_and_read_back(
    dev: &std::fs::File,
    gpt: &Gpt,
    target: &Partition,
    staged: &Path,
    usr: &BundleFile,
) -> Result<()> {
    let offset = target.first_lba * gpt.sector_size;
    write_slot(staged, dev, offset, usr.size)?;
    let back = hash_range(dev, offset, usr.size)?;
    if back != usr.sha256 {
        bail!(
            "read-back of slot {} gives sha256 {back}, expected {}; the slot stays disabled",
            target.number,
            usr.sha256
        );
    }
    Ok(())
}

fn write_slot(src: &Path, out: &std::fs::File, offset: u64, size: u64) -> Result<()> {
    let mut input = std::fs::File::open(src)?;
    let mut out = out;
    out.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    let mut paused = false;
    while done < size {
        let n = input.read(&mut buf)?;
        if n == 0 {
            bail!("{} ended early", src.display());
        }
        out.write_all(&buf[..n])?;
        done += n as u64;
        if !paused && done >= size / 2 {
            paused = true;
            out.sync_all()?;
            fault_point("mid-write");
        }
    }
    out.sync_all()?;
    Ok(())
}
