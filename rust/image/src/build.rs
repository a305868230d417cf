//! `metalos build`: spec + inputs → `disk.img` + `manifest.json`, written
//! through temp files that are renamed only once everything succeeded.

use crate::artifacts::build_artifacts;
use crate::layout::{self, Placement};
use crate::manifest::{
    BuildManifest, DiskRecord, FilesystemRecord, PartitionRecord, MANIFEST_VERSION,
};
use metalos_config::spec::{parse_mode, type_guid, ContentKind, ImageSpec};
use metalos_config::{FieldError, Resolved, Resolver, Source};
use metalos_disk::esp::{write_esp, EspFile, EspOptions};
use metalos_disk::gpt::Partition;
use metalos_disk::gptprio::GptPrio;
use metalos_disk::guid::{filesystem_uuid, partition_guid, SENTINEL_DISK_GUID};
use metalos_disk::sparse::{sha256_range, Region};
use metalos_disk::usrfs::{write_squashfs, SquashfsOptions, UsrNode};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where the HostConfig goes on the ESP.
pub const HOST_CONFIG_ESP_PATH: &str = "metalos/host-config.json";
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
}

/// Why a build failed. Nothing is left in the output directory.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The spec (or a source it names) is wrong.
    #[error(transparent)]
    Spec(#[from] FieldError),
    /// The output could not be written.
    #[error("cannot write {path}: {source}")]
    Output {
        /// File or directory.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// Building a partition's content failed.
    #[error("partition {slot} ({label}): {message}")]
    Partition {
        /// Slot.
        slot: u32,
        /// Label.
        label: String,
        /// What failed.
        message: String,
    },
    /// Writing the partition table failed.
    #[error(transparent)]
    Gpt(#[from] metalos_disk::gpt::GptError),
}

struct Contents {
    esp: Vec<EspFile>,
    usr: Vec<UsrNode>,
    inputs: BTreeMap<String, String>,
}

/// Builds the image described by `spec` into `options.out_dir`.
pub fn build(
    spec: &ImageSpec,
    resolver: &Resolver,
    options: &BuildOptions,
) -> Result<BuildManifest, BuildError> {
    let progress = options.progress;
    progress("checking the layout and inputs");
    spec.validate()?;
    let placements = layout::place(spec)?;
    check_esp_sizes(spec, &placements)?;
    let epoch = options
        .source_date_epoch
        .unwrap_or(spec.disk.source_date_epoch);

    let out = &options.out_dir;
    let out_err = |path: &Path| {
        let path = path.to_owned();
        move |source| BuildError::Output { path, source }
    };
    std::fs::create_dir_all(out).map_err(out_err(out))?;
    let artifacts_tmp = tempfile::Builder::new()
        .prefix(".artifacts.")
        .tempdir_in(out)
        .map_err(out_err(out))?;
    let keys = crate::signing::load(spec, resolver, options.signing_keys.as_deref())?;
    let mut resolver = resolver.clone();
    let artifacts = build_artifacts(
        spec,
        &mut resolver,
        artifacts_tmp.path(),
        epoch,
        keys.as_ref(),
        progress,
    )?;
    let mut contents = resolve_contents(spec, &resolver)?;
    if let Some(keys) = &keys {
        crate::signing::add_usr_pubkey(&mut contents.usr, keys);
        // Before sealing: the descriptor hashes the signed kernel.
        if let Some(db) = &keys.db {
            crate::secureboot::sign_slot_kernels(&mut contents.usr, db, progress)?;
        }
    }
    let tmp = tempfile::Builder::new()
        .prefix(".disk.img.")
        .tempfile_in(out)
        .map_err(out_err(out))?;
    let disk = tmp.as_file();
    disk.set_len(spec.disk.size.0)
        .map_err(out_err(tmp.path()))?;

    let seed = spec.seed();
    let mut gpt = layout::empty_gpt(spec, SENTINEL_DISK_GUID);
    let mut records = vec![];
    let mut per_type: BTreeMap<uuid::Uuid, u64> = BTreeMap::new();
    for place in &placements {
        let p = &spec.partitions[place.index];
        let type_guid = type_guid(&p.type_name).expect("validated");
        let nth = per_type.entry(type_guid).or_default();
        let guid = partition_guid(&seed, &type_guid, *nth);
        *nth += 1;
        let attributes = p
            .gptprio
            .map(|g| {
                GptPrio {
                    priority: g.priority,
                    tries: g.tries,
                    successful: g.successful,
                }
                .apply(0)
            })
            .unwrap_or(0);
        let region = Region::new(disk, place.offset, place.size);
        let part_err = |message: String| BuildError::Partition {
            slot: p.slot,
            label: p.label.clone(),
            message,
        };
        let filesystem = match p.content {
            ContentKind::Empty => None,
            ContentKind::Esp => {
                progress(&format!(
                    "writing the FAT32 ESP into partition {} ({})",
                    p.slot, p.label
                ));
                let fs_uuid = filesystem_uuid(&guid);
                let volume_id = u32::from_le_bytes(fs_uuid.as_bytes()[..4].try_into().unwrap());
                let esp_options = EspOptions {
                    sector_size: spec.disk.sector_size,
                    volume_id,
                    label: p
                        .label
                        .chars()
                        .filter(|c| c.is_ascii_graphic())
                        .take(11)
                        .collect(),
                    mtime: epoch,
                };
                write_esp(region, &esp_options, &contents.esp)
                    .map_err(|e| part_err(e.to_string()))?;
                Some(FilesystemRecord {
                    kind: "vfat".into(),
                    id: Some(format!(
                        "{:04X}-{:04X}",
                        volume_id >> 16,
                        volume_id & 0xffff
                    )),
                    bytes_used: place.size,
                })
            }
            ContentKind::Usr => {
                progress(&format!(
                    "writing the squashfs /usr into partition {} ({})",
                    p.slot, p.label
                ));
                let sq = SquashfsOptions {
                    zstd_level: spec.usr.compression_level,
                    mtime: u32::try_from(epoch).unwrap_or(u32::MAX),
                };
                let info = write_squashfs(region, &contents.usr, sq)
                    .map_err(|e| part_err(e.to_string()))?;
                progress(&format!("sealing /usr slot {} (dm-verity tree)", p.slot));
                crate::verity::seal_usr_slot(
                    disk,
                    place.offset,
                    place.size,
                    info.bytes_used,
                    &seed,
                    &contents.usr,
                    keys.as_ref().map(|k| &k.key),
                )
                .map_err(part_err)?;
                Some(FilesystemRecord {
                    kind: info.kind.into(),
                    id: None,
                    bytes_used: info.bytes_used,
                })
            }
        };
        let first_lba = place.offset / spec.disk.sector_size;
        gpt.partitions.push(Partition {
            number: p.slot,
            type_guid,
            guid,
            first_lba,
            last_lba: first_lba + place.size / spec.disk.sector_size - 1,
            attributes,
            name: p.label.clone(),
        });
        records.push(PartitionRecord {
            slot: p.slot,
            label: p.label.clone(),
            type_name: p.type_name.clone(),
            type_guid: type_guid.to_string(),
            guid: guid.to_string(),
            offset: place.offset,
            size: place.size,
            attributes: format!("{attributes:#018x}"),
            content: format!("{:?}", p.content).to_lowercase(),
            filesystem,
            sha256: String::new(),
        });
    }
    progress("writing the GPT (protective MBR, primary and backup)");
    gpt.write(disk)?;
    disk.sync_all().map_err(out_err(tmp.path()))?;

    progress("hashing the image and its partitions");
    let disk_hash = hash_all(disk, &placements, spec.disk.size.0).map_err(out_err(tmp.path()))?;
    for (record, hash) in records.iter_mut().zip(&disk_hash.1) {
        record.sha256 = hash.clone();
    }
    let bundle_tmp = write_bundle(out, disk, &placements, &records, &contents)?;
    if let (Some(bundle), Some(keys)) = (&bundle_tmp, &keys) {
        let path = bundle.path().join(crate::bundle::BUNDLE_MANIFEST);
        crate::signing::sign_file(&keys.key, &path).map_err(out_err(&path))?;
    }
    let manifest = BuildManifest {
        version: MANIFEST_VERSION,
        seed: spec.disk.seed.clone(),
        source_date_epoch: epoch,
        disk: DiskRecord {
            file: DISK_FILE.into(),
            size: spec.disk.size.0,
            sector_size: spec.disk.sector_size,
            guid: SENTINEL_DISK_GUID.to_string(),
            sha256: disk_hash.0,
        },
        partitions: records,
        inputs: contents.inputs,
        artifacts,
    };
    let manifest_tmp = write_manifest_tmp(out, &manifest)?;
    for f in [tmp.as_file(), manifest_tmp.as_file()] {
        // Temp files are created 0600; artifacts are world-readable.
        f.set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(out_err(out))?;
    }
    let disk_path = out.join(DISK_FILE);
    tmp.persist(&disk_path).map_err(|e| BuildError::Output {
        path: disk_path.clone(),
        source: e.error,
    })?;
    let manifest_path = out.join(MANIFEST_FILE);
    if let Err(e) = manifest_tmp.persist(&manifest_path) {
        let _ = std::fs::remove_file(&disk_path);
        return Err(BuildError::Output {
            path: manifest_path,
            source: e.error,
        });
    }
    if let Some(bundle) = bundle_tmp {
        let dest = out.join(UPDATE_DIR);
        let _ = std::fs::remove_dir_all(&dest);
        let kept = bundle.keep();
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o755))
            .map_err(out_err(&kept))?;
        std::fs::rename(&kept, &dest).map_err(out_err(&dest))?;
    }
    if !manifest.artifacts.is_empty() {
        let dest = out.join("artifacts");
        let _ = std::fs::remove_dir_all(&dest);
        let kept = artifacts_tmp.keep();
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o755))
            .map_err(out_err(&kept))?;
        std::fs::rename(&kept, &dest).map_err(out_err(&dest))?;
    }
    Ok(manifest)
}

