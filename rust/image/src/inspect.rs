//! `metalos inspect` for disk images: GPT (primary or, when damaged, the
//! backup), partitions with gptprio decoded, ESP listing, `/usr` filesystem,
//! the OEM partition's id and base configs. Works on images MetalOS did not
//! write.

use metalos_config::spec::type_name;
use metalos_contract::oem::{OemRelease, OEM_PARTITION_LABEL};
use metalos_disk::esp::list_esp;
use metalos_disk::gpt::{Gpt, GptError};
use metalos_disk::gptprio::GptPrio;
use metalos_disk::sparse::Region;
use metalos_disk::usrfs::probe;
use serde::Serialize;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// Report on a disk image.
#[derive(Debug, Clone, Serialize)]
pub struct DiskReport {
    /// Image size in bytes.
    pub size: u64,
    /// Detected logical sector size.
    pub sector_size: u64,
    /// Disk GUID.
    pub disk_guid: String,
    /// Why the primary GPT was rejected (the backup was read instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_gpt_error: Option<String>,
    /// Why the backup GPT was rejected or differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_gpt_error: Option<String>,
    /// Partitions by slot.
    pub partitions: Vec<PartitionReport>,
}

/// One partition.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionReport {
    /// Slot number.
    pub slot: u32,
    /// Label.
    pub label: String,
    /// Known type name, if any.
    pub type_name: Option<String>,
    /// Type GUID.
    pub type_guid: String,
    /// Partition GUID.
    pub guid: String,
    /// First sector.
    pub first_lba: u64,
    /// Last sector.
    pub last_lba: u64,
    /// Size in bytes.
    pub size: u64,
    /// Raw attribute word, hex.
    pub attributes: String,
    /// gptprio fields (for `/usr` slots).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gptprio: Option<GptPrioReport>,
    /// Filesystem found, if recognised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<FsReport>,
    /// The slot's dm-verity area (`/usr` slots with a descriptor).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verity: Option<VerityReport>,
    /// The slot descriptor's signature: `signed-valid by <fingerprint>`
    /// (checked with the key it names), `unsigned`, `invalid (…)`, or
    /// `no descriptor (…)` for a squashfs slot without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_signature: Option<String>,
    /// What the OEM partition (named `OEM`, FAT) holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oem: Option<OemReport>,
}

/// The OEM partition's `oem-release` and configs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OemReport {
    /// `ID=`: the platform id.
    pub id: Option<String>,
    /// `VERSION_ID=`.
    pub version_id: Option<String>,
    /// `NAME=`.
    pub name: Option<String>,
    /// `base/*.ign`, in the order metalinit merges them.
    pub base_configs: Vec<FileReport>,
    /// `config.ign` (a user config), when present.
    pub user_config: Option<FileReport>,
    /// Why the partition or its `oem-release` cannot be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A `/usr` slot's verity parameters (docs/verity.md).
#[derive(Debug, Clone, Serialize)]
pub struct VerityReport {
    /// Root hash, hex.
    pub root_hash: String,
    /// Partition number holding the tree (the slot itself).
    pub hash_partition: u32,
    /// Bytes into that partition of the verity superblock.
    pub hash_offset: u64,
    /// Data blocks (4096 bytes) covered.
    pub data_blocks: u64,
    /// Salt, hex.
    pub salt: String,
    /// sha256 of the boot payload files, by name.
    pub payload: std::collections::BTreeMap<String, String>,
    /// `ok`, or why the data does not match the root hash.
    pub check: String,
}

/// Decoded gptprio.
#[derive(Debug, Clone, Serialize)]
pub struct GptPrioReport {
    /// Priority.
    pub priority: u8,
    /// Tries left.
    pub tries: u8,
    /// Successful flag.
    pub successful: bool,
}

/// A recognised filesystem.
#[derive(Debug, Clone, Serialize)]
pub struct FsReport {
    /// `vfat`, `squashfs`, `erofs`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Bytes used by the filesystem (squashfs/erofs) or volume size (FAT).
    pub bytes_used: u64,
    /// Compression, for squashfs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    /// Files on a FAT volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileReport>>,
}

/// A file or directory on the ESP.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// Path.
    pub path: String,
    /// Directory?
    pub dir: bool,
    /// Size.
    pub size: u64,
}

