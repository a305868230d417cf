//! A content-addressed cache of built images under `target/test-images/`,
//! so each image a VM test boots is built once per run (and per source
//! change), however many tests and test processes boot it.
//!
//! The key covers everything a build reads: the spec text, the HostConfig
//! bytes, every input (its recorded sha256), and a fingerprint of the
//! build code compiled into the tests (`rust/`, `Cargo.lock`; build.rs)
//! and of the image sources (`images/`). A test gets its own copy of the
//! output (sparse), so booting and writing it never touches the cached one.
//! Files that entries have in common are stored once ([`blobs`]).

mod blobs;

use crate::walk::walk;
use metalos_config::InputsManifest;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// Bumped when the cache layout or key changes.
const FORMAT: &str = "metalos-test-images v1";

/// Entries unused for this long are removed when a new one is added.
const MAX_UNUSED: Duration = Duration::from_secs(24 * 3600);

/// Entries built from other sources are removed after this long unused.
const STALE_GRACE: Duration = Duration::from_secs(600);

/// The directory of shared files, beside the entries.
const BLOBS: &str = "blobs";

/// What a build reads besides the build code: its spec and host config.
pub struct BuildKey<'a> {
    /// The spec's file name in `images/`.
    pub spec_name: &'a str,
    /// The spec text after the test's edits.
    pub spec_text: &'a str,
    /// The HostConfig file that replaces the spec's, if any.
    pub host_config: Option<&'a Path>,
    /// The inputs the build resolves against.
    pub inputs: &'a InputsManifest,
}

/// The output directory for `key`: from the cache when it is there, else
/// `build(dir)` fills a fresh directory that then joins the cache. The
/// result is copied into `out`. Without a usable key (an unreadable
/// HostConfig) it simply builds into `out`.
pub fn build_cached(key: &BuildKey, out: &Path, build: impl FnOnce(&Path)) {
    let Some(digest) = digest(key) else {
        return build(out);
    };
    let cache = crate::repo().join("target/test-images");
    // Named by the sources too, so entries of older sources can go.
    let entry = cache.join(format!("{}-{digest}", &sources_fingerprint()[..12]));
    if entry.is_dir() {
        // The entry's mtime is its last use (see `prune`).
        let _ = std::fs::File::open(&entry).and_then(|f| f.set_modified(SystemTime::now()));
    } else {
        let tmp = cache.join(format!(".tmp-{digest}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        build(&tmp);
        blobs::share(&tmp, &cache.join(BLOBS));
        // Another process may have won the race: its copy is as good.
        if std::fs::rename(&tmp, &entry).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        prune(&cache);
        prune_compress_cache();
    }
    copy_tree(&entry, out);
}

/// Removes what no later build can use: entries of other sources (every
/// source change makes new keys; after a grace period, for a run still
/// using them) and anything unused for a day (temp dirs of dead builds too).
fn prune(cache: &Path) {
    let Ok(dir) = std::fs::read_dir(cache) else {
        return;
    };
    let current = &sources_fingerprint()[..12];
    for e in dir.flatten() {
        if e.file_name() == BLOBS {
            continue;
        }
        let age = unused_for(&e);
        let stale = !e.file_name().to_string_lossy().contains(current);
        if age > MAX_UNUSED || (stale && age > STALE_GRACE) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    blobs::prune(&cache.join(BLOBS));
}

/// Removes compressed initrds ([`crate::COMPRESS_CACHE`]) unused for a day:
/// every change to the in-image binaries makes new ones.
fn prune_compress_cache() {
    let Ok(dir) = std::fs::read_dir(crate::repo().join(crate::COMPRESS_CACHE)) else {
        return;
    };
    for e in dir.flatten() {
        if unused_for(&e) > MAX_UNUSED {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Time since `e` was last modified; zero if unknown.
fn unused_for(e: &std::fs::DirEntry) -> Duration {
    e.metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .unwrap_or_default()
}

/// A directory that `build` fills once per source and input change and
/// that every test process then shares: `target/test-fixtures/NAME-KEY`,
/// the key covering the build code, image sources and inputs. `build` gets
/// a fresh directory, which appears under its final name in one rename, so
/// a test never sees a half-built fixture. Tests must not modify what is
/// in it (they may add their own uniquely named entries).
pub fn shared_fixture(name: &str, build: impl FnOnce(&Path)) -> PathBuf {
    let mut h = Sha256::new();
    h.update(FORMAT);
    h.update(sources_fingerprint());
    h.update(serde_json::to_vec(&crate::inputs()).unwrap());
    let key = hex::encode(h.finalize());
    let root = crate::repo().join("target/test-fixtures");
    let dir = root.join(format!(
        "{name}-{}-{}",
        &sources_fingerprint()[..12],
        &key[..16]
    ));
    if !dir.is_dir() {
        let tmp = root.join(format!(".tmp-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        build(&tmp);
        if std::fs::rename(&tmp, &dir).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        prune(&root);
    }
    dir
}

/// Copies an entry for one test: every file its own inode (no
/// `--preserve=links`: files an entry shares through a blob must not stay
/// linked in the copy, where a test may write one of them).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let status = Command::new("cp")
        .args([
            "-R",
            "-P",
            "--preserve=mode,timestamps",
            "--sparse=always",
            "--reflink=auto",
        ])
        .arg(from.join("."))
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success(), "cp {} {}", from.display(), to.display());
}

fn digest(key: &BuildKey) -> Option<String> {
    let mut h = Sha256::new();
    let mut field = |name: &str, bytes: &[u8]| {
        h.update(format!("{name} {}\n", bytes.len()));
        h.update(bytes);
    };
    field("format", FORMAT.as_bytes());
    field("sources", sources_fingerprint().as_bytes());
    field("spec-name", key.spec_name.as_bytes());
    field("spec", key.spec_text.as_bytes());
    if let Some(hc) = key.host_config {
        field("host-config", &std::fs::read(hc).ok()?);
    }
    for (name, entry) in &key.inputs.inputs {
        field("input", name.as_bytes());
        field("path", entry.path.as_os_str().as_encoded_bytes());
        field("sha256", entry.sha256.as_bytes());
    }
    Some(hex::encode(h.finalize()))
}

/// The build code compiled into these tests (`rust/`, `Cargo.lock`, from
/// build.rs) plus sha256 over the path and bytes of every file under
/// `images/` as it is now (specs read them at build time); computed once
/// per process.
fn sources_fingerprint() -> &'static str {
    static FP: OnceLock<String> = OnceLock::new();
    FP.get_or_init(|| {
        let repo = crate::repo();
        let mut files = Vec::new();
        walk(&repo.join("images"), &mut files);
        files.sort();
        let mut h = Sha256::new();
        h.update(env!("METALOS_TEST_CODE_FINGERPRINT"));
        for f in files {
            h.update(
                f.strip_prefix(&repo)
                    .unwrap()
                    .as_os_str()
                    .as_encoded_bytes(),
            );
            h.update([0]);
            h.update(Sha256::digest(std::fs::read(&f).unwrap()));
        }
        hex::encode(h.finalize())
    })
}
