//! The streaming image write with progress on the console. The write
//! itself (zstd decompressed on the fly, the blob's sha256 checked, tables
//! last, what was written read back) is [`metalos_disk::imagestream`],
//! which `metalos netboot image-write` runs on a host too.

use crate::sys;
use anyhow::{Context, Result};
use metalos_contract::cmdline::ImagingArgs;
use metalos_disk::imagestream::{self, Blob, StreamStats};
use metalos_disk::imagewrite::{Expected, Staged};
use std::fs::File;
use std::io::Read;
use std::time::{Duration, Instant};

/// Wipes `disk`'s tables, streams the zstd-compressed image from `src`
/// onto it (progress on the console), checks the blob's sha256 when known,
/// and reads back what was written. Returns the staged image: the caller
/// writes the HostConfig and then commits.
pub fn write_image(
    prog: &str,
    disk: &File,
    src: impl Read + Send,
    params: &ImagingArgs,
) -> Result<(Staged, StreamStats)> {
    let start = Instant::now();
    let total = params.image_size;
    let mut last = Instant::now();
    let mut progress = |pos: u64| {
        if last.elapsed() >= Duration::from_secs(5) || pos == total {
            last = Instant::now();
            let secs = start.elapsed().as_secs_f64().max(0.001);
            sys::say(
                prog,
                &format!(
                    "imaging: {} of {} MiB ({:.0}%), {:.1} MiB/s",
                    pos >> 20,
                    total >> 20,
                    pos as f64 * 100.0 / total.max(1) as f64,
                    pos as f64 / secs / 1048576.0
                ),
            );
        }
    };
    let blob = Blob {
        reader: src,
        sha256: params.blob_sha256().map(String::from),
        image: Expected {
            size: params.image_size,
            sha256: params.image_sha256.clone(),
        },
    };
    let (staged, stats) = imagestream::write_zstd_image(disk, blob, &mut progress)
        .with_context(|| format!("imaging from {}", params.image_url))?;
    sys::say(
        prog,
        &format!(
            "imaging: {} MiB written, {} MiB zeroed, read back in {:.1} s",
            stats.written >> 20,
            stats.zeroed >> 20,
            stats.verify_time.as_secs_f64()
        ),
    );
    Ok((staged, stats))
}
