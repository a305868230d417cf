//! Compression of a finished cpio archive for the kernel's initramfs
//! unpacker.
//!
//! The whole archive becomes **one** zstd frame (the kernel decompresses
//! each compressed archive as a single stream). Settings are chosen for the
//! kernel's in-kernel decompressor and for reproducibility:
//!
//! * level `1..=19` (no `--ultra` levels, whose windows the kernel may not
//!   accept), no long-distance mode;
//! * the content size and a checksum are stored in the frame header;
//! * the compressor always runs in **multithreaded mode** (`zstdmt`) with
//!   [`WORKERS`] worker threads. zstd's multithreaded output is identical for
//!   any worker count ≥ 1 but differs from single-threaded mode (0 workers),
//!   so fixing the mode — not the count — is what makes builds bit-identical
//!   across machines. A test checks that 1 and 3 workers agree.
//!
//! [`compress_cached`] keeps compressed archives in a directory keyed by
//! their content, so a rebuild with an unchanged archive skips zstd.

use zstd::zstd_safe::CParameter;

mod cache;
pub use cache::compress_cached;

/// Worker threads used by [`compress`]. Any value ≥ 1 yields the same bytes.
pub const WORKERS: u32 = 2;

/// The zstd frame magic number, as it appears at the start of a frame.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// How an archive is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Stored as is.
    None,
    /// One zstd frame at this level (`1..=19`).
    Zstd {
        /// Compression level, `1..=19`.
        level: i32,
    },
}

impl Default for Compression {
    /// zstd level 19, the usual choice for initrds.
    fn default() -> Self {
        Compression::Zstd { level: 19 }
    }
}

/// Compression failure.
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    /// The level is outside `1..=19`.
    #[error("zstd level {0} is out of range (1..=19 for the kernel's decompressor)")]
    Level(i32),
    /// zstd itself failed.
    #[error("zstd compression failed: {0}")]
    Zstd(#[from] std::io::Error),
}

/// Checks a zstd level for kernel compatibility.
pub fn check_level(level: i32) -> Result<(), CompressError> {
    if (1..=19).contains(&level) {
        Ok(())
    } else {
        Err(CompressError::Level(level))
    }
}

/// Compresses `data` as described in the module documentation.
pub fn compress(data: &[u8], compression: Compression) -> Result<Vec<u8>, CompressError> {
    match compression {
        Compression::None => Ok(data.to_vec()),
        Compression::Zstd { level } => compress_zstd(data, level, WORKERS),
    }
}

/// zstd with an explicit worker count (≥ 1); see the module documentation.
pub fn compress_zstd(data: &[u8], level: i32, workers: u32) -> Result<Vec<u8>, CompressError> {
    check_level(level)?;
    let mut c = zstd::bulk::Compressor::new(level)?;
    c.set_parameter(CParameter::NbWorkers(workers.max(1)))?;
    c.set_parameter(CParameter::EnableLongDistanceMatching(false))?;
    c.set_parameter(CParameter::ChecksumFlag(true))?;
    c.set_parameter(CParameter::ContentSizeFlag(true))?;
    c.set_pledged_src_size(Some(data.len() as u64))?;
    Ok(c.compress(data)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// About 1.3 MB of repetitive text (the cache tests use it too).
    pub(super) fn sample() -> Vec<u8> {
        (0..100_000u32)
            .flat_map(|i| format!("line {} {}\n", i % 977, i / 13).into_bytes())
            .collect()
    }

    #[test]
    fn none_is_identity() {
        assert_eq!(compress(b"abc", Compression::None).unwrap(), b"abc");
    }

    #[test]
    fn one_frame_deterministic_for_any_worker_count() {
        let data = sample();
        let a = compress_zstd(&data, 19, 1).unwrap();
        let b = compress_zstd(&data, 19, 3).unwrap();
        assert_eq!(a, b);
        assert_eq!(a[..4], ZSTD_MAGIC);
        let frame = zstd::zstd_safe::find_frame_compressed_size(&a).unwrap();
        assert_eq!(frame, a.len(), "exactly one frame");
        assert_eq!(zstd::stream::decode_all(&a[..]).unwrap(), data);
    }

    #[test]
    fn zstd_cli_decompresses() {
        let data = sample();
        let z = compress(&data, Compression::Zstd { level: 3 }).unwrap();
        let mut child = Command::new("zstd")
            .args(["-d", "-c", "-q"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("zstd installed");
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || stdin.write_all(&z));
        let out = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, data);
    }

    #[test]
    fn bad_level() {
        let e = compress(b"x", Compression::Zstd { level: 22 }).unwrap_err();
        assert!(e.to_string().contains("22"), "{e}");
        assert!(compress(b"x", Compression::Zstd { level: 0 }).is_err());
    }
}
