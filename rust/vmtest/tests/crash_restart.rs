//! crash() + restart() keeps what the guest wrote to its (overlay) disk.
mod common;
use common::*;
use metalos_vmtest::Disk;

const SCRIPT: &str = r#"
wait_dev /dev/vda
got=$(dd if=/dev/vda bs=512 count=1 2>/dev/null | head -c 18)
if [ "$got" = "METALOS-PERSIST-42" ]; then
  echo "VMTEST-FOUND $got"
else
  # conv=fsync makes the kernel send a flush: only flushed writes survive a crash.
  printf 'METALOS-PERSIST-42' | dd of=/dev/vda bs=512 conv=sync,notrunc,fsync 2>/dev/null
  echo "VMTEST-WRITTEN $(dd if=/dev/vda bs=512 count=1 2>/dev/null | head -c 18)"
fi
"#;

#[test]
fn crash_and_restart_keep_disk_writes() {
    let m = inputs();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("disk.img");
    std::fs::write(&base, vec![0u8; 8 << 20]).unwrap();
    let before = sha256(&base);
    let initrd = write_initrd(dir.path(), &initrd(&m).script(SCRIPT));
    let mut vm = kernel_machine("crash_and_restart_keep_disk_writes", &m, &initrd)
        .disk(Disk::overlay(&base))
        .build()
        .unwrap();
    vm.start().unwrap();
    vm.wait_for_console("VMTEST-WRITTEN METALOS-PERSIST-42", BOOT_TIMEOUT)
        .unwrap();
    vm.crash().unwrap();
    assert!(!vm.is_running());
    vm.restart().unwrap();
    let caps = vm
        .wait_for_console(r"VMTEST-(FOUND|WRITTEN) (\S+)\r?\n", BOOT_TIMEOUT)
        .unwrap();
    assert_eq!(
        caps[1], "FOUND",
        "second boot must read the first boot's write"
    );
    assert_eq!(caps[2], "METALOS-PERSIST-42");
    vm.shutdown().unwrap();
    assert_eq!(sha256(&base), before, "the base image is never written");
    let log = std::fs::read_to_string(vm.console_log()).unwrap();
    assert!(log.contains("boot 2 ==="), "both boots are in one log");
}
