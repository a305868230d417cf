//! FAT32 EFI System Partition written in place, deterministically: fixed
//! volume id and label, timestamps from the build's epoch, files and
//! directories created in sorted order.

use crate::blockcache::BlockCache;
use crate::fatcheck::check_fat32;
use crate::readat::{ReadAt, WriteAt};
use crate::sparse::Region;
use lamfat::{
    Date, DateTime, FatType, FileSystem, FormatVolumeOptions, FsOptions, StdIoWrapper, Time,
    TimeProvider,
};
use metalos_config::Resolved;
use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom, Write};

/// FAT32 needs at least this many clusters.
const MIN_FAT32_CLUSTERS: u64 = 65525;
const RESERVED_SECTORS: u64 = 32;
const MAX_CLUSTER: u64 = 4096;

/// Errors writing or reading an ESP.
#[derive(Debug, thiserror::Error)]
pub enum EspError {
    /// The partition cannot hold a FAT32 filesystem.
    #[error("{size} bytes is too small for a FAT32 ESP with {sector_size}-byte sectors (needs at least {min} bytes, {min_mib} MiB)", min_mib = min.div_ceil(1 << 20))]
    TooSmall {
        /// Partition size.
        size: u64,
        /// Logical sector size.
        sector_size: u64,
        /// Minimum size.
        min: u64,
    },
    /// A file does not fit or the filesystem driver failed.
    #[error("ESP {path}: {message}")]
    Fat {
        /// Path inside the ESP (or `/` for the volume).
        path: String,
        /// What failed.
        message: String,
    },
    /// Reading a source file failed.
    #[error("cannot read {path}: {source}")]
    Source {
        /// Host path.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
}

/// How to format the ESP.
#[derive(Debug, Clone)]
pub struct EspOptions {
    /// Logical sector size (512 or 4096).
    pub sector_size: u64,
    /// FAT volume serial.
    pub volume_id: u32,
    /// Volume label (up to 11 ASCII characters).
    pub label: String,
    /// Timestamp for every entry, seconds since the Unix epoch (clamped to FAT's 1980–2107).
    pub mtime: u64,
}

/// A file to put on the ESP (`path` uses `/`, relative to the root).
#[derive(Debug, Clone)]
pub struct EspFile {
    /// Path inside the ESP, e.g. `EFI/BOOT/BOOTX64.EFI`.
    pub path: String,
    /// Content.
    pub content: Resolved,
}

/// An entry found when listing an ESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspEntry {
    /// Path from the root, `/`-separated.
    pub path: String,
    /// Directory or file.
    pub is_dir: bool,
    /// File size in bytes (0 for directories).
    pub size: u64,
}

/// Smallest partition that can hold FAT32 at this sector size.
pub fn min_fat32_size(sector_size: u64) -> u64 {
    let fat_bytes = ((MIN_FAT32_CLUSTERS + 2) * 4).div_ceil(sector_size) * sector_size;
    RESERVED_SECTORS * sector_size + 2 * fat_bytes + MIN_FAT32_CLUSTERS * sector_size
}

fn clusters_for(size: u64, sector_size: u64, cluster: u64) -> u64 {
    let approx = size / cluster;
    let fat_bytes = ((approx + 2) * 4).div_ceil(sector_size) * sector_size;
    size.saturating_sub(RESERVED_SECTORS * sector_size + 2 * fat_bytes) / cluster
}

/// The largest cluster size (≤ 4 KiB) that still gives FAT32 a valid cluster count.
fn cluster_size(size: u64, sector_size: u64) -> Option<u64> {
    let mut best = None;
    let mut c = sector_size;
    while c <= MAX_CLUSTER.max(sector_size) {
        // Margin so the driver's own rounding cannot fall below the limit.
        if clusters_for(size, sector_size, c) >= MIN_FAT32_CLUSTERS + 16 {
            best = Some(c);
        }
        c *= 2;
    }
    best
}

#[derive(Debug, Clone, Copy)]
struct FixedTime(DateTime);

