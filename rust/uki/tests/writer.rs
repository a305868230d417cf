//! Writer tests on synthetic stubs (always run).

mod common;

use common::{rd16, rd32, up, Synth, OPT_OFFSET, PE_OFFSET, TABLE_OFFSET};
use metalos_uki::{add_sections, build_uki, NewSection, Uki, UkiError, UkiSections};

const OSREL: &[u8] = b"ID=metalos\nVERSION_ID=1\n";
const CMDLINE: &[u8] = b"console=ttyS0 root=LABEL=root";
const UNAME: &[u8] = b"6.1.0-56-cloud-amd64";

fn initrd() -> Vec<u8> {
    (0..5000u32).map(|i| (i * 7 % 251) as u8).collect()
}

fn sections<'a>(kernel: &'a [u8], initrd: &'a [u8]) -> UkiSections<'a> {
    UkiSections {
        linux: kernel,
        initrd: Some(initrd),
        cmdline: Some(CMDLINE),
        osrel: Some(OSREL),
        uname: Some(UNAME),
    }
}

/// Section header fields at table index `i`: (name, vsize, va, raw size, raw offset, flags).
fn header(d: &[u8], i: usize) -> (String, u32, u32, u32, u32, u32) {
    let h = TABLE_OFFSET + 40 * i;
    let name = String::from_utf8_lossy(&d[h..h + 8])
        .trim_end_matches('\0')
        .to_string();
    (
        name,
        rd32(d, h + 8),
        rd32(d, h + 12),
        rd32(d, h + 16),
        rd32(d, h + 20),
        rd32(d, h + 36),
    )
}

#[test]
fn layout_matches_ukify_rules() {
    let synth = Synth::stub();
    let stub = synth.build();
    let kernel = Synth::kernel().build();
    let initrd = initrd();
    let uki = build_uki(&stub, &sections(&kernel, &initrd)).unwrap();

    // Stub headers and section data unchanged.
    for i in 0..3 {
        assert_eq!(header(&uki, i), header(&stub, i));
        let (_, _, _, size, off, _) = header(&stub, i);
        let r = off as usize..(off + size) as usize;
        assert_eq!(uki[r.clone()], stub[r]);
    }
    // Expected layout computed from the stub's last section (.sdmagic at 0x2100 + 0x34).
    let sa = synth.section_alignment;
    let fa = synth.file_alignment;
    let mut va = up(0x2100 + 0x34, sa);
    let mut raw = up(stub.len() as u32, fa);
    let kernel_vsize = 0x20000u32; // Synth::kernel SizeOfImage
    assert!(kernel_vsize as usize > kernel.len());
    let expected = [
        (".osrel", OSREL, OSREL.len() as u32, 0x4000_0040),
        (".cmdline", CMDLINE, CMDLINE.len() as u32, 0x4000_0040),
        (".uname", UNAME, UNAME.len() as u32, 0x4000_0040),
        (".initrd", &initrd[..], initrd.len() as u32, 0x4000_0040),
        (".linux", &kernel[..], kernel_vsize, 0x4000_0020),
    ];
    let mut init_data = 0x1000;
    for (i, (name, data, vsize, flags)) in expected.iter().enumerate() {
        let size = up(data.len() as u32, fa);
        assert_eq!(
            header(&uki, 3 + i),
            (name.to_string(), *vsize, va, size, raw, *flags),
            "{name}"
        );
        assert_eq!(
            &uki[raw as usize..raw as usize + data.len()],
            *data,
            "{name} data"
        );
        assert!(
            uki[raw as usize + data.len()..(raw + size) as usize]
                .iter()
                .all(|&b| b == 0),
            "{name} padding"
        );
        init_data += vsize;
        raw += size;
        va = up(va + vsize, sa);
    }
    assert_eq!(uki.len(), raw as usize);
    let coff = PE_OFFSET + 4;
    assert_eq!(rd16(&uki, coff + 2), 8, "NumberOfSections");
    assert_eq!(
        rd32(&uki, OPT_OFFSET + 8),
        init_data,
        "SizeOfInitializedData"
    );
    assert_eq!(rd32(&uki, OPT_OFFSET + 56), va, "SizeOfImage");
    assert_eq!(rd32(&uki, OPT_OFFSET + 60), 0x400, "SizeOfHeaders");
    assert_eq!(rd32(&uki, OPT_OFFSET + 64), 0, "CheckSum");
    // Everything else in the headers is unchanged.
    let mut patched = uki[..0x400].to_vec();
    patched[TABLE_OFFSET + 120..TABLE_OFFSET + 320].fill(0);
    for (o, len) in [
        (coff + 2, 2),
        (OPT_OFFSET + 8, 4),
        (OPT_OFFSET + 56, 4),
        (OPT_OFFSET + 64, 4),
    ] {
        patched[o..o + len].copy_from_slice(&stub[o..o + len]);
    }
    assert_eq!(patched, stub[..0x400]);
}

