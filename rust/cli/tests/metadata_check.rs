//! `metalos metadata --cmdline --check`, the metadata units' ExecCondition=:
//! the platform id is resolved with provisioning's precedence (the first
//! of metalos/flatcar/coreos/ignition keys wins, aliases apply).

mod common;

fn check(cmdline: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cmdline");
    std::fs::write(&file, format!("{cmdline}\n")).unwrap();
    let out = common::metalos(&[
        "metadata",
        "--cmdline",
        "--check",
        "--cmdline-file",
        file.to_str().unwrap(),
    ]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn only_platforms_with_metadata_pass_the_check() {
    assert_eq!(check("flatcar.oem.id=ec2").0, 0);
    assert_eq!(check("ignition.platform.id=openstack").0, 0);
    // metalos.oem.id comes first: metal has no metadata service.
    let (code, out) = check("metalos.oem.id=metal flatcar.oem.id=ec2");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("\"metal\" has no metadata service"), "{out}");
    let (code, out) = check("metalos.oem.id=bogus");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("bogus"), "{out}");
}
