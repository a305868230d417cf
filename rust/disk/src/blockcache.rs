//! A write-back cache of 4 KiB blocks over a window of a disk or file, for
//! writers that make many small writes: the FAT driver updates the
//! allocation table a few bytes at a time and writes file data one cluster
//! at a time. Reads and writes go to memory; [`BlockCache::flush`] writes
//! the changed blocks out in order, in large (sparse) writes.

use crate::readat::{ReadAt, WriteAt};
use std::cell::RefCell;
use std::collections::btree_map::{BTreeMap, Entry};
use std::io;

/// Bytes per cached block.
const BLOCK: u64 = 4096;
/// Most blocks held before the cache writes them out (64 MiB).
const MAX_BLOCKS: usize = 16384;
/// Largest single write when flushing.
const MAX_WRITE: usize = 1 << 20;

struct Cached {
    data: Box<[u8]>,
    dirty: bool,
}

/// A window `[start, start+len)` of `inner`, cached: offsets are relative
/// to `start`, and nothing reaches `inner` before [`BlockCache::flush`]
/// (or before the cache fills up).
pub struct BlockCache<'a, D: ?Sized> {
    inner: &'a D,
    start: u64,
    len: u64,
    blocks: RefCell<BTreeMap<u64, Cached>>,
}

impl<'a, D: WriteAt + ?Sized> BlockCache<'a, D> {
    /// Caches `len` bytes of `inner` at `start`.
    pub fn new(inner: &'a D, start: u64, len: u64) -> Self {
        Self {
            inner,
            start,
            len,
            blocks: RefCell::new(BTreeMap::new()),
        }
    }

    /// Bytes of block `index` (the last block may be short).
    fn block_len(&self, index: u64) -> usize {
        (self.len - index * BLOCK).min(BLOCK) as usize
    }

    /// Runs `f` on block `index`, reading it from `inner` first unless
    /// `whole` (the caller overwrites all of it).
    fn with_block<R>(
        &self,
        index: u64,
        whole: bool,
        f: impl FnOnce(&mut Cached) -> R,
    ) -> io::Result<R> {
        let mut blocks = self.blocks.borrow_mut();
        let block = match blocks.entry(index) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let mut data = vec![0u8; self.block_len(index)].into_boxed_slice();
                if !whole {
                    self.inner
                        .pread_exact(&mut data, self.start + index * BLOCK)?;
                }
                e.insert(Cached { data, dirty: false })
            }
        };
        Ok(f(block))
    }

    /// Calls `f(block, range in block, range in buf)` for each block that
    /// `len` bytes at `offset` touch.
    fn each_block(
        &self,
        offset: u64,
        len: usize,
        mut f: impl FnMut(u64, std::ops::Range<usize>, std::ops::Range<usize>) -> io::Result<()>,
    ) -> io::Result<()> {
        if offset
            .checked_add(len as u64)
            .is_none_or(|end| end > self.len)
        {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{len} bytes at {offset} are past the end of a {}-byte region",
                    self.len
                ),
            ));
        }
        let mut done = 0usize;
        while done < len {
            let pos = offset + done as u64;
            let (index, at) = (pos / BLOCK, (pos % BLOCK) as usize);
            let n = (self.block_len(index) - at).min(len - done);
            f(index, at..at + n, done..done + n)?;
            done += n;
        }
        Ok(())
    }

    /// Writes every changed block to `inner`, in order, runs of adjacent
    /// blocks together.
    pub fn flush(&self) -> io::Result<()> {
        let mut blocks = self.blocks.borrow_mut();
        let mut run: Vec<u8> = Vec::with_capacity(MAX_WRITE);
        let mut run_start = 0u64;
        for (index, block) in blocks.iter_mut().filter(|(_, b)| b.dirty) {
            let at = index * BLOCK;
            if !run.is_empty() && (run_start + run.len() as u64 != at || run.len() >= MAX_WRITE) {
                self.inner.pwrite_sparse(&run, self.start + run_start)?;
                run.clear();
            }
            if run.is_empty() {
                run_start = at;
            }
            run.extend_from_slice(&block.data);
            block.dirty = false;
        }
        if !run.is_empty() {
            self.inner.pwrite_sparse(&run, self.start + run_start)?;
        }
        Ok(())
    }

    /// Flushes and forgets every block once the cache is full.
    fn bound(&self) -> io::Result<()> {
        if self.blocks.borrow().len() > MAX_BLOCKS {
            self.flush()?;
            self.blocks.borrow_mut().clear();
        }
        Ok(())
    }
}

impl<D: WriteAt + ?Sized> ReadAt for BlockCache<'_, D> {
    fn pread_exact(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.each_block(offset, buf.len(), |index, inb, inbuf| {
            self.with_block(index, false, |b| {
                buf[inbuf].copy_from_slice(&b.data[inb]);
            })
        })?;
        self.bound()
    }
}

impl<D: WriteAt + ?Sized> WriteAt for BlockCache<'_, D> {
    fn pwrite_all(&self, data: &[u8], offset: u64) -> io::Result<()> {
        self.each_block(offset, data.len(), |index, inb, inbuf| {
            let whole = inb.start == 0 && inb.end == self.block_len(index);
            self.with_block(index, whole, |b| {
                b.data[inb].copy_from_slice(&data[inbuf]);
                b.dirty = true;
            })
        })?;
        self.bound()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_reach_the_file_only_on_flush() {
        let f = tempfile::tempfile().unwrap();
        f.set_len(64 << 10).unwrap();
        // At 8192: 4096 bytes into the window.
        f.pwrite_all(&[5u8; 100], 8192).unwrap();
        let c = BlockCache::new(&f, 4096, 20000);
        c.pwrite_all(&[1u8; 10], 4090).unwrap();
        c.pwrite_all(&[2u8; 9000], 9000).unwrap();
        let mut back = [0u8; 20];
        c.pread_exact(&mut back, 4085).unwrap();
        assert_eq!(back[..5], [0u8; 5]);
        assert_eq!(back[5..15], [1u8; 10]);
        assert_eq!(back[15..], [5u8; 5]);
        let mut file_back = [9u8; 10];
        f.pread_exact(&mut file_back, 4096 + 4090).unwrap();
        assert_eq!(
            file_back,
            [0, 0, 0, 0, 0, 0, 5, 5, 5, 5],
            "not written before the flush"
        );
        c.flush().unwrap();
        let mut all = vec![0u8; 64 << 10];
        f.pread_exact(&mut all, 0).unwrap();
        let mut want = vec![0u8; 64 << 10];
        want[8192..8292].fill(5);
        want[4096 + 4090..4096 + 4100].fill(1);
        want[4096 + 9000..4096 + 18000].fill(2);
        assert_eq!(all, want);
    }

    #[test]
    fn the_window_is_bounded() {
        let f = tempfile::tempfile().unwrap();
        f.set_len(64 << 10).unwrap();
        let c = BlockCache::new(&f, 0, 5000);
        c.pwrite_all(&[1u8; 4], 4996).unwrap();
        assert!(c.pwrite_all(&[1u8; 5], 4996).is_err());
        assert!(c.pread_exact(&mut [0u8; 1], u64::MAX).is_err());
        c.flush().unwrap();
        let mut back = [0u8; 8];
        f.pread_exact(&mut back, 4996).unwrap();
        assert_eq!(back, [1, 1, 1, 1, 0, 0, 0, 0]);
    }
}