/// Writes the update bundle (see [`crate::bundle`]) into a temp dir in
/// `out`, when the image has a /usr partition.
fn write_bundle(
    out: &Path,
    disk: &File,
    placements: &[Placement],
    records: &[PartitionRecord],
    contents: &Contents,
) -> Result<Option<tempfile::TempDir>, BuildError> {
    use crate::bundle::{
        os_release_version, BundleFile, BundleManifest, BUNDLE_FORMAT, BUNDLE_MANIFEST,
    };
    use sha2::{Digest, Sha256};
    let Some((place, rec)) = placements
        .iter()
        .zip(records)
        .find(|(_, r)| r.content == "usr")
    else {
        return Ok(None);
    };
    let err = |path: &Path| {
        let path = path.to_owned();
        move |source| BuildError::Output { path, source }
    };
    let dir = tempfile::Builder::new()
        .prefix(".update.")
        .tempdir_in(out)
        .map_err(err(out))?;
    let used = rec
        .filesystem
        .as_ref()
        .map(|f| f.bytes_used)
        .unwrap_or(place.size);
    // The squashfs and its verity area (tree + descriptor): a staged slot is verifiable.
    let len = metalos_disk::verity::SlotLayout::for_data_size(used).end;
    let mut usr = vec![0u8; len.min(place.size) as usize];
    disk.read_exact_at(&mut usr, place.offset)
        .map_err(err(out))?;
    let save = |name: &str, bytes: &[u8]| -> Result<BundleFile, BuildError> {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).map_err(err(&path))?;
        Ok(BundleFile {
            file: name.into(),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(bytes)),
        })
    };
    let usr = save("usr.img", &usr)?;
    let bootloader = match contents
        .esp
        .iter()
        .find(|f| f.path.eq_ignore_ascii_case("EFI/BOOT/BOOTX64.EFI"))
    {
        Some(f) => Some(save(
            "bootloader.efi",
            &f.content.read().map_err(err(out))?,
        )?),
        None => None,
    };
    let version = contents
        .usr
        .iter()
        .find_map(|n| match n {
            UsrNode::File { path, content, .. } if path.ends_with("os-release") => {
                content.read().ok()
            }
            _ => None,
        })
        .and_then(|b| os_release_version(&String::from_utf8_lossy(&b)))
        .unwrap_or_else(|| "unknown".into());
    let manifest = BundleManifest {
        format: BUNDLE_FORMAT,
        version,
        usr,
        bootloader,
    };
    let text = serde_json::to_string_pretty(&manifest).expect("serialises") + "\n";
    let path = dir.path().join(BUNDLE_MANIFEST);
    std::fs::write(&path, text).map_err(err(&path))?;
    Ok(Some(dir))
}

