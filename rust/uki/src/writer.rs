//! The UKI writer: appends sections to a systemd-stub in place, like ukify.
//!
//! The stub is copied unchanged except for these header fields:
//! `NumberOfSections`, `SizeOfInitializedData`, `SizeOfImage`, `CheckSum`
//! (zeroed), `SizeOfHeaders` (rounded up to `FileAlignment`, as ukify does)
//! and, if the stub ends with a COFF symbol table, `PointerToSymbolTable`
//! and `NumberOfSymbols` (zeroed; the table is cut off, as ukify does; like
//! ukify's actual output the COFF `Characteristics` stay unchanged). The
//! new section headers go into the zeroed space after the existing section
//! table; the stub's own section headers and section data stay
//! byte-identical. No existing section is modified: in particular the
//! stub's `.sbat` is kept as is (no SBAT merging).
//!
//! The output was checked to be byte-identical to ukify's algorithm
//! (`pe_add_sections`, run with pefile) for Debian bookworm's systemd-stub
//! 252 and its signed 6.1 kernel.

use crate::error::{Result, UkiError};
use crate::layout::{self, to_u32, Placement};
use crate::pe::{self, PeImage, SECTION_HEADER_SIZE, SYMBOL_SIZE};

/// Characteristics ukify gives every new section except `.linux`.
pub const DATA_CHARACTERISTICS: u32 = pe::SCN_CNT_INITIALIZED_DATA | pe::SCN_MEM_READ;
/// Characteristics ukify gives `.linux` (old kernels using the EFI handover
/// protocol are executed in place).
pub const LINUX_CHARACTERISTICS: u32 = pe::SCN_CNT_CODE | pe::SCN_MEM_READ;

/// The payloads of a UKI. Absent optional parts get no section.
///
/// Bytes are written as given (no NUL terminator is added).
#[derive(Debug, Clone, Copy, Default)]
pub struct UkiSections<'a> {
    /// The kernel (x86 bzImage, itself a PE image): `.linux`. Required.
    pub linux: &'a [u8],
    /// The initrd (e.g. a compressed cpio): `.initrd`.
    pub initrd: Option<&'a [u8]>,
    /// Kernel command line: `.cmdline`.
    pub cmdline: Option<&'a [u8]>,
    /// os-release contents: `.osrel`.
    pub osrel: Option<&'a [u8]>,
    /// Kernel release (`uname -r`): `.uname`.
    pub uname: Option<&'a [u8]>,
}

impl<'a> UkiSections<'a> {
    /// The sections to append, in ukify's order: `.osrel .cmdline .uname
    /// .initrd .linux`. `.linux` gets `VirtualSize = max(len, kernel's
    /// SizeOfImage)` (length only if the kernel is not a PE image).
    pub fn to_new_sections(&self) -> Result<Vec<NewSection<'a>>> {
        if self.linux.is_empty() {
            return Err(UkiError::EmptyKernel);
        }
        let parts = [
            (".osrel", self.osrel),
            (".cmdline", self.cmdline),
            (".uname", self.uname),
            (".initrd", self.initrd),
        ];
        let mut out: Vec<NewSection<'a>> = parts
            .into_iter()
            .filter_map(|(name, data)| data.map(|d| NewSection::data(name, d)))
            .collect();
        out.push(NewSection::kernel(self.linux));
        Ok(out)
    }
}

/// One section to append to a PE image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewSection<'a> {
    /// Section name, at most 8 bytes.
    pub name: &'a str,
    /// Section contents.
    pub data: &'a [u8],
    /// `VirtualSize`; `None` means the data length. Never smaller than the data length.
    pub virtual_size: Option<u32>,
    /// Section `Characteristics`.
    pub characteristics: u32,
}

impl<'a> NewSection<'a> {
    /// A read-only initialized-data section, as ukify makes for everything but `.linux`.
    pub fn data(name: &'a str, data: &'a [u8]) -> Self {
        NewSection {
            name,
            data,
            virtual_size: None,
            characteristics: DATA_CHARACTERISTICS,
        }
    }

