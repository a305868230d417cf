//! What differs between a block device and an image file: size, logical
//! sector size, zeroing a range, dropping cached pages before a read-back,
//! and the writeback and read-ahead hints. Every function works on both.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

// <linux/fs.h> ioctls (not all are in the libc crate).
const BLKSSZGET: libc::c_ulong = 0x1268;
const BLKFLSBUF: libc::c_ulong = 0x1261;
const BLKZEROOUT: libc::c_ulong = 0x127f;

/// Whether `file` is a block device.
pub fn is_block_device(file: &File) -> io::Result<bool> {
    Ok(file.metadata()?.file_type().is_block_device())
}

/// Size in bytes (a block device's capacity, or a file's length).
pub fn size(file: &File) -> io::Result<u64> {
    let mut f = file;
    f.seek(SeekFrom::End(0))
}

/// Logical sector size: the device's (BLKSSZGET), 512 for a regular file.
pub fn logical_sector_size(file: &File) -> io::Result<u32> {
    if !is_block_device(file)? {
        return Ok(512);
    }
    let mut ss: libc::c_int = 0;
    // SAFETY: BLKSSZGET writes one int through the pointer we own.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), BLKSSZGET as _, &mut ss) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ss as u32)
}

/// Makes `[offset, offset+len)` read as zeros: BLKZEROOUT on a block device
/// (the device zeroes it, often without transferring data), a punched hole
/// in a file; written zeros where neither works.
pub fn zero_range(file: &File, offset: u64, len: u64) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    if is_block_device(file)? {
        let range = [offset, len];
        // SAFETY: BLKZEROOUT reads two u64 from the array we own.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), BLKZEROOUT as _, range.as_ptr()) };
        if rc == 0 {
            return Ok(());
        }
        return write_zeros(file, offset, len);
    }
    let end = offset + len;
    let file_len = file.metadata()?.len();
    if end > file_len {
        file.set_len(end)?;
    }
    // SAFETY: plain syscall on an owned descriptor with integer arguments.
    let rc = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            offset as libc::off_t,
            len as libc::off_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        write_zeros(file, offset, len)
    }
}

fn write_zeros(file: &File, offset: u64, len: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let zeros = vec![0u8; 1 << 20];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(zeros.len() as u64) as usize;
        file.write_all_at(&zeros[..n], offset + done)?;
        done += n as u64;
    }
    Ok(())
}

/// Writes dirty pages and drops the cached ones, so that the next read
/// comes from the medium (what a read-back verification must see).
pub fn sync_and_drop_cache(file: &File) -> io::Result<()> {
    file.sync_all()?;
    if is_block_device(file)? {
        // SAFETY: BLKFLSBUF takes no argument.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), BLKFLSBUF as _, 0) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    } else {
        // SAFETY: advisory call on an owned descriptor.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }
    Ok(())
}

/// Starts writing back the dirty pages of `[offset, offset+len)` without
/// waiting for them (`sync_file_range`), so that the medium is written
/// while more data arrives instead of all at the final fsync. Only a hint:
/// an error here is ignored (the fsync that follows reports real ones).
pub fn start_writeback(file: &File, offset: u64, len: u64) {
    // SAFETY: plain syscall on an owned descriptor with integer arguments.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        )
    };
}

/// Asks the kernel to start reading `[offset, offset+len)` into the page
/// cache (`POSIX_FADV_WILLNEED`), so that it arrives while the caller works
/// on earlier data. Only a hint, as [`start_writeback`].
pub fn prefetch(file: &File, offset: u64, len: u64) {
    // SAFETY: advisory call on an owned descriptor.
    unsafe {
        libc::posix_fadvise(
            file.as_raw_fd(),
            offset as libc::off_t,
            len as libc::off_t,
            libc::POSIX_FADV_WILLNEED,
        )
    };
}

/// Device number of a block device (for messages), `None` for files.
pub fn rdev(file: &File) -> Option<u64> {
    file.metadata()
        .ok()
        .filter(|m| m.file_type().is_block_device())
        .map(|m| m.rdev())
}
