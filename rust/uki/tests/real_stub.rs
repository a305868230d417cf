//! Tests on the real systemd-stub (and a real kernel when available),
//! cross-checked with binutils' `objdump`/`objcopy`.
//!
//! Inputs: `METALOS_TEST_STUB` or /usr/lib/systemd/boot/efi/linuxx64.efi.stub;
//! `METALOS_TEST_KERNEL` or /boot/vmlinuz-* or /tmp/ukik/root/boot/vmlinuz-*.
//! Missing inputs skip with a message; present inputs require binutils.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{rd32, up, Synth};
use metalos_uki::{build_uki, Uki, UkiError, UkiSections};

const OSREL: &[u8] = b"NAME=MetalOS\nID=metalos\nVERSION_ID=1\n";
const CMDLINE: &[u8] = b"console=ttyS0 rd.metalos=1";
const UNAME: &[u8] = b"6.1.0-test";

#[derive(Debug, Clone, PartialEq, Eq)]
struct ObjSec {
    name: String,
    size: u64,
    vma: u64,
    off: u64,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (binutils is required when the stub exists)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Sections as `objdump -h` lists them.
fn objdump_h(path: &Path) -> Vec<ObjSec> {
    let text = run(Command::new("objdump").arg("-h").arg(path));
    let hex = |s: &str| u64::from_str_radix(s, 16).unwrap();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 7 && f[0].parse::<u32>().is_ok()).then(|| ObjSec {
                name: f[1].into(),
                size: hex(f[2]),
                vma: hex(f[3]),
                off: hex(f[5]),
            })
        })
        .collect()
}

