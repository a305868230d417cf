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
use std::fs::File;
use std::os::unix::fs::MetadataExt;
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
/// `build(dir)` fills a fresh directory that then joins the cache. Shared
/// by every test that builds the same image: never modify it (copy it
/// with [`copy_tree`]). While the returned [`Entry`] lives, the entry is
/// not evicted.
pub fn cached_entry(key: &BuildKey, build: impl FnOnce(&Path)) -> Entry {
    let digest = digest(key);
    let cache = crate::repo().join("target/test-images");
    // Named by the sources too, so entries of older sources can go.
    let entry = cache.join(format!("{}-{digest}", &sources_fingerprint()[..12]));
    if let Some(e) = Entry::open(&entry) {
        // The entry's mtime is its last use (see `prune`, `evict`).
        let _ = e.lock.set_modified(SystemTime::now());
        return e;
    }
    let tmp = cache.join(format!(".tmp-{digest}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    build(&tmp);
    blobs::share(&tmp, &cache.join(BLOBS));
    let lock = File::open(&tmp).unwrap();
    lock.lock_shared().unwrap();
    if std::fs::rename(&tmp, &entry).is_err() {
        // Another process won the race: its copy is as good.
        let _ = std::fs::remove_dir_all(&tmp);
        return Entry::open(&entry).expect("a cache entry another test just added");
    }
    // Ours is locked (shared), so eviction passes it by.
    evict(&cache, budget());
    prune(&cache);
    prune_compress_cache();
    Entry { path: entry, lock }
}

/// A cache entry in use: it holds a shared `flock` on the entry's
/// directory, and [`evict`] leaves locked entries alone.
pub struct Entry {
    path: PathBuf,
    lock: File,
}

impl Entry {
    /// The entry at `path` if it is there, locked.
    fn open(path: &Path) -> Option<Entry> {
        let lock = File::open(path).ok()?;
        lock.lock_shared().ok()?;
        // Evicted between the open and the lock: the name is gone.
        let same = |m: std::fs::Metadata, n: std::fs::Metadata| m.ino() == n.ino();
        same(lock.metadata().ok()?, std::fs::metadata(path).ok()?).then(|| Entry {
            path: path.to_path_buf(),
            lock,
        })
    }
}

impl std::ops::Deref for Entry {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

/// The cache's size limit: `METALOS_TEST_IMAGE_CACHE_GB` (default 2).
/// A clean-clone run builds about 40 images (3.4 GB after [`blobs`]);
/// most are booted by one test, so keeping them all only costs disk.
fn budget() -> u64 {
    let gb: f64 = std::env::var("METALOS_TEST_IMAGE_CACHE_GB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2.0);
    (gb * 1e9) as u64
}

/// Removes the least recently used entries that no test holds until the
/// cache (entries' own files plus the blobs) fits in `limit` bytes. Blobs
/// they leave unused go with the next [`prune`].
fn evict(cache: &Path, limit: u64) {
    let Ok(dir) = std::fs::read_dir(cache) else {
        return;
    };
    let mut entries: Vec<(SystemTime, PathBuf, u64)> = dir
        .flatten()
        .filter(|e| e.file_name() != BLOBS && !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .map(|(used, path)| {
            let size = own_bytes(&path);
            (used, path, size)
        })
        .collect();
    entries.sort();
    let mut total: u64 = entries.iter().map(|e| e.2).sum::<u64>() + own_bytes(&cache.join(BLOBS));
    for (_, path, size) in entries {
        if total <= limit {
            break;
        }
        let Ok(lock) = File::open(&path) else {
            continue;
        };
        if lock.try_lock().is_err() {
            continue; // in use
        }
        let dead = cache.join(format!(".evicted-{}", std::process::id()));
        if std::fs::rename(&path, &dead).is_ok() {
            let _ = std::fs::remove_dir_all(&dead);
            total = total.saturating_sub(size);
        }
    }
}

/// Disk space of the files under `dir` that nothing else links to (for an
/// entry: what removing it frees; its blobs are counted once, in `blobs/`).
/// Tolerates entries vanishing meanwhile (another test evicting).
fn own_bytes(dir: &Path) -> u64 {
    let blobs = dir.ends_with(BLOBS);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .filter_map(|e| Some((e.path(), e.metadata().ok()?)))
        .map(|(path, m)| match () {
            _ if m.is_dir() => own_bytes(&path),
            _ if m.nlink() == 1 || blobs => m.blocks() * 512,
            _ => 0,
        })
        .sum()
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
pub fn copy_tree(from: &Path, to: &Path) {
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

fn digest(key: &BuildKey) -> String {
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
        let bytes = std::fs::read(hc).unwrap_or_else(|e| panic!("{}: {e}", hc.display()));
        field("host-config", &bytes);
    }
    for (name, entry) in &key.inputs.inputs {
        field("input", name.as_bytes());
        field("path", entry.path.as_os_str().as_encoded_bytes());
        field("sha256", entry.sha256.as_bytes());
    }
    hex::encode(h.finalize())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry of 1 MiB, last used `age_s` seconds ago.
    fn entry(cache: &Path, name: &str, age_s: u64) -> PathBuf {
        let dir = cache.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("disk.img"), vec![1u8; 1 << 20]).unwrap();
        let used = SystemTime::now() - Duration::from_secs(age_s);
        File::open(&dir).unwrap().set_modified(used).unwrap();
        dir
    }

    #[test]
    fn eviction_removes_the_least_recently_used_entries_nobody_holds() {
        let cache = tempfile::tempdir().unwrap();
        let held = entry(cache.path(), "held", 400);
        let oldest_free = entry(cache.path(), "old", 300);
        let middle = entry(cache.path(), "middle", 200);
        let newest = entry(cache.path(), "new", 100);
        let _in_use = Entry::open(&held).unwrap();
        // Four entries of 1 MiB, one held: evicting one is enough.
        evict(cache.path(), (3 << 20) + (64 << 10));
        assert!(held.is_dir(), "a held entry stays, however old");
        assert!(!oldest_free.exists(), "least recently used goes first");
        assert!(middle.is_dir() && newest.is_dir(), "the rest fits");
        // Nothing fits: all but the held ones go (the newest is the one
        // a build has just added, held by its builder).
        let _just_built = Entry::open(&newest).unwrap();
        evict(cache.path(), 0);
        assert!(held.is_dir() && newest.is_dir() && !middle.exists());
        assert!(Entry::open(&middle).is_none());
    }
}