impl TimeProvider for FixedTime {
    fn get_current_date(&self) -> Date {
        self.0.date
    }
    fn get_current_date_time(&self) -> DateTime {
        self.0
    }
}

/// Converts Unix seconds to a FAT timestamp (UTC, clamped to 1980..=2107).
fn fat_time(unix: u64) -> DateTime {
    let days = (unix / 86400) as i64;
    let secs = unix % 86400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u16;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u16;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as u16;
    if year < 1980 {
        return DateTime::new(Date::new(1980, 1, 1), Time::new(0, 0, 0, 0));
    }
    if year > 2107 {
        return DateTime::new(Date::new(2107, 12, 31), Time::new(23, 59, 58, 0));
    }
    let (h, m, s) = (
        (secs / 3600) as u16,
        (secs / 60 % 60) as u16,
        (secs % 60) as u16,
    );
    DateTime::new(Date::new(year, month, day), Time::new(h, m, s & !1, 0))
}

/// [`check_fat32`] before lamfat opens a volume it did not format.
fn check_volume<D: ReadAt + ?Sized>(region: &Region<'_, D>) -> Result<(), EspError> {
    check_fat32(region)
        .map(drop)
        .map_err(|m| fat_err("/", format_args!("{m}")))
}

fn fat_err(path: &str, e: impl std::fmt::Debug) -> EspError {
    EspError::Fat {
        path: path.to_string(),
        message: format!("{e:?}"),
    }
}

/// Formats `region` as FAT32 and writes `files` (plus their parent
/// directories) in sorted order.
pub fn write_esp<D: WriteAt + ?Sized>(
    region: Region<'_, D>,
    options: &EspOptions,
    files: &[EspFile],
) -> Result<(), EspError> {
    // The FAT driver writes a few bytes or one cluster at a time: through
    // a cache, written out at the end in large writes.
    let (disk, start, len) = region.window();
    let cache = BlockCache::new(disk, start, len);
    format_and_fill(Region::new(&cache, 0, len), options, files)?;
    cache.flush().map_err(|e| fat_err("/", e))
}

fn format_and_fill<D: WriteAt + ?Sized>(
    mut region: Region<'_, D>,
    options: &EspOptions,
    files: &[EspFile],
) -> Result<(), EspError> {
    let size = region.len();
    let ss = options.sector_size;
    let cluster = cluster_size(size, ss).ok_or(EspError::TooSmall {
        size,
        sector_size: ss,
        min: min_fat32_size(ss),
    })?;
    let mut label = [b' '; 11];
    for (d, s) in label.iter_mut().zip(options.label.bytes()) {
        *d = s.to_ascii_uppercase();
    }
    let format = FormatVolumeOptions::new()
        .fat_type(FatType::Fat32)
        .bytes_per_sector(ss as u16)
        .bytes_per_cluster(cluster as u32)
        .total_sectors((size / ss) as u32)
        .volume_id(options.volume_id)
        .volume_label(label);
    lamfat::format_volume(&mut StdIoWrapper::new(&mut region), format)
        .map_err(|e| fat_err("/", e))?;
    region.rewind_to_start();

    let time = FixedTime(fat_time(options.mtime));
    let fs = FileSystem::new(
        region,
        FsOptions::new()
            .time_provider(time)
            .update_accessed_date(false),
    )
    .map_err(|e| fat_err("/", e))?;
    if fs.fat_type() != FatType::Fat32 {
        return Err(EspError::TooSmall {
            size,
            sector_size: ss,
            min: min_fat32_size(ss),
        });
    }
    let mut sorted: Vec<&EspFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut dirs = BTreeSet::new();
    for f in &sorted {
        let mut parts: Vec<&str> = f.path.split('/').collect();
        parts.pop();
        for i in 1..=parts.len() {
            dirs.insert(parts[..i].join("/"));
        }
    }
    let root = fs.root_dir();
    for d in &dirs {
        root.create_dir(d).map_err(|e| fat_err(d, e))?;
    }
    for f in sorted {
        let mut out = root.create_file(&f.path).map_err(|e| fat_err(&f.path, e))?;
        copy_content(&f.content, &mut out, &f.path)?;
        out.flush().map_err(|e| fat_err(&f.path, e))?;
    }
    drop(root);
    fs.unmount().map_err(|e| fat_err("/", e))?;
    Ok(())
}