fn write_manifest_tmp(
    out: &Path,
    manifest: &BuildManifest,
) -> Result<tempfile::NamedTempFile, BuildError> {
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

fn check_esp_sizes(spec: &ImageSpec, placements: &[Placement]) -> Result<(), FieldError> {
    for place in placements {
        let p = &spec.partitions[place.index];
        let min = metalos_disk::esp::min_fat32_size(spec.disk.sector_size);
        if p.content == ContentKind::Esp && place.size < min + (1 << 20) {
            return Err(FieldError::new(
                format!("partitions[{}].size", place.index),
                format!(
                    "{} bytes is too small for a FAT32 ESP with {}-byte sectors (use at least {} MiB)",
                    place.size,
                    spec.disk.sector_size,
                    (min >> 20) + 2
                ),
            ));
        }
    }
    Ok(())
}

fn resolve_contents(spec: &ImageSpec, resolver: &Resolver) -> Result<Contents, FieldError> {
    let mut inputs = BTreeMap::new();
    let mut resolve = |source: &Source, field: String| -> Result<Resolved, FieldError> {
        let resolved = resolver.resolve(source, &field)?;
        if let Some(name) = &source.input {
            let entry = &resolver.inputs.inputs[name];
            inputs.insert(name.clone(), entry.sha256.clone());
        }
        if let Resolved::Path(p) = &resolved {
            if !p.is_file() {
                return Err(FieldError::new(
                    field,
                    format!("{} is not a regular file", p.display()),
                ));
            }
        }
        Ok(resolved)
    };
    let mut esp = vec![];
    for (i, f) in spec.esp.files.iter().enumerate() {
        let content = resolve(&f.source, format!("esp.files[{i}].source"))?;
        esp.push(EspFile {
            path: f.path.clone(),
            content,
        });
    }
    if let Some(hc) = &spec.host_config {
        let content = resolve(&hc.default, "host-config.default".into())?;
        let bytes = content
            .read()
            .map_err(|e| FieldError::new("host-config.default", format!("cannot read: {e}")))?;
        let text = String::from_utf8(bytes.clone())
            .map_err(|_| FieldError::new("host-config.default", "the HostConfig is not UTF-8"))?;
        let parsed = metalos_config::hostconfig::HostConfig::from_json(&text).map_err(|e| {
            FieldError::new("host-config.default", format!("invalid HostConfig: {e}"))
        })?;
        if let Some(p) = &parsed.provisioning {
            metalos_ignition::parse::check_provisioning(p).map_err(|e| {
                FieldError::new("host-config.default", format!("invalid HostConfig: {e}"))
            })?;
        }
        esp.push(EspFile {
            path: HOST_CONFIG_ESP_PATH.into(),
            content: Resolved::Bytes(bytes),
        });
    }
    let mut usr = vec![];
    let mode = |m: &Option<String>, default: u16| {
        m.as_deref()
            .map(|m| parse_mode(m).expect("validated"))
            .unwrap_or(default)
    };
    for d in &spec.usr.directories {
        usr.push(UsrNode::dir(d.path.clone(), mode(&d.mode, 0o755)));
    }
    for (i, f) in spec.usr.files.iter().enumerate() {
        let content = resolve(&f.source, format!("usr.files[{i}].source"))?;
        usr.push(UsrNode::file(f.path.clone(), mode(&f.mode, 0o644), content));
    }
    for l in &spec.usr.symlinks {
        usr.push(UsrNode::symlink(l.path.clone(), l.target.clone()));
    }
    let mut trees = vec![];
    for (i, t) in spec.usr.trees.iter().enumerate() {
        let field = format!("usr.trees[{i}]");
        let root = match resolve_dir(resolver, &t.source, &format!("{field}.source"))? {
            Resolved::Path(p) => p,
            Resolved::Bytes(_) => unreachable!("validated: trees are not `text`"),
        };
        if let Some(name) = &t.source.input {
            inputs.insert(name.clone(), resolver.inputs.inputs[name].sha256.clone());
        }
        let nodes = crate::usrtree::walk_tree(&root, &t.path, &t.exclude)
            .map_err(|m| FieldError::new(format!("{field}.source"), m))?;
        trees.push((field, nodes));
    }
    let usr = crate::usrtree::merge(usr, trees)?;
    Ok(Contents { esp, usr, inputs })
}

/// Resolves a tree source, which must be a directory.
fn resolve_dir(resolver: &Resolver, source: &Source, field: &str) -> Result<Resolved, FieldError> {
    let resolved = resolver.resolve(source, field)?;
    if let Resolved::Path(p) = &resolved {
        if !p.is_dir() {
            return Err(FieldError::new(
                field,
                format!("{} is not a directory", p.display()),
            ));
        }
    }
    Ok(resolved)
}

/// sha256 of the whole disk and of each placed partition, computed on two
/// threads (whole disk | partitions) since the machine has few cores.
fn hash_all(
    disk: &File,
    placements: &[Placement],
    size: u64,
) -> std::io::Result<(String, Vec<String>)> {
    std::thread::scope(|s| {
        let whole = s.spawn(|| sha256_range(disk, 0, size));
        let parts: std::io::Result<Vec<String>> = placements
            .iter()
            .map(|p| sha256_range(disk, p.offset, p.size))
            .collect();
        Ok((whole.join().expect("hash thread")?, parts?))
    })
}
