//! `metalos netboot publish`: copies a bundle into a served tree.
//!
//! Layout of the destination (served at the bundle's base URL):
//!
//! ```text
//! DEST/blobs/sha256/<hex>        immutable, content-addressed, shared by releases
//! DEST/releases/<id>/            one complete bundle without its blobs:
//!                                boot.ipxe, imaging.efi, manifest.json, hosts/…
//! DEST/releases.json             publish order (oldest first), written atomically
//! DEST/current -> releases/<id>  the served release (a symlink, swapped by rename)
//! DEST/boot.ipxe -> current/boot.ipxe          entry points: fixed symlinks
//! DEST/imaging.efi -> current/imaging.efi      through `current`
//! DEST/manifest.json -> current/manifest.json
//! DEST/hosts -> current/hosts
//! ```
//!
//! `<id>` is the first 16 hex digits of the bundle manifest's sha256. The
//! steps, each of them crash-safe: copy missing blobs (temp + rename), write
//! the release into a temp directory renamed to `releases/<id>`, record it
//! in `releases.json`, make sure the entry-point symlinks exist, swap
//! `current` (one rename switches every entry point at once), then collect
//! garbage: releases beyond the newest `keep` (never the current one) and
//! blobs that no kept release references (release channels under
//! `DEST/updates/` share the blobs; theirs are always kept). Until the swap the previous
//! release is served unchanged; after it the new one is complete.
//! Publishing the same bundle again writes nothing.

use crate::error::{io, NetbootError, Result};
use crate::fsutil;
use crate::manifest::{self, NetbootManifest, MANIFEST_FILE};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

/// The release index file in DEST.
pub const INDEX_FILE: &str = "releases.json";
/// The symlink naming the served release.
pub const CURRENT: &str = "current";
/// Directory of the releases.
pub const RELEASES_DIR: &str = "releases";

/// The points [`publish`] reports to its fault hook, in order.
pub const STEPS: &[&str] = &["blobs", "release", "index", "links", "switch", "gc"];

/// `releases.json`: release ids, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseIndex {
    /// Format version (1).
    pub version: u32,
    /// Release ids in publish order, the newest last.
    pub releases: Vec<String>,
}

/// How to publish.
pub struct PublishOptions<'a> {
    /// Releases to keep (the newest; at least 1).
    pub keep: usize,
    /// Called after each step of [`STEPS`] (tests stop the process there).
    pub fault: &'a dyn Fn(&str),
    /// Progress lines.
    pub progress: &'a dyn Fn(&str),
}

/// What [`publish`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishReport {
    /// The release id now served.
    pub release: String,
    /// Blobs copied (0 when all were present).
    pub blobs_copied: usize,
    /// `false` when the release was already served (nothing changed).
    pub switched: bool,
    /// Releases removed by gc.
    pub releases_removed: Vec<String>,
    /// Blobs removed by gc.
    pub blobs_removed: usize,
}

/// The release id of a bundle: 16 hex digits of its manifest's sha256.
pub fn release_id(manifest_bytes: &[u8]) -> String {
    fsutil::sha256_hex(manifest_bytes)[..16].to_string()
}

