//! `gpt` and `gpt_roundtrip`: the partition table as the bootloader and
//! metalinit read it (both copies, 512- and 4096-byte sectors), gptprio.

use super::vdisk::VirtualDisk;
use metalos_disk::blockdev::Disk;
use metalos_disk::esp_partition::EspHandle;
use metalos_disk::gpt::Gpt;
use metalos_disk::gptprio::{choose, GptPrio};
use metalos_disk::readat::ReadAt;
use metalos_disk::slots;

/// Decodes a disk in the head/tail format ([`VirtualDisk::from_head_tail`])
/// with `Gpt::read`, then does what the bootloader does with the table:
/// finds the ESP, describes and chooses the `/usr` slot by gptprio.
pub fn gpt(data: &[u8]) {
    let disk = VirtualDisk::from_head_tail(data);
    let Ok((mut gpt, health)) = Gpt::read(&disk, disk.len()) else {
        return;
    };
    assert!(health.primary_error.is_none() || health.backup_error.is_none());
    assert!(gpt.sector_size == 512 || gpt.sector_size == 4096);
    assert!(gpt.partitions.windows(2).all(|w| w[0].number < w[1].number));
    for p in &gpt.partitions {
        assert!(p.first_lba <= p.last_lba && p.last_lba < gpt.total_sectors);
        let _ = p.sectors();
        let g = GptPrio::from_attributes(p.attributes);
        assert_eq!(GptPrio::from_attributes(g.apply(p.attributes)), g);
        assert_eq!(g.apply(p.attributes), p.attributes);
    }
    let _ = gpt.validate();
    let prios: Vec<(u32, GptPrio)> = gpt
        .partitions
        .iter()
        .map(|p| (p.number, GptPrio::from_attributes(p.attributes)))
        .collect();
    if let Some(i) = choose(&prios) {
        assert!(prios[i].1.bootable());
    }
    let whole = Disk {
        name: "fuzz".into(),
        dev: "/dev/null".into(),
    };
    let _ = EspHandle::find(&whole, &gpt);
    let _ = slots::describe(&gpt);
    if let Ok((slot, _)) = slots::choose_slot(&mut gpt) {
        slots::disable(&mut gpt, slot.number);
        slots::prioritize(&mut gpt, slot.number);
    }
}

/// When a table decodes and is writable (`validate`), writes it with the
/// project's writer to a fresh disk of the same size, reads it back (equal
/// table, both copies healthy) and writes that again (byte-identical).
pub fn gpt_roundtrip(data: &[u8]) {
    let disk = VirtualDisk::from_head_tail(data);
    let Ok((gpt, _)) = Gpt::read(&disk, disk.len()) else {
        return;
    };
    if gpt.validate().is_err() {
        return;
    }
    let len = gpt.total_sectors * gpt.sector_size;
    let first = write(&gpt, len);
    let (again, health) = Gpt::read(&first, len).expect("a written table reads back");
    assert_eq!(again, gpt);
    assert_eq!(health.primary_error, None);
    assert_eq!(health.backup_error, None);
    let second = write(&again, len);
    // The head (MBR, header, entries) and the tail (entries, header).
    let span = (2 + gpt.entry_array_sectors()) * gpt.sector_size;
    for offset in [0, len - span + gpt.sector_size] {
        let (mut a, mut b) = (vec![0u8; span as usize], vec![0u8; span as usize]);
        let n = (len - offset).min(span) as usize;
        first.pread_exact(&mut a[..n], offset).unwrap();
        second.pread_exact(&mut b[..n], offset).unwrap();
        assert!(a == b, "second encoding differs at {offset}");
    }
}

fn write(gpt: &Gpt, len: u64) -> VirtualDisk {
    let out = VirtualDisk::writable(len);
    gpt.write(&out).expect("a validated table writes");
    out
}
