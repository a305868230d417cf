//! The default image booted end to end under OVMF: bootloader UKI →
//! gptprio → kexec → metalinit (first boot) → switch-root → busybox init.

use metalos_disk::gpt::Gpt;
use metalos_disk::gptprio::GptPrio;
use metalos_tests::*;
use metalos_vmtest::{Disk, Machine, Nic, UserNet};
use serde_json::Value;
use std::path::Path;

const SENTINEL: &str = "00000000-0000-0000-0000-000000000001";
const MAC: &str = "52:54:00:aa:bb:01";
const ROOTFS_UP: &str = "METALOS-ROOTFS-UP host=(\\S+) usr=(\\S+)";

fn partition(report: &Value, slot: u64) -> &Value {
    report["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["slot"] == slot)
        .unwrap()
}

fn guest_inspect(vm: &mut Machine, dev: &str) -> Value {
    serde_json::from_str(
        &vm.succeed(&format!("metalos inspect --json {dev}"))
            .unwrap(),
    )
    .unwrap()
}

/// Starts `vm` and waits for the rootfs and its test agent.
fn start_to_rootfs(vm: &mut Machine) {
    vm.start().unwrap();
    vm.wait_for_console(ROOTFS_UP, BOOT_TIMEOUT).unwrap();
    vm.wait_for_agent(BOOT_TIMEOUT).unwrap();
}

fn mount_line(mounts: &str, target: &str) -> String {
    mounts
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(target))
        .unwrap_or_else(|| panic!("{target} not mounted:\n{mounts}"))
        .to_string()
}

