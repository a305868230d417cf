//! `cpio` and `cpio_roundtrip`: initrds (concatenated newc archives,
//! zstd members) as `metalos_initrd::cpio` reads them — `metalos inspect`
//! and the build read initrds they did not write (a distribution's, an
//! operator's extra archive).

use crate::seeds::{Seed, SeedSources};
use metalos_initrd::cpio::{
    normalize, read_archives_limited, Archive, DeviceKind, Entry, S_IFBLK, S_IFCHR, S_IFDIR,
    S_IFLNK, S_IFREG,
};

/// What the zstd members of one input may unpack to: the reader's real
/// limit is 1 GiB, which a 64 KiB input can reach; the limit itself is
/// tested in `metalos-initrd`, here it keeps executions fast.
const MAX_UNPACKED: u64 = 16 << 20;

/// Largest seed (the targets' `max_len`).
const MAX_SEED: usize = 64 << 10;

fn read(data: &[u8]) -> Option<Vec<Entry>> {
    read_archives_limited(data, MAX_UNPACKED).ok()
}

/// Target `cpio`: what the reader lists keeps its promises — names
/// non-empty, without NUL or `..` (nothing unpacks outside the tree),
/// archive numbers in stream order, a symlink's target instead of data,
/// every other entry's data exactly its stored size.
pub fn cpio(data: &[u8]) {
    let Some(entries) = read(data) else {
        return;
    };
    let unpacked: usize = entries.iter().map(|e| e.data.len()).sum();
    assert!(unpacked as u64 <= data.len() as u64 + MAX_UNPACKED);
    assert!(entries.windows(2).all(|w| w[0].archive <= w[1].archive));
    for e in &entries {
        check_entry(e);
    }
}

fn check_entry(e: &Entry) {
    assert!(!e.name.is_empty(), "{e:?}");
    assert!(!e.name.contains('\0'), "{e:?}");
    assert!(!e.name.split('/').any(|c| c == ".."), "escapes: {e:?}");
    if e.file_type() == S_IFLNK {
        assert!(e.link_target.is_some() && e.data.is_empty(), "{e:?}");
    } else {
        assert!(e.link_target.is_none(), "{e:?}");
        assert_eq!(e.data.len(), e.size as usize, "{e:?}");
    }
}

/// Target `cpio_roundtrip`: the entries read, written again with the
/// project's writer, read back as the same entries (plus the parent
/// directories the writer adds); writing is deterministic and a second
/// round gives the same bytes.
pub fn cpio_roundtrip(data: &[u8]) {
    let Some(entries) = read(data) else {
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
    let again = read(&bytes).expect("the writer's archive reads back");
    assert_same_entries(&entries, &again);
    let rebuilt = rebuild(&again).expect("the writer's entries are accepted again");
    assert_eq!(
        rebuilt.to_bytes(0).expect("writes"),
        bytes,
        "second round differs"
    );
}

/// What the writer keeps of an entry: normalized path, type and
/// permissions (the 16 bits the kernel reads), a file's content, a
/// symlink's target, a device's numbers.
#[derive(Debug, PartialEq, Eq)]
struct Kept<'a> {
    name: String,
    mode: u32,
    data: &'a [u8],
    link_target: Option<&'a str>,
    rdev: (u32, u32),
}

impl<'a> Kept<'a> {
    fn of(e: &'a Entry) -> Self {
        let device = matches!(e.file_type(), S_IFCHR | S_IFBLK);
        Kept {
            name: normalize(&e.name).unwrap_or_default(),
            mode: e.mode & 0o177_777,
            data: if e.is_file() { &e.data } else { &[] },
            link_target: e.link_target.as_deref(),
            rdev: if device {
                (e.rdev_major, e.rdev_minor)
            } else {
                (0, 0)
            },
        }
    }
}

/// Every entry read first is read back unchanged; every other entry read
/// back is a directory the writer added as a parent.
fn assert_same_entries(first: &[Entry], back: &[Entry]) {
    let first: Vec<Kept> = first.iter().map(Kept::of).collect();
    let back: Vec<Kept> = back.iter().map(Kept::of).collect();
    for k in &first {
        assert!(back.contains(k), "{k:?} is not read back");
    }
    for k in back.iter().filter(|k| !first.contains(k)) {
        assert_eq!(k.mode, S_IFDIR | 0o755, "{k:?} added");
        let prefix = format!("{}/", k.name);
        assert!(
            first.iter().any(|f| f.name.starts_with(&prefix)),
            "{k:?} added but is no parent"
        );
    }
}