/// A numeric field of `objdump -p` (e.g. "SectionAlignment").
fn objdump_p(path: &Path, key: &str) -> u64 {
    let text = run(Command::new("objdump").arg("-p").arg(path));
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no {key}"));
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

/// Stub length without a trailing COFF symbol table (read from the COFF header directly).
fn stub_body_len(stub: &[u8]) -> usize {
    let pe = rd32(stub, 0x3c) as usize;
    let (ptr, n) = (rd32(stub, pe + 12) as usize, rd32(stub, pe + 16) as usize);
    if ptr != 0 && ptr + 18 * n + rd32(stub, ptr + 18 * n) as usize == stub.len() {
        ptr
    } else {
        stub.len()
    }
}

/// Builds a UKI from the real stub and checks it against objdump.
fn check_real(stub_path: &Path, kernel: &[u8], kernel_vsize: u64) {
    let stub = std::fs::read(stub_path).unwrap();
    let initrd: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let s = UkiSections {
        linux: kernel,
        initrd: Some(&initrd),
        cmdline: Some(CMDLINE),
        osrel: Some(OSREL),
        uname: Some(UNAME),
    };
    let uki = build_uki(&stub, &s).unwrap();
    assert_eq!(uki, build_uki(&stub, &s).unwrap(), "deterministic");

    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("uki.efi");
    std::fs::write(&out, &uki).unwrap();

    let before = objdump_h(stub_path);
    let after = objdump_h(&out);
    assert_eq!(after[..before.len()], before[..], "stub sections unchanged");
    for s in &before {
        let r = s.off as usize..(s.off + s.size) as usize;
        assert_eq!(uki[r.clone()], stub[r], "{} bytes", s.name);
    }
    // Everything past the headers up to the end of the stub body is identical.
    let headers = objdump_p(stub_path, "SizeOfHeaders") as usize;
    let body = stub_body_len(&stub);
    assert_eq!(uki[headers..body], stub[headers..body]);

    let sa = objdump_p(stub_path, "SectionAlignment");
    let fa = objdump_p(stub_path, "FileAlignment");
    let last = before.last().unwrap();
    let mut vma = up((last.vma + last.size) as u32, sa as u32) as u64;
    let mut off = up(body as u32, fa as u32) as u64;
    let new: [(&str, &[u8], u64); 5] = [
        (".osrel", OSREL, OSREL.len() as u64),
        (".cmdline", CMDLINE, CMDLINE.len() as u64),
        (".uname", UNAME, UNAME.len() as u64),
        (".initrd", &initrd, initrd.len() as u64),
        (".linux", kernel, kernel_vsize),
    ];
    assert_eq!(after.len(), before.len() + new.len());
    for ((name, data, vsize), got) in new.iter().zip(&after[before.len()..]) {
        let raw = up(data.len() as u32, fa as u32) as u64;
        // objdump shows VirtualSize when the raw data is larger, else SizeOfRawData.
        let shown = if raw > *vsize { *vsize } else { raw };
        assert_eq!(
            *got,
            ObjSec {
                name: name.to_string(),
                size: shown,
                vma,
                off
            },
            "{name}"
        );
        assert_eq!(
            &uki[off as usize..off as usize + data.len()],
            *data,
            "{name} bytes"
        );
        vma = up((vma + vsize) as u32, sa as u32) as u64;
        off += raw;
    }
    assert_eq!(uki.len() as u64, off);
    assert_eq!(objdump_p(&out, "SizeOfImage"), vma);
    assert_eq!(objdump_p(&out, "CheckSum"), 0);

    // objcopy extracts the same bytes.
    let dumped = dir.path().join("osrel");
    run(Command::new("objcopy")
        .arg(format!("--dump-section=.osrel={}", dumped.display()))
        .arg(&out)
        .arg(dir.path().join("copy")));
    assert_eq!(std::fs::read(&dumped).unwrap(), OSREL);

    // Our reader returns exactly the inputs.
    let r = Uki::parse(&uki).unwrap();
    assert!(r.is_uki());
    let same = |name: &str, want: &[u8]| {
        let got = r.section(name).unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(got.len(), want.len(), "{name} length");
        assert!(got == want, "{name} bytes differ");
    };
    let linux = r.linux().unwrap();
    assert_eq!(linux.len(), kernel.len(), "linux() length");
    assert!(linux == kernel, "linux() bytes differ");
    let padded = r.section(".linux").unwrap();
    assert_eq!(
        padded.len() as u64,
        up(kernel.len() as u32, fa as u32) as u64
    );
    assert!(padded[..kernel.len()] == *kernel && padded[kernel.len()..].iter().all(|&b| b == 0));
    same(".initrd", &initrd);
    assert_eq!(r.cmdline().as_deref().map(str::as_bytes), Some(CMDLINE));
    assert_eq!(r.osrel().as_deref().map(str::as_bytes), Some(OSREL));
    assert_eq!(r.uname().as_deref().map(str::as_bytes), Some(UNAME));
    assert_eq!(
        r.section(".sbat"),
        Uki::parse(&stub).unwrap().section(".sbat")
    );
    assert_eq!(r.info().number_of_sections as usize, after.len());
}

#[test]
fn real_stub_with_synthetic_kernel() {
    let Some(stub) = common::real_stub() else {
        return;
    };
    let kernel = Synth::kernel().build();
    check_real(&stub, &kernel, 0x20000);
}

#[test]
fn real_stub_with_real_kernel() {
    let Some(stub) = common::real_stub() else {
        return;
    };
    let Some(kernel_path) = common::real_kernel() else {
        return;
    };
    let kernel = std::fs::read(&kernel_path).unwrap();
    let image = objdump_p(&kernel_path, "SizeOfImage");
    check_real(&stub, &kernel, image.max(kernel.len() as u64));
}

#[test]
fn real_stub_refusals() {
    let Some(stub_path) = common::real_stub() else {
        return;
    };
    let stub = std::fs::read(&stub_path).unwrap();
    let s = UkiSections {
        linux: b"kernel",
        cmdline: Some(b"x"),
        osrel: Some(b"y"),
        uname: Some(b"z"),
        initrd: Some(b"i"),
    };

    // Not a PE: the ELF flavour of the stub, if shipped, and plain text.
    let elf = stub_path.with_file_name("linuxx64.elf.stub");
    if let Ok(elf) = std::fs::read(elf) {
        assert_eq!(
            build_uki(&elf, &s),
            Err(UkiError::NotPe("missing MZ signature"))
        );
    }
    assert_eq!(
        build_uki(b"hello world", &s),
        Err(UkiError::NotPe("missing MZ signature"))
    );

    // A fake certificate table entry.
    let pe = rd32(&stub, 0x3c) as usize;
    let cert = pe + 24 + 112 + 4 * 8;
    let mut signed = stub.clone();
    signed[cert..cert + 8].copy_from_slice(&[0x00, 0x40, 0x01, 0x00, 0x10, 0x02, 0x00, 0x00]);
    let e = build_uki(&signed, &s).unwrap_err();
    assert_eq!(
        e,
        UkiError::AlreadySigned {
            offset: 0x14000,
            size: 0x210
        }
    );
    assert!(e.to_string().starts_with("stub is already signed"), "{e}");

    // Move the NT headers + section table so only `free` slots remain before SizeOfHeaders.
    let nsec = u16::from_le_bytes([stub[pe + 6], stub[pe + 7]]) as usize;
    let opt_size = u16::from_le_bytes([stub[pe + 20], stub[pe + 21]]) as usize;
    let hdr_len = 24 + opt_size + 40 * nsec;
    let limit = objdump_p(&stub_path, "SizeOfHeaders") as usize;
    for free in [0usize, 2, 4] {
        let new_pe = limit - hdr_len - 40 * free;
        let mut moved = stub.clone();
        moved[0x40..limit].fill(0);
        moved[new_pe..new_pe + hdr_len].copy_from_slice(&stub[pe..pe + hdr_len]);
        moved[0x3c..0x40].copy_from_slice(&(new_pe as u32).to_le_bytes());
        assert_eq!(
            Uki::parse(&moved).unwrap().sections(),
            Uki::parse(&stub).unwrap().sections()
        );
        let e = build_uki(&moved, &s).unwrap_err();
        assert_eq!(
            e,
            UkiError::NoHeaderRoom {
                free,
                needed: 5,
                limit: limit as u32
            }
        );
        assert!(
            e.to_string()
                .contains(&format!("{free} free header slot(s)")),
            "{e}"
        );
        assert!(e.to_string().contains("5 needed"), "{e}");
    }

    // The stub with a .linux already: duplicate.
    let uki = build_uki(&stub, &s).unwrap();
    assert_eq!(
        build_uki(&uki, &s),
        Err(UkiError::DuplicateSection(".osrel".into()))
    );
    let only_linux = UkiSections {
        linux: b"k",
        ..Default::default()
    };
    assert_eq!(
        build_uki(&uki, &only_linux),
        Err(UkiError::DuplicateSection(".linux".into()))
    );
}