/// Whether the file starts like a GPT disk (protective MBR + header).
pub fn looks_like_disk(file: &File) -> bool {
    let mut head = [0u8; 4096 + 8];
    let n = file.read_at(&mut head, 0).unwrap_or(0);
    (n >= 520 && &head[512..520] == b"EFI PART")
        || (n >= 4104 && &head[4096..4104] == b"EFI PART")
        || (n >= 512 && head[510] == 0x55 && head[511] == 0xaa && head[450] == 0xee)
}

/// Inspects a disk image.
pub fn inspect_disk(file: &File) -> Result<DiskReport, GptError> {
    // Block devices report a zero length in their metadata: seek instead.
    let size = {
        use std::io::{Seek, SeekFrom};
        let mut f = file;
        f.seek(SeekFrom::End(0))?
    };
    let (gpt, health) = Gpt::read(file, size)?;
    let ss = gpt.sector_size;
    let partitions = gpt
        .partitions
        .iter()
        .map(|p| {
            let tname = type_name(&p.type_guid);
            let prio = GptPrio::from_attributes(p.attributes);
            let is_usr = tname == Some("usr-x86-64");
            let bytes = p.sectors() * ss;
            let filesystem = probe_partition(
                file,
                p.first_lba * ss,
                bytes.min(size.saturating_sub(p.first_lba * ss)),
            );
            let oem = (p.name == OEM_PARTITION_LABEL && filesystem.is_some())
                .then(|| inspect_oem(file, p.first_lba * ss, bytes))
                .flatten();
            let (verity, payload_signature) = match &filesystem {
                Some(fs) if is_usr && fs.kind == "squashfs" => {
                    inspect_verity(file, p.first_lba * ss, p.number)
                }
                _ => (None, None),
            };
            PartitionReport {
                slot: p.number,
                label: p.name.clone(),
                type_name: tname.map(str::to_string),
                type_guid: p.type_guid.to_string(),
                guid: p.guid.to_string(),
                first_lba: p.first_lba,
                last_lba: p.last_lba,
                size: bytes,
                attributes: format!("{:#018x}", p.attributes),
                gptprio: (is_usr || p.attributes >> 48 != 0).then_some(GptPrioReport {
                    priority: prio.priority,
                    tries: prio.tries,
                    successful: prio.successful,
                }),
                filesystem,
                verity,
                payload_signature,
                oem,
            }
        })
        .collect();
    Ok(DiskReport {
        size,
        sector_size: ss,
        disk_guid: gpt.disk_guid.to_string(),
        primary_gpt_error: health.primary_error,
        backup_gpt_error: health.backup_error,
        partitions,
    })
}

