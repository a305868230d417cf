//! `metalos build`: spec + inputs → `disk.img` + `manifest.json`, written
//! through temp files that are renamed only once everything succeeded.

use crate::artifacts::build_artifacts;
use crate::bundle_writer::write_bundle;
use crate::contents::{resolve_contents, Contents};
use crate::disk_writer::{DiskWriter, WrittenDisk};
use crate::error::{output_error, BuildError};
use crate::layout::{self, Placement};
use crate::manifest::{
    ArtifactRecord, BuildManifest, DiskRecord, PartitionRecord, MANIFEST_VERSION,
};
use crate::signing::BuildKeys;
use metalos_config::spec::{ContentKind, ImageSpec};
use metalos_config::{FieldError, Resolver};
use metalos_disk::guid::SENTINEL_DISK_GUID;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tempfile::{NamedTempFile, TempDir};

pub use crate::contents::HOST_CONFIG_ESP_PATH;

/// Name of the image file in the output directory.
pub const DISK_FILE: &str = "disk.img";
/// Directory of the update bundle in the output directory.
pub const UPDATE_DIR: &str = "update";
/// Name of the manifest in the output directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Build settings that do not come from the spec.
pub struct BuildOptions<'a> {
    /// Output directory (created if missing).
    pub out_dir: PathBuf,
    /// Overrides `disk.source-date-epoch` (from `SOURCE_DATE_EPOCH`).
    pub source_date_epoch: Option<u64>,
    /// Called with a short description as each step starts.
    pub progress: &'a dyn Fn(&str),
    /// Key directory (`metalos keys generate`) to sign with; overrides the
    /// spec's `[signing] keys`. See [`crate::signing`].
    pub signing_keys: Option<PathBuf>,
    /// Directory of compressed initrd archives to reuse and add to
    /// ([`metalos_initrd::compress::compress_cached`]): a rebuild whose
    /// initrds did not change skips their zstd pass. `None`: no cache.
    pub cache_dir: Option<PathBuf>,
}

/// Builds the image described by `spec` into `options.out_dir`.
pub fn build(
    spec: &ImageSpec,
    resolver: &Resolver,
    options: &BuildOptions,
) -> Result<BuildManifest, BuildError> {
    let progress = options.progress;
    progress("checking the layout and inputs");
    let placements = check_layout(spec)?;
    let epoch = options
        .source_date_epoch
        .unwrap_or(spec.disk.source_date_epoch);
    let out = &options.out_dir;
    std::fs::create_dir_all(out).map_err(output_error(out))?;
    let artifacts_tmp = tempfile::Builder::new()
        .prefix(".artifacts.")
        .tempdir_in(out)
        .map_err(output_error(out))?;
    let keys = crate::signing::load(spec, resolver, options.signing_keys.as_deref())?;
    let mut resolver = resolver.clone();
    let initrd_options = metalos_initrd::BuildOptions {
        mtime: epoch,
        cache: options.cache_dir.clone(),
    };
    let artifacts = build_artifacts(
        spec,
        &mut resolver,
        artifacts_tmp.path(),
        &initrd_options,
        keys.as_ref(),
        progress,
    )?;
    let contents = gather_contents(spec, &resolver, keys.as_ref(), progress)?;
    let disk_tmp = create_disk_file(out, spec.disk.size.0)?;
    // The update bundle is staged while the image is being hashed.
    let (written, bundle_tmp) = DiskWriter {
        spec,
        disk: disk_tmp.as_file(),
        path: disk_tmp.path(),
        contents: &contents,
        epoch,
        key: keys.as_ref().map(|k| &k.key),
        progress,
    }
    .write(&placements, |records| {
        stage_bundle(
            out,
            &disk_tmp,
            &placements,
            records,
            &contents,
            keys.as_ref(),
        )
    })?;
    let manifest = build_manifest(spec, epoch, written, contents, artifacts);
    let staged = Staged {
        manifest: write_manifest_tmp(out, &manifest)?,
        disk: disk_tmp,
        bundle: bundle_tmp,
        artifacts: artifacts_tmp,
    };
    staged.commit(out, !manifest.artifacts.is_empty())?;
    Ok(manifest)
}

/// Validates the spec and places its partitions.
fn check_layout(spec: &ImageSpec) -> Result<Vec<Placement>, FieldError> {
    spec.validate()?;
    let placements = layout::place(spec)?;
    check_fat_sizes(spec, &placements)?;
    Ok(placements)
}

fn check_fat_sizes(spec: &ImageSpec, placements: &[Placement]) -> Result<(), FieldError> {
    for place in placements {
        let p = &spec.partitions[place.index];
        let min = metalos_disk::esp::min_fat32_size(spec.disk.sector_size);
        let what = match p.content {
            ContentKind::Esp => "ESP",
            ContentKind::Oem => "OEM partition",
            ContentKind::Empty | ContentKind::Usr => continue,
        };
        if place.size < min + (1 << 20) {
            return Err(FieldError::new(
                format!("partitions[{}].size", place.index),
                format!(
                    "{} bytes is too small for a FAT32 {what} with {}-byte sectors (use at least {} MiB)",
                    place.size,
                    spec.disk.sector_size,
                    (min >> 20) + 2
                ),
            ));
        }
    }
    Ok(())
}

