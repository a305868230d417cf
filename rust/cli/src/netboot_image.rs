//! `metalos netboot image-write`: metalimage's write path
//! ([`metalos_disk::imagestream`]) on a running host, against a block
//! device or a disk-sized file: fetch the blob over HTTP(S), decompress,
//! write with the tables held back, check, read back, commit the tables.
//! For installing from a netboot server and for benchmarking
//! (bench/imaging.sh) the code metalimage runs.

use crate::progress::Progress;
use anyhow::{bail, Context, Result};
use clap::Args;
use metalos_disk::imagestream::{self, Blob};
use metalos_disk::{blockdev, device, imagewrite::Expected};
use metalos_net::http::{HttpClient, HttpOptions};
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `metalos netboot image-write`.
#[derive(Args)]
pub struct ImageWriteArgs {
    /// The image blob's URL (`<bundle>/blobs/sha256/<hex>`: the compressed
    /// blob's sha256 is checked against it).
    url: String,
    /// Block device or existing file to image; at least the image's size
    /// (create a file with `truncate -s SIZE`). Everything on it is lost.
    #[arg(long, value_name = "DEVICE|FILE")]
    target: PathBuf,
    /// Uncompressed image size in bytes (the bundle manifest's `image.size`).
    #[arg(long, value_name = "BYTES")]
    size: u64,
    /// sha256 of the uncompressed image (the bundle manifest's `image.sha256`).
    #[arg(long, value_name = "HEX")]
    sha256: String,
}

/// Runs `metalos netboot image-write`.
pub fn run(a: ImageWriteArgs, progress: &Progress) -> Result<()> {
    let sha256 = a.sha256.to_ascii_lowercase();
    if !metalos_contract::is_sha256_hex(&sha256) {
        bail!("--sha256 {}: not a sha256 (64 hex digits)", a.sha256);
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&a.target)
        .with_context(|| {
            format!(
                "opening {} (a block device, or a file created at the image's size)",
                a.target.display()
            )
        })?;
    let client = HttpClient::new(HttpOptions {
        system_resolver: true,
        ..Default::default()
    })?;
    let start = Instant::now();
    let (_, body) = client
        .get_reader(&a.url)
        .with_context(|| format!("fetching {}", a.url))?;
    let blob = Blob {
        reader: body,
        sha256: a
            .url
            .rsplit_once("/sha256/")
            .map(|(_, h)| h.to_ascii_lowercase())
            .filter(|h| metalos_contract::is_sha256_hex(h)),
        image: Expected {
            size: a.size,
            sha256,
        },
    };
    let (staged, stats) = imagestream::write_zstd_image(&file, blob, &mut |_| {})
        .with_context(|| format!("imaging {} from {}", a.target.display(), a.url))?;
    staged
        .commit(&file)
        .with_context(|| format!("writing the partition tables of {}", a.target.display()))?;
    if device::is_block_device(&file)? {
        // The image is written and checked either way; a device that cannot
        // rescan (a loop device without partscan) only lacks partition nodes.
        if let Err(e) = blockdev::reread_partitions(&file) {
            eprintln!(
                "warning: the kernel did not re-read the partition table of {} ({e}); \
                 run partprobe before using its partitions",
                a.target.display()
            );
        }
    }
    let secs = start.elapsed().as_secs_f64().max(0.001);
    progress.step(&format!(
        "imaged {} in {secs:.2} s ({:.1} MiB/s): {} MiB received, {} MiB written, {} MiB zeroed, \
         read back in {:.2} s",
        a.target.display(),
        a.size as f64 / secs / 1048576.0,
        stats.compressed >> 20,
        stats.written >> 20,
        stats.zeroed >> 20,
        stats.verify_time.as_secs_f64()
    ));
    Ok(())
}
