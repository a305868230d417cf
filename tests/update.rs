//! A/B offline updates, automatic rollback and bootloader update, proven by
//! booting and breaking things on purpose. Bundles reach the guest on a
//! second disk (a squashfs); the HTTP source is tested on the host
//! (rust/cli/tests/update_verify.rs).

use metalos_tests::*;
use metalos_vmtest::{Disk, Machine, Nic, UserNet};
use serde_json::Value;
use std::path::Path;

const MAC: &str = "52:54:00:aa:bb:01";
const ROOTFS_UP: &str = "METALOS-ROOTFS-UP";
/// Where the guest mounts the bundle disk (a squashfs on the second disk).
const BUNDLES: &str = "/run/bundles/";

fn machine(test: &str, image: &Path, bundles: &Path) -> Machine {
    Machine::builder(test)
        .uefi()
        .disk(Disk::overlay(image).grow_to(2 << 30).bootindex(1))
        .disk(Disk::overlay(bundles))
        .nic(Nic::new(UserNet::new()).mac(MAC))
        .agent()
        .build()
        .unwrap()
}

fn boot(vm: &mut Machine) {
    vm.wait_for_console(ROOTFS_UP, BOOT_TIMEOUT).unwrap();
    vm.wait_for_agent(BOOT_TIMEOUT).unwrap();
    vm.succeed(&format!(
        "mkdir -p {BUNDLES} && mount -t squashfs -o ro /dev/vdb {BUNDLES}"
    ))
    .unwrap();
}

fn power_cycle(vm: &mut Machine) {
    vm.succeed("sync").unwrap();
    vm.crash().unwrap();
    vm.restart().unwrap();
    boot(vm);
}

