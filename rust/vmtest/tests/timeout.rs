//! A wait that times out fails with the console tail and the log path.
mod common;
use common::*;
use metalos_vmtest::VmError;
use std::time::{Duration, Instant};

#[test]
fn timeout_error_carries_console_tail_and_log() {
    let m = inputs();
    let dir = tempfile::tempdir().unwrap();
    let initrd = write_initrd(dir.path(), &initrd(&m).script("echo VMTEST-BOOTED\n"));
    let mut vm = kernel_machine("timeout_error_carries_console_tail_and_log", &m, &initrd)
        .build()
        .unwrap();
    vm.start().unwrap();
    vm.wait_for_console("VMTEST-BOOTED", BOOT_TIMEOUT).unwrap();
    let t0 = Instant::now();
    let err = vm
        .wait_for_console("NEVER-PRINTED", Duration::from_secs(3))
        .unwrap_err();
    assert!(t0.elapsed() >= Duration::from_secs(3));
    let VmError::Timeout { ref context, .. } = err else {
        panic!("expected a timeout, got {err}")
    };
    assert!(context.tail.len() <= 50);
    assert!(
        context.tail.iter().any(|l| l.contains("VMTEST-BOOTED")),
        "{err}"
    );
    assert_eq!(context.console_log, vm.console_log());
    assert!(context.console_log.is_file());
    let text = err.to_string();
    assert!(text.contains("timed out after 3s"), "{text}");
    assert!(
        text.contains(&vm.console_log().display().to_string()),
        "{text}"
    );
    assert!(text.contains("| VMTEST-BOOTED"), "{text}");
    vm.shutdown().unwrap();
    assert!(!vm.is_running());
}