/// The entries as an [`Archive`]; `None` when the writer refuses one (a
/// path it does not accept, a duplicate, a hardlink group's members read
/// as files of different content): the round trip is for archives the
/// writer can express.
fn rebuild(entries: &[Entry]) -> Option<Archive> {
    let mut a = Archive::new();
    for e in entries {
        let name = e.name.as_str();
        let r = match e.file_type() {
            S_IFDIR => a.dir(name, e.perm()),
            S_IFREG => a.file(name, e.perm(), e.data.clone()),
            // The writer stores a symlink as 0777.
            S_IFLNK if e.perm() == 0o777 => a.symlink(name, e.link_target.as_deref()?),
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
    let mut out = vec![];
    let mut add = |name: &str, bytes: &[u8]| {
        out.extend(Seed::head_for(
            &["cpio", "cpio_roundtrip"],
            name,
            bytes,
            MAX_SEED,
        ))
    };
    for name in ["bootloader-initrd", "imaging-initrd", "setup-initrd"] {
        if let Ok(bytes) = std::fs::read(src.build.join("artifacts").join(name)) {
            add(name, &bytes);
        }
    }
    for (name, bytes) in small_archives()? {
        add(name, &bytes);
    }
    Ok(out)
}

/// Archives made with the project's writer: every entry kind, hardlinks,
/// a zstd member, members concatenated with padding.
fn small_archives() -> anyhow::Result<Vec<(&'static str, Vec<u8>)>> {
    let mut a = Archive::new();
    a.dir("etc", 0o755)?;
    a.file("etc/os-release", 0o644, b"ID=metalos\n".to_vec())?;
    a.file("init", 0o755, b"#!/bin/sh\n".to_vec())?;
    a.symlink("sbin/init", "/init")?;
    a.device("dev/console", DeviceKind::Char, 5, 1, 0o600)?;
    a.device("dev/vda", DeviceKind::Block, 254, 0, 0o660)?;
    a.dir("tmp", 0o1777)?;
    let plain = a.to_bytes(0)?;
    let mut linked = a.clone();
    linked.hardlink("bin/init", "init")?;
    let linked = linked.to_bytes(1_700_000_000)?;
    let mut early = Archive::new();
    early.file(
        "kernel/x86/microcode/GenuineIntel.bin",
        0o644,
        vec![1, 2, 3],
    )?;
    let early = early.to_bytes(0)?;
    let zstd = metalos_initrd::compress::compress_zstd(&plain, 3, 0)?;
    let mut padded = early.clone();
    padded.extend_from_slice(&[0; 512]);
    padded.extend_from_slice(&zstd);
    // NUL padding up to the next 4-byte boundary, then one more word.
    padded.resize(padded.len().next_multiple_of(4) + 4, 0);
    padded.extend_from_slice(&plain);
    Ok(vec![
        ("small", plain.clone()),
        ("hardlinks", linked),
        ("small-zstd", zstd.clone()),
        ("plain-then-zstd", [plain, zstd].concat()),
        ("early-padded-zstd-plain", padded),
        ("empty", Archive::new().to_bytes(0)?),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> SeedSources {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        SeedSources {
            build: repo.join("out/default"),
            inputs: repo.join(".cache/inputs/inputs.json"),
            repo,
        }
    }

    #[test]
    fn every_seed_runs_and_the_small_ones_read() {
        for s in seeds(&sources()).unwrap() {
            assert!(s.data.len() <= MAX_SEED);
            (crate::find(s.target).unwrap().run)(&s.data);
        }
        for (name, bytes) in small_archives().unwrap() {
            let entries = read(&bytes).unwrap_or_else(|| panic!("{name} reads"));
            assert!(name == "empty" || !entries.is_empty(), "{name}");
        }
    }

    #[test]
    fn the_default_builds_initrds_read_whole() {
        let dir = sources().build.join("artifacts");
        for name in ["bootloader-initrd", "imaging-initrd", "setup-initrd"] {
            if let Ok(bytes) = std::fs::read(dir.join(name)) {
                let entries = metalos_initrd::cpio::read_archives(&bytes).unwrap();
                entries.iter().for_each(check_entry);
            }
        }
    }

    #[test]
    fn the_round_trip_keeps_every_entry() {
        let bytes = &small_archives().unwrap()[0].1;
        let entries = read(bytes).unwrap();
        let again = read(&rebuild(&entries).unwrap().to_bytes(0).unwrap()).unwrap();
        assert_eq!(entries, again);
    }

    #[test]
    fn malformed_archives_are_errors() {
        let plain = &small_archives().unwrap()[0].1;
        let mut inputs = vec![
            plain[..plain.len() - 8].to_vec(),
            plain[..50].to_vec(),
            vec![0x1f, 0x8b, 8, 0],
            b"070701zzzzzzzz".to_vec(),
            [&[0][..], plain].concat(),
        ];
        let mut bad_size = plain.clone();
        bad_size[54..62].copy_from_slice(b"ffffffff");
        inputs.push(bad_size);
        for input in &inputs {
            assert!(read(input).is_none(), "{:?}", &input[..input.len().min(16)]);
            cpio(input);
            cpio_roundtrip(input);
        }
    }
}
