//! SHA-256 of ranges of a sparse file, reading only its data: holes are
//! taken as runs of zeros ([`crate::zerohash`]), never read. A
//! [`RangeHash`] can follow a range as it becomes final (hashing up to a
//! limit that grows); [`PairHasher`] hashes several ranges on one thread,
//! two at a time, so that their holes are hashed together.

use crate::zerohash::{zeros_pair, Sha256Stream};
use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

/// Most zero bytes one [`PairHasher::step`] takes per range.
const STEP: u64 = 8 << 20;

/// The sha256 of one range of a file (or of a run of zeros), taken in
/// pieces. Digests can also be recorded at marks inside the range.
#[derive(Debug, Clone)]
pub struct RangeHash {
    stream: Sha256Stream,
    start: u64,
    pos: u64,
    end: u64,
    /// Bytes from `pos` known to be zeros.
    zeros: u64,
    /// Offsets relative to `start`, ascending, of digests still to record.
    marks: VecDeque<u64>,
    digests: Vec<String>,
}

impl RangeHash {
    /// `len` bytes of the file at `offset`.
    pub fn new(offset: u64, len: u64) -> Self {
        Self {
            stream: Sha256Stream::new(),
            start: offset,
            pos: offset,
            end: offset + len,
            zeros: 0,
            marks: VecDeque::new(),
            digests: vec![],
        }
    }

    /// `len` zero bytes, read from nowhere (all of it is known zeros: no
    /// file is read).
    pub fn zeros(len: u64) -> Self {
        Self {
            zeros: len,
            ..Self::new(0, len)
        }
    }

    /// Also records the digest of the first `len` bytes of the range, for
    /// each of `lens` up to the range's length (see [`Self::digests`]).
    pub fn with_marks(mut self, lens: &[u64]) -> Self {
        let mut lens: Vec<u64> = lens.iter().copied().filter(|l| *l <= self.len()).collect();
        lens.sort_unstable();
        lens.dedup();
        self.marks = lens.into();
        self
    }

    fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the whole range has been hashed.
    pub fn is_done(&self) -> bool {
        self.pos == self.end
    }

    /// The next file offset to hash.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// How many zero bytes can be taken now ([`Self::take_zeros`]):
    /// up to the next mark.
    pub fn zeros_ahead(&self) -> u64 {
        match self.marks.front() {
            Some(m) => self.zeros.min(self.start + m - self.pos),
            None => self.zeros,
        }
    }

    /// Hashes the file's data from the current position until a hole,
    /// a mark or `limit` (a file offset); then [`Self::zeros_ahead`] is
    /// the hole's length, or 0 at the limit or the end. `buf` is scratch.
    pub fn take_data(&mut self, file: &File, limit: u64, buf: &mut [u8]) -> io::Result<()> {
        self.record_marks();
        let mut limit = limit.min(self.end);
        if let Some(m) = self.marks.front() {
            limit = limit.min(self.start + m);
        }
        while self.zeros == 0 && self.pos < limit {
            let (data_start, data_end) = next_data(file, self.pos, limit);
            if data_start > self.pos {
                self.zeros = data_start - self.pos;
                break;
            }
            while self.pos < data_end {
                let n = (data_end - self.pos).min(buf.len() as u64) as usize;
                file.read_exact_at(&mut buf[..n], self.pos)?;
                self.stream.update(&buf[..n]);
                self.pos += n as u64;
            }
        }
        self.record_marks();
        Ok(())
    }

    /// Takes `n` (at most [`Self::zeros_ahead`]) zero bytes.
    pub fn take_zeros(&mut self, n: u64) {
        debug_assert!(n <= self.zeros_ahead());
        self.stream.update_zeros(n);
        self.advance(n);
    }

    fn advance(&mut self, n: u64) {
        self.pos += n;
        self.zeros -= n;
        self.record_marks();
    }

    fn record_marks(&mut self) {
        while self.marks.front() == Some(&(self.pos - self.start)) {
            self.marks.pop_front();
            self.digests.push(self.stream.clone().finalize_hex());
        }
    }

    /// The digests recorded at the marks (ascending, duplicates merged),
    /// then the digest of the whole range.
    pub fn digests(self) -> Vec<String> {
        debug_assert!(self.is_done() && self.marks.is_empty());
        let mut d = self.digests;
        d.push(self.stream.finalize_hex());
        d
    }

    /// The digest of the whole range (lower-case hex).
    pub fn finalize_hex(self) -> String {
        self.stream.finalize_hex()
    }

    /// Hashes the rest of the range on this thread.
    pub fn run(&mut self, file: &File, buf: &mut [u8]) -> io::Result<()> {
        while !self.is_done() {
            self.take_data(file, u64::MAX, buf)?;
            self.take_zeros(self.zeros_ahead());
        }
        Ok(())
    }
}

