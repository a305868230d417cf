//! A content-addressed cache of compressed archives.
//!
//! zstd at level 19 is most of an image build's time (about 15 of the
//! server image's 19 s), yet the archives it compresses rarely change
//! between builds: only the HostConfig, a version string or `/usr` does.
//! An entry's name is the SHA-256 of everything the compressed bytes depend
//! on (the archive, the level, the zstd library version and this format),
//! so an entry can never be used for other input. Before an entry is used
//! it must decompress to exactly the archive; anything else (a truncated or
//! damaged file) is ignored and rewritten. Entries appear in one rename, so
//! builds may share a cache directory. Failing to read or write the cache
//! never fails a build: the archive is then compressed as without one.
//! Entries are never removed here; a hit sets the entry's mtime, so a
//! cache can be pruned by age (the test suite drops entries unused for a
//! day) or deleted whole.

use super::{compress, CompressError, Compression};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bumped when an entry's meaning or name changes.
const FORMAT: &[u8] = b"metalos-compress-cache-v1\0";

/// [`compress`], reusing `cache`'s entry for the same input when there is one
/// and adding one when there is not.
pub fn compress_cached(
    data: &[u8],
    compression: Compression,
    cache: &Path,
) -> Result<Vec<u8>, CompressError> {
    let Compression::Zstd { level } = compression else {
        return compress(data, compression);
    };
    super::check_level(level)?;
    let entry = entry_path(cache, data, level);
    if let Some(bytes) = read_valid(&entry, data) {
        touch(&entry);
        return Ok(bytes);
    }
    let bytes = compress(data, compression)?;
    let _ = store(cache, &entry, &bytes);
    Ok(bytes)
}

/// `cache/<sha256 of the format, zstd version, level and data>.zst`.
fn entry_path(cache: &Path, data: &[u8], level: i32) -> PathBuf {
    let mut h = Sha256::new();
    h.update(FORMAT);
    h.update(zstd::zstd_safe::version_number().to_le_bytes());
    h.update(level.to_le_bytes());
    h.update(data);
    cache.join(format!("{}.zst", hex::encode(h.finalize())))
}

/// The entry's bytes if it is there and decompresses to `data`.
fn read_valid(entry: &Path, data: &[u8]) -> Option<Vec<u8>> {
    let bytes = std::fs::read(entry).ok()?;
    let plain = zstd::bulk::decompress(&bytes, data.len()).ok()?;
    let one_frame = zstd::zstd_safe::find_frame_compressed_size(&bytes).ok() == Some(bytes.len());
    (plain == data && one_frame).then_some(bytes)
}

/// Marks `entry` as used now, so whoever prunes the cache by age keeps it.
fn touch(entry: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(entry) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

/// Writes `bytes` as `entry` through a temporary file and a rename.
fn store(cache: &Path, entry: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(cache)?;
    let mut tmp = tempfile::NamedTempFile::new_in(cache)?;
    tmp.write_all(bytes)?;
    tmp.persist(entry)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    fn entries(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_hit_gives_the_same_bytes_as_compressing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let data = sample();
        let z = Compression::Zstd { level: 19 };
        let first = compress_cached(&data, z, &cache).unwrap();
        assert_eq!(first, compress(&data, z).unwrap());
        let entry = entries(&cache);
        assert_eq!(entry.len(), 1, "one entry, no temp files left");
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7 * 86400);
        let f = std::fs::File::options()
            .append(true)
            .open(&entry[0])
            .unwrap();
        f.set_modified(old).unwrap();
        assert_eq!(compress_cached(&data, z, &cache).unwrap(), first);
        let used = std::fs::metadata(&entry[0]).unwrap().modified().unwrap();
        assert!(used > old, "a hit marks the entry as used");
    }

    #[test]
    fn other_levels_and_data_get_their_own_entries() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample();
        for level in [3, 19] {
            let z = Compression::Zstd { level };
            let got = compress_cached(&data, z, dir.path()).unwrap();
            assert_eq!(got, compress(&data, z).unwrap(), "level {level}");
        }
        let other = compress_cached(b"other", Compression::Zstd { level: 3 }, dir.path()).unwrap();
        assert_eq!(zstd::stream::decode_all(&other[..]).unwrap(), b"other");
        assert_eq!(entries(dir.path()).len(), 3);
    }

    #[test]
    fn a_damaged_entry_is_ignored_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample();
        let z = Compression::Zstd { level: 5 };
        let good = compress_cached(&data, z, dir.path()).unwrap();
        let entry = entries(dir.path()).remove(0);
        for damage in [
            &good[..good.len() / 2],
            b"not zstd",
            &compress(b"x", z).unwrap(),
        ] {
            std::fs::write(&entry, damage).unwrap();
            assert_eq!(compress_cached(&data, z, dir.path()).unwrap(), good);
            assert_eq!(std::fs::read(&entry).unwrap(), good, "rewritten");
        }
    }

    #[test]
    fn an_unwritable_cache_still_compresses() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        let z = Compression::Zstd { level: 3 };
        let got = compress_cached(b"data", z, &file.join("cache")).unwrap();
        assert_eq!(got, compress(b"data", z).unwrap());
    }

    #[test]
    fn no_compression_and_bad_levels_bypass_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            compress_cached(b"abc", Compression::None, dir.path()).unwrap(),
            b"abc"
        );
        assert!(compress_cached(b"abc", Compression::Zstd { level: 0 }, dir.path()).is_err());
        assert!(entries(dir.path()).is_empty());
    }
}
