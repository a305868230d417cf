//! Malformed bytes on the boot disk never brick a boot silently: a GPT that
//! firmware still boots from but our parser rejects, a HostConfig that does
//! not parse, and a slot descriptor with garbage behind its magic each end
//! in a `FATAL:` line that says why, then the emergency action (and, for the
//! default reboot, the same line again on the next boot). Nothing on the
//! disk is changed before the failure except what the failure policy
//! writes (a refused slot is marked unbootable).

use metalos_disk::esp::write_esp_file;
use metalos_disk::gpt::Gpt;
use metalos_disk::sparse::Region;
use metalos_tests::*;
use metalos_vmtest::{Disk, Machine};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Seconds from power-on to the bootloader's FATAL line under TCG is ~15;
/// the reboot path adds the 10 s delay and the firmware.
const FAIL_TIMEOUT: Duration = Duration::from_secs(180);

fn open_rw(disk: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(disk)
        .unwrap()
}

/// Boots `disk` until the bootloader's FATAL line and its emergency-action
/// line; returns (the FATAL message, the machine, still running).
fn boot_to_fatal(name: &str, disk: &Path, action: &str) -> (String, Machine) {
    let mut vm = Machine::builder(name)
        .uefi()
        .disk(Disk::direct(disk).bootindex(1))
        .build()
        .unwrap();
    vm.start().unwrap();
    let fatal = vm
        .wait_for_console("metalos-bootloader: FATAL: ([^\r\n]*)", FAIL_TIMEOUT)
        .unwrap()[1]
        .to_string();
    eprintln!("{name}: FATAL: {fatal}");
    vm.wait_for_console(
        &format!("metalos-bootloader: emergency action: {action}"),
        FAIL_TIMEOUT,
    )
    .unwrap();
    assert!(!vm.console_text().contains("panicked at"), "no bare panic");
    (fatal, vm)
}

/// A HostConfig whose emergency action powers the machine off at once.
fn poweroff_host_config(dir: &Path) -> PathBuf {
    let mut hc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(test_host_config()).unwrap()).unwrap();
    hc["boot"] = serde_json::json!({"emergency-action": "poweroff", "emergency-delay-seconds": 1});
    let path = dir.join("host-config-poweroff.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&hc).unwrap()).unwrap();
    path
}

/// 1. USR-A's entry ends beyond the disk in both tables, CRCs correct:
///    firmware skips that entry and still boots the ESP; the bootloader
///    refuses the table, names it, and writes nothing.
fn gpt_entry_beyond_the_disk(image: &Path) {
    let disk = raw_copy(image, &repo().join("target/vmtest-malformed-gpt.raw"));
    let f = open_rw(&disk);
    let size = f.metadata().unwrap().len();
    let (mut gpt, _) = Gpt::read(&f, size).unwrap();
    let a = gpt
        .partitions
        .iter_mut()
        .find(|p| p.name == "USR-A")
        .unwrap();
    a.last_lba = gpt.total_sectors + 1000;
    gpt.write_backup(&f).unwrap();
    gpt.write_primary(&f).unwrap();
    drop(f);
    let before = sha256(&disk);
    let (fatal, mut vm) = boot_to_fatal("malformed_gpt", &disk, "Reboot in 10 s");
    assert!(
        fatal.contains("GPT") || fatal.contains("partition"),
        "{fatal}"
    );
    vm.crash().unwrap();
    assert_eq!(sha256(&disk), before, "the disk is unchanged");
    let _ = std::fs::remove_file(&disk);
}