#[test]
fn reads_back_inputs_and_is_deterministic() {
    let stub = Synth::stub().build();
    let kernel = Synth::kernel().build();
    let initrd = initrd();
    let a = build_uki(&stub, &sections(&kernel, &initrd)).unwrap();
    let b = build_uki(&stub.clone(), &sections(&kernel.clone(), &initrd.clone())).unwrap();
    assert_eq!(a, b);

    let uki = Uki::parse(&a).unwrap();
    assert!(uki.is_uki());
    assert_eq!(uki.section(".linux"), Some(&kernel[..]));
    assert_eq!(uki.section(".initrd"), Some(&initrd[..]));
    assert_eq!(uki.section(".osrel"), Some(OSREL));
    assert_eq!(
        uki.cmdline().as_deref(),
        Some(std::str::from_utf8(CMDLINE).unwrap())
    );
    assert_eq!(uki.osrel().as_deref(), Some("ID=metalos\nVERSION_ID=1\n"));
    assert_eq!(uki.uname().as_deref(), Some("6.1.0-56-cloud-amd64"));
    assert_eq!(
        uki.section(".sbat"),
        Some(&[b's'; 0xe2][..]),
        "stub .sbat kept"
    );
    assert_eq!(uki.info().number_of_sections, 8);
    assert_eq!((uki.info().machine, uki.info().subsystem), (0x8664, 10));
    assert_eq!(
        (uki.info().section_alignment, uki.info().file_alignment),
        (0x1000, 0x200)
    );
    let sums = uki.summaries();
    let names: Vec<_> = sums.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [".text", ".sbat", ".sdmagic", ".osrel", ".cmdline", ".uname", ".initrd", ".linux"]
    );
    // sha256 of OSREL, computed with Python hashlib.
    assert_eq!(
        sums[3].sha256_hex(),
        "8716a9d3786de210f4466a3d94fe51160e19dde6f90f241a7b12456192062790"
    );

    // The stub alone is a PE but not a UKI.
    let plain = Uki::parse(&stub).unwrap();
    assert!(!plain.is_uki());
    assert_eq!(plain.cmdline(), None);
}

#[test]
fn optional_sections_are_skipped() {
    let stub = Synth::stub().build();
    let uki = build_uki(
        &stub,
        &UkiSections {
            linux: b"not a PE kernel",
            ..Default::default()
        },
    )
    .unwrap();
    let uki = Uki::parse(&uki).unwrap();
    let names: Vec<_> = uki.sections().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, [".text", ".sbat", ".sdmagic", ".linux"]);
    let linux = &uki.sections()[3];
    assert_eq!(
        linux.virtual_size, 15,
        "non-PE kernel: VirtualSize = length"
    );
    assert_eq!(uki.section(".linux"), Some(&b"not a PE kernel"[..]));
}

