//! `replace_cmdline`: the result equals `build_uki` with the new command
//! line, the other sections are byte-identical, and objdump agrees.

mod common;

use common::Synth;
use metalos_uki::{build_uki, replace_cmdline, Uki, UkiError, UkiSections};
use std::process::Command;

fn sections<'a>(kernel: &'a [u8], cmdline: Option<&'a [u8]>) -> UkiSections<'a> {
    UkiSections {
        linux: kernel,
        initrd: Some(&[7u8; 5000]),
        cmdline,
        osrel: Some(b"ID=metalos\n"),
        uname: Some(b"6.1.0-test"),
    }
}

/// Every section except `.cmdline` has the same data in both images.
fn assert_others_identical(a: &[u8], b: &[u8]) {
    let (a, b) = (Uki::parse(a).unwrap(), Uki::parse(b).unwrap());
    let names: Vec<_> = a.sections().iter().map(|s| s.name.clone()).collect();
    assert_eq!(
        names,
        b.sections()
            .iter()
            .map(|s| s.name.clone())
            .collect::<Vec<_>>()
    );
    for name in names.iter().filter(|n| *n != ".cmdline") {
        assert_eq!(a.section(name), b.section(name), "{name}");
    }
}

fn check(stub: &[u8], kernel: &[u8]) {
    let short = b"console=ttyS0".as_slice();
    let long: Vec<u8> = format!(
        "console=ttyS0 metalos.host_config_url=http://10.0.2.100/hosts/${{mac}}.json {}",
        "x".repeat(3000)
    )
    .into_bytes();
    for (old, new) in [(short, long.as_slice()), (long.as_slice(), short)] {
        let uki = build_uki(stub, &sections(kernel, Some(old))).unwrap();
        let replaced = replace_cmdline(&uki, new).unwrap();
        let expected = build_uki(stub, &sections(kernel, Some(new))).unwrap();
        assert!(replaced == expected, "replace_cmdline != build_uki");
        let parsed = Uki::parse(&replaced).unwrap();
        assert_eq!(parsed.cmdline().unwrap().as_bytes(), new);
        assert_eq!(parsed.linux(), Some(kernel));
        assert_others_identical(&uki, &replaced);
        // Same command line: nothing changes.
        assert!(replace_cmdline(&uki, old).unwrap() == uki);
    }
}

#[test]
fn synthetic_stub() {
    check(&Synth::stub().build(), &Synth::kernel().build());
}

#[test]
fn refusals() {
    let stub = Synth::stub().build();
    let kernel = Synth::kernel().build();
    let without = build_uki(&stub, &sections(&kernel, None)).unwrap();
    let err = replace_cmdline(&without, b"quiet").unwrap_err();
    assert!(err.to_string().contains("no .cmdline section"), "{err}");
    let uki = build_uki(&stub, &sections(&kernel, Some(b"quiet"))).unwrap();
    assert!(matches!(
        replace_cmdline(&uki, b""),
        Err(UkiError::Malformed(_))
    ));
    let mut trailing = uki.clone();
    trailing.extend_from_slice(&[0; 16]);
    let err = replace_cmdline(&trailing, b"x").unwrap_err();
    assert!(err.to_string().contains("16 bytes follow"), "{err}");
    assert!(matches!(
        replace_cmdline(b"not a PE", b"x"),
        Err(UkiError::NotPe(_))
    ));
}

#[test]
fn real_stub_objdump() {
    let Some(stub_path) = common::real_stub() else {
        return;
    };
    let stub = std::fs::read(stub_path).unwrap();
    let kernel = Synth::kernel().build();
    check(&stub, &kernel);
    let uki = build_uki(&stub, &sections(&kernel, Some(b"quiet"))).unwrap();
    let new = b"console=ttyS0 panic=10 metalos.image_url=http://example/blobs/sha256/ab";
    let replaced = replace_cmdline(&uki, new).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.efi");
    std::fs::write(&path, &replaced).unwrap();
    let out = Command::new("objdump")
        .arg("-h")
        .arg(&path)
        .output()
        .expect("objdump (binutils) is required when the stub exists");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let cmdline = text
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(".cmdline"))
        .unwrap_or_else(|| panic!("objdump sees no .cmdline:\n{text}"));
    let size = u64::from_str_radix(cmdline.split_whitespace().nth(2).unwrap(), 16).unwrap();
    assert_eq!(size, new.len() as u64, "{cmdline}");
    for name in [".osrel", ".uname", ".initrd", ".linux", ".sbat"] {
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(name)),
            "{name} missing:\n{text}"
        );
    }
}
