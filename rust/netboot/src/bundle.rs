//! `metalos netboot build`: a bundle directory from a `metalos build` output.

use crate::cmdline::{self, ImageParams};
use crate::error::{io, NetbootError, Result};
use crate::fsutil;
use crate::manifest::{FileRecord, ImageRecord, NetbootManifest, BUNDLE_VERSION, MANIFEST_FILE};
use metalos_config::{HostConfig, MacAddr};
use metalos_image::manifest::BuildManifest;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// The imaging UKI's artifact name in the image build.
pub const IMAGING_UKI: &str = "imaging.efi";
/// The iPXE script's file name.
pub const BOOT_SCRIPT: &str = "boot.ipxe";
/// zstd level of the image blob. Single-threaded, so the blob is the same
/// on every machine.
pub const BLOB_ZSTD_LEVEL: i32 = 9;

/// One `--host MAC=HOSTCONFIG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostArg {
    /// The MAC.
    pub mac: MacAddr,
    /// The HostConfig file.
    pub path: PathBuf,
}

impl HostArg {
    /// Parses `MAC=PATH` (MAC with `:` or `-`).
    pub fn parse(arg: &str) -> Result<Self> {
        let bad = |reason: String| NetbootError::HostArg {
            arg: arg.to_string(),
            reason,
        };
        let (mac, path) = arg
            .split_once('=')
            .ok_or_else(|| bad("expected MAC=HOSTCONFIG.json".into()))?;
        if path.is_empty() {
            return Err(bad("no HostConfig file after `=`".into()));
        }
        Ok(HostArg {
            mac: cmdline::parse_mac(mac).map_err(bad)?,
            path: PathBuf::from(path),
        })
    }
}

/// What to bundle.
#[derive(Debug, Clone)]
pub struct BundleOptions<'a> {
    /// A finished `metalos build` output (disk.img, manifest.json, artifacts/imaging.efi).
    pub image_dir: &'a Path,
    /// Where the bundle will be served (`http://…`).
    pub base_url: &'a str,
    /// HostConfigs by MAC.
    pub hosts: &'a [HostArg],
    /// The bundle directory to write (replaced if it exists).
    pub out: &'a Path,
    /// Signs `manifest.json` into [`SIGNATURE_FILE`] (docs/signing.md).
    pub signing_key: Option<&'a metalos_signing::SigningKey>,
    /// Secure Boot db key: `imaging.efi` is re-signed after its command
    /// line is replaced (required when the build's imaging UKI is signed).
    pub secure_boot: Option<&'a metalos_secureboot::DbSigner>,
}

/// The detached signature of `manifest.json` (written with a signing key).
pub use metalos_contract::netboot::SIGNATURE_FILE;

/// Builds the bundle: validates everything first, writes into a temp
/// directory next to `out` and renames it into place at the end, so a
/// failure leaves no (partial) `out`.
pub fn build_bundle(opts: &BundleOptions<'_>, progress: &dyn Fn(&str)) -> Result<NetbootManifest> {
    let base_url = cmdline::normalize_base_url(opts.base_url)?;
    let hosts = read_hosts(opts.hosts)?;
    let build_manifest = load_build_manifest(opts.image_dir)?;
    let uki = read_imaging_uki(opts.image_dir, &build_manifest)?;
    let staging = Staging::create(opts.out)?;
    let root = staging.tmp.path();
    let (image, blob) = compress_disk(opts.image_dir, &build_manifest, root, progress)?;
    let params = ImageParams {
        url: format!("{base_url}/{}", image.blob),
        sha256: image.sha256.clone(),
        size: image.size,
    };
    progress("writing imaging.efi and boot.ipxe");
    let mut files = write_boot_files(root, &uki, &base_url, &params, opts.secure_boot)?;
    files.push(blob);
    files.extend(write_hosts(root, &hosts)?);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let manifest = NetbootManifest {
        version: BUNDLE_VERSION,
        base_url,
        image,
        files,
    };
    write_manifest(root, &manifest, opts.signing_key)?;
    staging.commit(opts.out)?;
    Ok(manifest)
}

