//! The newc reader: lists the entries of concatenated, possibly
//! zstd-compressed archives, the way the kernel's initramfs unpacker walks
//! them.

use super::{CpioError, S_IFBLK, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, TRAILER};
use crate::compress::ZSTD_MAGIC;

/// One archive entry as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Index of the archive (0 for the first) in the stream.
    pub archive: usize,
    /// Path as stored (no leading `/` for archives this crate writes).
    pub name: String,
    /// Inode number.
    pub ino: u32,
    /// Mode including the file type bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Link count.
    pub nlink: u32,
    /// Modification time (seconds since the epoch).
    pub mtime: u32,
    /// Data size as stored (0 for all but the last member of a hardlink group).
    pub size: u32,
    /// Device major of a device node.
    pub rdev_major: u32,
    /// Device minor of a device node.
    pub rdev_minor: u32,
    /// Target of a symlink.
    pub link_target: Option<String>,
    /// Data of a regular file (empty for symlinks, whose data is the target).
    pub data: Vec<u8>,
}

impl Entry {
    /// The file type bits (`mode & S_IFMT`).
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }
    /// The permission bits.
    pub fn perm(&self) -> u32 {
        self.mode & 0o7777
    }
    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type() == S_IFDIR
    }
    /// Whether this is a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type() == S_IFREG
    }
    /// Whether this is a character or block device.
    pub fn is_device(&self) -> bool {
        matches!(self.file_type(), S_IFCHR | S_IFBLK)
    }
}

/// Most bytes [`read_archives`] decompresses from the zstd members of one
/// stream together (1 GiB; a distribution's initrd unpacks to a few
/// hundred MiB). A few KiB of zstd can claim gigabytes.
pub const MAX_UNPACKED: u64 = 1 << 30;

/// Most bytes reserved up front for a zstd member (its header's claim).
const PRESIZE_MAX: u64 = 64 << 20;

/// Reads every entry of every archive in `data` (trailers are not listed),
/// decompressing at most [`MAX_UNPACKED`] bytes.
///
/// Archives may be concatenated, separated by NUL padding, and each may be
/// uncompressed or one zstd frame of cpio archives (as for the kernel, a
/// compressed member holds no further compressed members). gzip (`1f 8b`)
/// is reported as unsupported. Every name listed is non-empty, without NUL
/// bytes and without a `..` component (the kernel would unpack such an
/// entry elsewhere than its name says, or outside the tree).
pub fn read_archives(data: &[u8]) -> Result<Vec<Entry>, CpioError> {
    read_archives_limited(data, MAX_UNPACKED)
}

/// [`read_archives`] with at most `max_unpacked` bytes decompressed from
/// the zstd members together.
pub fn read_archives_limited(data: &[u8], max_unpacked: u64) -> Result<Vec<Entry>, CpioError> {
    let mut reader = StreamReader {
        out: Vec::new(),
        archive: 0,
        budget: max_unpacked,
    };
    reader.read_stream(data, true)?;
    Ok(reader.out)
}

fn malformed(offset: usize, reason: impl Into<String>) -> CpioError {
    CpioError::Malformed {
        offset,
        reason: reason.into(),
    }
}

/// The state of one [`read_archives`] call.
struct StreamReader {
    out: Vec<Entry>,
    archive: usize,
    /// Bytes the zstd members may still decompress to.
    budget: u64,
}

impl StreamReader {
    /// Reads the archives of `data`; zstd members only when `outer` (the
    /// kernel does not decompress members of a decompressed stream).
    fn read_stream(&mut self, data: &[u8], outer: bool) -> Result<(), CpioError> {
        let mut pos = 0;
        loop {
            while pos < data.len() && data[pos] == 0 {
                pos += 1;
            }
            let rest = &data[pos..];
            if rest.is_empty() {
                return Ok(());
            }
            if rest.starts_with(b"070701") || rest.starts_with(b"070702") {
                if pos % 4 != 0 {
                    return Err(malformed(pos, "archive does not start 4-byte aligned"));
                }
                pos += read_one(data, pos, &mut self.out, self.archive)?;
                self.archive += 1;
            } else if outer && rest.starts_with(&ZSTD_MAGIC) {
                let n = zstd::zstd_safe::find_frame_compressed_size(rest)
                    .map_err(|_| malformed(pos, "truncated or invalid zstd frame"))?;
                let plain = self.decompress(&rest[..n], pos)?;
                self.read_stream(&plain, false)?;
                pos += n;
            } else if rest.starts_with(&ZSTD_MAGIC) {
                return Err(malformed(
                    pos,
                    "a compressed member inside a compressed one",
                ));
            } else if rest.starts_with(&[0x1f, 0x8b]) {
                return Err(malformed(pos, "gzip-compressed archives are not supported"));
            } else {
                return Err(malformed(pos, "no cpio newc or zstd magic"));
            }
        }
    }

