//! Commands run through the guest agent return status and output.
mod common;
use common::*;
use std::time::Instant;

#[test]
fn agent_runs_commands() {
    let m = inputs();
    let dir = tempfile::tempdir().unwrap();
    let initrd = write_initrd(dir.path(), &initrd(&m).agent().script("echo VMTEST-UP\n"));
    let mut vm = kernel_machine("agent_runs_commands", &m, &initrd)
        .agent()
        .build()
        .unwrap();
    let t0 = Instant::now();
    vm.start().unwrap();
    vm.wait_for_agent(BOOT_TIMEOUT).unwrap();
    eprintln!("agent ready after {:?}", t0.elapsed());
    let (status, out) = vm.run("echo hi; exit 3").unwrap();
    assert_eq!((status, out.as_str()), (3, "hi\n"));
    let (status, out) = vm.run("printf 'no newline'").unwrap();
    assert_eq!((status, out.as_str()), (0, "no newline"));
    let (status, out) = vm
        .run("x='quotes \"and\" $dollars'\necho \"$x\" >&2\nfalse")
        .unwrap();
    assert_eq!((status, out.as_str()), (1, "quotes \"and\" $dollars\n"));
    assert_eq!(vm.succeed("cat /proc/cmdline").unwrap().trim(), APPEND);
    assert!(vm.succeed("exit 7").is_err());
    // The console is independent of the agent.
    vm.wait_for_console("VMTEST-UP", BOOT_TIMEOUT).unwrap();
    vm.send_console("").unwrap();
    eprintln!("done after {:?}", t0.elapsed());
    vm.run("poweroff -f &").unwrap();
    vm.wait_for_shutdown(BOOT_TIMEOUT).unwrap();
}
