//! Reading back from the medium itself, not from cached pages — what a
//! verification after a write must see — and starting and awaiting the
//! writeback of a range, so that a read-back can follow a long write
//! range by range instead of waiting for its end.
//!
//! Reads bypass the page cache (`O_DIRECT`), so nothing cached is dropped
//! (other partitions' pages stay warm). Where the filesystem holding an
//! image file refuses direct I/O, the range's cached pages are dropped and
//! read again instead.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Bytes one read asks for.
const CHUNK: usize = 2 << 20;
/// Buffer, offset and length alignment of direct reads (every logical
/// sector size divides it).
const ALIGN: u64 = 4096;

/// Reads ranges of an image file or block device from the medium.
pub struct MediumReader {
    path: PathBuf,
    file: File,
    direct: bool,
    /// `CHUNK` bytes starting at `skip` are aligned to `ALIGN`.
    raw: Vec<u8>,
    skip: usize,
}

impl MediumReader {
    /// Opens `path` for reading from the medium.
    pub fn open(path: &Path) -> io::Result<Self> {
        let direct = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(path);
        let (file, direct) = match direct {
            Ok(f) => (f, true),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => (File::open(path)?, false),
            Err(e) => return Err(e),
        };
        let raw = vec![0u8; CHUNK + ALIGN as usize];
        let skip = raw.as_ptr().align_offset(ALIGN as usize);
        Ok(Self {
            path: path.to_path_buf(),
            file,
            direct,
            raw,
            skip,
        })
    }

    /// Reads `len` bytes at `offset` and hands them to `each` in order, at
    /// most a few MiB at a time. Dirty cached pages of the range (written
    /// through any handle) are written back first; flushing the device's
    /// own cache is a sync's job.
    pub fn read(&mut self, offset: u64, len: u64, each: &mut dyn FnMut(&[u8])) -> io::Result<()> {
        if self.direct {
            match self.read_direct(offset, len, each) {
                Err(e) if e.kind() == io::ErrorKind::Unsupported => {}
                done => return done,
            }
        }
        self.read_uncached(offset, len, each)
    }

    /// Aligned direct reads covering `[offset, offset + len)`; `each` sees
    /// exactly that range. [`io::ErrorKind::Unsupported`]: the first read
    /// was refused (no direct I/O here), `each` saw nothing.
    fn read_direct(
        &mut self,
        offset: u64,
        len: u64,
        each: &mut dyn FnMut(&[u8]),
    ) -> io::Result<()> {
        let end = offset + len;
        let buf = &mut self.raw[self.skip..self.skip + CHUNK];
        let mut at = offset - offset % ALIGN;
        let mut first = true;
        while at < end {
            let want = (end - at).next_multiple_of(ALIGN).min(CHUNK as u64) as usize;
            let n = match self.file.read_at(&mut buf[..want], at) {
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) && first => {
                    return Err(io::ErrorKind::Unsupported.into())
                }
                r => r?,
            };
            first = false;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the medium ends at byte {at}, before {end}"),
                ));
            }
            let from = offset.saturating_sub(at) as usize;
            let to = (end - at).min(n as u64) as usize;
            if from < to {
                each(&buf[from..to]);
            }
            at += n as u64;
        }
        Ok(())
    }

    /// Drops the cached pages of the range, then reads it (for files on
    /// filesystems without direct I/O).
    fn read_uncached(
        &mut self,
        offset: u64,
        len: u64,
        each: &mut dyn FnMut(&[u8]),
    ) -> io::Result<()> {
        if self.direct {
            self.file = File::open(&self.path)?;
            self.direct = false;
        }
        // Dirty pages are not dropped: write them back first.
        wait_writeback(&self.file, offset, len)?;
        // SAFETY: advisory call on an owned descriptor with integer arguments.
        unsafe {
            libc::posix_fadvise(
                self.file.as_raw_fd(),
                offset as libc::off_t,
                len as libc::off_t,
                libc::POSIX_FADV_DONTNEED,
            )
        };
        let buf = &mut self.raw[..CHUNK];
        let mut done = 0u64;
        while done < len {
            let want = (len - done).min(CHUNK as u64) as usize;
            self.file.read_exact_at(&mut buf[..want], offset + done)?;
            each(&buf[..want]);
            done += want as u64;
        }
        Ok(())
    }
}

/// Reads `len` bytes at `offset` of `path` (an image file or a block
/// device) from the medium and hands them to `each` in order; see
/// [`MediumReader::read`].
pub fn read_from_medium(
    path: &Path,
    offset: u64,
    len: u64,
    mut each: impl FnMut(&[u8]),
) -> io::Result<()> {
    MediumReader::open(path)?.read(offset, len, &mut each)
}

/// Starts writing back the dirty cached pages of a range (without waiting).
pub fn start_writeback(file: &File, offset: u64, len: u64) -> io::Result<()> {
    sync_file_range(file, offset, len, libc::SYNC_FILE_RANGE_WRITE)
}

/// Writes back the dirty cached pages of a range and waits until they are
/// on the device (not a flush of the device's cache: sync for that).
pub fn wait_writeback(file: &File, offset: u64, len: u64) -> io::Result<()> {
    let all = libc::SYNC_FILE_RANGE_WAIT_BEFORE
        | libc::SYNC_FILE_RANGE_WRITE
        | libc::SYNC_FILE_RANGE_WAIT_AFTER;
    sync_file_range(file, offset, len, all)
}

fn sync_file_range(file: &File, offset: u64, len: u64, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: plain syscall on an owned descriptor with integer arguments.
    let rc = unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            flags,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(r: &mut MediumReader, offset: u64, len: u64) -> Vec<u8> {
        let mut out = vec![];
        r.read(offset, len, &mut |b| out.extend_from_slice(b))
            .unwrap();
        out
    }

    #[test]
    fn reads_any_range_from_the_medium() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("img");
        let data: Vec<u8> = (0..(5 << 20) + 123).map(|i| (i % 253) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let mut r = MediumReader::open(&p).unwrap();
        for (offset, len) in [(0, 4096), (1000, 3 << 20), (4096, (4 << 20) + 7), (0, 0)] {
            let got = read_all(&mut r, offset, len);
            let want = &data[offset as usize..(offset + len) as usize];
            assert_eq!(got, want, "{offset}+{len}");
        }
        // Up to the unaligned end of the file, and past it.
        let tail = data.len() as u64 - 10;
        assert_eq!(read_all(&mut r, tail, 10), data[tail as usize..]);
        let e = read_from_medium(&p, tail, 11 + (1 << 20), |_| {}).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "{e}");
        // Without direct I/O: the same bytes.
        r.direct = false;
        r.file = File::open(&p).unwrap();
        assert_eq!(
            read_all(&mut r, 1000, 3 << 20),
            data[1000..1000 + (3 << 20)]
        );
    }

    #[test]
    fn written_back_ranges_read_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("img");
        std::fs::write(&p, vec![0u8; 1 << 20]).unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.write_all_at(&[7u8; 8192], 4096).unwrap();
        start_writeback(&f, 4096, 8192).unwrap();
        wait_writeback(&f, 4096, 8192).unwrap();
        let got = {
            let mut r = MediumReader::open(&p).unwrap();
            read_all(&mut r, 4000, 8300)
        };
        assert_eq!(got[..96], [0u8; 96]);
        assert_eq!(got[96..96 + 8192], [7u8; 8192]);
        assert_eq!(got[96 + 8192..], [0u8; 12]);
    }
}
