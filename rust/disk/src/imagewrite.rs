//! Writing a disk image stream onto a disk so that no interruption leaves
//! a disk that firmware would boot half-written (what metalimage does).
//!
//! 1. [`wipe_tables`]: the first and last [`TABLE_REGION`] bytes of the
//!    disk are zeroed and synced, destroying both old GPT copies.
//! 2. [`stream_image`]: the stream is hashed as it arrives; the image's
//!    first and last [`TABLE_REGION`] bytes (MBR and both GPT copies) are
//!    held in memory; all-zero blocks are zeroed on the disk without being
//!    written ([`crate::device::zero_range`]); everything else is written.
//!    Its length and sha256 must match what the caller expected.
//! 3. [`Staged::verify`]: what was written is read back from the medium and
//!    hashed together with the held regions: it must give the same sha256.
//! 4. The caller may now change partitions (e.g. write the HostConfig onto
//!    the ESP), locating them with [`Staged::table`].
//! 5. [`Staged::commit`]: the backup table region, a sync, the primary
//!    region, a sync, and both read back. Only now is the disk bootable.

use crate::device;
use crate::gpt::Gpt;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::FromRawFd;
use std::os::unix::fs::FileExt;

/// Bytes at each end of the image (and of the disk) that hold partition
/// tables: written last, wiped first. Partitions start at 1 MiB or later
/// in MetalOS images, so the head holds only the MBR, the GPT and padding.
pub const TABLE_REGION: u64 = 1 << 20;
/// Granularity of zero detection.
const ZERO_BLOCK: usize = 64 << 10;
/// Read buffer.
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
    #[error("read-back verification failed: the disk holds {actual}, expected {expected}")]
    ReadBack {
        /// Expected hex digest.
        expected: String,
        /// Digest of what was read.
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

/// An image written and checked, whose partition tables are still held in
/// memory: the disk has no valid GPT until [`Staged::commit`].
#[derive(Debug)]
pub struct Staged {
    head: Vec<u8>,
    tail: Vec<u8>,
    size: u64,
    sha256: String,
    sector_size: u32,
    /// Bytes written to the disk (not counting zeroed ranges and held regions).
    pub bytes_written: u64,
    /// Bytes zeroed without being written.
    pub bytes_zeroed: u64,
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

/// The sector size whose LBA 1 holds a GPT header in `head`.
fn image_sector_size(head: &[u8]) -> Option<u32> {
    [512u32, 4096]
        .into_iter()
        .find(|ss| head.get(*ss as usize..*ss as usize + 8) == Some(b"EFI PART".as_slice()))
}

/// Fills `buf` from `src` unless the stream ends; returns the bytes read.
fn fill(src: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Writes body bytes at `offset`: zero blocks become zeroed ranges.
struct BodyWriter<'a> {
    disk: &'a File,
    zero_start: Option<u64>,
    zero_end: u64,
    written: u64,
    zeroed: u64,
}

impl BodyWriter<'_> {
    fn flush_zeros(&mut self) -> Result<()> {
        if let Some(start) = self.zero_start.take() {
            let len = self.zero_end - start;
            device::zero_range(self.disk, start, len).map_err(io_err("zeroing a range"))?;
            self.zeroed += len;
        }
        Ok(())
    }

    fn write(&mut self, data: &[u8], offset: u64) -> Result<()> {
        let mut pos = 0;
        while pos < data.len() {
            let end = (pos + ZERO_BLOCK).min(data.len());
            let block = &data[pos..end];
            let at = offset + pos as u64;
            if block.iter().all(|b| *b == 0) {
                if self.zero_start.is_none() {
                    self.zero_start = Some(at);
                }
                self.zero_end = at + block.len() as u64;
                pos = end;
                continue;
            }
            self.flush_zeros()?;
            // Coalesce the following non-zero blocks into one write.
            let mut stop = end;
            while stop < data.len() {
                let next = (stop + ZERO_BLOCK).min(data.len());
                if data[stop..next].iter().all(|b| *b == 0) {
                    break;
                }
                stop = next;
            }
            self.disk
                .write_all_at(&data[pos..stop], at)
                .map_err(io_err("writing the image"))?;
            self.written += (stop - pos) as u64;
            pos = stop;
        }
        Ok(())
    }
}

/// Streams the uncompressed image from `src` onto `disk` (steps 2 and the
/// stream checks of the module docs). Call [`wipe_tables`] first.
/// `progress` gets the bytes received so far after every chunk.
pub fn stream_image(
    disk: &File,
    src: &mut dyn Read,
    expected: &Expected,
    progress: &mut dyn FnMut(u64),
) -> Result<Staged> {
    let disk_sector = check_disk(disk, expected.size)?;
    let mut rx = Receiver::new(disk, expected.size);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = fill(src, &mut buf).map_err(io_err("reading the image stream"))?;
        if n == 0 {
            break;
        }
        rx.take(&buf[..n])?;
        rx.check_sector_size(disk_sector)?;
        progress(rx.pos);
    }
    rx.finish(expected)
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

/// What [`stream_image`] has received so far: the held table regions, the
/// running hash and the body writer.
struct Receiver<'a> {
    size: u64,
    tail_at: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
    hasher: Sha256,
    body: BodyWriter<'a>,
    sector_size: Option<u32>,
    pos: u64,
}

impl<'a> Receiver<'a> {
    fn new(disk: &'a File, size: u64) -> Self {
        Receiver {
            size,
            tail_at: size - TABLE_REGION,
            head: Vec::with_capacity(TABLE_REGION as usize),
            tail: Vec::with_capacity(TABLE_REGION as usize),
            hasher: Sha256::new(),
            body: BodyWriter {
                disk,
                zero_start: None,
                zero_end: 0,
                written: 0,
                zeroed: 0,
            },
            sector_size: None,
            pos: 0,
        }
    }

