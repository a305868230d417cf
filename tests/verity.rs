//! dm-verity `/usr` in a VM (docs/verity.md):
//!
//! 1. the default image boots with verity: the bootloader reads the boot
//!    payload through dm-verity, metalinit mounts `/usr` from
//!    `/dev/mapper/usr`; the same image with its descriptor wiped boots
//!    `unverified` (boot-time comparison);
//! 2. one byte of USR-A's squashfs flipped on the host (the middle of the
//!    squashfs is boot payload: `initrd.img`, `vmlinuz`): the bootloader
//!    reads it as an I/O error, names it by re-hashing the slot, refuses
//!    the slot, marks it unbootable and — USR-B being empty — stops with
//!    the reason and the emergency action; nothing is read silently;
//! 3. a signed image boots with the bootloader checking the descriptor
//!    signature; one changed hex digit of the signed root hash is refused;
//! 4. USR-A corrupted, USR-B a good copy at lower priority: the bootloader
//!    marks A unbootable and boots B, through dm-verity.

use metalos_disk::gpt::Gpt;
use metalos_disk::gptprio::GptPrio;
use metalos_tests::*;
use metalos_vmtest::{Disk, Machine};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

const ROOTFS_UP: &str = "METALOS-ROOTFS-UP host=(\\S+) usr=(\\S+) verity=(\\S+)";

/// USR-A's offset and verity parameters (from `inspect`).
fn usr_a(image: &Path) -> (u64, u64, u64) {
    let r = inspect(image);
    let a = r.partitions.iter().find(|p| p.label == "USR-A").unwrap();
    let v = a.verity.as_ref().expect("USR-A is sealed");
    assert_eq!(v.check, "ok");
    let layout =
        metalos_disk::verity::SlotLayout::for_data_size(a.filesystem.as_ref().unwrap().bytes_used);
    (
        a.first_lba * r.sector_size,
        v.hash_offset,
        layout.descriptor_offset,
    )
}

/// Boots `disk` to the rootfs; returns (seconds to the marker, console).
fn boot(name: &str, disk: &Path, expect_verity: &str) -> (f64, String) {
    let mut vm = Machine::builder(name)
        .uefi()
        .disk(Disk::direct(disk).bootindex(1))
        .agent()
        .build()
        .unwrap();
    let t0 = Instant::now();
    vm.start().unwrap();
    let up = vm.wait_for_console(ROOTFS_UP, BOOT_TIMEOUT).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(&up[2], "/dev/vda2", "/usr comes from USR-A");
    assert_eq!(&up[3], expect_verity);
    vm.wait_for_agent(BOOT_TIMEOUT).unwrap();
    let mounts = vm.succeed("cat /proc/mounts").unwrap();
    let usr = mounts
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("/usr"))
        .unwrap()
        .to_string();
    if expect_verity == "yes" {
        assert!(usr.starts_with("/dev/mapper/usr /usr squashfs ro"), "{usr}");
        assert_eq!(
            vm.succeed("cat /sys/block/dm-0/dm/name").unwrap().trim(),
            "usr"
        );
        // The whole of /usr reads back through verity.
        vm.succeed("find /usr -type f -exec cat {} + > /dev/null")
            .unwrap();
    } else {
        assert!(usr.starts_with("/dev/vda2 /usr squashfs ro"), "{usr}");
    }
    let console = vm.console_text();
    vm.shutdown().unwrap();
    (secs, console)
}

