//! What the writer thread does with the stream: the table regions at both
//! ends are held in memory, the body between them goes onto the disk with
//! all-zero blocks zeroed rather than written, and every written extent is
//! hashed for the read-back ([`super::Staged::verify`]).

use super::staged::{Extent, Staged};
use super::{io_err, Expected, ImageWriteError, Result, TABLE_REGION, ZERO_BLOCK};
use crate::device;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Longest written extent: a read-back failure names a range at most this
/// long.
const EXTENT_MAX: u64 = 16 << 20;

/// Whether `block` holds only zero bytes. OR-folding fixed-size pieces
/// (which the compiler vectorises) before testing is several times faster
/// than a byte-wise early-exit scan.
pub(super) fn is_zero(block: &[u8]) -> bool {
    let mut pieces = block.chunks_exact(256);
    pieces.all(|p| p.iter().fold(0u8, |a, b| a | b) == 0)
        && pieces.remainder().iter().all(|b| *b == 0)
}

/// The written extent being extended.
struct OpenExtent {
    offset: u64,
    len: u64,
    hasher: Sha256,
}

/// Writes the body, which arrives in order: zero blocks extend a pending
/// zeroed run, other blocks are written in runs and extend the open extent.
struct BodyWriter<'a> {
    disk: &'a File,
    zero_run: Option<(u64, u64)>,
    open: Option<OpenExtent>,
    extents: Vec<Extent>,
    written: u64,
    zeroed: u64,
}

impl BodyWriter<'_> {
    fn flush_zeros(&mut self) -> Result<()> {
        if let Some((start, end)) = self.zero_run.take() {
            device::zero_range(self.disk, start, end - start).map_err(io_err("zeroing a range"))?;
            self.zeroed += end - start;
        }
        Ok(())
    }

    fn close_extent(&mut self) {
        if let Some(e) = self.open.take() {
            self.extents.push(Extent {
                offset: e.offset,
                len: e.len,
                sha256: e.hasher.finalize().into(),
            });
        }
    }

    /// Writes `data` at `at` and adds it to the open extent.
    fn write_run(&mut self, data: &[u8], at: u64) -> Result<()> {
        self.flush_zeros()?;
        self.disk
            .write_all_at(data, at)
            .map_err(io_err("writing the image"))?;
        // Writeback starts now rather than all at the final fsync.
        device::start_writeback(self.disk, at, data.len() as u64);
        self.written += data.len() as u64;
        let len = data.len() as u64;
        match &mut self.open {
            Some(e) if e.offset + e.len == at && e.len + len <= EXTENT_MAX => {
                e.hasher.update(data);
                e.len += len;
            }
            _ => {
                self.close_extent();
                self.open = Some(OpenExtent {
                    offset: at,
                    len,
                    hasher: Sha256::new_with_prefix(data),
                });
            }
        }
        Ok(())
    }

    fn write(&mut self, data: &[u8], offset: u64) -> Result<()> {
        let mut pos = 0;
        while pos < data.len() {
            let end = (pos + ZERO_BLOCK).min(data.len());
            let at = offset + pos as u64;
            if is_zero(&data[pos..end]) {
                self.close_extent();
                let start = self.zero_run.map_or(at, |(s, _)| s);
                self.zero_run = Some((start, offset + end as u64));
                pos = end;
                continue;
            }
            // Coalesce the following non-zero blocks into one write.
            let mut stop = end;
            while stop < data.len() {
                let next = (stop + ZERO_BLOCK).min(data.len());
                if is_zero(&data[stop..next]) {
                    break;
                }
                stop = next;
            }
            self.write_run(&data[pos..stop], at)?;
            pos = stop;
        }
        Ok(())
    }
}

/// The sector size whose LBA 1 holds a GPT header in `head`.
fn image_sector_size(head: &[u8]) -> Option<u32> {
    [512u32, 4096]
        .into_iter()
        .find(|ss| head.get(*ss as usize..*ss as usize + 8) == Some(b"EFI PART".as_slice()))
}

/// What [`super::stream_image`] has received so far: the held table
/// regions and the body writer.
pub(super) struct Receiver<'a> {
    size: u64,
    tail_at: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
    body: BodyWriter<'a>,
    sector_size: Option<u32>,
    pos: u64,
}

impl<'a> Receiver<'a> {
    /// Ready for an image of `size` bytes (at least two table regions).
    pub(super) fn new(disk: &'a File, size: u64) -> Self {
        Receiver {
            size,
            tail_at: size - TABLE_REGION,
            head: Vec::with_capacity(TABLE_REGION as usize),
            tail: Vec::with_capacity(TABLE_REGION as usize),
            body: BodyWriter {
                disk,
                zero_run: None,
                open: None,
                extents: Vec::new(),
                written: 0,
                zeroed: 0,
            },
            sector_size: None,
            pos: 0,
        }
    }

    /// Bytes of the stream received so far.
    pub(super) fn pos(&self) -> u64 {
        self.pos
    }

    /// Holds or writes each part of the next `data` of the stream: the head
    /// and tail regions are held, the body is written.
    pub(super) fn take(&mut self, data: &[u8]) -> Result<()> {
        let n = data.len();
        if self.pos + n as u64 > self.size {
            return Err(ImageWriteError::TooLong {
                expected: self.size,
            });
        }
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
    pub(super) fn check_sector_size(&mut self, disk_sector: u32) -> Result<()> {
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

    /// After the stream's end: checks its length and its sha256 (`actual`,
    /// hashed as it passed), syncs the disk.
    pub(super) fn finish(mut self, expected: &Expected, actual: &str) -> Result<Staged> {
        self.body.flush_zeros()?;
        self.body.close_extent();
        if self.pos < self.size {
            return Err(ImageWriteError::Truncated {
                got: self.pos,
                expected: self.size,
            });
        }
        if actual != expected.sha256 {
            return Err(ImageWriteError::HashMismatch {
                expected: expected.sha256.clone(),
                actual: actual.to_string(),
            });
        }
        let sector_size = self.sector_size.ok_or(ImageWriteError::NotAnImage)?;
        let body = self.body;
        // Every body byte was written or zeroed, nothing twice.
        debug_assert_eq!(body.written + body.zeroed, self.size - 2 * TABLE_REGION);
        body.disk.sync_all().map_err(io_err("syncing the disk"))?;
        Ok(Staged {
            head: self.head,
            tail: self.tail,
            size: self.size,
            sector_size,
            extents: body.extents,
            bytes_written: body.written,
            bytes_zeroed: body.zeroed,
        })
    }
}
