//! `metalos update stage`.

use super::source::BundleSource;
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use metalos_boot::{blockdev, slots, sys};
use metalos_disk::gpt::{Gpt, Partition};
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Where downloads are kept until verified (on ROOT, not in RAM).
const DOWNLOAD_DIR: &str = "/var/lib/metalos/update";

/// Fault injection for the power-loss tests: when `METALOS_FAULT_PAUSE`
/// names this point, say so on the console and stop here forever (the test
/// then kills the VM). Does nothing otherwise.
pub fn fault_point(name: &str) {
    if std::env::var("METALOS_FAULT_PAUSE").is_ok_and(|v| v == name) {
        let msg = format!("metalos-fault: paused at {name}\n");
        if let Ok(mut c) = std::fs::OpenOptions::new().write(true).open("/dev/console") {
            let _ = c.write_all(msg.as_bytes());
        }
        eprint!("{msg}");
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

/// The disk to update and its booted slot: the running system's (from the
/// kernel command line), or with `--disk` an image file or device whose
/// next-boot slot counts as booted (offline servicing).
pub fn target_disk(disk: Option<&Path>) -> Result<(blockdev::Disk, Gpt, Partition)> {
    let Some(path) = disk else {
        return blockdev::booted_slot(&sys::kernel_cmdline()).map_err(anyhow::Error::msg);
    };
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = blockdev::device_size(&file)?;
    let (gpt, _) =
        Gpt::read(&file, size).with_context(|| format!("reading the GPT of {}", path.display()))?;
    // choose_slot counts a try down: work on a copy.
    let (booted, _) = slots::choose_slot(&mut gpt.clone()).context("no bootable slot to keep")?;
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    Ok((
        blockdev::Disk {
            name,
            dev: path.to_path_buf(),
        },
        gpt,
        booted,
    ))
}

/// Runs `metalos update stage LOCATION [--disk DISK]`.
pub fn run(
    location: &str,
    disk: Option<&Path>,
    ca_cert: Option<&Path>,
    sig: &super::signature::SignatureArgs,
    progress: &Progress,
) -> Result<()> {
    let src = BundleSource::parse(location, ca_cert)?;
    let disk_arg = disk;
    let (disk, mut gpt, booted) = target_disk(disk)?;
    // The disk's own key decides (never the key of the host running this).
    let trust = sig.trust_for_disk(&disk, &gpt, &booted, disk_arg.is_none())?;
    // Signature first: nothing below writes for an unsigned or forged bundle.
    let manifest = src
        .manifest(&trust)
        .with_context(|| format!("reading the bundle at {location}"))?;
    let target = slots::usr_slots(&gpt)
        .into_iter()
        .find(|p| p.number != booted.number)
        .cloned()
        .context("the boot disk has no second /usr slot")?;
    let capacity = target.sectors() * gpt.sector_size;
    if manifest.usr.size > capacity {
        bail!(
            "the bundle's /usr image is {} bytes but slot {} ({}) holds only {capacity}; nothing was changed",
            manifest.usr.size,
            target.number,
            target.name
        );
    }
    progress.step(&format!(
        "staging version {} into slot {} ({}); booted: slot {} ({})",
        manifest.version, target.number, target.name, booted.number, booted.name
    ));

    // 1. Get verified bytes before touching the slot.
    let staged = match &src {
        BundleSource::Dir(dir) => {
            src.copy_verified(&manifest.usr, &mut std::io::sink(), |_| {})?;
            dir.join(&manifest.usr.file)
        }
        BundleSource::Url { .. } => {
            // Offline (--disk): next to the image; on a host: on ROOT.
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
            let mut out = std::fs::File::create(&part)
                .with_context(|| format!("creating {}", part.display()))?;
            progress.step(&format!(
                "downloading {} ({} bytes)",
                manifest.usr.file, manifest.usr.size
            ));
            if let Err(e) = src.copy_verified(&manifest.usr, &mut out, |_| {}) {
                let _ = std::fs::remove_file(&part);
                return Err(e.context("download failed; nothing was changed"));
            }
            out.sync_all()?;
            part
        }
    };

    // 2. The slot is about to be overwritten: never leave it bootable meanwhile.
    let dev = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk.dev)?;
    slots::disable(&mut gpt, target.number);
    slots::write_synced(&gpt, &dev).context("disabling the target slot")?;

    // 3. Write, sync, read back (through the whole disk, at the slot's offset).
    let offset = target.first_lba * gpt.sector_size;
    progress.step(&format!(
        "writing {} bytes to slot {} of {}",
        manifest.usr.size,
        target.number,
        disk.dev.display()
    ));
    write_slot(&staged, &dev, offset, manifest.usr.size)?;
    let back = hash_range(&dev, offset, manifest.usr.size)?;
    if back != manifest.usr.sha256 {
        bail!(
            "read-back of slot {} gives sha256 {back}, expected {}; the slot stays disabled",
            target.number,
            manifest.usr.sha256
        );
    }
    if src.is_remote() {
        let _ = std::fs::remove_file(&staged);
    }

    // 4. One trial boot at the highest priority (backup table, then primary).
    fault_point("before-table");
    slots::stage_for_trial(&mut gpt, target.number);
    slots::write_synced_with(&gpt, &dev, || fault_point("between-headers"))
        .context("updating the slot table")?;
    progress.step(&format!(
        "slot {} ({}) boots next, once: {}",
        target.number,
        target.name,
        slots::describe(&gpt)
    ));

    // 5. The bootloader, when the bundle carries a different one.
    if let Some(bl) = &manifest.bootloader {
        if super::esp::update_bootloader(&disk, &gpt, &src, bl)? {
            progress.step("bootloader updated (previous kept as EFI/BOOT/BOOTX64.PRV)");
        }
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

fn hash_range(dev: &std::fs::File, offset: u64, size: u64) -> Result<String> {
    // Drop cached pages so the read really comes from the disk.
    // SAFETY: advisory call on an owned descriptor.
    unsafe {
        libc::posix_fadvise(
            std::os::fd::AsRawFd::as_raw_fd(dev),
            0,
            0,
            libc::POSIX_FADV_DONTNEED,
        )
    };
    let mut f = dev;
    f.seek(SeekFrom::Start(offset))?;
    let mut hasher = Sha256::new();
    let mut r = f.take(size);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
