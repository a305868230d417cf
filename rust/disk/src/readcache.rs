//! A read cache in front of a [`ReadAt`]: the FAT driver reads a file one
//! cluster (often 512 bytes) and one FAT entry at a time, a system call
//! each; through [`CachedReads`] those become a few large reads. Writes go
//! through to the disk and into the cached blocks they touch.

use crate::readat::{ReadAt, WriteAt};
use std::cell::RefCell;
use std::io;

/// Bytes read from the disk at once (and kept).
const BLOCK: u64 = 256 << 10;
/// Blocks kept: a file's data and the FAT it is chained through are read
/// in turns, so more than one block must stay.
const SLOTS: usize = 4;

/// `inner` read through a small cache of [`BLOCK`]-sized blocks; `limit`
/// is where cached reads stop (the end of the partition being read: a
/// block is never read past it).
#[derive(Debug)]
pub struct CachedReads<'a, D: ?Sized> {
    inner: &'a D,
    limit: u64,
    /// Most recently used last: (block index, bytes).
    blocks: RefCell<Vec<(u64, Vec<u8>)>>,
}

impl<'a, D: ReadAt + ?Sized> CachedReads<'a, D> {
    /// A cache over `inner`, reading no byte at or past `limit`.
    pub fn new(inner: &'a D, limit: u64) -> Self {
        Self {
            inner,
            limit,
            blocks: RefCell::new(Vec::with_capacity(SLOTS)),
        }
    }

    /// Copies what block `index` holds from `offset` on into `buf`;
    /// returns how many bytes it copied.
    fn copy_from_block(&self, index: u64, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut blocks = self.blocks.borrow_mut();
        let at = match blocks.iter().position(|(i, _)| *i == index) {
            Some(at) => at,
            None => {
                let start = index * BLOCK;
                let len = BLOCK.min(self.limit - start) as usize;
                // The least recently used block's buffer is reused.
                let mut data = match blocks.len() {
                    SLOTS => blocks.remove(0).1,
                    _ => Vec::new(),
                };
                data.resize(len, 0);
                self.inner.pread_exact(&mut data, start)?;
                blocks.push((index, data));
                blocks.len() - 1
            }
        };
        let entry = blocks.remove(at);
        let from = (offset - index * BLOCK) as usize;
        let n = buf.len().min(entry.1.len() - from);
        buf[..n].copy_from_slice(&entry.1[from..from + n]);
        blocks.push(entry);
        Ok(n)
    }
}

impl<D: ReadAt + ?Sized> ReadAt for CachedReads<'_, D> {
    fn pread_exact(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let end = offset.saturating_add(buf.len() as u64);
        if end > self.limit {
            // Not ours to cache: the disk gives its own answer (or error).
            return self.inner.pread_exact(buf, offset);
        }
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done as u64;
            done += self.copy_from_block(at / BLOCK, at, &mut buf[done..])?;
        }
        Ok(())
    }
}

impl<D: WriteAt + ?Sized> WriteAt for CachedReads<'_, D> {
    fn pwrite_all(&self, data: &[u8], offset: u64) -> io::Result<()> {
        self.update(data, offset);
        self.inner.pwrite_all(data, offset)
    }

    fn pwrite_sparse(&self, data: &[u8], offset: u64) -> io::Result<()> {
        self.update(data, offset);
        self.inner.pwrite_sparse(data, offset)
    }
}

impl<D: ?Sized> CachedReads<'_, D> {
    /// Copies `data` (about to be written at `offset`) into the cached
    /// blocks it overlaps, so that they keep matching the disk.
    fn update(&self, data: &[u8], offset: u64) {
        let end = offset + data.len() as u64;
        for (index, bytes) in self.blocks.borrow_mut().iter_mut() {
            let start = *index * BLOCK;
            let (from, to) = (offset.max(start), end.min(start + bytes.len() as u64));
            if from < to {
                bytes[(from - start) as usize..(to - start) as usize]
                    .copy_from_slice(&data[(from - offset) as usize..(to - offset) as usize]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn reads_match_the_disk_across_blocks_and_at_the_limit() {
        let disk = bytes(3 * BLOCK as usize + 100);
        let limit = disk.len() as u64 - 10;
        let c = CachedReads::new(disk.as_slice(), limit);
        for (offset, len) in [
            (0, 10),
            (BLOCK - 3, 9),
            (5, 2 * BLOCK as usize),
            (limit - 4, 4),
        ] {
            let mut buf = vec![0u8; len];
            c.pread_exact(&mut buf, offset).unwrap();
            assert_eq!(
                buf,
                disk[offset as usize..offset as usize + len],
                "{offset}"
            );
        }
        // Past the limit the disk answers: here the last bytes, then EOF.
        let mut buf = [0u8; 10];
        c.pread_exact(&mut buf, limit).unwrap();
        assert_eq!(buf, disk[limit as usize..]);
        assert!(c.pread_exact(&mut buf, limit + 1).is_err());
    }

    #[test]
    fn writes_go_through_and_are_read_back() {
        let f = tempfile::tempfile().unwrap();
        f.pwrite_all(&bytes(2 * BLOCK as usize), 0).unwrap();
        let c = CachedReads::new(&f, 2 * BLOCK);
        let mut buf = [0u8; 4];
        c.pread_exact(&mut buf, BLOCK).unwrap();
        c.pwrite_all(&[1, 2, 3, 4], BLOCK + 2).unwrap();
        c.pread_exact(&mut buf, BLOCK + 2).unwrap();
        assert_eq!(buf, [1, 2, 3, 4]);
        let mut on_disk = [0u8; 4];
        f.pread_exact(&mut on_disk, BLOCK + 2).unwrap();
        assert_eq!(on_disk, [1, 2, 3, 4]);
    }
}
