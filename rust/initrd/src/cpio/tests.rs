use super::*;
use crate::compress::{compress, Compression};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};

fn sample(host: &std::path::Path) -> Archive {
    std::fs::write(host, b"streamed from the host\n").unwrap();
    let mut a = Archive::new();
    a.file("/init", 0o755, b"#!/bin/sh\necho hi\n".to_vec())
        .unwrap();
    a.file("usr/bin/tool", 0o755, b"tool-bytes".to_vec())
        .unwrap();
    a.file_from_host("etc/motd", 0o644, host).unwrap();
    a.hardlink("bin/tool-a", "usr/bin/tool").unwrap();
    a.hardlink("zz/tool-z", "bin/tool-a").unwrap();
    a.dir("var/empty", 0o700).unwrap();
    a.dir("tmp", 0o1777).unwrap();
    a.symlink("sbin", "usr/bin").unwrap();
    a.symlink("lib64/ld.so", "/lib/x86_64-linux-gnu/ld.so")
        .unwrap();
    a.device("dev/console", DeviceKind::Char, 5, 1, 0o600)
        .unwrap();
    a.device("dev/vda", DeviceKind::Block, 254, 0, 0o660)
        .unwrap();
    a
}

fn run_with_stdin(cmd: &mut Command, input: Vec<u8>) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let t = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    t.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn layout_inodes_and_hardlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let a = sample(&tmp.path().join("motd"));
    let bytes = a.to_bytes(1_700_000_000).unwrap();
    assert_eq!(bytes.len() % 4, 0);
    let e = read_archives(&bytes).unwrap();
    let names: Vec<_> = e.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "bin",
            "bin/tool-a",
            "dev",
            "dev/console",
            "dev/vda",
            "etc",
            "etc/motd",
            "init",
            "lib64",
            "lib64/ld.so",
            "sbin",
            "tmp",
            "usr",
            "usr/bin",
            "usr/bin/tool",
            "var",
            "var/empty",
            "zz",
            "zz/tool-z"
        ]
    );
    let inos: Vec<_> = e.iter().map(|e| e.ino).collect();
    assert_eq!(inos[..3], [1, 2, 3]);
    let get = |n: &str| e.iter().find(|e| e.name == n).unwrap();
    // The hardlink group shares the first member's inode; data on the last.
    let group = ["bin/tool-a", "usr/bin/tool", "zz/tool-z"];
    for n in group {
        assert_eq!(get(n).ino, 2);
        assert_eq!(get(n).nlink, 3);
        assert_eq!(get(n).mode, S_IFREG | 0o755);
    }
    assert_eq!(get("bin/tool-a").size, 0);
    assert_eq!(get("usr/bin/tool").size, 0);
    assert_eq!(get("zz/tool-z").data, b"tool-bytes");
    assert_eq!(get("etc/motd").data, b"streamed from the host\n");
    assert_eq!(get("sbin").link_target.as_deref(), Some("usr/bin"));
    assert_eq!(get("sbin").mode, S_IFLNK | 0o777);
    assert_eq!(get("dev/vda").mode, S_IFBLK | 0o660);
    assert_eq!(
        (get("dev/console").rdev_major, get("dev/console").rdev_minor),
        (5, 1)
    );
    assert_eq!(get("tmp").mode, S_IFDIR | 0o1777);
    assert_eq!(get("usr").nlink, 3);
    assert!(e
        .iter()
        .all(|e| e.uid == 0 && e.gid == 0 && e.mtime == 1_700_000_000));
    // Unique inodes outside the group.
    let mut distinct: Vec<_> = inos.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), inos.len() - 2);
    assert_eq!(bytes, a.to_bytes(1_700_000_000).unwrap(), "deterministic");
}

