//! Direct kernel + busybox initrd: the marker appears on the console, then
//! the guest powers off and QEMU exits.
mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn marker_then_poweroff() {
    let m = inputs();
    let dir = tempfile::tempdir().unwrap();
    let initrd = write_initrd(
        dir.path(),
        &initrd(&m).script("echo 'VMTEST-MARKER value=42'\nsync\npoweroff -f\n"),
    );
    let mut vm = kernel_machine("marker_then_poweroff", &m, &initrd)
        .build()
        .unwrap();
    let t0 = Instant::now();
    vm.start().unwrap();
    let caps = vm
        .wait_for_console(r"VMTEST-MARKER value=(\d+)", BOOT_TIMEOUT)
        .unwrap();
    assert_eq!(caps[1], "42");
    eprintln!("marker after {:?}", t0.elapsed());
    let status = vm.wait_for_shutdown(BOOT_TIMEOUT).unwrap();
    eprintln!("powered off after {:?} ({status})", t0.elapsed());
    assert!(!vm.is_running());
    assert!(std::fs::read_to_string(vm.console_log())
        .unwrap()
        .contains("VMTEST-MARKER value=42"));
    // Waiting again finds nothing new: the stream ended with QEMU.
    let err = vm
        .wait_for_console("VMTEST-MARKER", Duration::from_secs(5))
        .unwrap_err();
    assert!(err.to_string().contains("QEMU exited"), "{err}");
}