/// Publishes `bundle` into `dest` (see the module docs).
pub fn publish(bundle: &Path, dest: &Path, opts: &PublishOptions<'_>) -> Result<PublishReport> {
    if opts.keep == 0 {
        return Err(NetbootError::Invalid {
            path: dest.to_owned(),
            reason: "--keep must be at least 1 (the served release is always kept)".into(),
        });
    }
    let manifest_path = bundle.join(MANIFEST_FILE);
    let manifest_bytes = std::fs::read(&manifest_path).map_err(io(&manifest_path))?;
    let manifest = manifest::load(&manifest_path)?;
    (opts.progress)(&format!("verifying {}", bundle.display()));
    manifest::verify_files(bundle, &manifest)?;
    let id = release_id(&manifest_bytes);
    fsutil::create_dir(dest)?;
    let blobs_dir = dest.join("blobs/sha256");
    fsutil::create_dir(&blobs_dir)?;
    fsutil::create_dir(&dest.join(RELEASES_DIR))?;

    let mut blobs_copied = 0;
    for f in manifest.blobs() {
        let target = dest.join(&f.path);
        if target.exists() && fsutil::file_sha256(&target)?.0 == f.sha256 {
            continue;
        }
        (opts.progress)(&format!("copying {}", f.path));
        if let Some(parent) = target.parent() {
            fsutil::create_dir(parent)?;
        }
        fsutil::copy_atomic(&bundle.join(&f.path), &target)?;
        blobs_copied += 1;
    }
    (opts.fault)("blobs");

    let release = dest.join(RELEASES_DIR).join(&id);
    if !release.exists() {
        (opts.progress)(&format!("writing release {id}"));
        write_release(bundle, &manifest, &manifest_bytes, &release)?;
    }
    (opts.fault)("release");

    let mut index = load_index(dest)?;
    if index.releases.last() != Some(&id) {
        index.releases.retain(|r| *r != id);
        index.releases.push(id.clone());
        save_index(dest, &index)?;
    }
    (opts.fault)("index");

    let signed = bundle.join(crate::bundle::SIGNATURE_FILE).is_file();
    let sig_link = signed.then_some(crate::bundle::SIGNATURE_FILE);
    let names = ["boot.ipxe", "imaging.efi", MANIFEST_FILE, "hosts"];
    for name in names.into_iter().chain(sig_link) {
        // manifest.json.sig: created with the first signed release; it
        // answers 404 while an unsigned release is served.
        fsutil::symlink_atomic(&format!("{CURRENT}/{name}"), &dest.join(name))?;
    }
    (opts.fault)("links");

    let switched = fsutil::symlink_atomic(&format!("{RELEASES_DIR}/{id}"), &dest.join(CURRENT))?;
    if switched {
        (opts.progress)(&format!("serving release {id}"));
    }
    (opts.fault)("switch");

    let (releases_removed, blobs_removed) = gc(dest, &id, opts.keep, opts.fault)?;
    Ok(PublishReport {
        release: id,
        blobs_copied,
        switched,
        releases_removed,
        blobs_removed,
    })
}

/// Writes the release's non-blob files into a temp dir renamed to `release`.
fn write_release(
    bundle: &Path,
    manifest: &NetbootManifest,
    manifest_bytes: &[u8],
    release: &Path,
) -> Result<()> {
    let parent = release.parent().expect("release dir has a parent");
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-release.")
        .tempdir_in(parent)
        .map_err(io(parent))?;
    fsutil::create_dir(tmp.path())?;
    // An empty hosts/ keeps the `hosts` entry point valid.
    fsutil::create_dir(&tmp.path().join("hosts"))?;
    for f in manifest.entry_files() {
        let target = tmp.path().join(&f.path);
        if let Some(p) = target.parent() {
            fsutil::create_dir(p)?;
        }
        fsutil::copy_atomic(&bundle.join(&f.path), &target)?;
    }
    fsutil::write_atomic(&tmp.path().join(MANIFEST_FILE), manifest_bytes)?;
    // The signature, when the bundle is signed (its entry point then resolves).
    let sig = bundle.join(crate::bundle::SIGNATURE_FILE);
    if sig.is_file() {
        fsutil::copy_atomic(&sig, &tmp.path().join(crate::bundle::SIGNATURE_FILE))?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, release).map_err(io(release))?;
    fsutil::sync_dir(parent)
}

/// Reads `releases.json` (empty when absent).
pub fn load_index(dest: &Path) -> Result<ReleaseIndex> {
    let path = dest.join(INDEX_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_index(&text, &path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ReleaseIndex {
            version: 1,
            releases: Vec::new(),
        }),
        Err(e) => Err(io(path)(e)),
    }
}

/// Parses `releases.json` text (errors name `path`). Every release is a
/// [`release_id`]: the ids name directories under `releases/`.
pub fn parse_index(text: &str, path: &Path) -> Result<ReleaseIndex> {
    let bad = |reason: String| NetbootError::Json {
        path: path.to_owned(),
        reason,
    };
    let index: ReleaseIndex = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if let Some(id) = index.releases.iter().find(|id| !is_release_id(id)) {
        return Err(bad(format!(
            "releases: {id:?} is not a release id (16 lower-case hex digits)"
        )));
    }
    Ok(index)
}

/// `true` for what [`release_id`] returns: 16 lower-case hex digits.
pub fn is_release_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn save_index(dest: &Path, index: &ReleaseIndex) -> Result<()> {
    let mut text = serde_json::to_string_pretty(index).expect("index serialises");
    text.push('\n');
    fsutil::write_atomic(&dest.join(INDEX_FILE), text.as_bytes())
}

/// The release `current` points at, if any.
pub fn current_release(dest: &Path) -> Option<String> {
    let target = std::fs::read_link(dest.join(CURRENT)).ok()?;
    let name = target.strip_prefix(RELEASES_DIR).ok()?;
    Some(name.to_string_lossy().into_owned())
}

