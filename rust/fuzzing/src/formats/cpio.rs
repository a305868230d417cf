//! `cpio` and `cpio_roundtrip`: initrds (concatenated newc archives,
//! zstd members) as `metalos_initrd::cpio` reads them — `metalos inspect`
//! and the build read initrds they did not write (a distribution's, an
//! operator's extra archive).

use crate::seeds::{Seed, SeedSources};
use metalos_initrd::cpio::{
    read_archives, Archive, DeviceKind, Entry, S_IFBLK, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG,
};

/// Target `cpio`: what the reader lists is self-consistent.
pub fn cpio(data: &[u8]) {
    let Ok(entries) = read_archives(data) else {
        return;
    };
    for e in &entries {
        assert!(!e.name.is_empty(), "{e:?}");
        match e.file_type() {
            S_IFLNK => assert!(e.link_target.is_some(), "{e:?}"),
            S_IFREG => assert!(e.data.len() <= e.size as usize, "{e:?}"),
            _ => {}
        }
    }
}

/// Target `cpio_roundtrip`: the entries read, written again with the
/// project's writer, read back as the same entries; writing is
/// deterministic and a second round gives the same bytes.
pub fn cpio_roundtrip(data: &[u8]) {
    let Ok(entries) = read_archives(data) else {
        return;
    };
    let Some(archive) = rebuild(&entries) else {
        return;
    };
    let bytes = archive
        .to_bytes(0)
        .expect("writing an archive of inline entries");
    assert_eq!(
        archive.to_bytes(0).ok().as_ref(),
        Some(&bytes),
        "not deterministic"
    );
    let again = read_archives(&bytes).expect("the writer's archive reads back");
    let rebuilt = rebuild(&again).expect("the writer's entries are accepted again");
    assert_eq!(
        rebuilt.to_bytes(0).expect("writes"),
        bytes,
        "second round differs"
    );
    for e in entries.iter().filter(|e| e.is_file()) {
        let name = e.name.trim_start_matches('/');
        if let Some(back) = again.iter().find(|b| b.name == name && b.is_file()) {
            assert_eq!(back.data, e.data, "{name}: content changed");
        }
    }
}

/// The entries as an [`Archive`]; `None` when the writer refuses one (a
/// path it does not accept, a duplicate): the round trip is for
/// archives the writer can express.
fn rebuild(entries: &[Entry]) -> Option<Archive> {
    let mut a = Archive::new();
    for e in entries {
        let name = e.name.as_str();
        let r = match e.file_type() {
            S_IFDIR => a.dir(name, e.perm()),
            S_IFREG => a.file(name, e.perm(), e.data.clone()),
            S_IFLNK => a.symlink(name, e.link_target.as_deref().unwrap_or("")),
            S_IFCHR => a.device(name, DeviceKind::Char, e.rdev_major, e.rdev_minor, e.perm()),
            S_IFBLK => a.device(
                name,
                DeviceKind::Block,
                e.rdev_major,
                e.rdev_minor,
                e.perm(),
            ),
            _ => return None,
        };
        r.ok()?;
    }
    Some(a)
}

/// Seeds: the head of each initrd of the default build (when built) and
/// small archives made here (dirs, files, symlink, device, hardlink,
/// zstd member, two archives concatenated).
pub fn seeds(src: &SeedSources) -> anyhow::Result<Vec<Seed>> {
    let max = 64 << 10;
    let mut out = vec![];
    let mut add = |name: &str, bytes: &[u8]| {
        for target in ["cpio", "cpio_roundtrip"] {
            out.push(Seed {
                target,
                name: name.into(),
                data: bytes[..bytes.len().min(max)].to_vec(),
            });
        }
    };
    for name in ["bootloader-initrd", "imaging-initrd", "setup-initrd"] {
        if let Ok(bytes) = std::fs::read(src.build.join("artifacts").join(name)) {
            add(name, &bytes);
        }
    }
    let mut a = Archive::new();
    a.dir("etc", 0o755)?;
    a.file("etc/os-release", 0o644, b"ID=metalos\n".to_vec())?;
    a.file("init", 0o755, b"#!/bin/sh\n".to_vec())?;
    a.symlink("sbin/init", "/init")?;
    a.device("dev/console", DeviceKind::Char, 5, 1, 0o600)?;
    a.hardlink("bin/init", "init")?;
    let plain = a.to_bytes(0)?;
    add("small", &plain);
    let zstd = metalos_initrd::compress::compress_zstd(&plain, 3, 0)?;
    add("small-zstd", &zstd);
    let mut two = plain.clone();
    two.extend_from_slice(&zstd);
    add("plain-then-zstd", &two);
    Ok(out)
}
