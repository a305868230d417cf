//! Seeds for the disk targets: the default image's GPT, ESP metadata and
//! `/usr` slot head and descriptor (when `out/default` exists), and small
//! disks, ESPs and slots made in memory with the project's writers.

use super::fatmeta;
use super::slot::{key, MAX_SLOT};
use super::vdisk::{nonzero_extents, VirtualDisk};
use crate::seeds::{Seed, SeedSources};
use metalos_config::Resolved;
use metalos_contract::paths::EspPath;
use metalos_disk::esp::{write_esp, EspFile, EspOptions};
use metalos_disk::gpt::{Gpt, Partition};
use metalos_disk::readat::ReadAt;
use metalos_disk::slotverity::{write_slot_verity, SlotVerityInput};
use metalos_disk::sparse::Region;
use metalos_disk::{slotdesc, usrfs, verity};
use std::collections::BTreeMap;
use uuid::Uuid;

fn seed(target: &'static str, name: &str, data: Vec<u8>) -> Seed {
    Seed {
        target,
        name: name.into(),
        data,
    }
}

/// A two-slot table like the default image's, on a disk of `sectors`.
fn sample_gpt(sector_size: u64, sectors: u64) -> Gpt {
    let usr = metalos_config::spec::type_guid("usr-x86-64").unwrap();
    let esp = metalos_config::spec::type_guid("esp").unwrap();
    let g = |n: u128| Uuid::from_u128(n);
    let part = |number, type_guid, first_lba, last_lba, attributes, name: &str| Partition {
        number,
        type_guid,
        guid: g(0x1000 + u128::from(number)),
        first_lba,
        last_lba,
        attributes,
        name: name.into(),
    };
    let first = if sector_size == 512 { 2048 } else { 256 };
    Gpt {
        sector_size,
        total_sectors: sectors,
        disk_guid: g(1),
        partitions: vec![
            part(1, esp, first, first + 99, 0, "EFI-SYSTEM"),
            part(2, usr, first + 100, first + 199, 0x0101 << 48, "USR-A"),
            part(3, usr, first + 200, first + 299, 0x0012 << 48, "USR-B"),
        ],
    }
}

fn gpt_seed(gpt: &Gpt, damage_primary: bool) -> Vec<u8> {
    let len = gpt.total_sectors * gpt.sector_size;
    let disk = VirtualDisk::writable(len);
    gpt.write(&disk).expect("sample table writes");
    if damage_primary {
        use metalos_disk::readat::WriteAt;
        disk.pwrite_all(b"XX", gpt.sector_size + 100).unwrap();
    }
    let span = (2 + gpt.entry_array_sectors()) * gpt.sector_size;
    let mut head = vec![0u8; span as usize];
    let mut tail = vec![0u8; (span - gpt.sector_size) as usize];
    disk.pread_exact(&mut head, 0).unwrap();
    let tail_at = len - tail.len() as u64;
    disk.pread_exact(&mut tail, tail_at).unwrap();
    VirtualDisk::to_head_tail(len, &head, &tail)
}

/// A small ESP made with `write_esp`, as extents of its non-zero sectors.
fn esp_seed(files: &[(&str, &[u8])]) -> Vec<u8> {
    let len = metalos_disk::esp::min_fat32_size(512) + (2 << 20);
    let disk = VirtualDisk::writable(len);
    let files: Vec<EspFile> = files
        .iter()
        .map(|(p, c)| EspFile {
            path: p.to_string(),
            content: Resolved::Bytes(c.to_vec()),
        })
        .collect();
    let options = EspOptions {
        sector_size: 512,
        volume_id: 0x1630_f6a9,
        label: "EFI-SYSTEM".into(),
        mtime: 0,
    };
    write_esp(Region::new(&disk, 0, len), &options, &files).expect("sample ESP");
    VirtualDisk::to_extents(len, &nonzero_extents(&disk, 0, len, 512))
}

/// A slot of fake squashfs data with its verity area, as extents.
fn slot_seed(data_size: u64, signed: bool) -> Vec<u8> {
    let disk = VirtualDisk::writable(MAX_SLOT);
    let mut head = vec![0u8; data_size as usize];
    head[96..].iter_mut().step_by(4096).for_each(|b| *b = 0x5a);
    head[..4].copy_from_slice(b"hsqs");
    head[20..22].copy_from_slice(&6u16.to_le_bytes());
    head[40..48].copy_from_slice(&data_size.to_le_bytes());
    metalos_disk::readat::WriteAt::pwrite_all(&disk, &head, 0).unwrap();
    let (salt, uuid) = verity::derive_salt_and_uuid(&Uuid::from_u128(7));
    let payload: BTreeMap<String, String> = slotdesc::PAYLOAD_FILES
        .iter()
        .map(|f| (f.to_string(), "ab".repeat(32)))
        .collect();
    let input = SlotVerityInput {
        data_size,
        salt: &salt,
        uuid: &uuid,
        payload,
        key: signed.then(key),
    };
    write_slot_verity(&disk, 0, MAX_SLOT, &input).expect("sample slot");
    VirtualDisk::to_extents(MAX_SLOT, &nonzero_extents(&disk, 0, MAX_SLOT, 512))
}