/// (slot 2, slot 3) as (priority, tries, successful, version, booted).
fn status(vm: &mut Machine) -> Vec<(u64, u64, bool, String, bool)> {
    let v: Value =
        serde_json::from_str(&vm.succeed("metalos update status --json").unwrap()).unwrap();
    v["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["priority"].as_u64().unwrap(),
                s["tries"].as_u64().unwrap(),
                s["successful"].as_bool().unwrap(),
                s["version"].as_str().unwrap_or("-").to_string(),
                s["booted"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn build(dir: &Path, name: &str, edit: impl FnOnce(String) -> String) -> std::path::PathBuf {
    build_default(&dir.join(name), Some(&test_host_config()), edit)
}

#[test]
fn stage_boot_confirm_stage_again_and_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = build(dir.path(), "v1", |t| with_version(t, "1"));
    // v2 also carries a different bootloader UKI (another embedded cmdline).
    build(dir.path(), "v2", |t| {
        with_version(t, "2").replace("panic=10 quiet\"", "panic=10 quiet metalos.bootloader=2\"")
    });
    let bundles = bundle_disk(
        &dir.path().join("bundles.sqfs"),
        &[
            ("v1", &dir.path().join("v1/update")),
            ("v2", &dir.path().join("v2/update")),
        ],
    );
    let mut vm = machine("update_cycle", &v1, &bundles);
    vm.start().unwrap();
    boot(&mut vm);
    assert_eq!(
        status(&mut vm),
        vec![
            (1, 0, true, "1".into(), true),
            (0, 0, false, "-".into(), false)
        ]
    );
    // Rollback is refused while the other slot never booted.
    let (code, out) = vm.run("metalos update rollback").unwrap();
    assert_ne!(code, 0);
    assert!(out.contains("never booted successfully"), "{out}");

    // 1. Stage v2 into USR-B over HTTP.
    let out = vm
        .succeed(&format!("metalos update stage {BUNDLES}v2/"))
        .unwrap();
    assert!(out.contains("bootloader updated"), "{out}");
    assert_eq!(
        status(&mut vm),
        vec![
            (1, 0, true, "1".into(), true),
            (2, 1, false, "2".into(), false)
        ]
    );
    let esp: Value =
        serde_json::from_str(&vm.succeed("metalos inspect --json /dev/vda").unwrap()).unwrap();
    let files = esp["partitions"][0]["filesystem"]["files"].to_string();
    assert!(
        files.contains("EFI/BOOT/BOOTX64.PRV") && !files.contains("BOOTX64.NEW"),
        "{files}"
    );

    // Boots B with the new bootloader (tries 1 → 0), which marks itself good.
    power_cycle(&mut vm);
    vm.wait_for_console("marked good", BOOT_TIMEOUT).unwrap();
    assert_eq!(
        status(&mut vm),
        vec![
            (1, 0, true, "1".into(), false),
            (2, 0, true, "2".into(), true)
        ]
    );
    power_cycle(&mut vm);
    assert_eq!(
        status(&mut vm),
        vec![
            (1, 0, true, "1".into(), false),
            (2, 0, true, "2".into(), true)
        ]
    );

    // 4. Stage again while B is booted: it writes A.
    vm.succeed(&format!("metalos update stage {BUNDLES}v1/bundle.json"))
        .unwrap();
    assert_eq!(
        status(&mut vm),
        vec![
            (2, 1, false, "1".into(), false),
            (1, 0, true, "2".into(), true)
        ]
    );
    power_cycle(&mut vm);
    vm.wait_for_console("marked good", BOOT_TIMEOUT).unwrap();
    assert_eq!(
        status(&mut vm),
        vec![
            (2, 0, true, "1".into(), true),
            (1, 0, true, "2".into(), false)
        ]
    );

    // 5. Manual rollback to B.
    vm.succeed("metalos update rollback").unwrap();
    power_cycle(&mut vm);
    let s = status(&mut vm);
    assert!(s[1].4 && s[1].3 == "2", "{s:?}");
    vm.shutdown().unwrap();
}

#[test]
fn broken_updates_roll_back_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = build(dir.path(), "v1", |t| with_version(t, "1"));
    // Its rootfs init fails before marking good.
    build(dir.path(), "bad-init", |t| {
        with_version(t, "2-bad-init").replace("source = { file = \"rootfs/etc/init.d/rcS\" }", "source = { text = \"#!/bin/sh\\necho METALOS-BROKEN-INIT\\n/bin/busybox reboot -f\\n\" }")
    });
    // Its kernel panics (no init can be found).
    build(dir.path(), "bad-kernel", |t| {
        with_version(t, "2-panic").replace(
            "source = { file = \"slot-cmdline\" }",
            "source = { text = \"console=ttyS0 panic=5 rdinit=/nonexistent init=/nonexistent\" }",
        )
    });
    let (a, b) = (
        dir.path().join("bad-init/update"),
        dir.path().join("bad-kernel/update"),
    );
    let bundles = bundle_disk(
        &dir.path().join("bundles.sqfs"),
        &[("bad-init", &a), ("bad-kernel", &b)],
    );
    let mut vm = machine("broken_updates", &v1, &bundles);
    vm.start().unwrap();
    boot(&mut vm);
    for (name, symptom) in [
        ("bad-init", "METALOS-BROKEN-INIT"),
        ("bad-kernel", "Kernel panic"),
    ] {
        vm.succeed(&format!("metalos update stage {BUNDLES}{name}/"))
            .unwrap();
        vm.succeed("sync").unwrap();
        vm.crash().unwrap();
        vm.restart().unwrap();
        // The trial boot fails on its own, then the host comes back on A.
        vm.wait_for_console(symptom, BOOT_TIMEOUT).unwrap();
        boot(&mut vm);
        let s = status(&mut vm);
        assert!(s[0].4 && s[0].3 == "1", "back on A: {s:?}");
        assert_eq!(
            (s[1].0, s[1].1, s[1].2),
            (2, 0, false),
            "B not successful: {s:?}"
        );
        let text = vm.succeed("metalos update status").unwrap();
        assert!(
            text.contains("booted") && text.contains("boots next"),
            "{text}"
        );
    }
    vm.shutdown().unwrap();
}

#[test]
fn power_loss_while_staging_keeps_the_old_slot() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = build(dir.path(), "v1", |t| with_version(t, "1"));
    build(dir.path(), "v2", |t| with_version(t, "2"));
    let bundles = bundle_disk(
        &dir.path().join("bundles.sqfs"),
        &[("v2", &dir.path().join("v2/update"))],
    );
    let mut vm = machine("power_loss_while_staging", &v1, &bundles);
    vm.start().unwrap();
    boot(&mut vm);
    for point in ["mid-write", "before-table", "between-headers"] {
        vm.succeed(&format!("METALOS_FAULT_PAUSE={point} setsid metalos update stage {BUNDLES}v2/ >/dev/console 2>&1 </dev/null &")).unwrap();
        vm.wait_for_console(&format!("metalos-fault: paused at {point}"), BOOT_TIMEOUT)
            .unwrap();
        vm.crash().unwrap();
        vm.restart().unwrap();
        boot(&mut vm);
        let s = status(&mut vm);
        assert!(
            s[0].4 && s[0].3 == "1",
            "after power loss at {point} the old slot boots: {s:?}"
        );
        assert_eq!(s[0].0, 1, "{s:?}");
    }
    vm.succeed(&format!("metalos update stage {BUNDLES}v2/"))
        .unwrap();
    power_cycle(&mut vm);
    let s = status(&mut vm);
    assert!(s[1].4 && s[1].3 == "2", "the new stage succeeded: {s:?}");
    vm.shutdown().unwrap();
}

