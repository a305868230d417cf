//! `manifest`: the JSON manifests MetalOS reads from update bundles,
//! netboot trees and build outputs — `bundle.json` of an update bundle
//! (`metalos update`), the netboot bundle's `manifest.json`, the
//! publisher's `releases.json` and a build's `manifest.json` (as
//! `metalos netboot bundle` loads it). The first byte picks the reader;
//! the rest is the text.
//!
//! Checked for every document a reader accepts: the validation the
//! reader promises holds (file names and paths stay inside the bundle,
//! tree or build directory; hashes are lower-case hex; release ids are
//! ids), and the document re-serialised the way the project writes it
//! parses again to an equal value.

use crate::seeds::{Seed, SeedSources};
use metalos_contract::netboot::{
    is_safe_relative, FileRecord, ImageRecord, NetbootManifest, BUNDLE_VERSION,
};
use metalos_contract::update::{
    is_plain_file_name, is_sha256_hex, os_release_version, BundleFile, UpdateManifest,
    BUNDLE_FORMAT,
};
use metalos_image::manifest::{
    ArtifactRecord, BuildManifest, DiskRecord, FilesystemRecord, PartitionRecord, MANIFEST_VERSION,
};
use metalos_netboot::bundle::parse_build_manifest;
use metalos_netboot::manifest::parse as parse_netboot_manifest;
use metalos_netboot::publish::{is_release_id, parse_index, release_id, ReleaseIndex};
use std::collections::BTreeMap;
use std::path::Path;

/// The readers, in selector order (the input's first byte modulo their
/// count picks one).
const READERS: [fn(&str); 4] = [
    update_bundle,
    netboot_manifest,
    release_index,
    build_manifest,
];
/// Selector bytes of the readers, for seeds.
const UPDATE: u8 = 0;
const NETBOOT: u8 = 1;
const INDEX: u8 = 2;
const BUILD: u8 = 3;

/// Target `manifest`: see the module documentation.
pub fn manifest(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    READERS[usize::from(which) % READERS.len()](text);
}

/// The path errors name (the readers never open it).
fn fuzz_path() -> &'static Path {
    Path::new("fuzz.json")
}

/// A path the loaders may join to their directory: relative, no `..`.
fn stays_inside(path: &str) -> bool {
    is_safe_relative(path)
        && !path.starts_with('/')
        && !path.split('/').any(|c| c == ".." || c == ".")
}

/// `bundle.json` of an update bundle (`UpdateManifest::parse`).
fn update_bundle(text: &str) {
    // os-release text reaches the same crate from the image's /usr.
    let _ = os_release_version(text);
    let Ok(m) = UpdateManifest::parse(text) else {
        return;
    };
    assert_eq!(m.format, BUNDLE_FORMAT);
    for f in std::iter::once(&m.usr).chain(&m.bootloader) {
        assert_bundle_file(f);
    }
    let written = serde_json::to_string_pretty(&m).expect("serialises") + "\n";
    assert_eq!(UpdateManifest::parse(&written).as_ref(), Ok(&m));
}

/// What `UpdateManifest::parse` promises of each file it accepts.
fn assert_bundle_file(f: &BundleFile) {
    assert!(is_plain_file_name(&f.file), "file {:?} accepted", f.file);
    assert!(
        !f.file.contains('/') && f.file != ".." && f.file != ".",
        "file {:?} leaves the bundle",
        f.file
    );
    assert!(is_sha256_hex(&f.sha256), "sha256 {:?} accepted", f.sha256);
    assert!(f.sha256.bytes().all(|b| !b.is_ascii_uppercase()));
}

/// The netboot bundle's `manifest.json` (`NetbootManifest::parse`).
fn netboot_manifest(text: &str) {
    let Ok(m) = parse_netboot_manifest(text, fuzz_path()) else {
        return;
    };
    assert_eq!(m.version, BUNDLE_VERSION);
    for f in &m.files {
        assert!(stays_inside(&f.path), "path {:?} accepted", f.path);
    }
    assert!(
        m.files.iter().any(|f| f.path == m.image.blob),
        "image.blob {:?} not among the files",
        m.image.blob
    );
    assert_eq!(m.blobs().count() + m.entry_files().count(), m.files.len());
    let written = m.to_bytes();
    let text = std::str::from_utf8(&written).expect("the manifest is UTF-8");
    let again = parse_netboot_manifest(text, fuzz_path()).expect("the written manifest parses");
    assert_eq!(again, m);
    assert_eq!(again.to_bytes(), written, "rewriting changes the bytes");
}

