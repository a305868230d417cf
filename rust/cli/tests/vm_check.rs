//! `metalos vm check` refuses bad arguments before starting any VM (the
//! scenarios themselves run in the Nix checks, see docs/nix.md).

mod common;
use common::*;

fn stderr_of(args: &[&str]) -> String {
    let out = metalos(args);
    assert!(!out.status.success(), "metalos {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn missing_image_is_named() {
    let err = stderr_of(&["vm", "check", "boot", "/nonexistent/disk.img"]);
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
    let err = stderr_of(&[
        "vm",
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
    let err = stderr_of(&["vm", "check", "update", image.to_str().unwrap()]);
    assert!(err.contains("--bundle"), "{err}");
}

#[test]
fn vm_netboot_needs_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let err = stderr_of(&["vm", "netboot", dir.path().to_str().unwrap()]);
    assert!(
        err.contains("is not a netboot bundle (no boot.ipxe)"),
        "{err}"
    );
}
