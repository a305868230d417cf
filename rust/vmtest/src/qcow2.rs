//! Writes an empty qcow2 (version 3) overlay over a raw base image: the
//! equivalent of `qemu-img create -f qcow2 -F raw -b BASE OVERLAY [SIZE]`,
//! without needing `qemu-img` (not always installed beside
//! `qemu-system-x86_64`).
//!
//! Layout (64 KiB clusters, 16-bit refcounts), as `qemu-img` writes it:
//!
//! | cluster | content |
//! |---|---|
//! | 0 | header, backing-format extension (`raw`), end extension, backing file name |
//! | 1 | refcount table: one entry → cluster 2 |
//! | 2 | refcount block: clusters 0 … 2 + L1 clusters have refcount 1 |
//! | 3 … | L1 table, all zero (nothing allocated: every read goes to the base) |
//!
//! The base path is stored absolute, so the overlay may live anywhere.
//! QEMU opens the base read-only and writes only to the overlay.

use std::io::Write;
use std::path::Path;

const CLUSTER_BITS: u32 = 16;
const CLUSTER: u64 = 1 << CLUSTER_BITS;
const HEADER_LEN: u32 = 104;
const EXT_BACKING_FORMAT: u32 = 0xE279_2ACA;

/// Creates `overlay` over the raw image `base`. The virtual size is the
/// base's size, or `size` if given (it must not be smaller than the base,
/// and is rounded up to 512 bytes).
pub fn create_overlay(base: &Path, overlay: &Path, size: Option<u64>) -> std::io::Result<()> {
    let base = std::fs::canonicalize(base)?;
    let base_len = std::fs::metadata(&base)?.len();
    let size = size.unwrap_or(base_len).div_ceil(512) * 512;
    if size < base_len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "overlay size {size} is smaller than the base image {} ({base_len} bytes)",
                base.display()
            ),
        ));
    }
    let name = base.as_os_str().as_encoded_bytes();
    let bytes = overlay_bytes(name, size)?;
    let mut f = std::fs::File::create(overlay)?;
    f.write_all(&bytes)?;
    f.sync_all()
}

/// The overlay file's bytes for backing file `name` and virtual size `size`.
fn overlay_bytes(name: &[u8], size: u64) -> std::io::Result<Vec<u8>> {
    // One L2 table maps CLUSTER/8 clusters.
    let l2_span = CLUSTER * (CLUSTER / 8);
    let l1_entries = size.div_ceil(l2_span).max(1);
    let l1_clusters = (l1_entries * 8).div_ceil(CLUSTER);
    let total_clusters = 3 + l1_clusters;
    // One 16-bit refcount block covers CLUSTER/2 clusters.
    if total_clusters > CLUSTER / 2 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("overlay virtual size {size} is too large"),
        ));
    }
    let ext_start = HEADER_LEN as usize;
    let backing_offset = ext_start + 8 + 8 + 8; // format ext (8 + "raw" padded to 8) + end ext
    if backing_offset + name.len() > CLUSTER as usize || name.len() > 1023 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "backing file path is too long for a qcow2 header",
        ));
    }
    let mut out = vec![0u8; (total_clusters * CLUSTER) as usize];
    let put32 =
        |out: &mut [u8], at: usize, v: u32| out[at..at + 4].copy_from_slice(&v.to_be_bytes());
    let put64 =
        |out: &mut [u8], at: usize, v: u64| out[at..at + 8].copy_from_slice(&v.to_be_bytes());

    out[0..4].copy_from_slice(b"QFI\xfb");
    put32(&mut out, 4, 3); // version
    put64(&mut out, 8, backing_offset as u64);
    put32(&mut out, 16, name.len() as u32);
    put32(&mut out, 20, CLUSTER_BITS);
    put64(&mut out, 24, size);
    put32(&mut out, 32, 0); // no encryption
    put32(&mut out, 36, l1_entries as u32);
    put64(&mut out, 40, 3 * CLUSTER); // L1 table
    put64(&mut out, 48, CLUSTER); // refcount table
    put32(&mut out, 56, 1); // refcount table clusters
    put32(&mut out, 60, 0); // snapshots
    put64(&mut out, 64, 0);
    // incompatible/compatible/autoclear features: 0 (bytes 72..96)
    put32(&mut out, 96, 4); // refcount_order: 16-bit
    put32(&mut out, 100, HEADER_LEN);
    // Backing file format extension.
    put32(&mut out, ext_start, EXT_BACKING_FORMAT);
    put32(&mut out, ext_start + 4, 3);
    out[ext_start + 8..ext_start + 11].copy_from_slice(b"raw");
    // End-of-extensions marker (type 0, length 0) is already zero.
    out[backing_offset..backing_offset + name.len()].copy_from_slice(name);

    // Refcount table → refcount block in cluster 2.
    put64(&mut out, CLUSTER as usize, 2 * CLUSTER);
    let block = 2 * CLUSTER as usize;
    for c in 0..total_clusters as usize {
        out[block + 2 * c..block + 2 * c + 2].copy_from_slice(&1u16.to_be_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn be64(b: &[u8], at: usize) -> u64 {
        u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn header_fields() {
        let b = overlay_bytes(b"/tmp/base.img", 1 << 30).unwrap();
        assert_eq!(&b[0..4], b"QFI\xfb");
        assert_eq!(be32(&b, 4), 3);
        assert_eq!(be64(&b, 24), 1 << 30);
        assert_eq!(be32(&b, 36), 2); // 1 GiB / 512 MiB per L2 table
        let off = be64(&b, 8) as usize;
        assert_eq!(&b[off..off + be32(&b, 16) as usize], b"/tmp/base.img");
        assert_eq!(be32(&b, 104), EXT_BACKING_FORMAT);
        assert_eq!(&b[112..115], b"raw");
        assert_eq!(b.len() as u64, 4 * CLUSTER);
        // Refcounts of the 4 used clusters are 1, the next one 0.
        let rb = 2 * CLUSTER as usize;
        assert_eq!(&b[rb..rb + 10], &[0, 1, 0, 1, 0, 1, 0, 1, 0, 0]);
    }

    #[test]
    fn large_disk_needs_more_l1_clusters() {
        let b = overlay_bytes(b"/b", 8 << 40).unwrap(); // 8 TiB → 16384 entries → 2 clusters
        assert_eq!(be32(&b, 36), 16384);
        assert_eq!(b.len() as u64, 5 * CLUSTER);
    }

    #[test]
    fn size_smaller_than_base_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.img");
        std::fs::write(&base, vec![0u8; 4096]).unwrap();
        let err = create_overlay(&base, &dir.path().join("o.qcow2"), Some(512)).unwrap_err();
        assert!(err.to_string().contains("smaller"), "{err}");
        create_overlay(&base, &dir.path().join("o.qcow2"), None).unwrap();
    }

    /// `qemu-img check` as an independent oracle, when installed.
    #[test]
    fn qemu_img_accepts_it() {
        if std::process::Command::new("qemu-img")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("qemu-img not installed; the VM tests exercise the overlay instead");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.img");
        std::fs::write(&base, vec![0u8; 1 << 20]).unwrap();
        let ov = dir.path().join("o.qcow2");
        create_overlay(&base, &ov, Some(3 << 20)).unwrap();
        let out = std::process::Command::new("qemu-img")
            .args(["check", ov.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let info = std::process::Command::new("qemu-img")
            .args(["info", "--output=json", ov.to_str().unwrap()])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
        assert_eq!(v["virtual-size"], 3 << 20);
        assert_eq!(v["backing-filename-format"], "raw");
    }
}
