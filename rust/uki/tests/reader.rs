//! Reader robustness: truncated and garbled inputs give errors, never panics.

mod common;

use common::{Synth, OPT_OFFSET, PE_OFFSET, TABLE_OFFSET};
use metalos_uki::{build_uki, Uki, UkiError, UkiSections};

fn sample_uki() -> Vec<u8> {
    let stub = Synth::stub().build();
    let kernel = Synth::kernel().build();
    let s = UkiSections {
        linux: &kernel,
        initrd: Some(&[7u8; 3000]),
        cmdline: Some(b"quiet\0"),
        osrel: Some(b"ID=metalos\n"),
        uname: Some(b"6.1.0"),
    };
    build_uki(&stub, &s).unwrap()
}

/// Exercises every reader entry point; must not panic whatever the input.
fn read_everything(bytes: &[u8]) -> Result<usize, UkiError> {
    let uki = Uki::parse(bytes)?;
    let mut n = uki.summaries().len() + uki.info().number_of_sections as usize;
    for s in uki.sections() {
        n += uki.section(&s.name).map_or(0, <[u8]>::len);
    }
    n += uki.cmdline().map_or(0, |c| c.len()) + uki.osrel().map_or(0, |c| c.len());
    n += uki.uname().map_or(0, |c| c.len()) + usize::from(uki.is_uki());
    n += uki.linux().map_or(0, <[u8]>::len);
    Ok(n)
}

/// Tiny deterministic xorshift PRNG.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn text_helpers_trim_trailing_nuls() {
    let uki = sample_uki();
    let uki = Uki::parse(&uki).unwrap();
    assert_eq!(uki.section(".cmdline"), Some(&b"quiet\0"[..]));
    assert_eq!(uki.cmdline().as_deref(), Some("quiet"));
}

#[test]
fn every_truncation_is_an_error() {
    let full = sample_uki();
    assert!(read_everything(&full).is_ok());
    for len in 0..full.len() {
        let r = read_everything(&full[..len]);
        assert!(r.is_err(), "truncated to {len} bytes still parsed");
    }
}

#[test]
fn garbled_inputs_never_panic() {
    let full = sample_uki();
    let stub = Synth::stub().build();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..3000 {
        let base = if round % 3 == 0 { &stub } else { &full };
        let mut d = base.clone();
        let flips = 1 + rng.next() % 8;
        for _ in 0..flips {
            // Mostly hit the headers, where the structure lives.
            let range = if rng.next() & 3 == 0 {
                d.len()
            } else {
                0x400.min(d.len())
            };
            let at = (rng.next() % range as u64) as usize;
            d[at] = rng.next() as u8;
        }
        let _ = read_everything(&d);
        let kernel = &full[..0x200];
        let _ = build_uki(
            &d,
            &UkiSections {
                linux: kernel,
                cmdline: Some(b"x"),
                ..Default::default()
            },
        );
    }
}

#[test]
fn extreme_field_values_never_panic() {
    let full = sample_uki();
    let sec0 = TABLE_OFFSET;
    let fields: &[(usize, usize)] = &[
        (0x3c, 4),               // e_lfanew
        (PE_OFFSET + 6, 2),      // NumberOfSections
        (PE_OFFSET + 12, 4),     // PointerToSymbolTable
        (PE_OFFSET + 16, 4),     // NumberOfSymbols
        (PE_OFFSET + 20, 2),     // SizeOfOptionalHeader
        (OPT_OFFSET + 32, 4),    // SectionAlignment
        (OPT_OFFSET + 36, 4),    // FileAlignment
        (OPT_OFFSET + 60, 4),    // SizeOfHeaders
        (OPT_OFFSET + 108, 4),   // NumberOfRvaAndSizes
        (sec0 + 8, 4),           // VirtualSize
        (sec0 + 12, 4),          // VirtualAddress
        (sec0 + 16, 4),          // SizeOfRawData
        (sec0 + 20, 4),          // PointerToRawData
        (sec0 + 40 * 7 + 8, 4),  // .linux VirtualSize
        (sec0 + 40 * 7 + 20, 4), // .linux PointerToRawData
    ];
    for &(off, len) in fields {
        for v in [0u32, 1, 3, 0x7fff_ffff, 0xffff_ffff, 0x1000, 0xfff] {
            let mut d = full.clone();
            d[off..off + len].copy_from_slice(&v.to_le_bytes()[..len]);
            let _ = read_everything(&d);
            let mut stub = Synth::stub().build();
            let at = off.min(stub.len() - 4);
            stub[at..at + len].copy_from_slice(&v.to_le_bytes()[..len]);
            let _ = build_uki(
                &stub,
                &UkiSections {
                    linux: b"k",
                    ..Default::default()
                },
            );
        }
    }
}

#[test]
fn section_past_end_of_file_is_reported() {
    let mut d = sample_uki();
    let h = TABLE_OFFSET + 40 * 7 + 20; // .linux PointerToRawData
    d[h..h + 4].copy_from_slice(&0xffff_0000u32.to_le_bytes());
    let e = Uki::parse(&d).unwrap_err();
    assert!(matches!(e, UkiError::Malformed(_)), "{e}");
    assert!(e.to_string().contains("section \".linux\" raw data"), "{e}");
}

#[test]
fn headers_parse_from_a_prefix() {
    use metalos_uki::pe::PeImage;
    let d = sample_uki();
    let full = PeImage::parse(&d).unwrap();
    let end = full.info.section_table_end();
    // The headers alone, checked against the file's length.
    assert_eq!(
        PeImage::parse_prefix(&d[..end], d.len() as u64).unwrap(),
        full
    );
    // A section's data past that length is still refused.
    let e = PeImage::parse_prefix(&d[..end], d.len() as u64 - 1).unwrap_err();
    assert!(e.to_string().contains("past the end of the file"), "{e}");
    // A prefix without the whole section table is an error.
    assert!(PeImage::parse_prefix(&d[..end - 1], d.len() as u64).is_err());
}
