//! `metalos-vm check` and `metalos-vm netboot` refuse bad arguments before
//! starting any VM (the scenarios themselves run in the Nix checks, see
//! docs/nix.md), and `metalos vm …` runs `metalos-vm`.

mod common;
use common::*;
use std::process::Output;

fn stderr_of(out: Output, args: &[&str]) -> String {
    assert!(!out.status.success(), "{args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `metalos-vm ARGS…`, which must fail; returns its stderr.
fn vm_stderr(args: &[&str]) -> String {
    stderr_of(metalos_vm(args), args)
}

#[test]
fn missing_image_is_named() {
    let err = vm_stderr(&["check", "boot", "/nonexistent/disk.img"]);
    assert!(err.contains("scenario boot FAILED"), "{err}");
    assert!(
        err.contains("/nonexistent/disk.img does not exist"),
        "{err}"
    );
}

#[test]
fn update_needs_a_bundle_directory() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("disk.img");
    std::fs::write(&image, b"").unwrap();
    let bundle = dir.path().join("not-a-bundle");
    std::fs::create_dir(&bundle).unwrap();
    let err = vm_stderr(&[
        "check",
        "update",
        image.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
    ]);
    assert!(
        err.contains("is not an update bundle (no bundle.json)"),
        "{err}"
    );
    let err = vm_stderr(&["check", "update", image.to_str().unwrap()]);
    assert!(err.contains("--bundle"), "{err}");
}

#[test]
fn vm_netboot_needs_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let err = vm_stderr(&["netboot", dir.path().to_str().unwrap()]);
    assert!(
        err.contains("is not a netboot bundle (no boot.ipxe)"),
        "{err}"
    );
}

#[test]
fn metalos_vm_shim_runs_metalos_vm() {
    let args = ["check", "boot", "/nonexistent/disk.img"];
    let direct = metalos_vm(&args);
    let shim_args = ["vm", "check", "boot", "/nonexistent/disk.img"];
    let shim = metalos(&shim_args);
    assert_eq!(shim.status.code(), direct.status.code());
    let (direct, shim) = (stderr_of(direct, &args), stderr_of(shim, &shim_args));
    assert!(shim.contains("scenario boot FAILED"), "{shim}");
    assert!(
        shim.contains("/nonexistent/disk.img does not exist"),
        "{shim}"
    );
    assert_eq!(shim, direct);
}

#[test]
fn metalos_vm_shim_without_metalos_vm_says_where_the_tools_are() {
    let dir = tempfile::tempdir().unwrap();
    let lone = dir.path().join("metalos");
    std::fs::copy(env!("CARGO_BIN_EXE_metalos"), &lone).unwrap();
    let out = std::process::Command::new(&lone)
        .args(["vm", "check", "boot", "/nonexistent/disk.img"])
        .env("PATH", dir.path())
        .output()
        .unwrap();
    let err = stderr_of(out, &["vm"]);
    assert!(err.contains("`metalos-vm` binary"), "{err}");
    assert!(err.contains("not shipped in images"), "{err}");
}