#[test]
fn default_image_boots_with_verity_and_unverified_without_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let image = build_default(&dir.path().join("out"), Some(&test_host_config()), |t| t);
    let (offset, _, descriptor) = usr_a(&image);

    let disk = raw_copy(&image, &repo().join("target/vmtest-verity.raw"));
    let (with, console) = boot("verity_on", &disk, "yes");
    assert!(
        console.contains("metalos-bootloader: unverified: no /etc/metalos/signing.pub"),
        "an unsigned build says so"
    );
    let line = |c: &str, pat: &str| {
        c.lines()
            .find(|l| l.contains(pat))
            .unwrap_or_else(|| panic!("no {pat:?} on the console"))
            .trim()
            .to_string()
    };
    eprintln!("{}", line(&console, "verity ok"));
    eprintln!(
        "{}",
        line(&console, "metalinit: verity: /usr on /dev/mapper/usr")
    );
    assert!(line(&console, "kexec ").contains(" metalos.verity="));

    // Without a descriptor (an image from before dm-verity): unverified.
    let disk = raw_copy(&image, &repo().join("target/vmtest-verity-off.raw"));
    let f = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
    f.write_all_at(&[0u8; 4096], offset + descriptor).unwrap();
    drop(f);
    let (without, console) = boot("verity_off", &disk, "no");
    line(&console, "has no verity descriptor");
    line(&console, "metalinit: unverified: no metalos.verity=");
    eprintln!("VERITY-FIGURES rootfs marker: {with:.2} s with verity, {without:.2} s without");
    let _ = std::fs::remove_file(repo().join("target/vmtest-verity.raw"));
    let _ = std::fs::remove_file(&disk);
}

#[test]
fn flipped_squashfs_byte_is_never_read_silently() {
    let dir = tempfile::tempdir().unwrap();
    let image = build_default(&dir.path().join("out"), Some(&test_host_config()), |t| t);
    let (offset, hash_offset, _) = usr_a(&image);
    let disk = raw_copy(&image, &repo().join("target/vmtest-verity-flip.raw"));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk)
        .unwrap();
    // A byte in the middle of the squashfs data.
    let at = offset + hash_offset / 2;
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x01], at).unwrap();
    drop(f);
    assert_ne!(
        inspect(&disk).partitions[1].verity.as_ref().unwrap().check,
        "ok"
    );
    let mut vm = Machine::builder("verity_flipped_byte")
        .uefi()
        .disk(Disk::direct(&disk).bootindex(1))
        .build()
        .unwrap();
    vm.start().unwrap();
    let refused = vm
        .wait_for_console(
            "metalos-bootloader: NOT BOOTING /usr slot 2 \\(USR-A\\): (verity check: [^;]*); marking it unbootable",
            BOOT_TIMEOUT,
        )
        .unwrap();
    assert!(refused[1].contains("root hash mismatch"), "{}", &refused[1]);
    vm.wait_for_console(
        "metalos-bootloader: FATAL: no good /usr slot left \\(/usr slot 2 failed verification",
        BOOT_TIMEOUT,
    )
    .unwrap();
    vm.wait_for_console("emergency action: Reboot", BOOT_TIMEOUT)
        .unwrap();
    vm.crash().unwrap();
    assert!(
        !vm.console_text().contains("METALOS-ROOTFS-UP"),
        "the corrupted slot must not boot"
    );
    // USR-A is marked unbootable on the disk.
    let f = std::fs::File::open(&disk).unwrap();
    let size = f.metadata().unwrap().len();
    let (gpt, _) = Gpt::read(&f, size).unwrap();
    let a = gpt.partitions.iter().find(|p| p.name == "USR-A").unwrap();
    assert_eq!(GptPrio::from_attributes(a.attributes).priority, 0);
    let _ = std::fs::remove_file(&disk);
}