#[test]
fn trailing_symbol_table_is_stripped_like_ukify() {
    let mut synth = Synth::stub();
    let mut sym = vec![0xab; 18 * 3];
    sym.extend_from_slice(&10u32.to_le_bytes());
    sym.extend_from_slice(b"abcdef");
    synth.symtab = Some(sym);
    let stub = synth.build();
    let body = rd32(&stub, PE_OFFSET + 12) as usize;
    assert_eq!(rd32(&stub, PE_OFFSET + 16), 3);
    let uki = build_uki(
        &stub,
        &UkiSections {
            linux: b"k",
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(rd32(&uki, PE_OFFSET + 12), 0, "PointerToSymbolTable");
    assert_eq!(rd32(&uki, PE_OFFSET + 16), 0, "NumberOfSymbols");
    assert_eq!(
        rd16(&uki, PE_OFFSET + 4 + 18),
        0x206,
        "Characteristics unchanged, like ukify's output"
    );
    let (_, _, _, _, raw, _) = header(&uki, 3);
    assert_eq!(
        raw as usize,
        up(body as u32, 0x200) as usize,
        ".linux right after the section data"
    );

    // A symbol table that does not end the file is kept.
    let mut odd = stub.clone();
    odd.extend_from_slice(b"trailer");
    let uki = build_uki(
        &odd,
        &UkiSections {
            linux: b"k",
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(uki[..odd.len()][body..], odd[body..]);
    assert_eq!(rd32(&uki, PE_OFFSET + 12), body as u32);
}

fn stub_with(f: impl FnOnce(&mut Synth)) -> Vec<u8> {
    let mut s = Synth::stub();
    f(&mut s);
    s.build()
}

fn err(stub: &[u8]) -> UkiError {
    let initrd = initrd();
    build_uki(stub, &sections(b"kernel", &initrd)).unwrap_err()
}

#[test]
fn refuses_bad_stubs_with_clear_errors() {
    assert_eq!(
        err(b"\x7fELF\x02\x01\x01"),
        UkiError::NotPe("missing MZ signature")
    );
    assert_eq!(
        err(b"MZ"),
        UkiError::NotPe("file too short for a DOS header")
    );
    let mut no_pe = Synth::stub().build();
    no_pe[PE_OFFSET..PE_OFFSET + 4].copy_from_slice(b"NE\0\0");
    assert_eq!(
        err(&no_pe),
        UkiError::NotPe("missing PE\\0\\0 signature at e_lfanew")
    );

    let e = err(&stub_with(|s| s.machine = 0xaa64));
    assert_eq!(
        e,
        UkiError::Unsupported {
            machine: 0xaa64,
            magic: 0x20b
        }
    );
    assert!(
        e.to_string().contains("expected x86-64 (0x8664) PE32+"),
        "{e}"
    );
    assert_eq!(
        err(&stub_with(|s| s.subsystem = 3)),
        UkiError::NotEfiApplication(3)
    );

    let e = err(&stub_with(|s| s.cert = (0x3000, 0x100)));
    assert_eq!(
        e,
        UkiError::AlreadySigned {
            offset: 0x3000,
            size: 0x100
        }
    );
    assert!(e.to_string().contains("already signed"), "{e}");

    // 3 sections end at 0x1c0; SizeOfHeaders 0x200 leaves 1 slot, 5 needed.
    let e = err(&stub_with(|s| s.size_of_headers = 0x200));
    assert_eq!(
        e,
        UkiError::NoHeaderRoom {
            free: 1,
            needed: 5,
            limit: 0x200
        }
    );
    assert_eq!(
        e.to_string(),
        "no room for new section headers: 1 free header slot(s) before 0x200 \
         (SizeOfHeaders / first section data), 5 needed"
    );

    let mut slack = Synth::stub().build();
    slack[TABLE_OFFSET + 3 * 40 + 5] = 1;
    assert_eq!(
        err(&slack),
        UkiError::HeaderSlackInUse((TABLE_OFFSET + 120) as u32)
    );

    let e = err(&stub_with(|s| s.sections[0].name = ".linux"));
    assert_eq!(e, UkiError::DuplicateSection(".linux".into()));
    assert!(e.to_string().contains("already exists"), "{e}");
}

#[test]
fn add_sections_checks_names() {
    let stub = Synth::stub().build();
    let e = add_sections(&stub, &[NewSection::data(".toolong9", b"x")]).unwrap_err();
    assert_eq!(e, UkiError::NameTooLong(".toolong9".into()));
    let e = add_sections(
        &stub,
        &[
            NewSection::data(".splash", b"x"),
            NewSection::data(".splash", b"y"),
        ],
    )
    .unwrap_err();
    assert_eq!(e, UkiError::DuplicateSection(".splash".into()));
    let e = add_sections(&stub, &[NewSection::data(".sbat", b"x")]).unwrap_err();
    assert_eq!(e, UkiError::DuplicateSection(".sbat".into()));
    // Exactly 8 bytes is fine, and an extra section reads back.
    let out = add_sections(&stub, &[NewSection::data(".pcrpkey", b"key")]).unwrap();
    assert_eq!(
        Uki::parse(&out).unwrap().section(".pcrpkey"),
        Some(&b"key"[..])
    );
}

#[test]
fn signed_kernel_with_unaligned_length_reads_back_exactly() {
    // A kernel PE ending with a 0x48-byte certificate table, like Debian's signed bzImage.
    let mut kernel = Synth::kernel().build();
    let cert = OPT_OFFSET + 112 + 4 * 8;
    let at = kernel.len() as u32;
    kernel[cert..cert + 4].copy_from_slice(&at.to_le_bytes());
    kernel[cert + 4..cert + 8].copy_from_slice(&0x48u32.to_le_bytes());
    kernel.extend_from_slice(&[0x5a; 0x48]);
    let stub = Synth::stub().build();
    let uki = build_uki(
        &stub,
        &UkiSections {
            linux: &kernel,
            ..Default::default()
        },
    )
    .unwrap();
    let uki = Uki::parse(&uki).unwrap();
    let padded = uki.section(".linux").unwrap();
    assert_eq!(padded.len(), up(kernel.len() as u32, 0x200) as usize);
    assert_eq!(&padded[..kernel.len()], &kernel[..]);
    assert_eq!(uki.linux(), Some(&kernel[..]));
    assert_eq!(uki.sections()[3].virtual_size, 0x20000);
}