/// Resolves the ESP and `/usr` contents; with keys, adds the public key to
/// `/usr` and signs the slot's kernels with the db key.
fn gather_contents(
    spec: &ImageSpec,
    resolver: &Resolver,
    keys: Option<&BuildKeys>,
    progress: &dyn Fn(&str),
) -> Result<Contents, BuildError> {
    let mut contents = resolve_contents(spec, resolver)?;
    if let Some(keys) = keys {
        crate::signing::add_usr_pubkey(&mut contents.usr, keys);
        // Before sealing: the descriptor hashes the signed kernel.
        if let Some(db) = &keys.db {
            crate::secureboot::sign_slot_kernels(&mut contents.usr, db, progress)?;
        }
    }
    Ok(contents)
}

/// An empty temp file in `out`, `size` bytes long, for the disk image.
fn create_disk_file(out: &Path, size: u64) -> Result<NamedTempFile, BuildError> {
    let tmp = tempfile::Builder::new()
        .prefix(".disk.img.")
        .tempfile_in(out)
        .map_err(output_error(out))?;
    tmp.as_file()
        .set_len(size)
        .map_err(output_error(tmp.path()))?;
    Ok(tmp)
}

/// Writes the update bundle (when there is a `/usr` partition) and, with
/// keys, signs its manifest.
fn stage_bundle(
    out: &Path,
    disk: &NamedTempFile,
    placements: &[Placement],
    records: &[PartitionRecord],
    contents: &Contents,
    keys: Option<&BuildKeys>,
) -> Result<Option<TempDir>, BuildError> {
    let bundle = write_bundle(out, disk.path(), placements, records, contents)?;
    if let (Some(bundle), Some(keys)) = (&bundle, keys) {
        let path = bundle
            .path()
            .join(metalos_contract::update::BUNDLE_MANIFEST);
        crate::signing::sign_file(&keys.key, &path).map_err(output_error(&path))?;
    }
    Ok(bundle)
}

fn build_manifest(
    spec: &ImageSpec,
    epoch: u64,
    written: WrittenDisk,
    contents: Contents,
    artifacts: BTreeMap<String, ArtifactRecord>,
) -> BuildManifest {
    BuildManifest {
        version: MANIFEST_VERSION,
        seed: spec.disk.seed.clone(),
        source_date_epoch: epoch,
        disk: DiskRecord {
            file: DISK_FILE.into(),
            size: spec.disk.size.0,
            sector_size: spec.disk.sector_size,
            guid: SENTINEL_DISK_GUID.to_string(),
            sha256: written.sha256,
        },
        partitions: written.partitions,
        inputs: contents.inputs,
        artifacts,
    }
}

fn write_manifest_tmp(out: &Path, manifest: &BuildManifest) -> Result<NamedTempFile, BuildError> {
    let err = |source| BuildError::Output {
        path: out.join(MANIFEST_FILE),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".manifest.json.")
        .tempfile_in(out)
        .map_err(err)?;
    let mut text = serde_json::to_string_pretty(manifest).expect("manifest serialises");
    text.push('\n');
    tmp.write_all(text.as_bytes()).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    Ok(tmp)
}

/// The build's output, complete but still under temp names in `out`.
struct Staged {
    disk: NamedTempFile,
    manifest: NamedTempFile,
    bundle: Option<TempDir>,
    artifacts: TempDir,
}

impl Staged {
    /// The commit point: renames everything into place, the disk first.
    /// The artifacts directory is kept only when `keep_artifacts`.
    fn commit(self, out: &Path, keep_artifacts: bool) -> Result<(), BuildError> {
        for f in [self.disk.as_file(), self.manifest.as_file()] {
            // Temp files are created 0600; artifacts are world-readable.
            f.set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(output_error(out))?;
        }
        let disk_path = out.join(DISK_FILE);
        self.disk
            .persist(&disk_path)
            .map_err(|e| BuildError::Output {
                path: disk_path.clone(),
                source: e.error,
            })?;
        let manifest_path = out.join(MANIFEST_FILE);
        if let Err(e) = self.manifest.persist(&manifest_path) {
            let _ = std::fs::remove_file(&disk_path);
            return Err(BuildError::Output {
                path: manifest_path,
                source: e.error,
            });
        }
        if let Some(bundle) = self.bundle {
            replace_dir(bundle, &out.join(UPDATE_DIR))?;
        }
        if keep_artifacts {
            replace_dir(self.artifacts, &out.join("artifacts"))?;
        }
        Ok(())
    }
}

/// Moves a temp directory to `dest` (replacing what was there), 0755.
fn replace_dir(tmp: TempDir, dest: &Path) -> Result<(), BuildError> {
    let _ = std::fs::remove_dir_all(dest);
    let kept = tmp.keep();
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o755))
        .map_err(output_error(&kept))?;
    std::fs::rename(&kept, dest).map_err(output_error(dest))
}
