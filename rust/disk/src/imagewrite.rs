//! Writing a disk image stream onto a disk so that no interruption leaves
//! a disk that firmware would boot half-written (what metalimage does).
//!
//! 1. [`wipe_tables`]: the first and last [`TABLE_REGION`] bytes of the
//!    disk are zeroed and synced, destroying both old GPT copies.
//! 2. [`stream_image`]: the image's first and last [`TABLE_REGION`] bytes
//!    (MBR and both GPT copies) are held in memory; all-zero blocks are
//!    zeroed on the disk without being written
//!    ([`crate::device::zero_range`]); everything else is written, each
//!    written extent hashed on its own. Reading the stream, writing and
//!    hashing the whole stream run in three threads ([`pipeline`]). The
//!    stream's length and sha256 must match what the caller expected; one
//!    fsync at the end (writeback starts as data is written).
//! 3. [`Staged::verify`]: every written extent is read back from the medium
//!    and must have the hash it had when written. Zeroed ranges are not
//!    read back: the kernel zeroed them (BLKZEROOUT, a punched hole) and
//!    said so; nothing was written there to check.
//! 4. The caller may now change partitions (e.g. write the HostConfig onto
//!    the ESP), locating them with [`Staged::table`].
//! 5. [`Staged::commit`]: the backup table region, a sync, the primary
//!    region, a sync, and both read back. Only now is the disk bootable.
//!
//! * [`body`] — the body between the tables: zero runs versus written extents;
//! * [`pipeline`] — the reader, writer and hasher threads;
//! * [`staged`] — the written image before its tables are committed.

mod body;
mod pipeline;
mod staged;

pub use staged::Staged;

use crate::device;
use body::Receiver;
use std::fs::File;
use std::io::{self, Read};

/// Bytes at each end of the image (and of the disk) that hold partition
/// tables: written last, wiped first. Partitions start at 1 MiB or later
/// in MetalOS images, so the head holds only the MBR, the GPT and padding.
pub const TABLE_REGION: u64 = 1 << 20;
/// Granularity of zero detection.
const ZERO_BLOCK: usize = 64 << 10;
/// Buffer size for reading the stream and reading back.
const CHUNK: usize = 4 << 20;

/// Why writing an image failed. Every variant leaves the disk without a
/// valid partition table.
#[derive(Debug, thiserror::Error)]
pub enum ImageWriteError {
    /// The image does not fit.
    #[error("the image ({image} bytes) is larger than the disk ({disk} bytes)")]
    TooSmall {
        /// Image size.
        image: u64,
        /// Disk size.
        disk: u64,
    },
    /// The image is too small to be a GPT disk image.
    #[error("an image of {0} bytes is too small (at least 2 MiB)")]
    ImageTooSmall(u64),
    /// The stream does not start with a GPT.
    #[error("the image has no GPT header at LBA 1 (512- or 4096-byte sectors): not a disk image")]
    NotAnImage,
    /// Logical sector sizes differ.
    #[error("the image has {image}-byte sectors but the disk has {disk}-byte logical sectors")]
    SectorSize {
        /// The image's.
        image: u32,
        /// The disk's.
        disk: u32,
    },
    /// The stream ended early.
    #[error("the image stream ended after {got} of {expected} bytes (truncated)")]
    Truncated {
        /// Bytes received.
        got: u64,
        /// Bytes expected.
        expected: u64,
    },
    /// The stream is longer than announced.
    #[error("the image stream is longer than the expected {expected} bytes")]
    TooLong {
        /// Bytes expected.
        expected: u64,
    },
    /// The stream's sha256 differs.
    #[error("sha256 mismatch: the image is {actual}, expected {expected}")]
    HashMismatch {
        /// Expected hex digest.
        expected: String,
        /// Actual hex digest.
        actual: String,
    },
    /// The compressed stream's sha256 differs from its content address.
    #[error("sha256 mismatch: the compressed image is {actual}, expected {expected}")]
    BlobHashMismatch {
        /// Expected hex digest (from the URL).
        expected: String,
        /// Actual hex digest.
        actual: String,
    },
    /// What the disk holds differs from what was written.
    #[error(
        "read-back verification failed: bytes {offset}..{end} on the disk hash to {actual}, \
         {expected} was written",
        end = offset + len
    )]
    ReadBack {
        /// First byte of the range read back.
        offset: u64,
        /// Its length.
        len: u64,
        /// Hex digest of what was written.
        expected: String,
        /// Hex digest of what was read.
        actual: String,
    },
    /// The held partition tables do not parse.
    #[error("the image's partition table is invalid: {0}")]
    Table(String),
    /// I/O on the disk or the stream (the error's text is part of the
    /// message, not a separate cause, so it is printed once).
    #[error("{what}: {error}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        error: io::Error,
    },
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> ImageWriteError {
    move |error| ImageWriteError::Io { what, error }
}

type Result<T> = std::result::Result<T, ImageWriteError>;

/// The image the caller expects (from a signed or trusted manifest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Uncompressed size in bytes.
    pub size: u64,
    /// Lower-case hex sha256 of the uncompressed image.
    pub sha256: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Zeroes the first and last [`TABLE_REGION`] bytes of `disk` and syncs:
/// afterwards no GPT copy (nor the protective MBR) remains.
pub fn wipe_tables(disk: &File) -> Result<()> {
    let size = device::size(disk).map_err(io_err("reading the disk size"))?;
    let region = TABLE_REGION.min(size);
    device::zero_range(disk, 0, region).map_err(io_err("wiping the primary GPT"))?;
    device::zero_range(disk, size - region, region).map_err(io_err("wiping the backup GPT"))?;
    disk.sync_all().map_err(io_err("syncing the disk"))
}

/// Streams the uncompressed image from `src` onto `disk` (steps 2 and the
/// stream checks of the module docs). Call [`wipe_tables`] first.
/// `progress` gets the bytes received so far after every chunk.
pub fn stream_image(
    disk: &File,
    src: &mut (dyn Read + Send),
    expected: &Expected,
    progress: &mut dyn FnMut(u64),
) -> Result<Staged> {
    let disk_sector = check_disk(disk, expected.size)?;
    let mut rx = Receiver::new(disk, expected.size);
    let digest = pipeline::run(src, &mut |data| {
        rx.take(data)?;
        rx.check_sector_size(disk_sector)?;
        progress(rx.pos());
        Ok(())
    })?;
    rx.finish(expected, &hex(&digest))
}

/// Checks that an image of `size` bytes can go onto `disk`; returns the
/// disk's logical sector size.
fn check_disk(disk: &File, size: u64) -> Result<u32> {
    if size < 2 * TABLE_REGION {
        return Err(ImageWriteError::ImageTooSmall(size));
    }
    let disk_size = device::size(disk).map_err(io_err("reading the disk size"))?;
    if size > disk_size {
        return Err(ImageWriteError::TooSmall {
            image: size,
            disk: disk_size,
        });
    }
    device::logical_sector_size(disk).map_err(io_err("reading the sector size"))
}

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
mod tests_readback;