/// Keeps the newest `keep` releases plus the current one, removes the
/// other release directories (and leftovers of interrupted publishes), then
/// every blob that neither a kept release nor a release channel
/// ([`crate::channel::referenced_blobs`]) references.
fn gc(
    dest: &Path,
    current: &str,
    keep: usize,
    fault: &dyn Fn(&str),
) -> Result<(Vec<String>, usize)> {
    let mut index = load_index(dest)?;
    let start = index.releases.len().saturating_sub(keep);
    let mut kept: Vec<String> = index.releases[start..].to_vec();
    if !kept.iter().any(|r| r == current) {
        kept.push(current.to_string());
    }
    if kept != index.releases {
        index.releases = kept.clone();
        save_index(dest, &index)?;
    }
    fault("gc");
    let releases_dir = dest.join(RELEASES_DIR);
    let blobs_dir = dest.join("blobs/sha256");
    let mut removed = Vec::new();
    for entry in fsutil::sorted_entries(&releases_dir)? {
        let name = entry
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if kept.contains(&name) {
            continue;
        }
        fsutil::remove_any(&entry)?;
        if !name.starts_with('.') {
            removed.push(name);
        }
    }
    let mut referenced = BTreeSet::new();
    for id in &kept {
        let path = releases_dir.join(id).join(MANIFEST_FILE);
        let m = manifest::load(&path)?;
        referenced.extend(m.blobs().map(|f| dest.join(&f.path)));
    }
    // Release channels (`DEST/updates/`) share the blobs and are never collected.
    let channel_blobs = crate::channel::referenced_blobs(dest)?;
    referenced.extend(channel_blobs.iter().map(|hex| blobs_dir.join(hex)));
    let mut blobs_removed = 0;
    for entry in fsutil::sorted_entries(&blobs_dir)? {
        if !referenced.contains(&entry) {
            fsutil::remove_any(&entry)?;
            blobs_removed += 1;
        }
    }
    if !removed.is_empty() || blobs_removed > 0 {
        fsutil::sync_dir(&releases_dir)?;
        fsutil::sync_dir(&blobs_dir)?;
    }
    Ok((removed, blobs_removed))
}

/// Checks that DEST serves one complete release: `manifest.json` through
/// the entry points, and every file it lists (blobs included) with the
/// right sha256 and size. Returns the served manifest.
pub fn verify_served(dest: &Path) -> Result<NetbootManifest> {
    let m = manifest::load(&dest.join(MANIFEST_FILE))?;
    manifest::verify_files(dest, &m)?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_names_releases_by_id_only() {
        let path = Path::new("releases.json");
        let id = release_id(b"manifest");
        let ok = format!(r#"{{"version":1,"releases":["{id}"]}}"#);
        assert_eq!(parse_index(&ok, path).unwrap().releases, vec![id]);
        for bad in [
            "../../etc",
            "",
            "0123456789ABCDEF",
            "0123456789abcdef0",
            "/tmp",
        ] {
            let text = format!(r#"{{"version":1,"releases":["{bad}"]}}"#);
            assert!(parse_index(&text, path).is_err(), "{bad:?} accepted");
        }
    }

    fn quiet() -> PublishOptions<'static> {
        PublishOptions {
            keep: 1,
            fault: &|_| {},
            progress: &|_| {},
        }
    }

    #[test]
    fn gc_keeps_the_blobs_of_release_channels() {
        use crate::channel::{publish_release, ReleaseOptions};
        use crate::testutil::{netboot_bundle, update_bundle};
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("srv");
        publish(&netboot_bundle(dir.path(), 1), &dest, &quiet()).unwrap();
        let update = update_bundle(dir.path(), "1.0", 7, None);
        let opts = ReleaseOptions {
            channel: "stable",
            key: None,
            rollout: Default::default(),
            barrier: false,
            now: 0,
            fault: &|_| {},
            progress: &|_| {},
        };
        publish_release(&update, &dest, &opts).unwrap();
        let channel_blobs = crate::channel::referenced_blobs(&dest).unwrap();
        assert_eq!(channel_blobs.len(), 2, "usr.img and bootloader.efi");
        let r = publish(&netboot_bundle(dir.path(), 2), &dest, &quiet()).unwrap();
        assert_eq!(r.blobs_removed, 1, "only the first netboot blob goes");
        for hex in &channel_blobs {
            let (sha, _) = fsutil::file_sha256(&dest.join("blobs/sha256").join(hex)).unwrap();
            assert_eq!(&sha, hex);
        }
        assert_eq!(
            fsutil::sorted_entries(&dest.join("blobs/sha256"))
                .unwrap()
                .len(),
            3
        );
    }
}
