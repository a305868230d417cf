//! Staging a bundle into the inactive `/usr` slot: verify (signature,
//! sizes, sha256) before the disk is touched, disable the slot, write it,
//! read it back ([`crate::usrimage`]); then either give it one trial boot
//! at once (the bootloader UKI follows when the bundle carries another
//! one), or leave it disabled with a record on the ESP for
//! [`crate::activate`] (`--no-activate`: the update agent stages early and
//! reboots later).

use crate::activate;
use crate::bootloader::{stage_bootloader, SameBootloader};
use crate::source::BundleSource;
use crate::target::target_disk;
use crate::trust::Trust;
use crate::usrimage::{self, Loaded, VerifiedUsr};
use anyhow::{bail, Context, Result};
use metalos_contract::update::{BundleFile, StagedUpdate, UpdateManifest, BUNDLE_MANIFEST};
use metalos_disk::blockdev::Disk;
use metalos_disk::esp_partition::EspHandle;
use metalos_disk::gpt::{Gpt, Partition};
use metalos_disk::slots;
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
    let on = TargetDisk {
        disk: &disk,
        gpt: &gpt,
        booted: &booted,
        online: req.disk.is_none(),
    };
    // Signature first: nothing below writes for an unsigned or forged bundle.
    let checked = check_bundle(req.location, &src, on, req.trust)?;
    let manifest = checked.manifest;
    let target = inactive_slot(&gpt, &booted, manifest.usr.size)?;
    progress(&format!(
        "staging version {} into slot {} ({}); booted: slot {} ({})",
        manifest.version, target.number, target.name, booted.number, booted.name
    ));
    // 1. Verified bytes before the slot is touched.
    let staged = match checked.usr {
        Some(loaded) => loaded.verify(&manifest.usr)?,
        None => verified_usr_file(&src, &manifest.usr, req.disk, progress)?,
    };
    // 2. The slot is about to be overwritten: never bootable meanwhile,
    // and an earlier record of what it held is void.
    let esp = EspHandle::find(&disk, &gpt).context("the boot disk has no ESP")?;
    activate::forget(&esp)?;
    // Nothing else writes the ESP until step 4: whether its bootloader is
    // already the bundle's is found out meanwhile, while the slot is written.
    let same_bootloader =
        (manifest.bootloader.as_ref()).map(|bl| SameBootloader::spawn(esp.clone(), bl.clone()));
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
    let offset = target.first_lba * gpt.sector_size;
    let slot = format!("slot {}", target.number);
    usrimage::write_and_read_back(&dev, &disk.dev, offset, &staged, &manifest.usr, &slot)?;
    if let (true, VerifiedUsr::File(part)) = (src.is_remote(), &staged) {
        let _ = std::fs::remove_file(part);
    }
    // 4. The bootloader waits as BOOTX64.NEW when the bundle carries another.
    let mut record = StagedUpdate {
        version: manifest.version.clone(),
        slot: target.number,
        partition_guid: target.guid.to_string(),
        usr: manifest.usr.clone(),
        bootloader: None,
    };
    if let (Some(bl), Some(same)) = (&manifest.bootloader, same_bootloader) {
        if stage_bootloader(&esp, &src, bl, same.wait()?)? {
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

/// The disk being staged, as [`target_disk`] found it.
#[derive(Clone, Copy)]
struct TargetDisk<'a> {
    disk: &'a Disk,
    gpt: &'a Gpt,
    booted: &'a Partition,
    /// The running system's disk (its `/usr` is mounted).
    online: bool,
}

/// What is known once bundle.json's signature holds.
struct Checked {
    manifest: UpdateManifest,
    /// A local `/usr` image read and hashed meanwhile (not yet compared
    /// with the manifest); `None`: verify it by streaming.
    usr: Option<Loaded>,
}

/// Reads bundle.json and checks its signature with the key `trust`
/// chooses. Reading and hashing a local `/usr` image needs no key: it runs
/// meanwhile, and counts only once the signature holds.
fn check_bundle(
    location: &str,
    src: &BundleSource,
    on: TargetDisk<'_>,
    trust: TrustChoice,
) -> Result<Checked> {
    let bytes = src
        .read_small(BUNDLE_MANIFEST)
        .with_context(|| format!("reading the bundle at {location}"))?;
    let usr_path = local_usr_path(src, &bytes);
    std::thread::scope(|s| {
        let usr = s.spawn(|| usr_path.as_deref().and_then(usrimage::load));
        let trust = match trust {
            TrustChoice::DiskKey => Trust::of_disk(on.disk, on.gpt, on.booted, on.online)?,
            TrustChoice::Given(t) => t,
        };
        let manifest = trust
            .verify_manifest(src, bytes)
            .with_context(|| format!("reading the bundle at {location}"))?;
        let usr = usr.join().expect("loading does not panic");
        Ok(Checked { manifest, usr })
    })
}

/// The local path of the `/usr` image bundle.json (not yet verified)
/// names, for a bundle in a directory.
fn local_usr_path(src: &BundleSource, manifest: &[u8]) -> Option<PathBuf> {
    let BundleSource::Dir(dir) = src else {
        return None;
    };
    let text = std::str::from_utf8(manifest).ok()?;
    let m = UpdateManifest::parse(text).ok()?;
    Some(dir.join(m.usr.file))
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
fn verified_usr_file(
    src: &BundleSource,
    usr: &BundleFile,
    disk_arg: Option<&Path>,
    progress: &mut dyn FnMut(&str),
) -> Result<VerifiedUsr> {
    if let BundleSource::Dir(dir) = src {
        src.copy_verified(usr, &mut std::io::sink(), |_| {})?;
        return Ok(VerifiedUsr::File(dir.join(&usr.file)));
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
    Ok(VerifiedUsr::File(part))
}
