//! A disk used through an overlay leaves the base image unchanged; a
//! direct disk is written; a grown overlay shows its new size.
mod common;
use common::*;
use metalos_vmtest::Disk;

const SCRIPT: &str = r#"
wait_dev /dev/vda
wait_dev /dev/vdb
printf 'METALOS-OVERLAY-WRITE' | dd of=/dev/vda bs=4096 conv=sync,notrunc 2>/dev/null
printf 'METALOS-DIRECT-WRITE' | dd of=/dev/vdb bs=4096 conv=sync,notrunc 2>/dev/null
sync
echo "VMTEST-READBACK $(dd if=/dev/vda bs=4096 count=1 2>/dev/null | head -c 21)"
echo "VMTEST-SIZE $(blockdev --getsize64 /dev/vda) $(blockdev --getss /dev/vda)"
poweroff -f
"#;

#[test]
fn overlay_leaves_base_unchanged() {
    let m = inputs();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.img");
    let direct = dir.path().join("direct.img");
    std::fs::write(&base, vec![0u8; 8 << 20]).unwrap();
    std::fs::write(&direct, vec![0u8; 1 << 20]).unwrap();
    let before = sha256(&base);
    let initrd = write_initrd(dir.path(), &initrd(&m).script(SCRIPT));
    let mut vm = kernel_machine("overlay_leaves_base_unchanged", &m, &initrd)
        .disk(Disk::overlay(&base).grow_to(16 << 20).block_size(4096))
        .disk(Disk::direct(&direct))
        .build()
        .unwrap();
    vm.start().unwrap();
    vm.wait_for_console("VMTEST-READBACK METALOS-OVERLAY-WRITE", BOOT_TIMEOUT)
        .unwrap();
    let caps = vm
        .wait_for_console(r"VMTEST-SIZE (\d+) (\d+)", BOOT_TIMEOUT)
        .unwrap();
    assert_eq!(
        caps[1],
        (16u64 << 20).to_string(),
        "overlay grown to 16 MiB"
    );
    assert_eq!(caps[2], "4096", "logical block size");
    vm.wait_for_shutdown(BOOT_TIMEOUT).unwrap();
    assert_eq!(sha256(&base), before, "base image unchanged");
    let written = std::fs::read(&direct).unwrap();
    assert!(
        written.starts_with(b"METALOS-DIRECT-WRITE"),
        "direct disk is written"
    );
    let overlay = std::fs::read(&vm.disk_files()[0]).unwrap();
    assert!(
        overlay.windows(21).any(|w| w == b"METALOS-OVERLAY-WRITE"),
        "the write went to the overlay"
    );
}