#[test]
fn first_boot_then_second_boot() {
    let dir = tempfile::tempdir().unwrap();
    let image = build_default(&dir.path().join("out"), Some(&test_host_config()), |t| t);
    let before = sha256(&image);
    let mut vm = Machine::builder("first_boot_then_second_boot")
        .uefi()
        .disk(Disk::overlay(&image).grow_to(3 << 30).bootindex(1))
        .nic(Nic::new(UserNet::new()).mac(MAC))
        .agent()
        .build()
        .unwrap();
    vm.start().unwrap();
    let up = vm.wait_for_console(ROOTFS_UP, BOOT_TIMEOUT).unwrap();
    assert_eq!(up[1], "vm-test-host");
    assert_eq!(up[2], "/dev/vda2", "/usr comes from USR-A");
    vm.wait_for_agent(BOOT_TIMEOUT).unwrap();

    // Disk: new GUID, ROOT grown to the end, first-boot flag gone, USR-A unchanged.
    let report = guest_inspect(&mut vm, "/dev/vda");
    let disk_guid = report["disk_guid"].as_str().unwrap().to_string();
    assert_ne!(disk_guid, SENTINEL);
    assert_eq!(report["size"], 3u64 << 30);
    let root = partition(&report, 5);
    let last = root["last_lba"].as_u64().unwrap();
    let total = (3u64 << 30) / 512;
    assert!(
        total - last < 2048 + 34,
        "ROOT ends at {last} of {total} sectors"
    );
    let esp_files: Vec<&str> = partition(&report, 1)["filesystem"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(!esp_files.contains(&"metalos/first_boot"), "{esp_files:?}");
    assert!(esp_files.contains(&"metalos/host-config.json"));
    assert_eq!(
        partition(&report, 2)["gptprio"],
        serde_json::json!({"priority": 1, "tries": 0, "successful": true})
    );
    let root_guid = root["guid"].as_str().unwrap().to_string();

    // Filesystems: btrfs subvolumes, read-only /usr from USR-A, /etc overlay.
    let mounts = vm.succeed("cat /proc/mounts").unwrap();
    let slash = mount_line(&mounts, "/");
    assert!(
        slash.contains(" btrfs ") && slash.contains("subvol=/root"),
        "{slash}"
    );
    for (target, subvol) in [
        ("/var", "subvol=/var"),
        ("/home", "subvol=/home"),
        ("/var/lib/metalos", "subvol=/state"),
    ] {
        let l = mount_line(&mounts, target);
        assert!(l.contains(" btrfs ") && l.contains(subvol), "{l}");
    }
    let usr = mount_line(&mounts, "/usr");
    // Through dm-verity (tests/verity.rs); rcS's marker names the slot under it.
    assert!(usr.starts_with("/dev/mapper/usr /usr squashfs ro"), "{usr}");
    assert!(
        mount_line(&mounts, "/etc").starts_with("overlay /etc overlay"),
        "{mounts}"
    );
    let (status, _) = vm.run("touch /usr/should-fail").unwrap();
    assert_ne!(status, 0, "/usr must be read-only");

    // Identity and NIC naming from the HostConfig.
    assert_eq!(vm.succeed("hostname").unwrap().trim(), "vm-test-host");
    assert_eq!(
        vm.succeed("cat /etc/machine-id").unwrap().trim(),
        "0123456789abcdef0123456789abcdef"
    );
    assert_eq!(
        vm.succeed("cat /sys/class/net/lan0/address")
            .unwrap()
            .trim(),
        MAC
    );
    // The static metalos tool runs in a rootfs without glibc.
    assert!(vm
        .succeed("metalos --version")
        .unwrap()
        .starts_with("metalos "));

    vm.succeed("echo kept > /var/boot1-marker && echo also > /etc/boot1-etc && sync")
        .unwrap();
    vm.crash().unwrap();

    // Second boot: no reformat, same disk GUID, USR-A still (1,0,1).
    vm.restart().unwrap();
    vm.wait_for_console(ROOTFS_UP, BOOT_TIMEOUT).unwrap();
    vm.wait_for_agent(BOOT_TIMEOUT).unwrap();
    assert_eq!(vm.succeed("cat /var/boot1-marker").unwrap().trim(), "kept");
    assert_eq!(vm.succeed("cat /etc/boot1-etc").unwrap().trim(), "also");
    let report = guest_inspect(&mut vm, "/dev/vda");
    assert_eq!(report["disk_guid"].as_str().unwrap(), disk_guid);
    assert_eq!(partition(&report, 5)["guid"].as_str().unwrap(), root_guid);
    assert_eq!(
        partition(&report, 2)["gptprio"],
        serde_json::json!({"priority": 1, "tries": 0, "successful": true})
    );
    let cmdline = vm.succeed("cat /proc/cmdline").unwrap();
    assert!(
        !cmdline.contains("first_boot") && !cmdline.contains("randomize_guid"),
        "{cmdline}"
    );
    let console = vm.console_text();
    assert_eq!(
        console.matches("formatting ROOT").count(),
        1,
        "ROOT formatted once only"
    );
    vm.shutdown().unwrap();
    assert_eq!(sha256(&image), before, "the base image is untouched");
}

#[test]
fn two_identical_disks_only_the_boot_disk_changes() {
    let dir = tempfile::tempdir().unwrap();
    let image = build_default(&dir.path().join("out"), Some(&test_host_config()), |t| t);
    let other = dir.path().join("other.img");
    std::fs::copy(&image, &other).unwrap();
    let other_before = sha256(&other);
    let mut vm = Machine::builder("two_identical_disks")
        .uefi()
        .disk(Disk::overlay(&image).bootindex(1))
        .disk(Disk::direct(&other))
        .agent()
        .build()
        .unwrap();
    start_to_rootfs(&mut vm);
    let booted = guest_inspect(&mut vm, "/dev/vda");
    assert_ne!(booted["disk_guid"], SENTINEL);
    let cmdline = vm.succeed("cat /proc/cmdline").unwrap();
    assert!(cmdline.contains("metalos.boot_disk="), "{cmdline}");
    vm.shutdown().unwrap();
    assert_eq!(
        sha256(&other),
        other_before,
        "the second disk must not be modified"
    );
}

#[test]
fn damaged_primary_gpt_boots_from_backup_and_is_repaired() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let image = build_default(&dir.path().join("out"), Some(&test_host_config()), |t| t);
    let damaged = dir.path().join("damaged.img");
    std::fs::copy(&image, &damaged).unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&damaged)
        .unwrap();
    f.write_all_at(&[0u8; 512], 512).unwrap();
    drop(f);
    assert!(inspect(&damaged).primary_gpt_error.is_some());
    let mut vm = Machine::builder("damaged_primary_gpt")
        .uefi()
        .disk(Disk::direct(&damaged).bootindex(1))
        .agent()
        .build()
        .unwrap();
    start_to_rootfs(&mut vm);
    vm.succeed("sync").unwrap();
    vm.shutdown().unwrap();
    let report = inspect(&damaged);
    assert!(
        report.primary_gpt_error.is_none(),
        "primary not repaired: {:?}",
        report.primary_gpt_error
    );
    assert!(
        report.backup_gpt_error.is_none(),
        "{:?}",
        report.backup_gpt_error
    );
    assert_ne!(report.disk_guid, SENTINEL);
}

