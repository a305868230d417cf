//! A channel directory on disk: reading its graph, writing blobs, release
//! directories and graph versions, each crash-safe (the layout is in the
//! [module docs](super)).

use super::error::{ChannelError, Result};
use super::input::{check_name, Bundle, BUNDLE_SIGNATURE, CURRENT, GRAPHS_DIR};
use crate::error::{io, NetbootError};
use crate::fsutil;
use metalos_contract::graph::{Graph, GRAPH_FILE, GRAPH_SIGNATURE_FILE, UPDATES_DIR};
use metalos_contract::update::{UpdateManifest, BUNDLE_MANIFEST};
use metalos_signing::{SigningKey, VerifyingKey};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Where content-addressed blobs live in DEST (shared with netboot releases).
pub const BLOBS_DIR: &str = "blobs/sha256";

/// A channel as found in DEST.
#[derive(Debug, Clone)]
pub struct Channel {
    /// `DEST/updates/NAME`.
    pub dir: PathBuf,
    /// Its graph (empty when nothing was published yet).
    pub graph: Graph,
    /// `false` before the first publish.
    pub exists: bool,
    /// `true` when the served graph has a signature.
    pub signed: bool,
}

impl Channel {
    /// `DEST/updates/NAME/graph.json`.
    pub fn graph_path(&self) -> PathBuf {
        self.dir.join(GRAPH_FILE)
    }

    /// `DEST/updates/NAME/graph.json.sig`.
    pub fn signature_path(&self) -> PathBuf {
        self.dir.join(GRAPH_SIGNATURE_FILE)
    }

    /// Checks the served signature with `key`.
    pub fn verify_signature(&self, key: &VerifyingKey) -> Result<()> {
        let graph = self.graph_path();
        let bytes = std::fs::read(&graph).map_err(io(&graph))?;
        let sig = self.signature_path();
        metalos_signing::verify_file(key, &bytes, &sig).map_err(|e| ChannelError::Signature {
            path: sig,
            reason: format!("{e}: the channel was signed with another key than --keys"),
        })
    }
}

/// Reads channel `name` of `dest` (`--channel` must be a
/// [`check_name`] name). A channel exists once its `current` link does.
pub fn load(dest: &Path, name: &str) -> Result<Channel> {
    check_name(name).map_err(|reason| ChannelError::Option {
        option: "--channel",
        reason: format!("{name:?}: {reason}"),
    })?;
    let dir = dest.join(UPDATES_DIR).join(name);
    let mut ch = Channel {
        exists: std::fs::symlink_metadata(dir.join(CURRENT)).is_ok(),
        dir,
        graph: Graph::default(),
        signed: false,
    };
    if ch.exists {
        let path = ch.graph_path();
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        ch.graph = Graph::parse(&text).map_err(|reason| ChannelError::Graph { path, reason })?;
        ch.signed = ch.signature_path().is_file();
    }
    Ok(ch)
}

/// Copies the bundle's files DEST lacks into `DEST/blobs/sha256/<hex>`
/// (temp + rename). Returns how many were copied.
pub fn copy_blobs(dest: &Path, bundle: &Bundle, progress: &dyn Fn(&str)) -> Result<usize> {
    let blobs = dest.join(BLOBS_DIR);
    fsutil::create_dir(&blobs)?;
    let mut copied = 0;
    for f in bundle.files() {
        let target = blobs.join(&f.sha256);
        if target.is_file() && fsutil::file_sha256(&target)?.0 == f.sha256 {
            continue;
        }
        progress(&format!("copying {} to {}", f.file, target.display()));
        fsutil::copy_atomic(&bundle.dir.join(&f.file), &target)?;
        copied += 1;
    }
    Ok(copied)
}

/// The link a release directory holds for a bundle file.
fn blob_link(sha256: &str) -> String {
    format!("../../../{BLOBS_DIR}/{sha256}")
}

/// Makes `DEST/updates/NAME/<version>/` hold the bundle: `bundle.json`
/// (+ `.sig`) and a relative symlink per file into the blobs. A new
/// directory is written as a temp directory renamed into place; one that
/// the graph does not list yet (an interrupted publish) is replaced; one
/// it lists is only repaired (nothing is written when it is complete).
pub fn write_release_dir(channel_dir: &Path, bundle: &Bundle, listed: bool) -> Result<()> {
    let dir = channel_dir.join(bundle.version());
    let present = std::fs::symlink_metadata(&dir).is_ok();
    if present && listed {
        return fill_release_dir(&dir, bundle);
    }
    if present {
        fsutil::remove_any(&dir)?;
    }
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-release.")
        .tempdir_in(channel_dir)
        .map_err(io(channel_dir))?;
    fsutil::create_dir(tmp.path())?;
    fill_release_dir(tmp.path(), bundle)?;
    let kept = tmp.keep();
    std::fs::rename(&kept, &dir).map_err(io(&dir))?;
    fsutil::sync_dir(channel_dir).map_err(Into::into)
}

