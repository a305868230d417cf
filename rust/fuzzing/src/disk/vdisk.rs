//! A virtual disk described compactly by a fuzz input: its length and a
//! few extents of bytes, zeros everywhere else. A 1 GiB image whose only
//! non-zero sectors are a partition table, or a 128 MiB ESP whose only
//! non-zero sectors are its metadata, fits in a few dozen KiB.
//! [`nonzero_extents`] reads those extents from a disk made by a writer.

use metalos_disk::readat::{ReadAt, WriteAt};
use std::cell::RefCell;
use std::io;

/// A sparse disk: `len` bytes, zero except for its extents (later extents
/// and writes win). Writable only when made with [`VirtualDisk::writable`].
#[derive(Debug, Default)]
pub struct VirtualDisk {
    len: u64,
    extents: RefCell<Vec<(u64, Vec<u8>)>>,
    writable: bool,
}

/// Reads `N` little-endian bytes from `data` at `*at`, zero-padded past its end.
fn take<const N: usize>(data: &[u8], at: &mut usize) -> [u8; N] {
    let mut out = [0u8; N];
    let src = data.get(*at..).unwrap_or(&[]);
    let n = src.len().min(N);
    out[..n].copy_from_slice(&src[..n]);
    *at += N;
    out
}

impl VirtualDisk {
    /// An all-zero read-only disk of `len` bytes.
    pub fn new(len: u64) -> Self {
        Self {
            len,
            ..Self::default()
        }
    }

    /// An all-zero disk of `len` bytes that records writes.
    pub fn writable(len: u64) -> Self {
        Self {
            len,
            writable: true,
            ..Self::default()
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the disk has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Puts `bytes` at `offset` (the part beyond the disk's end is dropped).
    pub fn put(&self, offset: u64, bytes: &[u8]) {
        let room = self.len.saturating_sub(offset).min(bytes.len() as u64) as usize;
        if room > 0 {
            self.extents
                .borrow_mut()
                .push((offset, bytes[..room].to_vec()));
        }
    }

    /// Decodes the extent format: `len` (u64 LE) then extents, each
    /// `offset` (u64 LE), `n` (u16 LE) and `n` bytes. A truncated extent
    /// keeps the bytes present. `max_len` caps the disk's length.
    pub fn from_extents(data: &[u8], max_len: u64) -> Self {
        let mut at = 0;
        let disk = Self::new(u64::from_le_bytes(take(data, &mut at)).min(max_len));
        while at < data.len() {
            let offset = u64::from_le_bytes(take(data, &mut at));
            let n = u16::from_le_bytes(take(data, &mut at)) as usize;
            let start = at.min(data.len());
            let bytes = &data[start..(start + n).min(data.len())];
            disk.put(offset, bytes);
            at = start + n;
        }
        disk
    }

    /// Encodes `extents` of a disk of `len` bytes in the extent format
    /// (extents longer than 65535 bytes are split).
    pub fn to_extents(len: u64, extents: &[(u64, Vec<u8>)]) -> Vec<u8> {
        let mut out = len.to_le_bytes().to_vec();
        for (offset, bytes) in extents {
            for (i, chunk) in bytes.chunks(u16::MAX as usize).enumerate() {
                out.extend_from_slice(&(offset + (i * u16::MAX as usize) as u64).to_le_bytes());
                out.extend_from_slice(&(chunk.len() as u16).to_le_bytes());
                out.extend_from_slice(chunk);
            }
        }
        out
    }

    /// Decodes the head/tail format: `len` (u64 LE), `head_len` (u32 LE),
    /// `head_len` bytes at the start of the disk, the rest at its end.
    pub fn from_head_tail(data: &[u8]) -> Self {
        let mut at = 0;
        let disk = Self::new(u64::from_le_bytes(take(data, &mut at)));
        let head_len = u32::from_le_bytes(take(data, &mut at)) as usize;
        let rest = data.get(at..).unwrap_or(&[]);
        let (head, tail) = rest.split_at(head_len.min(rest.len()));
        disk.put(disk.len.saturating_sub(tail.len() as u64), tail);
        disk.put(0, head);
        disk
    }

    /// Encodes a disk of `len` bytes whose first bytes are `head` and last
    /// bytes `tail` in the head/tail format.
    pub fn to_head_tail(len: u64, head: &[u8], tail: &[u8]) -> Vec<u8> {
        let mut out = len.to_le_bytes().to_vec();
        out.extend_from_slice(&(head.len() as u32).to_le_bytes());
        out.extend_from_slice(head);
        out.extend_from_slice(tail);
        out
    }
}

/// Runs of non-zero `unit`-byte blocks of `[start, start+len)`, relative to `start`.
pub fn nonzero_extents<D: ReadAt + ?Sized>(
    disk: &D,
    start: u64,
    len: u64,
    unit: u64,
) -> Vec<(u64, Vec<u8>)> {
    let mut out: Vec<(u64, Vec<u8>)> = vec![];
    let mut buf = vec![0u8; unit as usize];
    let mut at = 0;
    while at + unit <= len {
        if disk.pread_exact(&mut buf, start + at).is_err() {
            break;
        }
        if buf.iter().any(|b| *b != 0) {
            match out.last_mut() {
                Some((o, v)) if *o + v.len() as u64 == at => v.extend_from_slice(&buf),
                _ => out.push((at, buf.clone())),
            }
        }
        at += unit;
    }
    out
}

impl ReadAt for VirtualDisk {
    fn pread_exact(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|e| *e <= self.len)
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the disk"))?;
        buf.fill(0);
        for (o, bytes) in self.extents.borrow().iter() {
            let e = o + bytes.len() as u64;
            if *o >= end || e <= offset {
                continue;
            }
            let from = (*o).max(offset);
            let to = e.min(end);
            buf[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&bytes[(from - o) as usize..(to - o) as usize]);
        }
        Ok(())
    }
}

impl WriteAt for VirtualDisk {
    fn pwrite_all(&self, data: &[u8], offset: u64) -> io::Result<()> {
        if !self.writable {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "read-only virtual disk",
            ));
        }
        if offset
            .checked_add(data.len() as u64)
            .is_none_or(|e| e > self.len)
        {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the disk",
            ));
        }
        self.put(offset, data);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_round_trip() {
        let enc = VirtualDisk::to_extents(100, &[(10, vec![1, 2]), (98, vec![3, 4, 5])]);
        let d = VirtualDisk::from_extents(&enc, u64::MAX);
        let mut all = vec![9u8; 100];
        d.pread_exact(&mut all, 0).unwrap();
        assert_eq!((&all[10..12], &all[98..]), (&[1, 2][..], &[3, 4][..]));
        assert!(d.pread_exact(&mut [0], 100).is_err());
        let d = VirtualDisk::from_head_tail(&VirtualDisk::to_head_tail(8, &[1, 2], &[7]));
        let mut all = [0u8; 8];
        d.pread_exact(&mut all, 0).unwrap();
        assert_eq!(all, [1, 2, 0, 0, 0, 0, 0, 7]);
        assert!(d.pwrite_all(&[1], 0).is_err());
    }
}