/// The publisher's `releases.json` (`parse_index`).
fn release_index(text: &str) {
    let Ok(index) = parse_index(text, fuzz_path()) else {
        return;
    };
    for id in &index.releases {
        assert!(is_release_id(id), "release {id:?} accepted");
        assert!(stays_inside(id), "release {id:?} leaves releases/");
    }
    let written = serde_json::to_string_pretty(&index).expect("serialises") + "\n";
    let again = parse_index(&written, fuzz_path()).expect("the written index parses");
    assert_eq!(again, index);
}

/// A build's `manifest.json` as `metalos netboot bundle` loads it
/// (`load_build_manifest` → `parse_build_manifest`).
fn build_manifest(text: &str) {
    let Ok(m) = parse_build_manifest(text, fuzz_path()) else {
        return;
    };
    assert!(
        stays_inside(&m.disk.file),
        "disk {:?} accepted",
        m.disk.file
    );
    for a in m.artifacts.values() {
        assert!(stays_inside(&a.file), "artifact {:?} accepted", a.file);
    }
    let written = serde_json::to_string_pretty(&m).expect("serialises") + "\n";
    let again = parse_build_manifest(&written, fuzz_path()).expect("the written manifest parses");
    assert_eq!(again, m);
}

/// Seeds: the default build's `manifest.json`, `update/bundle.json` and
/// netboot manifests when they exist, and one document per reader written
/// here from the project's types the way the project writes them.
pub fn seeds(src: &SeedSources) -> anyhow::Result<Vec<Seed>> {
    let mut out = vec![];
    let real = [
        (UPDATE, "update/bundle.json", "default-update-bundle"),
        (BUILD, "manifest.json", "default-build-manifest"),
        (NETBOOT, "netboot/manifest.json", "default-netboot-manifest"),
        (INDEX, "netboot/releases.json", "default-releases-index"),
    ];
    for (reader, file, name) in real {
        if let Ok(text) = std::fs::read(src.build.join(file)) {
            out.push(seed(reader, name, &text));
        }
    }
    out.extend(written_seeds());
    Ok(out)
}

/// One seed of this target.
fn seed(reader: u8, name: &str, text: &[u8]) -> Seed {
    let mut data = vec![reader];
    data.extend_from_slice(text);
    data.truncate(16 << 10);
    Seed {
        target: "manifest",
        name: name.into(),
        data,
    }
}

/// Pretty JSON with a final newline, as the project writes manifests.
macro_rules! pretty {
    ($value:expr) => {
        (serde_json::to_string_pretty($value).expect("serialises") + "\n").into_bytes()
    };
}

/// A sha256 in hex, every byte `byte`.
fn hash(byte: u8) -> String {
    format!("{byte:02x}").repeat(32)
}

/// One document per reader, made in memory.
fn written_seeds() -> Vec<Seed> {
    let update = UpdateManifest {
        format: BUNDLE_FORMAT,
        version: "1.2.3".into(),
        usr: BundleFile {
            file: "usr.img".into(),
            size: 4096,
            sha256: hash(1),
        },
        bootloader: Some(BundleFile {
            file: "bootloader.efi".into(),
            size: 512,
            sha256: hash(2),
        }),
    };
    let blob = format!("blobs/sha256/{}", hash(3));
    let netboot = NetbootManifest {
        version: BUNDLE_VERSION,
        base_url: "http://10.0.2.2:8080/metalos".into(),
        image: ImageRecord {
            blob: blob.clone(),
            compression: "zstd".into(),
            sha256: hash(4),
            size: 1 << 20,
            compressed_size: 2048,
            sector_size: 512,
        },
        files: [
            (blob.as_str(), 3, 2048),
            ("boot.ipxe", 5, 100),
            ("hosts/52-54-00-12-34-56.json", 6, 80),
            ("imaging.efi", 7, 4096),
        ]
        .map(|(path, h, size)| FileRecord {
            path: path.into(),
            sha256: hash(h),
            size,
        })
        .to_vec(),
    };
    let index = ReleaseIndex {
        version: 1,
        releases: vec![release_id(b"first"), release_id(b"second")],
    };
    vec![
        seed(UPDATE, "update-bundle", &pretty!(&update)),
        seed(NETBOOT, "netboot-manifest", &netboot.to_bytes()),
        seed(INDEX, "releases-index", &pretty!(&index)),
        seed(BUILD, "build-manifest", &pretty!(&small_build_manifest())),
    ]
}