/// The build's imaging UKI, checked against the build manifest.
struct ImagingUki {
    path: PathBuf,
    bytes: Vec<u8>,
    /// Its embedded command line (empty if none).
    cmdline: String,
}

fn read_imaging_uki(dir: &Path, build_manifest: &BuildManifest) -> Result<ImagingUki> {
    let record = build_manifest
        .artifacts
        .get(IMAGING_UKI)
        .ok_or_else(|| NetbootError::Image {
            dir: dir.to_owned(),
            reason: format!(
                "manifest.json has no artifact {IMAGING_UKI:?}; build an image spec with \
             [[ukis]] name = \"{IMAGING_UKI}\" (as images/default.toml has)"
            ),
        })?;
    let path = dir.join(&record.file);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    check_hash(&path, &record.sha256, &fsutil::sha256_hex(&bytes))?;
    let cmdline = metalos_uki::Uki::parse(&bytes)
        .map_err(|source| NetbootError::Uki {
            path: path.clone(),
            source,
        })?
        .cmdline()
        .map(|c| c.into_owned())
        .unwrap_or_default();
    Ok(ImagingUki {
        path,
        bytes,
        cmdline,
    })
}

/// The bundle while it is written: a temp directory next to `out`.
struct Staging {
    parent: PathBuf,
    tmp: tempfile::TempDir,
}

impl Staging {
    fn create(out: &Path) -> Result<Self> {
        let parent = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        fsutil::create_dir(&parent)?;
        let name = out.file_name().unwrap_or_default().to_string_lossy();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp"))
            .tempdir_in(&parent)
            .map_err(io(&parent))?;
        fsutil::create_dir(tmp.path())?;
        Ok(Staging { parent, tmp })
    }

    /// Replaces `out` with the finished bundle.
    fn commit(self, out: &Path) -> Result<()> {
        if std::fs::symlink_metadata(out).is_ok() {
            std::fs::remove_dir_all(out).map_err(io(out))?;
        }
        let kept = self.tmp.keep();
        std::fs::rename(&kept, out).map_err(io(out))?;
        fsutil::sync_dir(&self.parent)
    }
}

/// Compresses the build's disk image into `root`, checking its hash;
/// returns the manifest's image record and the blob's file record.
fn compress_disk(
    dir: &Path,
    build_manifest: &BuildManifest,
    root: &Path,
    progress: &dyn Fn(&str),
) -> Result<(ImageRecord, FileRecord)> {
    let disk_path = dir.join(&build_manifest.disk.file);
    progress(&format!(
        "compressing {} (zstd -{BLOB_ZSTD_LEVEL})",
        disk_path.display()
    ));
    let blob = compress_image(&disk_path, root)?;
    check_hash(&disk_path, &build_manifest.disk.sha256, &blob.raw_sha256)?;
    let file = FileRecord {
        path: blob.path.clone(),
        sha256: blob.sha256,
        size: blob.size,
    };
    let image = ImageRecord {
        blob: blob.path,
        compression: "zstd".into(),
        sha256: blob.raw_sha256,
        size: blob.raw_size,
        compressed_size: blob.size,
        sector_size: build_manifest.disk.sector_size,
    };
    Ok((image, file))
}

/// Writes `imaging.efi` (its command line replaced, re-signed with a db
/// key) and `boot.ipxe`; returns their records.
fn write_boot_files(
    root: &Path,
    uki: &ImagingUki,
    base_url: &str,
    params: &ImageParams,
    secure_boot: Option<&metalos_secureboot::DbSigner>,
) -> Result<Vec<FileRecord>> {
    let cmdline = cmdline::embedded_cmdline(&uki.cmdline, base_url, params);
    let imaging = crate::secureboot::replace_cmdline(&uki.path, &uki.bytes, &cmdline, secure_boot)?;
    write(root, IMAGING_UKI, &imaging)?;
    let script = cmdline::ipxe_script(&uki.cmdline, base_url, params);
    write(root, BOOT_SCRIPT, script.as_bytes())?;
    Ok(vec![
        record(BOOT_SCRIPT, script.as_bytes()),
        record(IMAGING_UKI, &imaging),
    ])
}

