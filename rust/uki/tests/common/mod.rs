//! Test helpers: a synthetic PE32+ builder and real-input discovery.
#![allow(dead_code)]

use std::path::PathBuf;

/// A section of a synthetic image.
pub struct Sec {
    pub name: &'static str,
    pub va: u32,
    pub vsize: u32,
    pub data: Vec<u8>,
    pub flags: u32,
}

/// A synthetic PE32+ image; [`Synth::build`] lays it out.
pub struct Synth {
    pub machine: u16,
    pub magic: u16,
    pub subsystem: u16,
    pub section_alignment: u32,
    pub file_alignment: u32,
    pub size_of_headers: u32,
    pub sections: Vec<Sec>,
    pub cert: (u32, u32),
    /// Appended after the last section as a COFF symbol table (PointerToSymbolTable set).
    pub symtab: Option<Vec<u8>>,
}

pub const PE_OFFSET: usize = 0x40;
pub const OPT_OFFSET: usize = PE_OFFSET + 24;
pub const TABLE_OFFSET: usize = OPT_OFFSET + 240;

fn put16(d: &mut [u8], o: usize, v: u16) {
    d[o..o + 2].copy_from_slice(&v.to_le_bytes());
}
fn put32(d: &mut [u8], o: usize, v: u32) {
    d[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
pub fn rd32(d: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(d[o..o + 4].try_into().unwrap())
}
pub fn rd16(d: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(d[o..o + 2].try_into().unwrap())
}
pub fn up(v: u32, a: u32) -> u32 {
    v.div_ceil(a) * a
}

impl Synth {
    /// A stub-like image: `.text` and an unaligned `.sdmagic`, like Debian's.
    pub fn stub() -> Self {
        Synth {
            machine: 0x8664,
            magic: 0x20b,
            subsystem: 10,
            section_alignment: 0x1000,
            file_alignment: 0x200,
            size_of_headers: 0x400,
            sections: vec![
                Sec {
                    name: ".text",
                    va: 0x1000,
                    vsize: 0x300,
                    data: vec![0xcc; 0x300],
                    flags: 0x6000_0020,
                },
                Sec {
                    name: ".sbat",
                    va: 0x2000,
                    vsize: 0xe2,
                    data: vec![b's'; 0xe2],
                    flags: 0x4000_0040,
                },
                Sec {
                    name: ".sdmagic",
                    va: 0x2100,
                    vsize: 0x34,
                    data: vec![b'#'; 0x34],
                    flags: 0x4000_0040,
                },
            ],
            cert: (0, 0),
            symtab: None,
        }
    }

    /// A kernel-like PE whose `SizeOfImage` (0x20000) exceeds its file size.
    pub fn kernel() -> Self {
        let mut k = Synth::stub();
        k.sections = vec![Sec {
            name: ".text",
            va: 0x1000,
            vsize: 0x1f000,
            data: vec![0x90; 0x600],
            flags: 0x6000_0020,
        }];
        k
    }

    pub fn build(&self) -> Vec<u8> {
        let mut d = vec![0u8; self.size_of_headers as usize];
        d[..2].copy_from_slice(b"MZ");
        put32(&mut d, 0x3c, PE_OFFSET as u32);
        d[PE_OFFSET..PE_OFFSET + 4].copy_from_slice(b"PE\0\0");
        let coff = PE_OFFSET + 4;
        put16(&mut d, coff, self.machine);
        put16(&mut d, coff + 2, self.sections.len() as u16);
        put16(&mut d, coff + 16, 240);
        put16(&mut d, coff + 18, 0x206);
        let opt = OPT_OFFSET;
        put16(&mut d, opt, self.magic);
        put32(&mut d, opt + 8, 0x1000); // SizeOfInitializedData
        put32(&mut d, opt + 32, self.section_alignment);
        put32(&mut d, opt + 36, self.file_alignment);
        let end = self
            .sections
            .iter()
            .map(|s| s.va + s.vsize)
            .max()
            .unwrap_or(0);
        put32(&mut d, opt + 56, up(end, self.section_alignment));
        put32(&mut d, opt + 60, self.size_of_headers);
        put32(&mut d, opt + 64, 0x1234_5678); // CheckSum
        put16(&mut d, opt + 68, self.subsystem);
        put32(&mut d, opt + 108, 16);
        put32(&mut d, opt + 112 + 4 * 8, self.cert.0);
        put32(&mut d, opt + 112 + 4 * 8 + 4, self.cert.1);
        for (i, s) in self.sections.iter().enumerate() {
            let raw = up(d.len() as u32, self.file_alignment);
            let size = up(s.data.len() as u32, self.file_alignment);
            d.resize(raw as usize, 0);
            d.extend_from_slice(&s.data);
            d.resize((raw + size) as usize, 0);
            let h = TABLE_OFFSET + 40 * i;
            d[h..h + s.name.len()].copy_from_slice(s.name.as_bytes());
            put32(&mut d, h + 8, s.vsize);
            put32(&mut d, h + 12, s.va);
            put32(&mut d, h + 16, size);
            put32(&mut d, h + 20, raw);
            put32(&mut d, h + 36, s.flags);
        }
        if let Some(sym) = &self.symtab {
            let at = d.len() as u32;
            put32(&mut d, coff + 8, at);
            put32(&mut d, coff + 12, ((sym.len() - 4) / 18) as u32);
            d.extend_from_slice(sym);
        }
        d
    }
}

/// Path of a real input: `$env` if set, else the first existing default.
/// Prints why when missing.
pub fn real_input(env: &str, defaults: &[&str], what: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        let p = PathBuf::from(p);
        assert!(p.exists(), "{env}={} does not exist", p.display());
        return Some(p);
    }
    let found = defaults.iter().map(PathBuf::from).find(|p| p.exists());
    if found.is_none() {
        eprintln!("SKIP: no {what} ({env} unset, none of {defaults:?} exists)");
    }
    found
}

pub fn real_stub() -> Option<PathBuf> {
    real_input(
        "METALOS_TEST_STUB",
        &["/usr/lib/systemd/boot/efi/linuxx64.efi.stub"],
        "systemd-stub",
    )
}

/// A real bzImage: METALOS_TEST_KERNEL, else the first /boot/vmlinuz-* or
/// /tmp/ukik/root/boot/vmlinuz-* (see the crate README of the tests).
pub fn real_kernel() -> Option<PathBuf> {
    let mut defaults: Vec<String> = Vec::new();
    for dir in ["/boot", "/tmp/ukik/root/boot"] {
        if let Ok(rd) = std::fs::read_dir(dir) {
            let mut v: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("vmlinuz-"))
                })
                .map(|p| p.display().to_string())
                .collect();
            v.sort();
            defaults.extend(v);
        }
    }
    if defaults.is_empty() {
        defaults.push("/boot/vmlinuz-*".into());
    }
    let refs: Vec<&str> = defaults.iter().map(String::as_str).collect();
    real_input("METALOS_TEST_KERNEL", &refs, "kernel")
}
