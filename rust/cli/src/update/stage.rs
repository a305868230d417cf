//! `metalos update stage`.

use super::source::BundleSource;
use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use metalos_boot::{blockdev, slots, sys};
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

/// Runs `metalos update stage LOCATION`.
pub fn run(location: &str, progress: &Progress) -> Result<()> {
    let src = BundleSource::parse(location)?;
    let manifest = src
        .manifest()
        .with_context(|| format!("reading the bundle at {location}"))?;
    let cmdline = sys::kernel_cmdline();
    let (disk, mut gpt, booted) = blockdev::booted_slot(&cmdline).map_err(anyhow::Error::msg)?;
    let target = slots::usr_slots(&gpt)
        .into_iter()
        .find(|p| p.number != booted.number)
        .cloned()
        .context("the boot disk has no second /usr slot")?;
    let capacity = target.sectors() * gpt.sector_size;
    if manifest.usr.size > capacity {
        bail!(
            "the bundle's /usr image is {} bytes but slot {} ({}) holds only {capacity}; nothing was changed",
            manifest.usr.size, target.number, target.name
        );
    }
    progress.step(&format!(
        "staging version {} into slot {} ({}); booted: slot {} ({})",
        manifest.version, target.number, target.name, booted.number, booted.name
    ));

    // 1. Get verified bytes before touching the slot.
    let staged = match &src {
        BundleSource::Dir(dir) => {
            let path = dir.join(&manifest.usr.file);
            src.copy_verified(&manifest.usr, &mut std::io::sink(), |_| {})?;
            path
        }
        BundleSource::Http { .. } => {
            std::fs::create_dir_all(DOWNLOAD_DIR)?;
            let part = Path::new(DOWNLOAD_DIR).join("usr.img.part");
            let mut out = std::fs::File::create(&part)
                .with_context(|| format!("creating {}", part.display()))?;
            progress.step(&format!(
                "downloading {} ({} bytes)",
                manifest.usr.file, manifest.usr.size
            ));
            let result = src.copy_verified(&manifest.usr, &mut out, |_| {});
            if let Err(e) = result {
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

    // 3. Write, sync, read back.
    let part_dev = blockdev::partition_dev(&disk, target.number)
        .context("no device node for the target slot")?;
    progress.step(&format!(
        "writing {} bytes to {}",
        manifest.usr.size,
        part_dev.display()
    ));
    write_slot(&staged, &part_dev, manifest.usr.size)?;
    let back = hash_prefix(&part_dev, manifest.usr.size)?;
    if back != manifest.usr.sha256 {
        bail!(
            "read-back of slot {} gives sha256 {back}, expected {}; the slot stays disabled",
            target.number,
            manifest.usr.sha256
        );
    }
    if matches!(src, BundleSource::Http { .. }) {
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

fn write_slot(src: &Path, dev: &Path, size: u64) -> Result<()> {
    let mut input = std::fs::File::open(src)?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .open(dev)
        .with_context(|| format!("opening {}", dev.display()))?;
    out.seek(SeekFrom::Start(0))?;
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

fn hash_prefix(dev: &Path, size: u64) -> Result<String> {
    // Drop cached pages so the read really comes from the disk.
    let f = std::fs::File::open(dev)?;
    // SAFETY: advisory call on an owned descriptor.
    unsafe {
        libc::posix_fadvise(
            std::os::fd::AsRawFd::as_raw_fd(&f),
            0,
            0,
            libc::POSIX_FADV_DONTNEED,
        )
    };
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
