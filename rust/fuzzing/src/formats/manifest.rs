//! `manifest`: the JSON manifests MetalOS reads from build outputs, update
//! bundles and netboot trees — `bundle.json` of an update bundle, the
//! netboot bundle manifest, the publisher's `releases.json` and a build's
//! `manifest.json`. The first byte picks the reader; the rest is the text.

use crate::seeds::{Seed, SeedSources};
use metalos_image::bundle::BundleManifest as UpdateManifest;
use metalos_image::manifest::BuildManifest;
use metalos_netboot::manifest::{is_safe_relative, BundleManifest as NetbootManifest};
use metalos_netboot::publish::parse_index;
use std::path::Path;

/// Readers, selected by the input's first byte modulo their count.
const READERS: usize = 4;

/// Target `manifest`: what a reader accepts re-serialises to a document
/// it accepts again, equal to the first; netboot paths stay inside the tree.
pub fn manifest(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let path = Path::new("fuzz.json");
    match usize::from(which) % READERS {
        0 => {
            if let Ok(m) = UpdateManifest::parse(text) {
                let again = serde_json::to_string(&m).expect("serialises");
                assert_eq!(UpdateManifest::parse(&again).as_ref(), Ok(&m));
            }
        }
        1 => {
            if let Ok(m) = NetbootManifest::parse(text, path) {
                for f in &m.files {
                    assert!(is_safe_relative(&f.path), "{:?} accepted", f.path);
                    assert!(!f.path.split('/').any(|c| c == ".."), "{:?}", f.path);
                }
                let again = String::from_utf8(m.to_bytes()).expect("UTF-8");
                let m2 = NetbootManifest::parse(&again, path).expect("re-parses");
                assert_eq!(m2, m);
                let _ = (m.blobs().count(), m.entry_files().count());
            }
        }
        2 => {
            if let Ok(index) = parse_index(text, path) {
                let again = serde_json::to_string(&index).expect("serialises");
                assert_eq!(parse_index(&again, path).expect("re-parses"), index);
            }
        }
        _ => {
            if let Ok(m) = serde_json::from_str::<BuildManifest>(text) {
                let again = serde_json::to_string(&m).expect("serialises");
                let m2: BuildManifest = serde_json::from_str(&again).expect("re-parses");
                assert_eq!(m2, m);
            }
        }
    }
}

/// Seeds: the default build's `manifest.json` and `update/bundle.json`
/// when built, and documents made here for every reader.
pub fn seeds(src: &SeedSources) -> anyhow::Result<Vec<Seed>> {
    let mut out = vec![];
    let mut add = |reader: u8, name: &str, text: &[u8]| {
        let mut data = vec![reader];
        data.extend_from_slice(text);
        out.push(Seed {
            target: "manifest",
            name: name.into(),
            data,
        });
    };
    if let Ok(text) = std::fs::read(src.build.join("update/bundle.json")) {
        add(0, "default-update-bundle", &text);
    }
    if let Ok(text) = std::fs::read(src.build.join("manifest.json")) {
        add(3, "default-build-manifest", &text);
    }
    let hash = "ab".repeat(32);
    add(
        0,
        "update-bundle",
        format!(
            r#"{{"format":1,"version":"1.2.3","usr":{{"file":"usr.img","size":4096,"sha256":"{hash}"}},"bootloader":null}}"#
        )
        .as_bytes(),
    );
    add(
        1,
        "netboot-manifest",
        format!(
            r#"{{"version":1,"base-url":"http://10.0.2.2/","image":{{"blob":"blobs/{hash}","compression":"zstd","sha256":"{hash}","size":1048576,"compressed-size":2048,"sector-size":512}},"files":[{{"path":"blobs/{hash}","sha256":"{hash}","size":2048}},{{"path":"boot.ipxe","sha256":"{hash}","size":100}}]}}"#
        )
        .as_bytes(),
    );
    add(
        2,
        "releases-index",
        br#"{"version":1,"releases":["r1","r2"]}"#,
    );
    Ok(out)
}