    /// Decompresses one zstd frame, within the remaining budget.
    fn decompress(&mut self, frame: &[u8], pos: usize) -> Result<Vec<u8>, CpioError> {
        use std::io::Read;
        let decoder = zstd::stream::read::Decoder::with_buffer(frame)
            .map_err(|e| malformed(pos, format!("zstd: {e}")))?;
        // The frame's declared size saves growing the buffer step by step;
        // it is not trusted beyond a modest reservation (a wrong one only
        // costs a reallocation).
        let declared = zstd::zstd_safe::get_frame_content_size(frame)
            .ok()
            .flatten();
        let reserve = declared.unwrap_or(0).min(self.budget).min(PRESIZE_MAX);
        let mut plain = Vec::with_capacity(reserve as usize);
        decoder
            .take(self.budget.saturating_add(1))
            .read_to_end(&mut plain)
            .map_err(|e| malformed(pos, format!("zstd: {e}")))?;
        let len = plain.len() as u64;
        if len > self.budget {
            return Err(malformed(
                pos,
                "compressed members unpack to more than the limit",
            ));
        }
        self.budget -= len;
        Ok(plain)
    }
}

/// Why the kernel would not unpack an entry under `name` as listed, if so.
fn name_problem(name: &[u8]) -> Option<&'static str> {
    if name.is_empty() {
        Some("empty name")
    } else if name.contains(&0) {
        Some("NUL byte inside the name")
    } else if name.split(|b| *b == b'/').any(|c| c == b"..") {
        Some("`..` in the name")
    } else {
        None
    }
}

/// A header field: exactly 8 hex digits.
fn hex_field(field: &[u8]) -> Option<u32> {
    if !field.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u32::from_str_radix(std::str::from_utf8(field).ok()?, 16).ok()
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Parses one archive starting at `start`; returns its length up to and
/// including the padded trailer.
fn read_one(
    data: &[u8],
    start: usize,
    out: &mut Vec<Entry>,
    archive: usize,
) -> Result<usize, CpioError> {
    let mut pos = start;
    loop {
        let header = data
            .get(pos..pos + 110)
            .ok_or_else(|| malformed(pos, "truncated header"))?;
        if !(header.starts_with(b"070701") || header.starts_with(b"070702")) {
            return Err(malformed(pos, "bad entry magic"));
        }
        let mut f = [0u32; 13];
        for (i, v) in f.iter_mut().enumerate() {
            let hex = hex_field(&header[6 + 8 * i..14 + 8 * i])
                .ok_or_else(|| malformed(pos, format!("header field {i} is not hex")))?;
            *v = hex;
        }
        let [ino, mode, uid, gid, nlink, mtime, size, _, _, rmaj, rmin, namesize, _] = f;
        let name_start = pos + 110;
        let name_bytes = data
            .get(name_start..name_start + namesize as usize)
            .filter(|n| n.last() == Some(&0))
            .ok_or_else(|| malformed(pos, "truncated or unterminated name"))?;
        let name_bytes = &name_bytes[..name_bytes.len() - 1];
        if let Some(reason) = name_problem(name_bytes) {
            return Err(malformed(pos, reason));
        }
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        let data_start = align4(name_start + namesize as usize);
        let body = data
            .get(data_start..data_start + size as usize)
            .ok_or_else(|| malformed(pos, format!("truncated data of {name}")))?;
        pos = align4(data_start + size as usize);
        if name == TRAILER {
            return Ok(pos.min(data.len()) - start);
        }
        let is_link = mode & S_IFMT == S_IFLNK;
        out.push(Entry {
            archive,
            name,
            ino,
            mode,
            uid,
            gid,
            nlink,
            mtime,
            size,
            rdev_major: rmaj,
            rdev_minor: rmin,
            link_target: is_link.then(|| String::from_utf8_lossy(body).into_owned()),
            data: if is_link { Vec::new() } else { body.to_vec() },
        });
    }
}