/// Seeds from `out/default/disk.img`, skipped (with a message) when absent.
fn real_disk(src: &SeedSources, out: &mut Vec<Seed>) -> anyhow::Result<()> {
    let path = src.build.join("disk.img");
    let Ok(file) = std::fs::File::open(&path) else {
        eprintln!(
            "disk seeds: {} is absent; no real-image seeds",
            path.display()
        );
        return Ok(());
    };
    let len = file.metadata()?.len();
    let (gpt, _) = Gpt::read(&file, len)?;
    let ss = gpt.sector_size;
    let span = (2 + gpt.entry_array_sectors()) * ss;
    let mut head = vec![0u8; span as usize];
    let mut tail = vec![0u8; (span - ss) as usize];
    file.pread_exact(&mut head, 0)?;
    let tail_at = len - tail.len() as u64;
    file.pread_exact(&mut tail, tail_at)?;
    let disk = VirtualDisk::to_head_tail(len, &head, &tail);
    out.push(seed("gpt", "default-image", disk.clone()));
    out.push(seed("gpt_roundtrip", "default-image", disk));
    for p in &gpt.partitions {
        let (start, plen) = (p.first_lba * ss, p.sectors() * ss);
        let mut first = vec![0u8; 4096];
        file.pread_exact(&mut first, start)?;
        if first[510] == 0x55 && first[511] == 0xaa && &first[82..87] == b"FAT32" {
            let meta = fatmeta::metadata(&file, start, plen, 64 << 10)?;
            let name = format!("default-image-part{}", p.number);
            out.push(seed("fat", &name, VirtualDisk::to_extents(plen, &meta)));
        }
        if let Some(info) = usrfs::probe(&first) {
            let name = format!("default-image-part{}-{}", p.number, info.kind);
            out.push(seed("squashfs", &name, first.clone()));
            let layout = verity::SlotLayout::try_for_data_size(info.bytes_used)?;
            let mut desc = vec![0u8; 4096];
            let mut sb = vec![0u8; 4096];
            file.pread_exact(&mut desc, start + layout.descriptor_offset)?;
            file.pread_exact(&mut sb, start + layout.hash_offset)?;
            out.push(seed("slot_descriptor_roundtrip", &name, desc.clone()));
            // The real slot is larger than MAX_SLOT: its head, superblock
            // and descriptor as blocks of a small slot.
            let ext = vec![(0, first), (4096, sb), (8192, desc)];
            out.push(seed(
                "slot_payload",
                &name,
                VirtualDisk::to_extents(MAX_SLOT, &ext),
            ));
        }
    }
    Ok(())
}

/// Every seed of the disk targets.
pub fn seeds(src: &SeedSources) -> anyhow::Result<Vec<Seed>> {
    let mut out = vec![];
    for (ss, sectors, name) in [(512, 2 << 20, "512"), (4096, 1 << 18, "4096")] {
        let gpt = sample_gpt(ss, sectors);
        for (target, damage) in [("gpt", false), ("gpt", true), ("gpt_roundtrip", false)] {
            let suffix = if damage { "-damaged-primary" } else { "" };
            out.push(seed(
                target,
                &format!("writer-{name}{suffix}"),
                gpt_seed(&gpt, damage),
            ));
        }
    }
    let host_config = std::fs::read(src.repo.join("images/host-config.json")).unwrap_or_default();
    out.push(seed(
        "fat",
        "writer-hostconfig",
        esp_seed(&[
            (EspPath::BOOTLOADER.as_str(), b"MZ"),
            (EspPath::FIRST_BOOT_FLAG.as_str(), b""),
            (EspPath::HOST_CONFIG.as_str(), &host_config),
        ]),
    ));
    out.push(seed("fat", "writer-empty", esp_seed(&[])));
    for (size, signed, name) in [
        (10_000, false, "unsigned"),
        (70_000, true, "signed"),
        (100, true, "one-block"),
    ] {
        let slot = slot_seed(size, signed);
        out.push(seed("slot_payload", &format!("writer-{name}"), slot));
    }
    let d = {
        let l = verity::SlotLayout::for_data_size(1_000_000);
        slotdesc::SlotDescriptor {
            format: slotdesc::FORMAT,
            hash_algorithm: "sha256".into(),
            block_size: verity::BLOCK,
            data_size: l.data_size,
            data_blocks: l.data_blocks,
            hash_offset: l.hash_offset,
            root_hash: "ab".repeat(32),
            salt: "cd".repeat(32),
            payload: BTreeMap::new(),
        }
    };
    out.push(seed(
        "slot_descriptor_roundtrip",
        "writer-unsigned",
        slotdesc::encode(&d, None)?,
    ));
    out.push(seed(
        "slot_descriptor_roundtrip",
        "writer-signed",
        slotdesc::encode(&d, Some(key()))?,
    ));
    let mut erofs = vec![0u8; 2048];
    erofs[1024..1028].copy_from_slice(&0xE0F5_E1E2u32.to_le_bytes());
    erofs[1024 + 12] = 12;
    erofs[1024 + 36..1024 + 40].copy_from_slice(&100u32.to_le_bytes());
    out.push(seed("squashfs", "erofs", erofs));
    let mut sq = vec![0u8; 96];
    sq[..4].copy_from_slice(b"hsqs");
    sq[40..48].copy_from_slice(&4096u64.to_le_bytes());
    out.push(seed("squashfs", "squashfs", sq));
    let usr = src.build.join("update/usr.img");
    match std::fs::File::open(&usr) {
        Ok(f) => {
            let mut head = vec![0u8; 4096];
            f.pread_exact(&mut head, 0)?;
            out.push(seed("squashfs", "update-usr", head));
        }
        Err(_) => eprintln!("disk seeds: {} is absent", usr.display()),
    }
    real_disk(src, &mut out)?;
    Ok(out)
}