/// A build manifest with one ESP, one /usr slot and an artifact.
fn small_build_manifest() -> BuildManifest {
    let partition =
        |slot: u32, label: &str, content: &str, fs: Option<FilesystemRecord>| PartitionRecord {
            slot,
            label: label.into(),
            type_name: content.into(),
            type_guid: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b".into(),
            guid: format!("00000000-0000-0000-0000-00000000000{slot}"),
            offset: u64::from(slot) << 20,
            size: 1 << 20,
            attributes: "0x0000000000000000".into(),
            content: content.into(),
            filesystem: fs,
            sha256: hash(slot as u8),
        };
    BuildManifest {
        version: MANIFEST_VERSION,
        seed: "6d6e5f1c-0b7a-4c44-9d1e-3f0c8a2b4e51".into(),
        source_date_epoch: 0,
        disk: DiskRecord {
            file: "disk.img".into(),
            size: 4 << 20,
            sector_size: 512,
            guid: "00000000-0000-0000-0000-000000000001".into(),
            sha256: hash(9),
        },
        partitions: vec![
            partition(
                1,
                "EFI-SYSTEM",
                "esp",
                Some(FilesystemRecord {
                    kind: "vfat".into(),
                    id: Some("1630-F6A9".into()),
                    bytes_used: 1 << 20,
                }),
            ),
            partition(2, "USR-A", "usr", None),
        ],
        inputs: BTreeMap::from([("kernel".to_string(), hash(10))]),
        artifacts: BTreeMap::from([(
            "imaging.efi".to_string(),
            ArtifactRecord {
                file: "artifacts/imaging.efi".into(),
                size: 4096,
                sha256: hash(11),
            },
        )]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(reader: u8, text: &str) {
        let mut data = vec![reader];
        data.extend_from_slice(text.as_bytes());
        manifest(&data);
    }

    #[test]
    fn every_seed_parses_with_its_reader() {
        for s in written_seeds() {
            let text = std::str::from_utf8(&s.data[1..]).unwrap();
            let accepted = match s.data[0] {
                UPDATE => UpdateManifest::parse(text).is_ok(),
                NETBOOT => parse_netboot_manifest(text, fuzz_path()).is_ok(),
                INDEX => parse_index(text, fuzz_path()).is_ok(),
                _ => parse_build_manifest(text, fuzz_path()).is_ok(),
            };
            assert!(accepted, "{} rejected", s.name);
            manifest(&s.data);
        }
    }

    #[test]
    fn the_default_build_manifests_are_accepted_when_built() {
        let build = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../out/default");
        if let Ok(text) = std::fs::read_to_string(build.join("manifest.json")) {
            parse_build_manifest(&text, fuzz_path()).unwrap();
        }
        if let Ok(text) = std::fs::read_to_string(build.join("update/bundle.json")) {
            UpdateManifest::parse(&text).unwrap();
        }
    }

    #[test]
    fn escaping_paths_are_rejected() {
        let hash = "ab".repeat(32);
        for file in ["../usr.img", "/usr.img", "..", "a/b"] {
            let text = format!(
                r#"{{"format":1,"version":"1","usr":{{"file":"{file}","size":1,"sha256":"{hash}"}}}}"#
            );
            assert!(UpdateManifest::parse(&text).is_err(), "{file:?}");
        }
        for path in ["../x", "/x", "blobs/../../x", "a//b", "./x"] {
            let text = format!(
                r#"{{"version":1,"base-url":"u","image":{{"blob":"{path}","compression":"zstd","sha256":"{hash}","size":1,"compressed-size":1,"sector-size":512}},"files":[{{"path":"{path}","sha256":"{hash}","size":1}}]}}"#
            );
            assert!(
                parse_netboot_manifest(&text, fuzz_path()).is_err(),
                "{path:?}"
            );
        }
        let index = r#"{"version":1,"releases":["../../etc"]}"#;
        assert!(parse_index(index, fuzz_path()).is_err());
        let mut build = small_build_manifest();
        build.disk.file = "/etc/shadow".into();
        let text = String::from_utf8(pretty!(&build)).unwrap();
        assert!(parse_build_manifest(&text, fuzz_path()).is_err());
    }

    #[test]
    fn malformed_documents_do_not_panic() {
        for reader in [UPDATE, NETBOOT, INDEX, BUILD] {
            for text in [
                "",
                "{",
                "null",
                "[]",
                r#"{"version":1}"#,
                r#"{"format":1,"version":"1","usr":{"file":"u","size":-1,"sha256":""}}"#,
                r#"{"version":1,"releases":[1,2]}"#,
                &"[".repeat(4096),
            ] {
                run(reader, text);
            }
        }
        manifest(&[]);
        manifest(&[UPDATE, 0xff, 0xfe]);
    }
}
