//! Unit tests of the machine description and QEMU arguments (no VM starts).

use super::qemu_args::ConsoleMode;
use super::Machine;
use crate::config::{Accel, Disk, Nic, UserNet};
use crate::paths::Tools;

fn tools() -> Tools {
    Tools {
        qemu: "/bin/true".into(),
        ovmf_code: "/code.fd".into(),
        ovmf_vars: "/vars.fd".into(),
    }
}

#[test]
fn kernel_machine_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("vmlinuz");
    let img = dir.path().join("disk.img");
    std::fs::write(&k, b"k").unwrap();
    std::fs::write(&img, vec![0u8; 1 << 20]).unwrap();
    let m = Machine::builder("unit")
        .tools(tools())
        .accel(Accel::Tcg)
        .dir(dir.path().join("m"))
        .kernel(&k, None, "console=ttyS0")
        .disk(Disk::overlay(&img).block_size(4096))
        .disk(Disk::direct(&img).nvme())
        .nic(Nic::new(UserNet::new().hostfwd_tcp("127.0.0.1:2222", 22)).mac("52:54:00:00:00:01"))
        .build()
        .unwrap();
    let args = m.args(&ConsoleMode::Stdio).join(" ");
    assert!(args.contains("-nodefaults"), "{args}");
    assert!(args.contains("-accel tcg"), "{args}");
    assert!(
        args.contains("-cpu qemu64,+rdrand"),
        "TCG guests have RDRAND: {args}"
    );
    assert!(args.contains("-append console=ttyS0"), "{args}");
    assert!(args.contains("format=qcow2"), "{args}");
    assert!(args.contains("logical_block_size=4096,physical_block_size=4096"));
    assert!(args.contains(&format!("file={},format=raw", img.display())));
    assert!(args.contains("nvme,drive=disk1"));
    assert!(args.contains("user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22"));
    assert!(args.contains("virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01"));
    assert!(!args.contains("pflash"));
    assert_eq!(m.disk_files()[0], dir.path().join("m/disk0.qcow2"));
    assert!(m.disk_files()[0].is_file());
    drop(m);
    assert!(
        !dir.path().join("m/disk0.qcow2").exists(),
        "a passing test's overlays go with the machine"
    );
    assert!(img.is_file(), "a direct disk stays");
}

#[test]
fn secure_boot_machine_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let (code, vars, sb_vars) = (
        dir.path().join("OVMF_CODE_4M.fd"),
        dir.path().join("OVMF_VARS_4M.fd"),
        dir.path().join("sb-vars.fd"),
    );
    let secboot = dir.path().join("OVMF_CODE_4M.secboot.fd");
    for (p, b) in [
        (&code, b"c"),
        (&vars, b"v"),
        (&sb_vars, b"s"),
        (&secboot, b"x"),
    ] {
        std::fs::write(p, b).unwrap();
    }
    let t = Tools {
        qemu: "/bin/true".into(),
        ovmf_code: code.clone(),
        ovmf_vars: vars,
    };
    let m = Machine::builder("unit")
        .tools(t)
        .accel(Accel::Tcg)
        .dir(dir.path().join("m"))
        .secure_boot(&sb_vars)
        .build()
        .unwrap();
    let args = m.args(&ConsoleMode::Stdio).join(" ");
    assert!(args.contains("-machine q35,smm=on"), "{args}");
    assert!(args.contains("-global driver=cfi.pflash01,property=secure,value=on"));
    assert!(args.contains(&format!("readonly=on,file={}", secboot.display())));
    assert_eq!(std::fs::read(m.vars_file().unwrap()).unwrap(), b"s");
}

#[test]
fn builder_refuses_non_loopback_forwards() {
    let err = Machine::builder("unit")
        .tools(tools())
        .dir(tempfile::tempdir().unwrap().path().join("m"))
        .nic(Nic::new(UserNet::new().hostfwd_tcp("0.0.0.0:2222", 22)))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("only 127.0.0.1"), "{err}");
}