fn set_priorities(image: &Path, prio: u8) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .unwrap();
    let len = f.metadata().unwrap().len();
    let (mut gpt, _) = Gpt::read(&f, len).unwrap();
    for p in gpt
        .partitions
        .iter_mut()
        .filter(|p| p.name.starts_with("USR-"))
    {
        let mut g = GptPrio::from_attributes(p.attributes);
        g.priority = prio;
        p.attributes = g.apply(p.attributes);
    }
    gpt.write(&f).unwrap();
}

#[test]
fn no_bootable_slot_says_so_on_the_console() {
    let dir = tempfile::tempdir().unwrap();
    let image = build_default(&dir.path().join("out"), None, |t| t);
    set_priorities(&image, 0);
    let mut vm = Machine::builder("no_bootable_slot")
        .uefi()
        .disk(Disk::overlay(&image).bootindex(1))
        .build()
        .unwrap();
    vm.start().unwrap();
    let m = vm
        .wait_for_console(
            "metalos-bootloader: FATAL: (no bootable /usr slot: .*)",
            BOOT_TIMEOUT,
        )
        .unwrap();
    assert!(
        m[1].contains("2 USR-A (priority 0") && m[1].contains("3 USR-B (priority 0"),
        "{}",
        m[1]
    );
    vm.wait_for_console("emergency action: Reboot in 10 s", BOOT_TIMEOUT)
        .unwrap();
    vm.shutdown().unwrap();
}

#[test]
fn disk_with_4096_byte_sectors_boots() {
    let dir = tempfile::tempdir().unwrap();
    let image = build_default(&dir.path().join("out"), Some(&test_host_config()), |t| {
        t.replace("sector-size = 512", "sector-size = 4096")
            .replace("size = \"1GiB\"", "size = \"1536MiB\"")
            .replace("size = \"128MiB\"", "size = \"264MiB\"")
    });
    assert_eq!(inspect(&image).sector_size, 4096);
    let mut vm = Machine::builder("disk_4096_sectors")
        .uefi()
        .disk(Disk::overlay(&image).block_size(4096).bootindex(1))
        .agent()
        .build()
        .unwrap();
    start_to_rootfs(&mut vm);
    assert_eq!(
        vm.succeed("cat /sys/block/vda/queue/logical_block_size")
            .unwrap()
            .trim(),
        "4096"
    );
    let report = guest_inspect(&mut vm, "/dev/vda");
    assert_eq!(report["sector_size"], 4096);
    assert_ne!(report["disk_guid"], SENTINEL);
    vm.shutdown().unwrap();
}

#[test]
fn unreadable_host_config_and_missing_payload_say_so() {
    let dir = tempfile::tempdir().unwrap();
    // A HostConfig that does not parse, written into the built image's ESP.
    let image = build_default(&dir.path().join("bad-config"), None, |t| t);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&image)
        .unwrap();
    let report = inspect(&image);
    let esp = &report.partitions[0];
    let region = metalos_disk::sparse::Region::new(&f, esp.first_lba * 512, esp.size);
    metalos_disk::esp::write_esp_file(
        region,
        "metalos/host-config.json",
        b"{\"version\": 1, \"identity\": ",
    )
    .unwrap();
    drop(f);
    let mut vm = Machine::builder("unreadable_host_config")
        .uefi()
        .disk(Disk::overlay(&image).bootindex(1))
        .build()
        .unwrap();
    vm.start().unwrap();
    vm.wait_for_console(
        "metalos-bootloader: FATAL: invalid HostConfig metalos/host-config.json",
        BOOT_TIMEOUT,
    )
    .unwrap();
    vm.wait_for_console("emergency action: Reboot", BOOT_TIMEOUT)
        .unwrap();
    vm.shutdown().unwrap();

    // A /usr slot without its boot payload.
    let image = build_default(&dir.path().join("no-payload"), None, |t| {
        t.replace("[[usr.files]]\npath = \"lib/metalos/boot/cmdline\"\nsource = { file = \"slot-cmdline\" }\n", "")
    });
    let mut vm = Machine::builder("missing_payload")
        .uefi()
        .disk(Disk::overlay(&image).bootindex(1))
        .build()
        .unwrap();
    vm.start().unwrap();
    vm.wait_for_console("FATAL: slot 2 has no boot payload", BOOT_TIMEOUT)
        .unwrap();
    vm.shutdown().unwrap();
}
