//! An image written and checked whose partition tables are still held in
//! memory: read back what was written, find partitions, commit the tables.

use super::{hex, io_err, ImageWriteError, Result, CHUNK, TABLE_REGION};
use crate::device;
use crate::gpt::Gpt;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::fd::FromRawFd;
use std::os::unix::fs::FileExt;

/// A range of the disk that was written (not zeroed), with the sha256 of
/// what was written there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Extent {
    /// First byte.
    pub(super) offset: u64,
    /// Length in bytes.
    pub(super) len: u64,
    /// sha256 of the bytes written.
    pub(super) sha256: [u8; 32],
}

/// An image written and checked, whose partition tables are still held in
/// memory: the disk has no valid GPT until [`Staged::commit`].
#[derive(Debug)]
pub struct Staged {
    pub(super) head: Vec<u8>,
    pub(super) tail: Vec<u8>,
    pub(super) size: u64,
    pub(super) sector_size: u32,
    pub(super) extents: Vec<Extent>,
    /// Bytes written to the disk (not counting zeroed ranges and held regions).
    pub bytes_written: u64,
    /// Bytes zeroed without being written.
    pub bytes_zeroed: u64,
}

/// One read of the read-back: `len` bytes at `offset`, part of extent
/// `extent`, the extent's last piece when `last`.
struct Piece {
    offset: u64,
    len: usize,
    extent: usize,
    last: bool,
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

    /// The ranges of the disk that were written, in order: what
    /// [`Staged::verify`] reads back (the rest of the body was zeroed).
    pub fn written_ranges(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.extents.iter().map(|e| e.offset..e.offset + e.len)
    }

    /// Reads every written extent back from the medium (after a sync, with
    /// the page cache dropped) and checks it against the sha256 of what was
    /// written there. Zeroed ranges are not read: no data was written there,
    /// and the kernel reported them zeroed. The held table regions are
    /// checked by [`Staged::commit`].
    pub fn verify(&self, disk: &File) -> Result<()> {
        device::sync_and_drop_cache(disk).map_err(io_err("flushing the disk cache"))?;
        let pieces = self.pieces();
        let mut buf = vec![0u8; CHUNK];
        let mut hasher = Sha256::new();
        for (i, p) in pieces.iter().enumerate() {
            // The kernel reads the next piece while this one is hashed.
            if let Some(next) = pieces.get(i + 1) {
                device::prefetch(disk, next.offset, next.len as u64);
            }
            let buf = &mut buf[..p.len];
            disk.read_exact_at(buf, p.offset)
                .map_err(io_err("reading the image back"))?;
            hasher.update(&*buf);
            if p.last {
                let e = &self.extents[p.extent];
                let actual: [u8; 32] = std::mem::take(&mut hasher).finalize().into();
                if actual != e.sha256 {
                    return Err(ImageWriteError::ReadBack {
                        offset: e.offset,
                        len: e.len,
                        expected: hex(&e.sha256),
                        actual: hex(&actual),
                    });
                }
            }
        }
        Ok(())
    }

    /// The written extents cut into reads of at most [`CHUNK`] bytes.
    fn pieces(&self) -> Vec<Piece> {
        let mut pieces = Vec::new();
        for (i, e) in self.extents.iter().enumerate() {
            let mut at = e.offset;
            let end = e.offset + e.len;
            while at < end {
                let len = (end - at).min(CHUNK as u64);
                pieces.push(Piece {
                    offset: at,
                    len: len as usize,
                    extent: i,
                    last: at + len == end,
                });
                at += len;
            }
        }
        pieces
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
                    offset: at,
                    len: held.len() as u64,
                    expected: hex(&Sha256::digest(held)),
                    actual: hex(&Sha256::digest(&back)),
                });
            }
        }
        Ok(())
    }
}