/// Writes what differs from the bundle in `dir` (each file atomically).
fn fill_release_dir(dir: &Path, bundle: &Bundle) -> Result<()> {
    let files = [
        (BUNDLE_MANIFEST, Some(&bundle.bytes)),
        (BUNDLE_SIGNATURE, bundle.signature.as_ref()),
    ];
    for (name, bytes) in files {
        let (path, Some(bytes)) = (dir.join(name), bytes) else {
            continue;
        };
        if std::fs::read(&path).ok().as_ref() != Some(bytes) {
            fsutil::write_atomic(&path, bytes)?;
        }
    }
    for f in bundle.files() {
        fsutil::symlink_atomic(&blob_link(&f.sha256), &dir.join(&f.file))?;
    }
    Ok(())
}

/// Serves `graph` (signed with `key`, if given) from `channel_dir`:
///
/// 1. `graphs/<id>/graph.json` (+ `.sig`) written into a temp directory
///    renamed into place (`<id>`: 16 hex digits of the sha256 of both
///    files' bytes);
/// 2. the fixed links `graph.json -> current/graph.json` (and
///    `graph.json.sig`) created if missing;
/// 3. `current -> graphs/<id>` swapped by one rename: the graph and its
///    signature change together;
/// 4. graph versions other than the new and the previous one removed.
///
/// `fault` is called after steps 1–3 (`graph`, `links`, `switch`).
/// Returns `false` (and writes nothing) when that graph is already served.
pub fn write_graph(
    channel_dir: &Path,
    graph: &Graph,
    key: Option<&SigningKey>,
    fault: &dyn Fn(&str),
) -> Result<bool> {
    let bytes = graph.to_json().into_bytes();
    let sig = key.map(|k| metalos_signing::sign(k, &bytes).to_file_bytes());
    let mut both = bytes.clone();
    both.extend(sig.iter().flatten());
    let id = fsutil::sha256_hex(&both)[..16].to_string();
    let target = format!("{GRAPHS_DIR}/{id}");
    let current = channel_dir.join(CURRENT);
    let previous = std::fs::read_link(&current).ok();
    if previous.as_deref() == Some(Path::new(&target)) {
        return Ok(false);
    }
    let graphs = channel_dir.join(GRAPHS_DIR);
    fsutil::create_dir(&graphs)?;
    write_graph_version(&graphs, &id, &bytes, sig.as_deref())?;
    fault("graph");
    let sig_link = sig.is_some().then_some(GRAPH_SIGNATURE_FILE);
    for name in std::iter::once(GRAPH_FILE).chain(sig_link) {
        fsutil::symlink_atomic(&format!("{CURRENT}/{name}"), &channel_dir.join(name))?;
    }
    fault("links");
    fsutil::symlink_atomic(&target, &current)?;
    fault("switch");
    let keep = |p: &Path| {
        let name = p.file_name().unwrap_or_default();
        name == id.as_str()
            || previous
                .as_ref()
                .is_some_and(|t| t.file_name() == Some(name))
    };
    for entry in fsutil::sorted_entries(&graphs)? {
        if !keep(&entry) {
            fsutil::remove_any(&entry)?;
        }
    }
    fsutil::sync_dir(&graphs)?;
    Ok(true)
}

fn write_graph_version(graphs: &Path, id: &str, bytes: &[u8], sig: Option<&[u8]>) -> Result<()> {
    let dir = graphs.join(id);
    if std::fs::symlink_metadata(&dir).is_ok() {
        // Left by an interrupted run; not served.
        fsutil::remove_any(&dir)?;
    }
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-graph.")
        .tempdir_in(graphs)
        .map_err(io(graphs))?;
    fsutil::create_dir(tmp.path())?;
    fsutil::write_atomic(&tmp.path().join(GRAPH_FILE), bytes)?;
    if let Some(sig) = sig {
        fsutil::write_atomic(&tmp.path().join(GRAPH_SIGNATURE_FILE), sig)?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, &dir).map_err(io(&dir))?;
    fsutil::sync_dir(graphs).map_err(Into::into)
}

/// Removes what interrupted runs left in `channel_dir`: its hidden
/// entries (temp files, links and directories; no channel name is hidden).
pub fn remove_leftovers(channel_dir: &Path) -> Result<()> {
    for entry in fsutil::sorted_entries(channel_dir)? {
        if entry
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        {
            fsutil::remove_any(&entry)?;
        }
    }
    Ok(())
}

/// The blobs (sha256 hex) every channel release in `dest` references:
/// the files of each `DEST/updates/*/*/bundle.json`, whether or not the
/// graph lists the release yet. `metalos netboot publish`'s gc keeps them.
pub fn referenced_blobs(dest: &Path) -> crate::Result<BTreeSet<String>> {
    let mut blobs = BTreeSet::new();
    let updates = dest.join(UPDATES_DIR);
    if !updates.is_dir() {
        return Ok(blobs);
    }
    for channel in real_dirs(&updates)? {
        for release in real_dirs(&channel)? {
            let path = release.join(BUNDLE_MANIFEST);
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&path)(e)),
            };
            let m = UpdateManifest::parse(&text)
                .map_err(|reason| NetbootError::Json { path, reason })?;
            blobs.extend(std::iter::once(m.usr).chain(m.bootloader).map(|f| f.sha256));
        }
    }
    Ok(blobs)
}

/// The directories (not symlinks) in `dir`, sorted.
fn real_dirs(dir: &Path) -> crate::Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    for p in fsutil::sorted_entries(dir)? {
        if std::fs::symlink_metadata(&p).map_err(io(&p))?.is_dir() {
            v.push(p);
        }
    }
    Ok(v)
}
