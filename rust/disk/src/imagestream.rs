//! A zstd-compressed disk image stream written onto a disk: what
//! metalimage does with the image blob it fetches, and what `metalos
//! netboot image-write` does on a running host with the same code. The old
//! tables are wiped, the blob is decompressed on the fly and written by
//! [`crate::imagewrite`] (tables held back), the compressed blob's sha256
//! is checked when known, and what was written is read back. The caller
//! may then change partitions and [`Staged::commit`]s.

use crate::imagewrite::{self, Expected, ImageWriteError, Staged};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read};
use std::time::{Duration, Instant};

/// Counts and hashes the compressed bytes as they pass (the blob's
/// content address is checked once the stream ends).
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The compressed image and what it must be.
pub struct Blob<R> {
    /// The zstd-compressed image stream (e.g. an HTTP body).
    pub reader: R,
    /// Lower-case hex sha256 of the compressed stream, when known (a
    /// content-addressed URL names it).
    pub sha256: Option<String>,
    /// The uncompressed image.
    pub image: Expected,
}

/// Result of [`write_zstd_image`], for messages and benchmarks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamStats {
    /// Compressed bytes received.
    pub compressed: u64,
    /// Bytes written to the disk (not counting zeroed ranges and the held
    /// table regions).
    pub written: u64,
    /// Bytes zeroed without being written.
    pub zeroed: u64,
    /// Time from the first byte to the synced end of the stream.
    pub write_time: Duration,
    /// Time spent reading back and checking what was written.
    pub verify_time: Duration,
}

/// Wipes `disk`'s tables, streams the zstd-compressed image of `blob` onto
/// it (`progress` gets the uncompressed bytes received so far), checks the
/// blob's sha256 when known, and reads back what was written. Returns the
/// staged image: the caller may write into its partitions, then commits.
pub fn write_zstd_image<R: Read + Send>(
    disk: &File,
    blob: Blob<R>,
    progress: &mut dyn FnMut(u64),
) -> Result<(Staged, StreamStats), ImageWriteError> {
    imagewrite::wipe_tables(disk)?;
    let start = Instant::now();
    let mut hashed = HashingReader {
        inner: blob.reader,
        hasher: Sha256::new(),
        bytes: 0,
    };
    let staged = {
        let mut decoder =
            zstd::stream::read::Decoder::new(&mut hashed).map_err(|error| ImageWriteError::Io {
                what: "starting the zstd decoder",
                error,
            })?;
        imagewrite::stream_image(disk, &mut decoder, &blob.image, progress)?
    };
    // Drain what the decoder did not need (a trailing frame end).
    io::copy(&mut hashed, &mut io::sink()).map_err(|error| ImageWriteError::Io {
        what: "reading the image stream",
        error,
    })?;
    if let Some(want) = blob.sha256 {
        let got = hex(&hashed.hasher.finalize());
        if got != want {
            return Err(ImageWriteError::BlobHashMismatch {
                expected: want,
                actual: got,
            });
        }
    }
    let write_time = start.elapsed();
    staged.verify(disk)?;
    let stats = StreamStats {
        compressed: hashed.bytes,
        written: staged.bytes_written,
        zeroed: staged.bytes_zeroed,
        write_time,
        verify_time: start.elapsed() - write_time,
    };
    Ok((staged, stats))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests;