/// Reads and checks a `/usr` slot's descriptor and verity tree.
fn inspect_verity(file: &File, offset: u64, number: u32) -> (Option<VerityReport>, Option<String>) {
    use metalos_disk::slotverity::{check_slot, read_descriptor};
    let block = match read_descriptor(file, offset) {
        Ok(b) => b,
        Err(e) => return (None, Some(format!("no descriptor ({e})"))),
    };
    let d = &block.descriptor;
    let check = match check_slot(file, offset, d) {
        Ok(()) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    let report = VerityReport {
        root_hash: d.root_hash.clone(),
        hash_partition: number,
        hash_offset: d.hash_offset,
        data_blocks: d.data_blocks,
        salt: d.salt.clone(),
        payload: d.payload.clone(),
        check,
    };
    (Some(report), Some(block.signature_state(None).to_string()))
}

/// The OEM partition's contents (`None` when it is not FAT).
fn inspect_oem(file: &File, offset: u64, len: u64) -> Option<OemReport> {
    let contents = match metalos_disk::oem::read_contents(file, offset, len) {
        Ok(c) => c?,
        Err(e) => {
            return Some(OemReport {
                error: Some(e.to_string()),
                ..Default::default()
            })
        }
    };
    let report = |f: &metalos_disk::oem::OemFile| FileReport {
        path: f.path.clone(),
        dir: false,
        size: f.bytes.len() as u64,
    };
    let release = contents.release.unwrap_or_else(|| OemRelease {
        id: String::new(),
        version_id: None,
        name: None,
    });
    Some(OemReport {
        id: Some(release.id).filter(|i| !i.is_empty()),
        version_id: release.version_id,
        name: release.name,
        base_configs: contents.base_configs.iter().map(report).collect(),
        user_config: contents.user_config.as_ref().map(report),
        error: None,
    })
}

fn probe_partition(file: &File, offset: u64, len: u64) -> Option<FsReport> {
    let mut head = vec![0u8; 4096.min(len) as usize];
    file.read_exact_at(&mut head, offset).ok()?;
    if let Some(info) = probe(&head) {
        return Some(FsReport {
            kind: info.kind.into(),
            bytes_used: info.bytes_used,
            compression: Some(info.compression.into()),
            files: None,
        });
    }
    let is_fat = head.len() >= 512
        && head[510] == 0x55
        && head[511] == 0xaa
        && (&head[82..87] == b"FAT32" || &head[54..57] == b"FAT");
    if !is_fat {
        return None;
    }
    let files = list_esp(Region::new(file, offset, len)).ok()?;
    Some(FsReport {
        kind: "vfat".into(),
        bytes_used: len,
        compression: None,
        files: Some(
            files
                .into_iter()
                .map(|e| FileReport {
                    path: e.path,
                    dir: e.is_dir,
                    size: e.size,
                })
                .collect(),
        ),
    })
}

/// Human-readable rendering of a [`DiskReport`].
pub fn render_disk(r: &DiskReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "GPT disk image: {} bytes, {}-byte sectors, disk GUID {}",
        r.size, r.sector_size, r.disk_guid
    );
    if let Some(e) = &r.primary_gpt_error {
        let _ = writeln!(
            s,
            "WARNING: primary GPT is damaged ({e}); read the backup GPT"
        );
    }
    if let Some(e) = &r.backup_gpt_error {
        let _ = writeln!(s, "WARNING: backup GPT: {e}");
    }
    for p in &r.partitions {
        let tname = p.type_name.clone().unwrap_or_else(|| p.type_guid.clone());
        let _ = writeln!(
            s,
            "\n{} {:<12} type {} ({})",
            p.slot, p.label, tname, p.type_guid
        );
        let _ = writeln!(
            s,
            "  guid {}  sectors {}..={}  size {} MiB  attributes {}",
            p.guid,
            p.first_lba,
            p.last_lba,
            p.size >> 20,
            p.attributes
        );
        if let Some(g) = &p.gptprio {
            let _ = writeln!(
                s,
                "  gptprio: priority {} tries {} successful {}",
                g.priority, g.tries, g.successful as u8
            );
        }
        if let Some(fs) = &p.filesystem {
            let comp = fs
                .compression
                .as_deref()
                .map(|c| format!(", {c}"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "  filesystem: {} ({} bytes{comp})",
                fs.kind, fs.bytes_used
            );
            if let Some(v) = &p.verity {
                let _ = writeln!(
                    s,
                    "  verity: root {} (tree at partition {} + {} bytes, {} data blocks): {}",
                    v.root_hash, v.hash_partition, v.hash_offset, v.data_blocks, v.check
                );
            }
            if let Some(sig) = &p.payload_signature {
                let _ = writeln!(s, "  payload signature: {sig}");
            }
            if let Some(o) = &p.oem {
                render_oem(&mut s, o);
            }
            for f in fs.files.iter().flatten() {
                if f.dir {
                    let _ = writeln!(s, "    {}/", f.path);
                } else {
                    let _ = writeln!(s, "    {} ({} bytes)", f.path, f.size);
                }
            }
        }
    }
    s
}

/// The `oem:` lines of a partition in [`render_disk`].
fn render_oem(s: &mut String, o: &OemReport) {
    use std::fmt::Write;
    if let Some(e) = &o.error {
        let _ = writeln!(s, "  oem: unreadable: {e}");
        return;
    }
    let _ = writeln!(
        s,
        "  oem: id {}, version {}, name {}",
        o.id.as_deref().unwrap_or("none (no oem-release)"),
        o.version_id.as_deref().unwrap_or("-"),
        o.name
            .as_deref()
            .map_or("-".to_string(), |n| format!("{n:?}"))
    );
    let list: Vec<String> = o
        .base_configs
        .iter()
        .map(|f| format!("{} ({} bytes)", f.path, f.size))
        .collect();
    let _ = writeln!(
        s,
        "  oem base configs: {}",
        if list.is_empty() {
            "none".to_string()
        } else {
            list.join(", ")
        }
    );
    if let Some(u) = &o.user_config {
        let _ = writeln!(s, "  oem user config: {} ({} bytes)", u.path, u.size);
    }
}
