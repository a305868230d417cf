//! The streaming image write with progress on the console: zstd
//! decompressed on the fly, the blob's sha256 checked, everything read
//! back. The byte-level write (tables last, verification) is
//! [`metalos_disk::imagewrite`].

use crate::sys;
use anyhow::{bail, Context, Result};
use metalos_contract::cmdline::ImagingArgs;
use metalos_disk::imagewrite::{self, Expected, Staged};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::time::{Duration, Instant};

/// Counts and hashes the compressed bytes as they pass (the blob's
/// content address is checked once the stream ends).
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Result of [`write_image`], for the console and the log.
#[derive(Debug)]
pub struct WriteStats {
    /// Compressed bytes received.
    pub compressed: u64,
    /// Time from the first byte to the verified end of the stream.
    pub elapsed: Duration,
}

/// Wipes `disk`'s tables, streams the zstd-compressed image from `src`
/// onto it (decompressing on the fly, progress on the console), checks the
/// blob's sha256 when known, and reads everything back. Returns the staged
/// image: the caller writes the HostConfig and then commits.
pub fn write_image(
    prog: &str,
    disk: &File,
    src: impl Read,
    params: &ImagingArgs,
) -> Result<(Staged, WriteStats)> {
    imagewrite::wipe_tables(disk).context("wiping the old partition tables")?;
    let start = Instant::now();
    let mut hashed = HashingReader {
        inner: src,
        hasher: Sha256::new(),
        bytes: 0,
    };
    let expected = Expected {
        size: params.image_size,
        sha256: params.image_sha256.clone(),
    };
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
    let staged = {
        let mut decoder =
            zstd::stream::read::Decoder::new(&mut hashed).context("starting the zstd decoder")?;
        imagewrite::stream_image(disk, &mut decoder, &expected, &mut progress)
            .with_context(|| format!("writing {}", params.image_url))?
    };
    // Drain what the decoder did not need (a trailing frame end).
    std::io::copy(&mut hashed, &mut std::io::sink()).context("reading the image stream")?;
    if let Some(want) = params.blob_sha256() {
        let got: String = hashed
            .hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if got != want {
            bail!("sha256 mismatch: {} is {got}", params.image_url);
        }
    }
    sys::say(prog, "imaging: reading the image back to verify it");
    staged.verify(disk).context("verifying the written image")?;
    Ok((
        staged,
        WriteStats {
            compressed: hashed.bytes,
            elapsed: start.elapsed(),
        },
    ))
}