    /// Hashes the next `data` of the stream and holds or writes each part:
    /// the head and tail regions are held, the body is written.
    fn take(&mut self, data: &[u8]) -> Result<()> {
        let n = data.len();
        if self.pos + n as u64 > self.size {
            return Err(ImageWriteError::TooLong {
                expected: self.size,
            });
        }
        self.hasher.update(data);
        let mut off = 0usize;
        while off < n {
            let abs = self.pos + off as u64;
            let (len, dest) = if abs < TABLE_REGION {
                ((TABLE_REGION - abs) as usize, Some(&mut self.head))
            } else if abs >= self.tail_at {
                (n - off, Some(&mut self.tail))
            } else {
                ((self.tail_at - abs) as usize, None)
            };
            let len = len.min(n - off);
            match dest {
                Some(held) => held.extend_from_slice(&data[off..off + len]),
                None => self.body.write(&data[off..off + len], abs)?,
            }
            off += len;
        }
        self.pos += n as u64;
        Ok(())
    }

    /// Once the head holds LBA 1 of either sector size, finds the image's
    /// sector size; it must be the disk's.
    fn check_sector_size(&mut self, disk_sector: u32) -> Result<()> {
        if self.sector_size.is_none() && self.head.len() >= 4096 + 8 {
            let ss = image_sector_size(&self.head).ok_or(ImageWriteError::NotAnImage)?;
            if ss != disk_sector {
                return Err(ImageWriteError::SectorSize {
                    image: ss,
                    disk: disk_sector,
                });
            }
            self.sector_size = Some(ss);
        }
        Ok(())
    }

    /// After the stream's end: checks its length and sha256, syncs the disk.
    fn finish(mut self, expected: &Expected) -> Result<Staged> {
        self.body.flush_zeros()?;
        if self.pos < self.size {
            return Err(ImageWriteError::Truncated {
                got: self.pos,
                expected: self.size,
            });
        }
        let actual = hex(&self.hasher.finalize());
        if actual != expected.sha256 {
            return Err(ImageWriteError::HashMismatch {
                expected: expected.sha256.clone(),
                actual,
            });
        }
        let disk = self.body.disk;
        disk.sync_all().map_err(io_err("syncing the disk"))?;
        Ok(Staged {
            head: self.head,
            tail: self.tail,
            size: self.size,
            sha256: actual,
            sector_size: self.sector_size.ok_or(ImageWriteError::NotAnImage)?,
            bytes_written: self.body.written,
            bytes_zeroed: self.body.zeroed,
        })
    }
}

impl Staged {
    /// The image's logical sector size.
    pub fn sector_size(&self) -> u32 {
        self.sector_size
    }

    /// Uncompressed image size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads the written body back from the medium (page cache dropped)
    /// and checks the sha256 of body + held regions against the image's.
    pub fn verify(&self, disk: &File) -> Result<()> {
        device::sync_and_drop_cache(disk).map_err(io_err("flushing the disk cache"))?;
        let mut hasher = Sha256::new();
        hasher.update(&self.head);
        let end = self.size - TABLE_REGION;
        let mut buf = vec![0u8; CHUNK];
        let mut pos = TABLE_REGION;
        while pos < end {
            let n = (end - pos).min(CHUNK as u64) as usize;
            disk.read_exact_at(&mut buf[..n], pos)
                .map_err(io_err("reading the image back"))?;
            hasher.update(&buf[..n]);
            pos += n as u64;
        }
        hasher.update(&self.tail);
        let actual = hex(&hasher.finalize());
        if actual != self.sha256 {
            return Err(ImageWriteError::ReadBack {
                expected: self.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// The image's partition table, parsed from the held regions.
    pub fn table(&self) -> Result<Gpt> {
        // An in-memory sparse file of the image's size holding only the tables.
        // SAFETY: memfd_create with a valid C string; the fd is owned by the File.
        let fd = unsafe { libc::memfd_create(c"metalos-gpt".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io_err("memfd_create")(io::Error::last_os_error()));
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let mem = unsafe { File::from_raw_fd(fd) };
        mem.set_len(self.size)
            .map_err(io_err("sizing the table buffer"))?;
        mem.write_all_at(&self.head, 0)
            .and_then(|_| mem.write_all_at(&self.tail, self.size - TABLE_REGION))
            .map_err(io_err("buffering the tables"))?;
        let (gpt, health) =
            Gpt::read(&mem, self.size).map_err(|e| ImageWriteError::Table(e.to_string()))?;
        if let Some(e) = health.primary_error.or(health.backup_error) {
            return Err(ImageWriteError::Table(e));
        }
        Ok(gpt)
    }

    /// Writes the backup region, syncs, writes the primary region, syncs,
    /// and reads both back. The disk is bootable afterwards.
    pub fn commit(self, disk: &File) -> Result<()> {
        let tail_at = self.size - TABLE_REGION;
        disk.write_all_at(&self.tail, tail_at)
            .map_err(io_err("writing the backup GPT"))?;
        disk.sync_all().map_err(io_err("syncing the backup GPT"))?;
        disk.write_all_at(&self.head, 0)
            .map_err(io_err("writing the primary GPT"))?;
        device::sync_and_drop_cache(disk).map_err(io_err("syncing the primary GPT"))?;
        for (held, at) in [(&self.head, 0), (&self.tail, tail_at)] {
            let mut back = vec![0u8; held.len()];
            disk.read_exact_at(&mut back, at)
                .map_err(io_err("reading the tables back"))?;
            if back != *held {
                return Err(ImageWriteError::ReadBack {
                    expected: hex(&Sha256::digest(held)),
                    actual: hex(&Sha256::digest(&back)),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests;