#[test]
fn gnu_cpio_lists_and_extracts() {
    let tmp = tempfile::tempdir().unwrap();
    let a = sample(&tmp.path().join("motd"));
    let bytes = a.to_bytes(1_000_000).unwrap();
    let out = run_with_stdin(
        Command::new("cpio").args(["-itv", "--quiet"]),
        bytes.clone(),
    );
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(listing.contains("sbin -> usr/bin"), "{listing}");
    assert!(listing.contains("crw-------"), "{listing}");
    assert!(listing.contains("drwxrwxrwt"), "{listing}");
    assert_eq!(listing.lines().count(), a.len());

    let dest = tmp.path().join("x");
    std::fs::create_dir(&dest).unwrap();
    run_with_stdin(
        Command::new("cpio")
            .args(["-idm", "--quiet", "--no-absolute-filenames"])
            .current_dir(&dest),
        bytes,
    );
    let meta = |p: &str| std::fs::symlink_metadata(dest.join(p)).unwrap();
    let mut extracted = Vec::new();
    walk(&dest, "", &mut extracted);
    extracted.sort();
    assert_eq!(extracted, a.paths().collect::<Vec<_>>());
    assert_eq!(
        std::fs::read(dest.join("init")).unwrap(),
        b"#!/bin/sh\necho hi\n"
    );
    assert_eq!(meta("init").permissions().mode() & 0o7777, 0o755);
    assert_eq!(meta("var/empty").permissions().mode() & 0o7777, 0o700);
    assert_eq!(meta("init").mtime(), 1_000_000);
    assert_eq!(
        std::fs::read_link(dest.join("sbin")).unwrap().to_str(),
        Some("usr/bin")
    );
    let (t, z) = (meta("usr/bin/tool"), meta("zz/tool-z"));
    assert_eq!(t.ino(), z.ino(), "hardlinks share an inode");
    assert_eq!(t.nlink(), 3);
    assert_eq!(
        std::fs::read(dest.join("bin/tool-a")).unwrap(),
        b"tool-bytes"
    );
    if is_root() {
        let c = meta("dev/console");
        assert!(c.file_type().is_char_device());
        assert_eq!(c.rdev(), (5 << 8) | 1);
        assert!(meta("dev/vda").file_type().is_block_device());
    }
}