/// Takes `n` zero bytes (at most the [`RangeHash::zeros_ahead`] of each)
/// into both ranges at once.
pub fn take_zeros_pair(a: &mut RangeHash, b: &mut RangeHash, n: u64) {
    debug_assert!(n <= a.zeros_ahead() && n <= b.zeros_ahead());
    zeros_pair(&mut a.stream, &mut b.stream, n);
    a.advance(n);
    b.advance(n);
}

/// Hashes ranges of one file on the calling thread, two at a time, so
/// that their holes are hashed together: [`Self::step`] does a bounded
/// piece of work, so a caller can also add ranges as they become final.
pub struct PairHasher<'f, K> {
    file: &'f File,
    /// Ranges not hashed yet.
    queue: Vec<(K, RangeHash)>,
    done: Vec<(K, RangeHash)>,
    buf: Vec<u8>,
}

impl<'f, K> PairHasher<'f, K> {
    /// No ranges yet.
    pub fn new(file: &'f File) -> Self {
        Self {
            file,
            queue: vec![],
            done: vec![],
            buf: vec![0; 1 << 20],
        }
    }

    /// Queues a range (final from now on) under `key`.
    pub fn add(&mut self, key: K, range: RangeHash) {
        self.queue.push((key, range));
    }

    /// Whether every range added has been hashed.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    /// Hashes a bounded piece of the two ranges with the most left (so
    /// that pairs last): their data up to the next hole, then up to 8 MiB
    /// of zeros of each, together.
    pub fn step(&mut self) -> io::Result<()> {
        let mut order: Vec<usize> = (0..self.queue.len()).collect();
        order.sort_by_key(|i| std::cmp::Reverse(self.queue[*i].1.end - self.queue[*i].1.pos));
        for i in order.iter().take(2) {
            self.queue[*i]
                .1
                .take_data(self.file, u64::MAX, &mut self.buf)?;
        }
        match order[..] {
            [] => {}
            [i] => {
                let a = &mut self.queue[i].1;
                a.take_zeros(a.zeros_ahead().min(STEP));
            }
            [i, j, ..] => {
                let (a, b) = two_mut(&mut self.queue, i, j);
                let n = a.1.zeros_ahead().min(b.1.zeros_ahead()).min(STEP);
                if n > 0 {
                    take_zeros_pair(&mut a.1, &mut b.1, n);
                } else {
                    // One of them is done or at data: the other alone.
                    for r in [&mut a.1, &mut b.1] {
                        r.take_zeros(r.zeros_ahead().min(STEP));
                    }
                }
            }
        }
        let mut i = 0;
        while i < self.queue.len() {
            if self.queue[i].1.is_done() {
                self.done.push(self.queue.swap_remove(i));
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    /// Hashes what is left; returns every range, in the order they were
    /// completed.
    pub fn finish(mut self) -> io::Result<Vec<(K, RangeHash)>> {
        while !self.is_idle() {
            self.step()?;
        }
        Ok(self.done)
    }
}

/// Two distinct elements of `v`, mutably.
fn two_mut<T>(v: &mut [T], i: usize, j: usize) -> (&mut T, &mut T) {
    assert_ne!(i, j);
    if i < j {
        let (a, b) = v.split_at_mut(j);
        (&mut a[i], &mut b[0])
    } else {
        let (a, b) = v.split_at_mut(i);
        (&mut b[0], &mut a[j])
    }
}

/// The next data segment `[start, end)` at or after `pos`, clamped to
/// `limit`; `(limit, limit)` when only holes remain. Filesystems without
/// SEEK_DATA support report everything as data.
pub(crate) fn next_data(file: &File, pos: u64, limit: u64) -> (u64, u64) {
    let fd = file.as_raw_fd();
    // SAFETY: lseek on an owned descriptor; the file offset is not used elsewhere (all I/O is positional).
    let start = unsafe { libc::lseek(fd, pos as libc::off_t, libc::SEEK_DATA) };
    if start < 0 {
        let errno = io::Error::last_os_error().raw_os_error();
        return if errno == Some(libc::ENXIO) {
            (limit, limit)
        } else {
            (pos, limit)
        };
    }
    let start = (start as u64).min(limit);
    // SAFETY: as above.
    let end = unsafe { libc::lseek(fd, start as libc::off_t, libc::SEEK_HOLE) };
    let end = if end < 0 {
        limit
    } else {
        (end as u64).min(limit)
    };
    (start, end)
}

#[cfg(test)]
#[path = "rangehash_tests.rs"]
mod tests;