    /// The `.linux` section: code + read, virtual size covering the kernel's
    /// own `SizeOfImage` when that is larger than the file.
    pub fn kernel(linux: &'a [u8]) -> Self {
        NewSection {
            name: ".linux",
            data: linux,
            virtual_size: pe::size_of_image(linux),
            characteristics: LINUX_CHARACTERISTICS,
        }
    }
}

/// Builds a UKI: `stub` (systemd-stub, unsigned PE32+ x86-64 EFI application)
/// with the sections of `sections` appended. Deterministic: the same inputs
/// always give the same bytes.
pub fn build_uki(stub: &[u8], sections: &UkiSections<'_>) -> Result<Vec<u8>> {
    add_sections(stub, &sections.to_new_sections()?)
}

/// Checks that `stub` is an unsigned PE32+ x86-64 EFI application.
fn check_stub(pe: &PeImage) -> Result<()> {
    let info = &pe.info;
    if info.machine != pe::MACHINE_X86_64 || info.magic != pe::MAGIC_PE32_PLUS {
        return Err(UkiError::Unsupported {
            machine: info.machine,
            magic: info.magic,
        });
    }
    if info.subsystem != pe::SUBSYSTEM_EFI_APPLICATION {
        return Err(UkiError::NotEfiApplication(info.subsystem));
    }
    let (offset, size) = info.certificate_table;
    if offset != 0 || size != 0 {
        return Err(UkiError::AlreadySigned { offset, size });
    }
    let pow2 = |v: u32| v.is_power_of_two() && v <= 0x10000;
    if !pow2(info.file_alignment) || !pow2(info.section_alignment) {
        return Err(UkiError::Malformed(format!(
            "SectionAlignment {:#x} / FileAlignment {:#x} is not a power of two up to 64 KiB",
            info.section_alignment, info.file_alignment
        )));
    }
    Ok(())
}