fn walk(dir: &std::path::Path, rel: &str, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let r = format!("{rel}{}", e.file_name().to_string_lossy());
        if e.file_type().unwrap().is_dir() {
            walk(&e.path(), &format!("{r}/"), out);
        }
        out.push(r);
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn concatenated_plain_and_zstd_with_padding() {
    let mut early = Archive::new();
    early
        .file(
            "kernel/x86/microcode/GenuineIntel.bin",
            0o644,
            vec![1, 2, 3],
        )
        .unwrap();
    let mut main = Archive::new();
    main.file("init", 0o755, b"x".to_vec()).unwrap();
    let mut stream = early.to_bytes(0).unwrap();
    stream.extend_from_slice(&[0; 512]);
    let z = compress(&main.to_bytes(0).unwrap(), Compression::Zstd { level: 3 }).unwrap();
    stream.extend_from_slice(&z);
    stream.extend_from_slice(&[0; 7]);
    stream.extend_from_slice(&main.to_bytes(0).unwrap()[..]);
    let e = read_archives(&stream).unwrap();
    let got: Vec<_> = e.iter().map(|e| (e.archive, e.name.as_str())).collect();
    assert_eq!(
        got,
        [
            (0, "kernel"),
            (0, "kernel/x86"),
            (0, "kernel/x86/microcode"),
            (0, "kernel/x86/microcode/GenuineIntel.bin"),
            (1, "init"),
            (2, "init")
        ]
    );
    let bad = read_archives(&[0x1f, 0x8b, 8, 0]).unwrap_err();
    assert!(bad.to_string().contains("gzip"), "{bad}");
    assert!(read_archives(&stream[..stream.len() - 20]).is_err());
}

#[test]
fn builder_errors() {
    let mut a = Archive::new();
    a.symlink("lib", "usr/lib").unwrap();
    let e = a.file("lib/x.so", 0o644, vec![]).unwrap_err();
    assert!(
        e.to_string().contains("parent lib is not a directory"),
        "{e}"
    );
    assert!(a.file("../x", 0o644, vec![]).is_err());
    assert!(a.file("/", 0o644, vec![]).is_err());
    a.file("a", 0o644, b"1".to_vec()).unwrap();
    a.file("a", 0o644, b"1".to_vec()).unwrap(); // identical: no-op
    assert!(a
        .file("/a", 0o644, b"2".to_vec())
        .unwrap_err()
        .to_string()
        .contains("twice"));
    assert!(a.hardlink("b", "lib").is_err());
    assert!(a.dir("d", 0o40755).is_err());
    // explicit directory replaces an implicit one
    a.file("d/f", 0o644, vec![]).unwrap();
    a.dir("d", 0o700).unwrap();
    assert!(a.dir("d", 0o755).is_err());
    let missing = {
        let mut b = Archive::new();
        b.file_from_host("x", 0o644, std::path::Path::new("/nonexistent/file"))
            .unwrap();
        b.to_bytes(0).unwrap_err()
    };
    assert!(
        missing.to_string().contains("/nonexistent/file"),
        "{missing}"
    );
    assert!(Archive::new().to_bytes(1 << 33).is_err());
}

#[test]
fn resolve_parents_follows_archive_symlinks() {
    let mut a = Archive::new();
    a.dir("usr/lib", 0o755).unwrap();
    a.symlink("lib", "usr/lib").unwrap();
    a.symlink("lib64", "/usr/lib64").unwrap();
    a.symlink("usr/lib64", "lib").unwrap();
    assert_eq!(
        a.resolve_parents("/lib/x86_64-linux-gnu/libc.so.6")
            .unwrap(),
        "usr/lib/x86_64-linux-gnu/libc.so.6"
    );
    assert_eq!(a.resolve_parents("lib64/ld.so").unwrap(), "usr/lib/ld.so");
    assert_eq!(
        a.resolve_parents("lib").unwrap(),
        "lib",
        "last component not followed"
    );
    a.symlink("loop", "loop").unwrap();
    assert!(a.resolve_parents("loop/x").is_err());
}

/// One raw newc entry (header, name, data, padding) and a trailer.
fn raw_archive(name: &[u8], mode: u32, data: &[u8]) -> Vec<u8> {
    fn entry(out: &mut Vec<u8>, name: &[u8], mode: u32, data: &[u8]) {
        let fields = [1, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, 0, 0];
        out.extend_from_slice(b"070701");
        for f in fields.iter().chain(&[name.len() as u32 + 1, 0]) {
            out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        out.extend_from_slice(name);
        out.push(0);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    let mut out = vec![];
    entry(&mut out, name, mode, data);
    entry(&mut out, TRAILER.as_bytes(), 0, b"");
    out
}

#[test]
fn names_that_would_unpack_elsewhere_are_malformed() {
    assert_eq!(
        read_archives(&raw_archive(b"etc/x", S_IFREG | 0o644, b"hi")).unwrap()[0].name,
        "etc/x"
    );
    for (name, reason) in [
        (&b""[..], "empty name"),
        (b"etc\0/passwd", "NUL"),
        (b"../etc/passwd", "`..`"),
        (b"a/../../b", "`..`"),
    ] {
        let e = read_archives(&raw_archive(name, S_IFREG | 0o644, b"x")).unwrap_err();
        assert!(e.to_string().contains(reason), "{name:?}: {e}");
    }
}

#[test]
fn header_fields_are_hex_digits_only() {
    let mut bytes = raw_archive(b"x", S_IFREG | 0o644, b"");
    bytes[6..14].copy_from_slice(b"+0000001");
    let e = read_archives(&bytes).unwrap_err();
    assert!(e.to_string().contains("not hex"), "{e}");
}

#[test]
fn decompression_is_bounded_and_not_nested() {
    let big = raw_archive(b"zeros", S_IFREG | 0o644, &vec![0; 1 << 20]);
    let z = compress(&big, Compression::Zstd { level: 3 }).unwrap();
    assert!(z.len() < 1024);
    let len = big.len() as u64;
    assert_eq!(read_archives_limited(&z, len).unwrap().len(), 1);
    let e = read_archives_limited(&z, len - 1).unwrap_err();
    assert!(e.to_string().contains("limit"), "{e}");
    // The budget covers every member together.
    let two = [z.clone(), z.clone()].concat();
    assert_eq!(read_archives_limited(&two, 2 * len).unwrap().len(), 2);
    assert!(read_archives_limited(&two, 2 * len - 1).is_err());
    let nested = compress(&z, Compression::Zstd { level: 3 }).unwrap();
    let e = read_archives(&nested).unwrap_err();
    assert!(e.to_string().contains("inside a compressed"), "{e}");
}