fn copy_content(content: &Resolved, out: &mut impl Write, path: &str) -> Result<(), EspError> {
    match content {
        Resolved::Bytes(b) => out.write_all(b).map_err(|e| fat_err(path, e)),
        Resolved::Path(p) => {
            let src_err = |source| EspError::Source {
                path: p.display().to_string(),
                source,
            };
            let mut src = std::fs::File::open(p).map_err(src_err)?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = src.read(&mut buf).map_err(src_err)?;
                if n == 0 {
                    return Ok(());
                }
                out.write_all(&buf[..n]).map_err(|e| fat_err(path, e))?;
            }
        }
    }
}

/// Deepest directory nesting [`list_esp`] walks: a directory entry that
/// points back at an ancestor would otherwise nest without end.
pub const MAX_ESP_DEPTH: usize = 32;
/// Most entries [`list_esp`] lists (an ESP holds a few dozen): a loop of
/// sibling directories would otherwise multiply without end.
pub const MAX_ESP_ENTRIES: usize = 1 << 16;

/// Lists every file and directory of a FAT filesystem, sorted by path.
/// A tree deeper than [`MAX_ESP_DEPTH`] or larger than
/// [`MAX_ESP_ENTRIES`] (a corrupted one, with a directory loop) is an error.
pub fn list_esp<D: WriteAt + ?Sized>(region: Region<'_, D>) -> Result<Vec<EspEntry>, EspError> {
    check_volume(&region)?;
    let fs = FileSystem::new(region, FsOptions::new()).map_err(|e| fat_err("/", e))?;
    let mut out = vec![];
    let mut stack = vec![(String::new(), 0, fs.root_dir())];
    while let Some((prefix, depth, dir)) = stack.pop() {
        for entry in dir.iter() {
            let entry = entry.map_err(|e| fat_err(&prefix, e))?;
            if out.len() >= MAX_ESP_ENTRIES {
                return Err(fat_err(
                    "/",
                    format_args!("more than {MAX_ESP_ENTRIES} entries (a directory loop?)"),
                ));
            }
            let name = entry.file_name();
            if name == "." || name == ".." {
                continue;
            }
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if entry.is_dir() {
                if depth + 1 > MAX_ESP_DEPTH {
                    return Err(fat_err(
                        &path,
                        format_args!(
                            "directories nested deeper than {MAX_ESP_DEPTH} levels (a directory loop?)"
                        ),
                    ));
                }
                out.push(EspEntry {
                    path: path.clone(),
                    is_dir: true,
                    size: 0,
                });
                stack.push((path, depth + 1, entry.to_dir()));
            } else {
                out.push(EspEntry {
                    path,
                    is_dir: false,
                    size: entry.len(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Reads one file of at most `max_len` bytes from a FAT filesystem (a
/// corrupted directory entry may claim up to 4 GiB: the caller says how
/// much it is prepared to hold).
pub fn read_esp_file<D: WriteAt + ?Sized>(
    region: Region<'_, D>,
    path: &str,
    max_len: u64,
) -> Result<Vec<u8>, EspError> {
    read_esp_file_if_present(region, path, max_len)?
        .ok_or_else(|| fat_err(path, format_args!("no such file")))
}

/// [`read_esp_file`], with `None` when `path` does not exist (one pass
/// over the volume; a damaged volume is still an error).
pub fn read_esp_file_if_present<D: WriteAt + ?Sized>(
    region: Region<'_, D>,
    path: &str,
    max_len: u64,
) -> Result<Option<Vec<u8>>, EspError> {
    with_esp_file(region, path, |file, len| {
        if len > max_len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{len} bytes, more than the {max_len} expected"),
            ));
        }
        let mut data = Vec::with_capacity(len as usize);
        file.read_to_end(&mut data)?;
        Ok(data)
    })
}

/// Read access to one file of a FAT filesystem.
pub trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// Opens `path` and hands `f` a reader over it and its length (to read
/// part of a large file, or stream it); `None` when `path` does not exist.
pub fn with_esp_file<D: WriteAt + ?Sized, R>(
    region: Region<'_, D>,
    path: &str,
    f: impl FnOnce(&mut dyn ReadSeek, u64) -> std::io::Result<R>,
) -> Result<Option<R>, EspError> {
    check_volume(&region)?;
    let fs = FileSystem::new(region, FsOptions::new()).map_err(|e| fat_err("/", e))?;
    let mut file = match fs.root_dir().open_file(path) {
        Ok(file) => file,
        Err(lamfat::Error::NotFound) => return Ok(None),
        Err(e) => return Err(fat_err(path, e)),
    };
    let len = file
        .seek(SeekFrom::End(0))
        .and_then(|len| file.seek(SeekFrom::Start(0)).map(|_| len))
        .map_err(|e| fat_err(path, e))?;
    f(&mut file, len)
        .map(Some)
        .map_err(|e| fat_err(path, format_args!("{e}")))
}

/// Writes (or overwrites) one file on a FAT filesystem, creating parents.
pub fn write_esp_file(region: Region<'_>, path: &str, content: &[u8]) -> Result<(), EspError> {
    check_volume(&region)?;
    let fs = FileSystem::new(region, FsOptions::new().update_accessed_date(false))
        .map_err(|e| fat_err("/", e))?;
    {
        let root = fs.root_dir();
        let mut file = root.create_file(path).map_err(|e| fat_err(path, e))?;
        file.truncate().map_err(|e| fat_err(path, e))?;
        file.write_all(content).map_err(|e| fat_err(path, e))?;
        file.flush().map_err(|e| fat_err(path, e))?;
    }
    fs.unmount().map_err(|e| fat_err("/", e))
}

/// Renames one file on a FAT filesystem (both paths from the root), replacing nothing:
/// `to` must not exist.
pub fn rename_esp_file(region: Region<'_>, from: &str, to: &str) -> Result<(), EspError> {
    check_volume(&region)?;
    let fs = FileSystem::new(region, FsOptions::new().update_accessed_date(false))
        .map_err(|e| fat_err("/", e))?;
    {
        let root = fs.root_dir();
        root.rename(from, &root, to).map_err(|e| fat_err(from, e))?;
    }
    fs.unmount().map_err(|e| fat_err("/", e))
}

/// Removes one file from a FAT filesystem (e.g. the first-boot flag).
pub fn remove_esp_file(region: Region<'_>, path: &str) -> Result<(), EspError> {
    check_volume(&region)?;
    let fs = FileSystem::new(region, FsOptions::new().update_accessed_date(false))
        .map_err(|e| fat_err("/", e))?;
    fs.root_dir().remove(path).map_err(|e| fat_err(path, e))?;
    fs.unmount().map_err(|e| fat_err("/", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fat_time_conversion() {
        let t = fat_time(1_700_000_000); // 2023-11-14 22:13:20 UTC
        assert_eq!((t.date.year, t.date.month, t.date.day), (2023, 11, 14));
        assert_eq!((t.time.hour, t.time.min, t.time.sec), (22, 13, 20));
        assert_eq!(fat_time(0).date.year, 1980);
    }

    #[test]
    fn cluster_choice_keeps_fat32() {
        assert_eq!(cluster_size(128 << 20, 512), Some(1024));
        assert_eq!(cluster_size(512 << 20, 512), Some(4096));
        assert_eq!(cluster_size(300 << 20, 4096), Some(4096));
        assert_eq!(cluster_size(200 << 20, 4096), None);
        assert!(cluster_size(min_fat32_size(512) + (1 << 20), 512).is_some());
    }
}