/// 2. A HostConfig with a wrong type: FATAL names the file and the field;
///    the default policy (the HostConfig being unreadable) reboots after
///    10 s and the next boot says the same again — a loop, never a silent one.
fn hostconfig_with_a_wrong_type(image: &Path) {
    let disk = raw_copy(
        image,
        &repo().join("target/vmtest-malformed-hostconfig.raw"),
    );
    let f = open_rw(&disk);
    let size = f.metadata().unwrap().len();
    let (gpt, _) = Gpt::read(&f, size).unwrap();
    let esp = gpt
        .partitions
        .iter()
        .find(|p| p.name == "EFI-SYSTEM")
        .unwrap();
    let region = Region::new(&f, esp.first_lba * 512, esp.sectors() * 512);
    let text = br#"{"version": 1, "identity": {"hostname": "vm-test-host", "machine-id": "0123456789abcdef0123456789abcdef"}, "boot": {"emergency-delay-seconds": "ten"}}"#;
    write_esp_file(region, metalos_image::build::HOST_CONFIG_ESP_PATH, text).unwrap();
    drop(f);
    let before = sha256(&disk);
    let (fatal, mut vm) = boot_to_fatal("malformed_hostconfig", &disk, "Reboot in 10 s");
    assert!(
        fatal.contains(metalos_image::build::HOST_CONFIG_ESP_PATH),
        "{fatal}"
    );
    assert!(fatal.contains("boot.emergency-delay-seconds"), "{fatal}");
    // The reboot happens and the next boot fails the same, loudly.
    let again = FAIL_TIMEOUT;
    let mut seen = 0;
    let deadline = std::time::Instant::now() + again;
    while std::time::Instant::now() < deadline {
        seen = vm
            .console_text()
            .matches("metalos-bootloader: FATAL: invalid HostConfig")
            .count();
        if seen >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(
        seen >= 2,
        "the machine rebooted and said why again ({seen} FATAL lines)"
    );
    vm.crash().unwrap();
    assert_eq!(sha256(&disk), before, "the disk is unchanged");
    let _ = std::fs::remove_file(&disk);
}

/// 3. USR-A's slot descriptor keeps its magic but its body is garbage:
///    the slot is refused with the reason and marked unbootable; with no
///    other good slot the bootloader stops and powers off (the HostConfig's
///    policy).
fn slot_descriptor_with_a_garbage_body(image: &Path) {
    let disk = raw_copy(image, &repo().join("target/vmtest-malformed-slot.raw"));
    let r = inspect(&disk);
    let a = r.partitions.iter().find(|p| p.label == "USR-A").unwrap();
    let layout =
        metalos_disk::verity::SlotLayout::for_data_size(a.filesystem.as_ref().unwrap().bytes_used);
    let at = a.first_lba * r.sector_size + layout.descriptor_offset;
    let f = open_rw(&disk);
    let mut block = vec![0xa5u8; 4096];
    block[..8].copy_from_slice(b"MTLSLOT1");
    block[8..12].copy_from_slice(&300u32.to_le_bytes());
    block[12..20].fill(0);
    f.write_all_at(&block, at).unwrap();
    drop(f);
    let (fatal, mut vm) = boot_to_fatal("malformed_slot", &disk, "Poweroff in 1 s");
    assert!(fatal.contains("no good /usr slot left"), "{fatal}");
    let console = vm.console_text();
    let refused = console
        .lines()
        .find(|l| l.contains("NOT BOOTING /usr slot 2 (USR-A)"))
        .unwrap_or_else(|| panic!("no refusal line for USR-A"));
    assert!(refused.contains("malformed slot descriptor"), "{refused}");
    eprintln!("{}", refused.trim());
    vm.wait_for_shutdown(Duration::from_secs(60)).unwrap();
    assert!(!vm.console_text().contains("METALOS-ROOTFS-UP"));
    let _ = std::fs::remove_file(&disk);
}

#[test]
fn malformed_gpt_hostconfig_and_slot_payload_fail_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let hc = poweroff_host_config(dir.path());
    let image = build_default(&dir.path().join("out"), Some(&hc), |t| t);
    gpt_entry_beyond_the_disk(&image);
    hostconfig_with_a_wrong_type(&image);
    slot_descriptor_with_a_garbage_body(&image);
}