/// Rejects over-long names and names already present.
fn check_names(pe: &PeImage, new: &[NewSection<'_>]) -> Result<()> {
    for (i, s) in new.iter().enumerate() {
        if s.name.len() > 8 {
            return Err(UkiError::NameTooLong(s.name.to_string()));
        }
        if pe.find(s.name).is_some() || new[..i].iter().any(|o| o.name == s.name) {
            return Err(UkiError::DuplicateSection(s.name.to_string()));
        }
    }
    Ok(())
}

/// Length of the stub without a trailing COFF symbol + string table, if it
/// has one that ends exactly at the end of the file (ukify's rule) and starts
/// at or after `min_body` (headers and all section data are kept).
fn body_len(stub: &[u8], pe: &PeImage, min_body: u64) -> Option<usize> {
    let start = pe.info.symbol_table_offset as usize;
    if start == 0 || (start as u64) < min_body {
        return None;
    }
    let syms = (pe.info.number_of_symbols as usize).checked_mul(SYMBOL_SIZE)?;
    let strings_at = start.checked_add(syms)?;
    let strings = pe::u32_at(stub, strings_at, "string table").map_or(0, |v| v as usize);
    (strings_at.checked_add(strings)? == stub.len()).then_some(start)
}

/// Where the new section headers go.
struct HeaderRoom {
    /// End of the existing section table (first new header).
    table_end: usize,
    /// End of the section table with the new headers.
    new_table_end: usize,
    /// New `SizeOfHeaders`.
    size_of_headers: u64,
    /// Offset the headers must not reach.
    limit: u64,
}

/// Finds room for `needed` headers after the section table: up to
/// `SizeOfHeaders` rounded up to `FileAlignment` (ukify does that rounding
/// too) but never into section data; the space must be zero.
fn header_room(stub: &[u8], pe: &PeImage, needed: usize) -> Result<HeaderRoom> {
    let info = &pe.info;
    let table_end = info.section_table_offset + SECTION_HEADER_SIZE * pe.sections.len();
    let headers_rounded = pe::round_up(
        u64::from(info.size_of_headers),
        u64::from(info.file_alignment),
    );
    let first_raw = pe
        .sections
        .iter()
        .filter(|s| s.raw_size > 0)
        .map(|s| u64::from(s.raw_offset))
        .min();
    let limit = first_raw
        .map_or(headers_rounded, |r| r.min(headers_rounded))
        .min(stub.len() as u64);
    let free = (limit.saturating_sub(table_end as u64) as usize) / SECTION_HEADER_SIZE;
    if free < needed {
        let limit = to_u32(limit, "header limit")?;
        return Err(UkiError::NoHeaderRoom {
            free,
            needed,
            limit,
        });
    }
    let new_table_end = table_end + SECTION_HEADER_SIZE * needed;
    if stub[table_end..new_table_end].iter().any(|&b| b != 0) {
        let at = to_u32(table_end as u64, "section table")?;
        return Err(UkiError::HeaderSlackInUse(at));
    }
    let size_of_headers = if headers_rounded <= limit {
        headers_rounded
    } else {
        u64::from(info.size_of_headers).max(new_table_end as u64)
    };
    Ok(HeaderRoom {
        table_end,
        new_table_end,
        size_of_headers,
        limit,
    })
}

/// Appends `new` sections to the PE image `stub` in place (see the module docs).
///
/// Each section's `VirtualAddress` is the previous end rounded up to
/// `SectionAlignment`, starting after the highest existing section end; raw
/// data starts at the end of the stub rounded up to `FileAlignment` and is
/// zero-padded to a multiple of it.
pub fn add_sections(stub: &[u8], new: &[NewSection<'_>]) -> Result<Vec<u8>> {
    let pe = PeImage::parse(stub)?;
    check_stub(&pe)?;
    check_names(&pe, new)?;
    let room = header_room(stub, &pe, new.len())?;
    let stripped = body_len(stub, &pe, room.min_body(&pe));
    let mut out = kept_stub(stub, stripped, new, u64::from(pe.info.file_alignment));
    let sizes = append_new_sections(&mut out, stub, &pe, &room, new)?;
    patch_headers(&mut out, &pe, new.len(), &sizes, stripped.is_some())?;
    Ok(out)
}

impl HeaderRoom {
    /// Where a trailing symbol table may start at the earliest: after all
    /// section data, the header limit and the new section table.
    fn min_body(&self, pe: &PeImage) -> u64 {
        let raw_end = pe
            .sections
            .iter()
            .filter(|s| s.raw_size > 0)
            .map(|s| u64::from(s.raw_offset) + u64::from(s.raw_size))
            .max()
            .unwrap_or(0);
        raw_end.max(self.limit).max(self.new_table_end as u64)
    }
}

/// The stub's bytes that are kept: up to `stripped` (a trailing symbol
/// table cut off) or all of them, with room for the new sections.
fn kept_stub(stub: &[u8], stripped: Option<usize>, new: &[NewSection<'_>], fa: u64) -> Vec<u8> {
    let body = stripped.unwrap_or(stub.len());
    let extra: u64 = new
        .iter()
        .map(|s| pe::round_up(s.data.len() as u64, fa) + fa)
        .sum();
    let mut out = Vec::with_capacity(body + extra as usize);
    out.extend_from_slice(&stub[..body]);
    out
}

/// The header fields the appended sections change.
struct NewSizes {
    /// New `SizeOfInitializedData`.
    initialized_data: u64,
    /// New `SizeOfImage`: the end of the last section, aligned.
    size_of_image: u64,
    /// New `SizeOfHeaders`.
    size_of_headers: u64,
}

/// Appends each new section's data to `out` and writes its header into
/// the free slots after the section table.
fn append_new_sections(
    out: &mut Vec<u8>,
    stub: &[u8],
    pe: &PeImage,
    room: &HeaderRoom,
    new: &[NewSection<'_>],
) -> Result<NewSizes> {
    let info = &pe.info;
    let (fa, sa) = (
        u64::from(info.file_alignment),
        u64::from(info.section_alignment),
    );
    let highest = pe
        .sections
        .iter()
        .map(|s| s.virtual_end())
        .max()
        .unwrap_or(0);
    let mut va = pe::round_up(highest.max(room.size_of_headers), sa);
    let mut init_data = layout::initialized_data(stub, info)?;
    for (i, s) in new.iter().enumerate() {
        let at = room.table_end + i * SECTION_HEADER_SIZE;
        let vsize = append_section(out, s, va, fa, at)?;
        init_data += vsize;
        va = pe::round_up(va + vsize, sa);
    }
    Ok(NewSizes {
        initialized_data: init_data,
        size_of_image: va,
        size_of_headers: room.size_of_headers,
    })
}

/// Appends the data of `s` (at `va` in memory) and writes its section
/// header at `header_at`; returns its `VirtualSize`.
fn append_section(
    out: &mut Vec<u8>,
    s: &NewSection<'_>,
    va: u64,
    fa: u64,
    header_at: usize,
) -> Result<u64> {
    let len = s.data.len() as u64;
    let vsize = u64::from(s.virtual_size.unwrap_or(0)).max(len);
    let (raw_offset, raw_size) = layout::next_raw(out.len(), s.data.len(), fa);
    to_u32(raw_offset + raw_size, "image size")?;
    layout::put_raw(out, s.data, raw_offset, raw_size);

    let mut header = [0u8; SECTION_HEADER_SIZE];
    header[..s.name.len()].copy_from_slice(s.name.as_bytes());
    let placement = Placement {
        virtual_size: vsize,
        virtual_address: va,
        raw_size,
        raw_offset,
    };
    placement.write(&mut header, 0)?;
    pe::put_u32(&mut header, 36, s.characteristics);
    out[header_at..header_at + SECTION_HEADER_SIZE].copy_from_slice(&header);
    Ok(vsize)
}

/// Updates the COFF and optional header fields the module docs list.
fn patch_headers(
    out: &mut [u8],
    pe: &PeImage,
    added: usize,
    sizes: &NewSizes,
    symbols_stripped: bool,
) -> Result<()> {
    let info = &pe.info;
    let coff = info.pe_offset;
    let count = pe.sections.len() + added;
    pe::put_u16(
        out,
        coff + pe::COFF_NUMBER_OF_SECTIONS,
        u16::try_from(count).map_err(|_| UkiError::TooLarge("section count"))?,
    );
    layout::set_image_sizes(out, info, sizes.initialized_data, sizes.size_of_image)?;
    pe::put_u32(
        out,
        info.optional_header_offset + pe::OPT_SIZE_OF_HEADERS,
        to_u32(sizes.size_of_headers, "SizeOfHeaders")?,
    );
    if symbols_stripped {
        pe::put_u32(out, coff + pe::COFF_POINTER_TO_SYMBOLS, 0);
        pe::put_u32(out, coff + pe::COFF_NUMBER_OF_SYMBOLS, 0);
    }
    Ok(())
}

/// A smallest PE32+ x86-64 EFI application: headers and one `.text`
/// (a stub for tests and fuzzing seeds; [`add_sections`] takes it).
pub fn minimal_stub() -> Vec<u8> {
    let mut b = vec![0u8; 0x400];
    b[0..2].copy_from_slice(b"MZ");
    b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    let pe = 0x80;
    b[pe..pe + 4].copy_from_slice(b"PE\0\0");
    let coff = pe + 4;
    b[coff..coff + 2].copy_from_slice(&0x8664u16.to_le_bytes()); // machine
    b[coff + 2..coff + 4].copy_from_slice(&1u16.to_le_bytes()); // sections
    b[coff + 16..coff + 18].copy_from_slice(&240u16.to_le_bytes()); // optional header size
    b[coff + 18..coff + 20].copy_from_slice(&0x0022u16.to_le_bytes()); // characteristics
    let opt = coff + 20;
    let put32 =
        |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    b[opt..opt + 2].copy_from_slice(&0x20bu16.to_le_bytes()); // PE32+
    put32(&mut b, opt + 4, 0x200); // SizeOfCode
    put32(&mut b, opt + 16, 0x1000); // AddressOfEntryPoint
    put32(&mut b, opt + 20, 0x1000); // BaseOfCode
    put32(&mut b, opt + 32, 0x1000); // SectionAlignment
    put32(&mut b, opt + 36, 0x200); // FileAlignment
    put32(&mut b, opt + 56, 0x2000); // SizeOfImage
    put32(&mut b, opt + 60, 0x200); // SizeOfHeaders
    b[opt + 68..opt + 70].copy_from_slice(&10u16.to_le_bytes()); // EFI application
    put32(&mut b, opt + 108, 16); // NumberOfRvaAndSizes
    let sec = opt + 240;
    b[sec..sec + 5].copy_from_slice(b".text");
    put32(&mut b, sec + 8, 0x200); // VirtualSize
    put32(&mut b, sec + 12, 0x1000); // VirtualAddress
    put32(&mut b, sec + 16, 0x200); // SizeOfRawData
    put32(&mut b, sec + 20, 0x200); // PointerToRawData
    put32(&mut b, sec + 36, 0x6000_0020); // code, execute, read
    b[0x200] = 0xc3;
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ukify_order_and_flags() {
        let s = UkiSections {
            linux: b"kernel",
            initrd: Some(b"initrd"),
            cmdline: Some(b"quiet"),
            osrel: Some(b"ID=metalos\n"),
            uname: None,
        };
        let new = s.to_new_sections().unwrap();
        let names: Vec<_> = new.iter().map(|s| s.name).collect();
        assert_eq!(names, [".osrel", ".cmdline", ".initrd", ".linux"]);
        assert_eq!(new[3].characteristics, 0x4000_0020);
        assert_eq!(new[0].characteristics, 0x4000_0040);
        assert_eq!(new[3].virtual_size, None, "not a PE kernel: data length");
    }

    #[test]
    fn empty_kernel_is_refused() {
        let s = UkiSections::default();
        assert_eq!(s.to_new_sections(), Err(UkiError::EmptyKernel));
        assert_eq!(build_uki(b"MZ", &s), Err(UkiError::EmptyKernel));
    }
}

/// Owned UKI inputs as tools read them from files; [`UkiInputs::build`]
/// fills `.uname` from the kernel's setup header when not given.
#[derive(Debug, Clone, Default)]
pub struct UkiInputs {
    /// Kernel (bzImage).
    pub kernel: Vec<u8>,
    /// Initrd.
    pub initrd: Option<Vec<u8>>,
    /// Command line; empty means no `.cmdline` section.
    pub cmdline: String,
    /// os-release.
    pub osrel: Option<Vec<u8>>,
    /// Kernel release; `None` reads it from the kernel.
    pub uname: Option<String>,
}

impl UkiInputs {
    /// Appends the sections to `stub` (see [`build_uki`]).
    pub fn build(&self, stub: &[u8]) -> Result<Vec<u8>> {
        let uname = self
            .uname
            .clone()
            .or_else(|| crate::bzimage::bzimage_release(&self.kernel));
        let sections = UkiSections {
            linux: &self.kernel,
            initrd: self.initrd.as_deref(),
            cmdline: (!self.cmdline.is_empty()).then_some(self.cmdline.as_bytes()),
            osrel: self.osrel.as_deref(),
            uname: uname.as_deref().map(str::as_bytes),
        };
        build_uki(stub, &sections)
    }
}
