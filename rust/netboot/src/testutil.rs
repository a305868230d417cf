//! Small stand-in bundles for the unit tests.

use crate::fsutil::sha256_hex;
use metalos_contract::netboot::{FileRecord, ImageRecord, NetbootManifest};
use metalos_contract::update::{BundleFile, UpdateManifest};
use std::path::{Path, PathBuf};

/// `len` bytes derived from `seed`.
pub fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

fn bundle_file(dir: &Path, name: &str, data: &[u8]) -> BundleFile {
    std::fs::write(dir.join(name), data).unwrap();
    BundleFile {
        file: name.into(),
        size: data.len() as u64,
        sha256: sha256_hex(data),
    }
}

/// An update bundle `DIR/update-<version>/` (usr.img from `seed`, a
/// bootloader.efi), signed with `key` when given.
pub fn update_bundle(
    dir: &Path,
    version: &str,
    seed: u8,
    key: Option<&metalos_signing::SigningKey>,
) -> PathBuf {
    let out = dir.join(format!("update-{version}-{seed}"));
    std::fs::create_dir_all(&out).unwrap();
    let m = UpdateManifest {
        format: 1,
        version: version.into(),
        usr: bundle_file(&out, "usr.img", &bytes(seed, 8192)),
        bootloader: Some(bundle_file(&out, "bootloader.efi", &bytes(!seed, 512))),
    };
    let text = serde_json::to_string_pretty(&m).unwrap();
    std::fs::write(out.join("bundle.json"), &text).unwrap();
    if let Some(k) = key {
        let sig = metalos_signing::sign(k, text.as_bytes());
        std::fs::write(out.join("bundle.json.sig"), sig.to_file_bytes()).unwrap();
    }
    out
}

/// A netboot bundle `DIR/netboot-<seed>/` with a blob from `seed` (its
/// files are stand-ins; publishing only checks hashes).
pub fn netboot_bundle(dir: &Path, seed: u8) -> PathBuf {
    let out = dir.join(format!("netboot-{seed}"));
    let blob = bytes(seed, 4096);
    let blob_path = format!("blobs/sha256/{}", sha256_hex(&blob));
    let mut files = Vec::new();
    for (path, data) in [
        (blob_path.as_str(), blob.clone()),
        ("boot.ipxe", b"#!ipxe\n".to_vec()),
        ("imaging.efi", bytes(seed ^ 0x55, 1024)),
    ] {
        let p = out.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &data).unwrap();
        files.push(FileRecord {
            path: path.into(),
            sha256: sha256_hex(&data),
            size: data.len() as u64,
        });
    }
    let m = NetbootManifest {
        version: 1,
        base_url: "http://10.0.2.100/".into(),
        image: ImageRecord {
            blob: blob_path,
            compression: "zstd".into(),
            sha256: sha256_hex(b"raw"),
            size: 1 << 20,
            compressed_size: blob.len() as u64,
            sector_size: 512,
        },
        files,
    };
    std::fs::write(out.join("manifest.json"), m.to_bytes()).unwrap();
    out
}
