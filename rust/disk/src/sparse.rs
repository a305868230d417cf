//! Sparse writing: all-zero blocks are never written (they are punched out
//! instead), so an image file's allocated size tracks its content rather
//! than its nominal size, and unwritten regions stay holes. A [`File`]'s
//! [`WriteAt`] writes this way; [`Region`] is a window of a file (or of any
//! [`ReadAt`]) that formatters and readers use as a stream.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use crate::readat::{ReadAt, WriteAt};

const BLOCK: u64 = 4096;

/// Writes `data` at `offset`, turning aligned all-zero 4 KiB blocks into
/// holes instead of writing them.
pub fn write_sparse(file: &File, data: &[u8], offset: u64) -> io::Result<()> {
    let mut pos = 0usize;
    while pos < data.len() {
        let abs = offset + pos as u64;
        // Up to the next block boundary, or a whole block when aligned.
        let step = ((BLOCK - abs % BLOCK) as usize).min(data.len() - pos);
        let chunk = &data[pos..pos + step];
        if step as u64 == BLOCK && chunk.iter().all(|b| *b == 0) {
            // Extend a run of zero blocks, then punch it in one call.
            let mut end = pos + step;
            while end + BLOCK as usize <= data.len()
                && data[end..end + BLOCK as usize].iter().all(|b| *b == 0)
            {
                end += BLOCK as usize;
            }
            punch_hole(file, abs, (end - pos) as u64)?;
            pos = end;
        } else {
            file.write_all_at(chunk, abs)?;
            pos += step;
        }
    }
    Ok(())
}

impl WriteAt for File {
    fn pwrite_all(&self, data: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, data, offset)
    }

    fn pwrite_sparse(&self, data: &[u8], offset: u64) -> io::Result<()> {
        write_sparse(self, data, offset)
    }
}

/// Deallocates `[offset, offset+len)`; reads return zeros afterwards. Falls
/// back to writing zeros where the filesystem cannot punch holes.
pub fn punch_hole(file: &File, offset: u64, len: u64) -> io::Result<()> {
    // A block device reports length 0: zero the range on the device itself
    // (skipping it would leave the old bytes there). A file is not extended.
    if !crate::device::is_block_device(file)? {
        let size = file.metadata()?.len();
        if offset >= size {
            return Ok(());
        }
        return crate::device::zero_range(file, offset, len.min(size - offset));
    }
    crate::device::zero_range(file, offset, len)
}

/// sha256 (lower-case hex) of `len` bytes at `offset`. Holes are hashed
/// as runs of zeros instead of being read ([`crate::rangehash`]), which
/// saves the kernel from zero-filling pages for the mostly-empty regions
/// of a fresh image.
pub fn sha256_range(file: &File, offset: u64, len: u64) -> io::Result<String> {
    let mut range = crate::rangehash::RangeHash::new(offset, len);
    range.run(file, &mut vec![0u8; 1 << 20])?;
    Ok(range.finalize_hex())
}

/// A window `[start, start+len)` of a file (or of any [`ReadAt`]) with
/// `Read + Seek`, and `Write` through [`WriteAt`] (a file's writes go
/// through [`write_sparse`]). Used to let filesystem writers format a
/// partition in place, and readers read one.
#[derive(Debug)]
pub struct Region<'a, D: ?Sized = File> {
    file: &'a D,
    start: u64,
    len: u64,
    pos: u64,
}

impl<'a, D: ?Sized> Region<'a, D> {
    /// A window of `len` bytes starting at `start`.
    pub fn new(file: &'a D, start: u64, len: u64) -> Self {
        Self {
            file,
            start,
            len,
            pos: 0,
        }
    }

    /// Length of the window.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// What the window is over, its start and its length.
    pub fn window(&self) -> (&'a D, u64, u64) {
        (self.file, self.start, self.len)
    }

    /// Moves the cursor back to the window's start.
    pub fn rewind_to_start(&mut self) {
        self.pos = 0;
    }

    fn clamp(&self, n: usize) -> usize {
        (self.len.saturating_sub(self.pos)).min(n as u64) as usize
    }
}

impl<D: ReadAt + ?Sized> Region<'_, D> {
    /// Reads `buf.len()` bytes at `offset` inside the window (without
    /// moving the cursor); reading past the window's end is an error.
    pub fn pread_exact(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if offset.saturating_add(buf.len() as u64) > self.len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "{} bytes at {offset} are past the end of a {}-byte region",
                    buf.len(),
                    self.len
                ),
            ));
        }
        self.file.pread_exact(buf, self.start + offset)
    }
}

impl<D: ReadAt + ?Sized> Read for Region<'_, D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.clamp(buf.len());
        if n == 0 {
            return Ok(0);
        }
        let at = self.start.checked_add(self.pos).ok_or_else(past_u64)?;
        self.file.pread_exact(&mut buf[..n], at)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<D: WriteAt + ?Sized> Write for Region<'_, D> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.clamp(buf.len());
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the end of the partition",
            ));
        }
        let at = self.start.checked_add(self.pos).ok_or_else(past_u64)?;
        self.file.pwrite_sparse(&buf[..n], at)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn past_u64() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "partition offset beyond 2^64 bytes",
    )
}

impl<D: ?Sized> Seek for Region<'_, D> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
        };
        match new {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the partition",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn zero_blocks_stay_holes() {
        let f = tempfile::tempfile().unwrap();
        f.set_len(64 << 20).unwrap();
        let mut data = vec![0u8; 8 << 20];
        data[5] = 1;
        data[(8 << 20) - 1] = 2;
        write_sparse(&f, &data, 1 << 20).unwrap();
        let allocated = f.metadata().unwrap().blocks() * 512;
        assert!(allocated <= 64 * 1024, "allocated {allocated}");
        let mut back = vec![0u8; data.len()];
        f.read_exact_at(&mut back, 1 << 20).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn zeros_overwrite_old_data() {
        let f = tempfile::tempfile().unwrap();
        f.set_len(1 << 20).unwrap();
        write_sparse(&f, &[7u8; 16384], 0).unwrap();
        write_sparse(&f, &[0u8; 16384], 0).unwrap();
        let mut back = vec![1u8; 16384];
        f.read_exact_at(&mut back, 0).unwrap();
        assert!(back.iter().all(|b| *b == 0));
    }

    #[test]
    fn hole_aware_hash_matches_plain_hash() {
        use sha2::{Digest, Sha256};
        let f = tempfile::tempfile().unwrap();
        f.set_len(10 << 20).unwrap();
        write_sparse(&f, &[9u8; 70000], (3 << 20) + 17).unwrap();
        let mut all = vec![0u8; 10 << 20];
        f.read_exact_at(&mut all, 0).unwrap();
        for (off, len) in [
            (0u64, 10u64 << 20),
            (1 << 20, 4 << 20),
            ((3 << 20) + 20, 100),
            (5 << 20, 1 << 20),
        ] {
            let want: String = Sha256::digest(&all[off as usize..(off + len) as usize])
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(
                sha256_range(&f, off, len).unwrap(),
                want,
                "range {off}+{len}"
            );
        }
    }

    #[test]
    fn region_bounds() {
        let f = tempfile::tempfile().unwrap();
        f.set_len(8192).unwrap();
        let mut r = Region::new(&f, 4096, 10);
        assert_eq!(r.write(&[1u8; 20]).unwrap(), 10);
        assert!(r.write(&[1]).is_err());
        r.seek(SeekFrom::Start(0)).unwrap();
        let mut buf = vec![];
        r.read_to_end(&mut buf).unwrap();
        assert_eq!(buf, vec![1u8; 10]);
    }
}
