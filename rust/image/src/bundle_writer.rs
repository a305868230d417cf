//! Writing the update bundle (format: [`metalos_contract::update`]) next to the image:
//! the sealed `/usr` slot, the bootloader UKI and `bundle.json`, in a temp
//! directory that the build renames to `update/` at the end.

use crate::contents::Contents;
use crate::error::{output_error, BuildError};
use crate::layout::Placement;
use crate::manifest::PartitionRecord;
use metalos_config::Resolved;
use metalos_contract::update::{BundleFile, UpdateManifest, BUNDLE_FORMAT, BUNDLE_MANIFEST};
use metalos_disk::esp::EspFile;
use metalos_disk::sparse::sha256_range;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Writes the update bundle into a temp dir in `out`, when the image has a
/// `/usr` partition (read from the image file at `disk`).
pub(crate) fn write_bundle(
    out: &Path,
    disk: &Path,
    placements: &[Placement],
    records: &[PartitionRecord],
    contents: &Contents,
) -> Result<Option<tempfile::TempDir>, BuildError> {
    let Some((place, rec)) = placements
        .iter()
        .zip(records)
        .find(|(_, r)| r.content == "usr")
    else {
        return Ok(None);
    };
    let dir = tempfile::Builder::new()
        .prefix(".update.")
        .tempdir_in(out)
        .map_err(output_error(out))?;
    let usr = save_usr_slot(dir.path(), "usr.img", disk, place, rec)?;
    let bootloader = match find_bootloader(&contents.esp) {
        Some(f) => Some(save(dir.path(), "bootloader.efi", &f.content)?),
        None => None,
    };
    let manifest = UpdateManifest {
        format: BUNDLE_FORMAT,
        version: crate::usrtree::usr_version(&contents.usr),
        usr,
        bootloader,
    };
    let text = serde_json::to_string_pretty(&manifest).expect("serialises") + "\n";
    let path = dir.path().join(BUNDLE_MANIFEST);
    std::fs::write(&path, text).map_err(output_error(&path))?;
    Ok(Some(dir))
}

/// Saves the squashfs and its verity area (tree + descriptor) as
/// `dir/name`: a staged slot is verifiable. Copied in the kernel from a
/// descriptor of its own (the image's is shared with the hashing threads).
fn save_usr_slot(
    dir: &Path,
    name: &str,
    disk: &Path,
    place: &Placement,
    rec: &PartitionRecord,
) -> Result<BundleFile, BuildError> {
    let used = rec
        .filesystem
        .as_ref()
        .map(|f| f.bytes_used)
        .unwrap_or(place.size);
    let len = metalos_disk::verity::SlotLayout::for_data_size(used)
        .end
        .min(place.size);
    let mut src = File::open(disk).map_err(output_error(disk))?;
    src.seek(SeekFrom::Start(place.offset))
        .map_err(output_error(disk))?;
    let path = dir.join(name);
    if copy_to_new(&mut src.take(len), &path)? != len {
        let short = std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the /usr slot at byte {} is cut short", place.offset),
        );
        return Err(output_error(disk)(short));
    }
    let sha256 = sha256_range(&File::open(&path).map_err(output_error(&path))?, 0, len)
        .map_err(output_error(&path))?;
    Ok(BundleFile {
        file: name.into(),
        size: len,
        sha256,
    })
}

/// Writes `content` to `dir/name` and describes it for the bundle manifest.
fn save(dir: &Path, name: &str, content: &Resolved) -> Result<BundleFile, BuildError> {
    let path = dir.join(name);
    match content {
        Resolved::Bytes(b) => std::fs::write(&path, b).map_err(output_error(&path))?,
        Resolved::Path(p) => {
            copy_to_new(&mut File::open(p).map_err(output_error(p))?, &path)?;
        }
    }
    let file = File::open(&path).map_err(output_error(&path))?;
    let size = file.metadata().map_err(output_error(&path))?.len();
    let sha256 = sha256_range(&file, 0, size).map_err(output_error(&path))?;
    Ok(BundleFile {
        file: name.into(),
        size,
        sha256,
    })
}

/// Copies everything `src` gives into a new file at `path` (between files,
/// `std::io::copy` copies in the kernel); returns the bytes copied.
fn copy_to_new(src: &mut impl Read, path: &Path) -> Result<u64, BuildError> {
    let mut out = File::create(path).map_err(output_error(path))?;
    std::io::copy(src, &mut out).map_err(output_error(path))
}

fn find_bootloader(esp: &[EspFile]) -> Option<&EspFile> {
    esp.iter().find(|f| {
        f.path
            .eq_ignore_ascii_case(metalos_contract::paths::EspPath::BOOTLOADER.as_str())
    })
}
