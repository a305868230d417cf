//! Writing the update bundle (format: [`metalos_contract::update`]) next to the image:
//! the sealed `/usr` slot, the bootloader UKI and `bundle.json`, in a temp
//! directory that the build renames to `update/` at the end.

use crate::contents::Contents;
use crate::error::{output_error, BuildError};
use crate::layout::Placement;
use crate::manifest::PartitionRecord;
use metalos_contract::update::{BundleFile, UpdateManifest, BUNDLE_FORMAT, BUNDLE_MANIFEST};
use metalos_disk::esp::EspFile;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Writes the update bundle into a temp dir in `out`, when the image has a
/// `/usr` partition.
pub(crate) fn write_bundle(
    out: &Path,
    disk: &File,
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
    let usr = read_usr_slot(disk, place, rec).map_err(output_error(out))?;
    let usr = save(dir.path(), "usr.img", &usr)?;
    let bootloader = match find_bootloader(&contents.esp) {
        Some(f) => Some(save(
            dir.path(),
            "bootloader.efi",
            &f.content.read().map_err(output_error(out))?,
        )?),
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

/// The squashfs and its verity area (tree + descriptor): a staged slot is
/// verifiable.
fn read_usr_slot(
    disk: &File,
    place: &Placement,
    rec: &PartitionRecord,
) -> std::io::Result<Vec<u8>> {
    let used = rec
        .filesystem
        .as_ref()
        .map(|f| f.bytes_used)
        .unwrap_or(place.size);
    let len = metalos_disk::verity::SlotLayout::for_data_size(used).end;
    let mut usr = vec![0u8; len.min(place.size) as usize];
    disk.read_exact_at(&mut usr, place.offset)?;
    Ok(usr)
}

/// Writes `dir/name` and describes it for the bundle manifest.
fn save(dir: &Path, name: &str, bytes: &[u8]) -> Result<BundleFile, BuildError> {
    use sha2::{Digest, Sha256};
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(output_error(&path))?;
    Ok(BundleFile {
        file: name.into(),
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(bytes)),
    })
}

fn find_bootloader(esp: &[EspFile]) -> Option<&EspFile> {
    esp.iter().find(|f| {
        f.path
            .eq_ignore_ascii_case(metalos_contract::paths::EspPath::BOOTLOADER.as_str())
    })
}
