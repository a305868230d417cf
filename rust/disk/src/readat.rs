//! Positioned I/O on a disk, a partition or an image, whatever holds it:
//! a [`File`] (image file or block device) in production, bytes in memory
//! or a sparse virtual disk in tests and in the fuzz targets. The readers
//! of this crate (`Gpt::read`, the `Region` window, `slotverity`) take any
//! [`ReadAt`]. A file's [`WriteAt`] is implemented next to the sparse
//! writing it uses (module `sparse`).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Reads at an absolute byte offset.
pub trait ReadAt {
    /// Fills `buf` from `offset`; reading past the end is an
    /// [`io::ErrorKind::UnexpectedEof`] error (as `FileExt::read_exact_at`).
    fn pread_exact(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

/// Writes at an absolute byte offset.
pub trait WriteAt: ReadAt {
    /// Writes all of `data` at `offset` (as `FileExt::write_all_at`).
    fn pwrite_all(&self, data: &[u8], offset: u64) -> io::Result<()>;

    /// Writes `data` at `offset`; a file keeps all-zero 4 KiB blocks as
    /// holes (`sparse::write_sparse`).
    fn pwrite_sparse(&self, data: &[u8], offset: u64) -> io::Result<()> {
        self.pwrite_all(data, offset)
    }
}

impl ReadAt for File {
    fn pread_exact(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
}

impl ReadAt for [u8] {
    fn pread_exact(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let src = usize::try_from(offset)
            .ok()
            .and_then(|o| self.get(o..)?.get(..buf.len()))
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "read past the end of the image",
                )
            })?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn pread_exact(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).pread_exact(buf, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_read_like_a_file() {
        let b: &[u8] = &[1, 2, 3, 4];
        let mut buf = [0u8; 2];
        b.pread_exact(&mut buf, 2).unwrap();
        assert_eq!(buf, [3, 4]);
        let e = b.pread_exact(&mut buf, 3).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert!(b.pread_exact(&mut buf, u64::MAX).is_err());
    }
}