/// Writes `hosts/<mac>.json` for each host; returns their records.
fn write_hosts(root: &Path, hosts: &[(String, Vec<u8>)]) -> Result<Vec<FileRecord>> {
    if !hosts.is_empty() {
        fsutil::create_dir(&root.join("hosts"))?;
    }
    for (path, bytes) in hosts {
        write(root, path, bytes)?;
    }
    Ok(hosts.iter().map(|(p, b)| record(p, b)).collect())
}

/// Writes `manifest.json` and, with a key, its signature.
fn write_manifest(
    root: &Path,
    manifest: &NetbootManifest,
    signing_key: Option<&metalos_signing::SigningKey>,
) -> Result<()> {
    let manifest_bytes = manifest.to_bytes();
    write(root, MANIFEST_FILE, &manifest_bytes)?;
    if let Some(key) = signing_key {
        let sig = metalos_signing::sign(key, &manifest_bytes);
        write(root, SIGNATURE_FILE, &sig.to_file_bytes())?;
    }
    Ok(())
}

/// Reads and validates every HostConfig; returns (bundle path, bytes) sorted.
fn read_hosts(hosts: &[HostArg]) -> Result<Vec<(String, Vec<u8>)>> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for h in hosts {
        let path = cmdline::host_path(&h.mac);
        if out.iter().any(|(p, _)| *p == path) {
            return Err(NetbootError::HostArg {
                arg: format!("{}={}", h.mac, h.path.display()),
                reason: format!("MAC {} is given twice", h.mac),
            });
        }
        let bytes = std::fs::read(&h.path).map_err(io(&h.path))?;
        let text = String::from_utf8_lossy(&bytes);
        let parsed = HostConfig::from_json(&text).map_err(|e| NetbootError::HostConfig {
            mac: h.mac.to_string(),
            path: h.path.clone(),
            message: e.to_string(),
        })?;
        if let Some(p) = &parsed.provisioning {
            metalos_ignition::parse::check_provisioning(p).map_err(|message| {
                NetbootError::HostConfig {
                    mac: h.mac.to_string(),
                    path: h.path.clone(),
                    message,
                }
            })?;
        }
        out.push((path, bytes));
    }
    out.sort();
    Ok(out)
}

/// Reads `DIR/manifest.json` of a `metalos build` output.
pub fn load_build_manifest(dir: &Path) -> Result<BuildManifest> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| NetbootError::Image {
        dir: dir.to_owned(),
        reason: format!("cannot read manifest.json ({e}); is it a `metalos build` output?"),
    })?;
    parse_build_manifest(&text, &path)
}

/// Parses a build's `manifest.json` text (errors name `path`). The disk
/// image and every artifact must be relative paths inside the build
/// directory: the bundle reads them from there.
pub fn parse_build_manifest(text: &str, path: &Path) -> Result<BuildManifest> {
    let bad = |reason: String| NetbootError::Json {
        path: path.to_owned(),
        reason,
    };
    let m: BuildManifest = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if !crate::manifest::is_safe_relative(&m.disk.file) {
        return Err(bad(format!(
            "disk.file: {:?} is not a relative path inside the build directory",
            m.disk.file
        )));
    }
    for (name, a) in &m.artifacts {
        if !crate::manifest::is_safe_relative(&a.file) {
            return Err(bad(format!(
                "artifacts.{name}.file: {:?} is not a relative path inside the build directory",
                a.file
            )));
        }
    }
    Ok(m)
}

fn check_hash(path: &Path, expected: &str, actual: &str) -> Result<()> {
    if expected == actual {
        return Ok(());
    }
    Err(NetbootError::Mismatch {
        path: path.to_owned(),
        what: "sha256",
        expected: expected.into(),
        actual: actual.into(),
    })
}

fn record(path: &str, bytes: &[u8]) -> FileRecord {
    FileRecord {
        path: path.to_string(),
        sha256: fsutil::sha256_hex(bytes),
        size: bytes.len() as u64,
    }
}