/// `images/default.toml` signed with the key directory `keys`.
fn build_signed(dir: &Path, name: &str, keys: &Path, version: &str) -> std::path::PathBuf {
    build(dir, name, |t| {
        format!(
            "{}\n[signing]\nkeys = \"{}\"\n",
            with_version(t, version),
            keys.display()
        )
    })
}

#[test]
fn signed_system_refuses_foreign_and_tampered_bundles() {
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (dir.path().join("keys-ours"), dir.path().join("keys-theirs"));
    metalos_signing::KeyDir::generate_signing(&ours).unwrap();
    metalos_signing::KeyDir::generate_signing(&theirs).unwrap();
    let v1 = build_signed(dir.path(), "v1", &ours, "1");
    build_signed(dir.path(), "foreign", &theirs, "2");
    build_signed(dir.path(), "v2", &ours, "2");
    // A validly signed bundle whose usr.img was changed afterwards.
    let tampered = dir.path().join("tampered");
    std::fs::create_dir(&tampered).unwrap();
    for f in std::fs::read_dir(dir.path().join("v2/update")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), tampered.join(f.file_name())).unwrap();
    }
    let usr = tampered.join("usr.img");
    let mut bytes = std::fs::read(&usr).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    std::fs::write(&usr, bytes).unwrap();
    let bundles = bundle_disk(
        &dir.path().join("bundles.sqfs"),
        &[
            ("foreign", &dir.path().join("foreign/update")),
            ("tampered", &tampered),
            ("v2", &dir.path().join("v2/update")),
        ],
    );
    let mut vm = machine("update_signed", &v1, &bundles);
    vm.start().unwrap();
    boot(&mut vm);
    let before = vm.succeed("sha256sum /dev/vda3").unwrap();
    let slots = status(&mut vm);
    for (name, expect) in [("foreign", "signature"), ("tampered", "")] {
        let (code, out) = vm
            .run(&format!("metalos update stage {BUNDLES}{name}/ 2>&1"))
            .unwrap();
        assert_ne!(code, 0, "{name} was staged: {out}");
        assert!(out.contains(expect), "{name}: {out}");
        eprintln!("{name}: {}", out.trim());
    }
    assert_eq!(
        vm.succeed("sha256sum /dev/vda3").unwrap(),
        before,
        "USR-B untouched"
    );
    assert_eq!(status(&mut vm), slots);
    // The genuine bundle stages.
    vm.succeed(&format!("metalos update stage {BUNDLES}v2/"))
        .unwrap();
    assert_ne!(vm.succeed("sha256sum /dev/vda3").unwrap(), before);
    vm.shutdown().unwrap();
}