#[test]
fn signed_image_boots_and_a_tampered_descriptor_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let m = inputs();
    let st = std::process::Command::new(input(&m, "metalos"))
        .args(["keys", "generate"])
        .arg(&keys)
        .status()
        .unwrap();
    assert!(st.success(), "metalos keys generate");
    let image = build_default(&dir.path().join("out"), Some(&test_host_config()), |t| {
        format!("{t}\n[signing]\nkeys = \"{}\"\n", keys.display())
    });
    let report = inspect(&image);
    let sig = report.partitions[1].payload_signature.clone().unwrap();
    assert!(sig.starts_with("signed-valid by sha256:"), "{sig}");
    let (offset, _, descriptor) = usr_a(&image);

    let disk = raw_copy(&image, &repo().join("target/vmtest-verity-signed.raw"));
    let (_, console) = boot("verity_signed", &disk, "yes");
    let fp = sig.trim_start_matches("signed-valid by ");
    assert!(
        console.contains(&format!("/usr slot 2: descriptor signed-valid by {fp}")),
        "the bootloader checked the signature with its key"
    );

    // One hex digit of the signed root hash changed: the signature fails.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk)
        .unwrap();
    let mut block = vec![0u8; 4096];
    f.read_exact_at(&mut block, offset + descriptor).unwrap();
    let key = b"\"root_hash\":\"";
    let at = block.windows(key.len()).position(|w| w == key).unwrap() + key.len();
    block[at] = if block[at] == b'0' { b'1' } else { b'0' };
    f.write_all_at(&block, offset + descriptor).unwrap();
    drop(f);
    let mut vm = Machine::builder("verity_signed_tampered")
        .uefi()
        .disk(Disk::direct(&disk).bootindex(1))
        .build()
        .unwrap();
    vm.start().unwrap();
    let refused = vm
        .wait_for_console(
            "NOT BOOTING /usr slot 2 \\(USR-A\\): (payload signature [^;]*);",
            BOOT_TIMEOUT,
        )
        .unwrap();
    assert!(refused[1].contains("invalid"), "{}", &refused[1]);
    vm.wait_for_console("FATAL: no good /usr slot left", BOOT_TIMEOUT)
        .unwrap();
    vm.crash().unwrap();
    let _ = std::fs::remove_file(&disk);
}

#[test]
fn corrupted_slot_falls_back_to_the_other_by_gptprio() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let image = build_default(&out, Some(&test_host_config()), |t| t);
    let (offset, hash_offset, _) = usr_a(&image);
    let disk = raw_copy(&image, &repo().join("target/vmtest-verity-fallback.raw"));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&disk)
        .unwrap();
    let size = f.metadata().unwrap().len();
    let (mut gpt, _) = Gpt::read(&f, size).unwrap();
    // USR-B gets the same sealed slot (the update bundle's usr.img) at a
    // lower priority; USR-A gets one flipped byte.
    let usr_img = std::fs::read(out.join("update/usr.img")).unwrap();
    let b = gpt.partitions.iter().find(|p| p.name == "USR-B").unwrap();
    f.write_all_at(&usr_img, b.first_lba * 512).unwrap();
    let at = offset + hash_offset / 3;
    let mut byte = [0u8; 1];
    f.read_exact_at(&mut byte, at).unwrap();
    f.write_all_at(&[byte[0] ^ 0x80], at).unwrap();
    for p in gpt.partitions.iter_mut() {
        let prio = match p.name.as_str() {
            "USR-A" => 2,
            "USR-B" => 1,
            _ => continue,
        };
        p.attributes = GptPrio {
            priority: prio,
            tries: 0,
            successful: true,
        }
        .apply(p.attributes);
    }
    gpt.write(&f).unwrap();
    drop(f);
    let mut vm = Machine::builder("verity_fallback")
        .uefi()
        .disk(Disk::direct(&disk).bootindex(1))
        .agent()
        .build()
        .unwrap();
    vm.start().unwrap();
    vm.wait_for_console(
        "NOT BOOTING /usr slot 2 \\(USR-A\\): verity check: verity root hash mismatch",
        BOOT_TIMEOUT,
    )
    .unwrap();
    vm.wait_for_console("booting /usr slot 3 \\(USR-B\\)", BOOT_TIMEOUT)
        .unwrap();
    let up = vm.wait_for_console(ROOTFS_UP, BOOT_TIMEOUT).unwrap();
    assert_eq!((up[2].as_str(), up[3].as_str()), ("/dev/vda3", "yes"));
    vm.wait_for_agent(BOOT_TIMEOUT).unwrap();
    let status = vm.succeed("metalos update status").unwrap();
    eprintln!("{status}");
    vm.shutdown().unwrap();
    let f = std::fs::File::open(&disk).unwrap();
    let (gpt, _) = Gpt::read(&f, size).unwrap();
    let a = gpt.partitions.iter().find(|p| p.name == "USR-A").unwrap();
    assert_eq!(
        GptPrio::from_attributes(a.attributes),
        GptPrio::default(),
        "USR-A is marked unbootable"
    );
    let _ = std::fs::remove_file(&disk);
}
