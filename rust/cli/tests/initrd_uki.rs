//! `metalos initrd`, `metalos uki` and `metalos inspect` on them, checked
//! with GNU cpio, zstd and objdump; bad input leaves no output.

mod common;
use common::*;
use std::path::{Path, PathBuf};

fn input(name: &str) -> PathBuf {
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(real_inputs()).unwrap()).unwrap();
    PathBuf::from(m["inputs"][name]["path"].as_str().unwrap())
}

fn fixture_spec() -> String {
    repo_root()
        .join("tests/fixtures/marker-initrd.toml")
        .display()
        .to_string()
}

fn build_initrd(out: &Path) {
    let inputs = real_inputs();
    metalos_ok(&[
        "initrd",
        "-q",
        &fixture_spec(),
        "--inputs",
        inputs.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
}

fn build_uki(initrd: &Path, out: &Path) {
    metalos_ok(&[
        "uki",
        "-q",
        "--stub",
        input("systemd-stub").to_str().unwrap(),
        "--kernel",
        input("kernel").to_str().unwrap(),
        "--initrd",
        initrd.to_str().unwrap(),
        "--cmdline",
        "console=ttyS0 metalos.test=1",
        "--os-release",
        repo_root().join("images/os-release").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
}

fn sha(p: &Path) -> String {
    metalos_config::inputs::file_digest(p).unwrap()
}

#[test]
fn gnu_cpio_reads_the_initrd() {
    let dir = tempfile::tempdir().unwrap();
    let initrd = dir.path().join("initrd.img");
    build_initrd(&initrd);
    let raw = dir.path().join("initrd.cpio");
    tool_ok(
        "zstd",
        &[
            "-q",
            "-d",
            initrd.to_str().unwrap(),
            "-o",
            raw.to_str().unwrap(),
        ],
    );
    let out = std::process::Command::new("cpio")
        .args(["-itv", "--quiet"])
        .stdin(std::fs::File::open(&raw).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8(out.stdout).unwrap();
    for want in [
        "init",
        "bin/busybox",
        "bin/sh -> busybox",
        "dev/console",
        "modules.dep",
        "virtio_blk.ko",
        "virtio_ring.ko",
    ] {
        assert!(listing.contains(want), "cpio -itv lacks {want}:\n{listing}");
    }
    let console = listing
        .lines()
        .find(|l| l.ends_with("dev/console"))
        .unwrap();
    assert!(
        console.starts_with("crw-------") && console.contains("5,") && console.contains(" 1 "),
        "{console}"
    );
    // Our inspect agrees.
    let json: serde_json::Value = serde_json::from_str(&metalos_ok(&[
        "inspect",
        "--json",
        initrd.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(json["kind"], "initrd");
    let paths: Vec<&str> = json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"lib/modules") && paths.contains(&"init"),
        "{paths:?}"
    );
}

#[test]
fn uki_sections_match_objdump_and_keep_the_stub() {
    let dir = tempfile::tempdir().unwrap();
    let initrd = dir.path().join("initrd.img");
    build_initrd(&initrd);
    let uki = dir.path().join("uki.efi");
    build_uki(&initrd, &uki);
    let json: serde_json::Value =
        serde_json::from_str(&metalos_ok(&["inspect", "--json", uki.to_str().unwrap()])).unwrap();
    assert_eq!(json["kind"], "uki");
    assert_eq!(json["cmdline"], "console=ttyS0 metalos.test=1");
    assert!(
        json["uname"].as_str().unwrap().ends_with("-cloud-amd64"),
        "{}",
        json["uname"]
    );
    let objdump = tool_ok("objdump", &["-h", uki.to_str().unwrap()]);
    let stub_dump = tool_ok("objdump", &["-h", input("systemd-stub").to_str().unwrap()]);
    // Each section line of objdump: idx name size vma lma fileoff align.
    let rows = |text: &str| -> Vec<(String, u64, u64)> {
        text.lines()
            .filter_map(|l| {
                let c: Vec<&str> = l.split_whitespace().collect();
                (c.len() == 7 && c[0].parse::<u32>().is_ok()).then(|| {
                    (
                        c[1].to_string(),
                        u64::from_str_radix(c[2], 16).unwrap(),
                        u64::from_str_radix(c[3], 16).unwrap(),
                    )
                })
            })
            .collect()
    };
    let got = rows(&objdump);
    let stub = rows(&stub_dump);
    assert_eq!(&got[..stub.len()], &stub[..], "stub sections changed");
    let ours: Vec<String> = got[stub.len()..].iter().map(|r| r.0.clone()).collect();
    assert_eq!(ours, [".osrel", ".cmdline", ".uname", ".initrd", ".linux"]);
    for (row, section) in got.iter().zip(json["sections"].as_array().unwrap()) {
        assert_eq!(row.0, section["name"].as_str().unwrap());
        assert_eq!(row.2, section["vma"].as_u64().unwrap(), "{} vma", row.0);
    }
    let initrd_row = got.iter().find(|r| r.0 == ".initrd").unwrap();
    assert_eq!(initrd_row.1, std::fs::metadata(&initrd).unwrap().len());
}

#[test]
fn initrd_and_uki_are_reproducible() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    for d in [&a, &b] {
        build_initrd(&d.path().join("initrd.img"));
        build_uki(&d.path().join("initrd.img"), &d.path().join("uki.efi"));
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    assert_eq!(
        sha(&a.path().join("initrd.img")),
        sha(&b.path().join("initrd.img"))
    );
    assert_eq!(
        sha(&a.path().join("uki.efi")),
        sha(&b.path().join("uki.efi"))
    );
}

/// Runs metalos expecting failure; checks the message and that `out` was not created.
fn refused(args: &[&str], out: &Path, needle: &str) {
    let res = metalos(args);
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1), "{args:?} should fail:\n{err}");
    assert!(err.contains(needle), "expected {needle:?} in:\n{err}");
    assert!(!out.exists(), "{} was left behind", out.display());
    let dir = out.parent().unwrap();
    let stray: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "temp files left: {stray:?}");
}

#[test]
fn bad_initrd_input_is_refused_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out").join("initrd.img");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let inputs = real_inputs();
    let spec = |text: &str| {
        let p = dir.path().join("spec.toml");
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };
    let args = |s: &str| -> Vec<String> {
        vec![
            "initrd".into(),
            s.into(),
            "--inputs".into(),
            inputs.display().to_string(),
            "-o".into(),
            out.display().to_string(),
        ]
    };
    let run = |s: String, needle: &str| {
        let a = args(&s);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        refused(&a, &out, needle);
    };
    run(
        spec(
            "init = \"/bin/sh\"\n[[files]]\npath = \"/x\"\nsource = { file = \"missing-file\" }\n",
        ),
        "missing-file does not exist",
    );
    run(spec("init = \"/bin/ls\"\nlibrary_dirs = [\"/nonexistent\"]\n[[executables]]\npath = \"/bin/ls\"\nsource = { file = \"/bin/ls\" }\n"), "libselinux.so.1");
    run(spec("init = \"/bin/busybox\"\n[[executables]]\npath = \"/bin/busybox\"\nsource = { input = \"busybox\" }\n[modules]\ntree = { input = \"kernel-modules\" }\nload = [\"no_such_module\"]\n"), "no_such_module");
    run(
        spec("init = \"/bin/sh\"\ncompresion = \"none\"\n"),
        "compresion",
    );
}

#[test]
fn bad_uki_input_is_refused_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out").join("uki.efi");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let kernel = input("kernel");
    let uki = |stub: &Path| -> Vec<String> {
        [
            "uki",
            "--stub",
            stub.to_str().unwrap(),
            "--kernel",
            kernel.to_str().unwrap(),
            "--cmdline",
            "x",
            "-o",
            out.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |stub: &Path, needle: &str| {
        let a = uki(stub);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        refused(&a, &out, needle);
    };
    // Not a PE at all.
    let junk = dir.path().join("junk.stub");
    std::fs::write(&junk, b"#!/bin/sh\necho not a stub\n").unwrap();
    run(&junk, "PE");
    // Already signed: a non-zero certificate table directory entry.
    let mut stub = std::fs::read(input("systemd-stub")).unwrap();
    let pe = u32::from_le_bytes(stub[0x3c..0x40].try_into().unwrap()) as usize;
    let opt = pe + 24;
    assert_eq!(
        u16::from_le_bytes([stub[opt], stub[opt + 1]]),
        0x20b,
        "PE32+ stub"
    );
    let cert = opt + 112 + 4 * 8;
    stub[cert..cert + 8].copy_from_slice(&[0, 0x10, 0, 0, 0x40, 0, 0, 0]);
    let signed = dir.path().join("signed.stub");
    std::fs::write(&signed, &stub).unwrap();
    run(&signed, "signed");
    // Missing files are named.
    run(&dir.path().join("absent.stub"), "absent.stub");
}
