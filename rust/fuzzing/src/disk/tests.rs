//! Every disk target over the built-in seeds and some broken inputs.

use crate::seeds::SeedSources;
use std::path::PathBuf;

fn sources() -> SeedSources {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    SeedSources {
        build: repo.join("no-such-build"),
        inputs: repo.join("no-such-inputs.json"),
        repo,
    }
}

#[test]
fn targets_run_over_seeds_and_broken_inputs() {
    let seeds = super::seeds(&sources()).unwrap();
    for t in super::TARGETS {
        let mine: Vec<_> = seeds.iter().filter(|s| s.target == t.name).collect();
        assert!(!mine.is_empty(), "no built-in seed for {}", t.name);
        for s in mine {
            assert!(
                s.data.len() <= t.max_len,
                "{}/{} exceeds max_len",
                t.name,
                s.name
            );
            (t.run)(&s.data);
            let mut broken = s.data.clone();
            for i in (0..broken.len()).step_by(97) {
                broken[i] ^= 0xff;
            }
            (t.run)(&broken);
            (t.run)(&s.data[..s.data.len() / 2]);
        }
        (t.run)(&[]);
        (t.run)(&[0xff; 64]);
    }
}

#[test]
fn written_tables_and_slots_decode() {
    use metalos_disk::gpt::Gpt;
    let seeds = super::seeds(&sources()).unwrap();
    let gpt = seeds.iter().find(|s| s.name == "writer-512").unwrap();
    let disk = super::vdisk::VirtualDisk::from_head_tail(&gpt.data);
    let (table, health) = Gpt::read(&disk, disk.len()).unwrap();
    assert_eq!(table.partitions.len(), 3);
    assert_eq!(health.backup_error, None);
    let slot = seeds.iter().find(|s| s.name == "writer-signed").unwrap();
    let disk = super::vdisk::VirtualDisk::from_extents(&slot.data, u64::MAX);
    let key = super::slot::key().verifying_key();
    let d = metalos_boot::slotverify::verify_slot_on(&disk, 2, Some(&key), |_| {}).unwrap();
    assert!(d.is_some());
}

#[test]
fn fat_seed_lists_its_files() {
    let seeds = super::seeds(&sources()).unwrap();
    let esp = seeds
        .iter()
        .find(|s| s.name == "writer-hostconfig")
        .unwrap();
    let disk = super::vdisk::VirtualDisk::from_extents(&esp.data, u64::MAX);
    let list = metalos_disk::esp::list_esp(metalos_disk::sparse::Region::new(&disk, 0, disk.len()))
        .unwrap();
    assert!(list.iter().any(|e| e.path == "metalos/first_boot"));
}