fn write(root: &Path, rel: &str, bytes: &[u8]) -> Result<()> {
    let path = root.join(rel);
    std::fs::write(&path, bytes).map_err(io(&path))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).map_err(io(&path))
}

struct Blob {
    path: String,
    sha256: String,
    size: u64,
    raw_sha256: String,
    raw_size: u64,
}

/// A writer that hashes and counts what passes through.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Compresses the disk image into `root/blobs/sha256/<hex>` in one pass,
/// hashing the raw and the compressed bytes.
fn compress_image(disk: &Path, root: &Path) -> Result<Blob> {
    let blobs = root.join("blobs/sha256");
    fsutil::create_dir(&blobs)?;
    let tmp_path = blobs.join(".image.zst.tmp");
    let out = std::fs::File::create(&tmp_path).map_err(io(&tmp_path))?;
    let mut input = std::fs::File::open(disk).map_err(io(disk))?;
    let raw_size = input.metadata().map_err(io(disk))?.len();
    let sink = HashingWriter {
        inner: std::io::BufWriter::new(out),
        hasher: Sha256::new(),
        size: 0,
    };
    let mut enc = zstd::stream::Encoder::new(sink, BLOB_ZSTD_LEVEL).map_err(io(&tmp_path))?;
    enc.include_checksum(true).map_err(io(&tmp_path))?;
    enc.include_contentsize(true).map_err(io(&tmp_path))?;
    enc.set_pledged_src_size(Some(raw_size))
        .map_err(io(&tmp_path))?;
    let mut raw_hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut seen = 0u64;
    loop {
        let n = input.read(&mut buf).map_err(io(disk))?;
        if n == 0 {
            break;
        }
        raw_hasher.update(&buf[..n]);
        enc.write_all(&buf[..n]).map_err(io(&tmp_path))?;
        seen += n as u64;
    }
    if seen != raw_size {
        return Err(NetbootError::Invalid {
            path: disk.to_owned(),
            reason: format!("changed while reading ({seen} of {raw_size} bytes)"),
        });
    }
    let mut sink = enc.finish().map_err(io(&tmp_path))?;
    sink.flush().map_err(io(&tmp_path))?;
    let sha256 = hex::encode(sink.hasher.finalize());
    let path = format!("blobs/sha256/{sha256}");
    std::fs::rename(&tmp_path, root.join(&path)).map_err(io(root.join(&path)))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join(&path), std::fs::Permissions::from_mode(0o644))
        .map_err(io(root.join(&path)))?;
    Ok(Blob {
        path,
        sha256,
        size: sink.size,
        raw_sha256: hex::encode(raw_hasher.finalize()),
        raw_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build_manifest(disk: &str, artifact: &str) -> String {
        let hash = "00".repeat(32);
        format!(
            r#"{{"version":1,"seed":"s","source-date-epoch":0,
            "disk":{{"file":"{disk}","size":512,"sector-size":512,"guid":"g","sha256":"{hash}"}},
            "partitions":[],"inputs":{{}},
            "artifacts":{{"imaging.efi":{{"file":"{artifact}","size":1,"sha256":"{hash}"}}}}}}"#
        )
    }

    #[test]
    fn a_build_manifest_names_files_inside_the_build() {
        let path = Path::new("manifest.json");
        let ok = build_manifest("disk.img", "artifacts/imaging.efi");
        let m = parse_build_manifest(&ok, path).unwrap();
        assert_eq!(m.disk.file, "disk.img");
        for (disk, artifact) in [
            ("/etc/shadow", "artifacts/imaging.efi"),
            ("../disk.img", "artifacts/imaging.efi"),
            ("disk.img", "/boot/vmlinuz"),
            ("disk.img", "artifacts/../../x.efi"),
            ("", "artifacts/imaging.efi"),
        ] {
            let text = build_manifest(disk, artifact);
            assert!(
                parse_build_manifest(&text, path).is_err(),
                "{disk:?} {artifact:?} accepted"
            );
        }
    }
}
