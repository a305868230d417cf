//! Minimal, panic-free PE/COFF header parsing: the workspace's one PE
//! reader (`metalos-secureboot` computes its Authenticode ranges from it).
//!
//! Only what a UKI and Authenticode need: the COFF file header, the fields
//! of the optional header that locate and size sections, the `CheckSum`
//! offset, the certificate table entry and the section table. Every read is
//! bounds-checked; malformed input gives [`UkiError`], never a panic.

use crate::error::{Result, UkiError};

/// `IMAGE_FILE_MACHINE_AMD64`.
pub const MACHINE_X86_64: u16 = 0x8664;
/// Optional header magic of a PE32+ image.
pub const MAGIC_PE32_PLUS: u16 = 0x020b;
/// Optional header magic of a PE32 image.
pub const MAGIC_PE32: u16 = 0x010b;
/// `IMAGE_SUBSYSTEM_EFI_APPLICATION`.
pub const SUBSYSTEM_EFI_APPLICATION: u16 = 10;
/// `IMAGE_SCN_CNT_CODE`.
pub const SCN_CNT_CODE: u32 = 0x0000_0020;
/// `IMAGE_SCN_CNT_INITIALIZED_DATA`.
pub const SCN_CNT_INITIALIZED_DATA: u32 = 0x0000_0040;
/// `IMAGE_SCN_MEM_READ`.
pub const SCN_MEM_READ: u32 = 0x4000_0000;

/// Size of one section header.
pub const SECTION_HEADER_SIZE: usize = 40;
/// Size of one COFF symbol table entry.
pub(crate) const SYMBOL_SIZE: usize = 18;
/// Index of the Certificate Table in the data directories.
const CERT_DIRECTORY: u32 = 4;

// Offsets inside the COFF file header (relative to the `PE\0\0` signature).
pub(crate) const COFF_NUMBER_OF_SECTIONS: usize = 6;
pub(crate) const COFF_POINTER_TO_SYMBOLS: usize = 12;
pub(crate) const COFF_NUMBER_OF_SYMBOLS: usize = 16;
// Offsets inside the optional header (same for PE32 and PE32+ unless noted).
pub(crate) const OPT_SIZE_OF_INITIALIZED_DATA: usize = 8;
pub(crate) const OPT_SIZE_OF_IMAGE: usize = 56;
pub(crate) const OPT_SIZE_OF_HEADERS: usize = 60;
pub(crate) const OPT_CHECKSUM: usize = 64;

/// Reads `N` bytes at `off`, or fails with a message naming `what`.
fn bytes<const N: usize>(data: &[u8], off: usize, what: &str) -> Result<[u8; N]> {
    off.checked_add(N)
        .and_then(|end| data.get(off..end))
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| {
            UkiError::Malformed(format!("{what} at {off:#x} is past the end of the file"))
        })
}

/// The little-endian `u16` at `off`; `what` names it in the error.
pub fn u16_at(data: &[u8], off: usize, what: &str) -> Result<u16> {
    bytes::<2>(data, off, what).map(u16::from_le_bytes)
}

/// The little-endian `u32` at `off`; `what` names it in the error.
pub fn u32_at(data: &[u8], off: usize, what: &str) -> Result<u32> {
    bytes::<4>(data, off, what).map(u32::from_le_bytes)
}

/// Writes a little-endian `u16` (caller guarantees the range is in bounds).
pub(crate) fn put_u16(data: &mut [u8], off: usize, v: u16) {
    data[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

/// Writes a little-endian `u32` (caller guarantees the range is in bounds).
pub(crate) fn put_u32(data: &mut [u8], off: usize, v: u32) {
    data[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// Rounds `v` up to a multiple of `align` (`align` of 0 or 1 leaves it as is).
pub(crate) fn round_up(v: u64, align: u64) -> u64 {
    if align <= 1 {
        v
    } else {
        v.div_ceil(align) * align
    }
}

/// One entry of the section table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionHeader {
    /// Name with trailing NULs removed (lossy UTF-8).
    pub name: String,
    /// The raw 8-byte name field.
    pub raw_name: [u8; 8],
    /// `VirtualSize` (the `Misc` field).
    pub virtual_size: u32,
    /// `VirtualAddress` (RVA).
    pub virtual_address: u32,
    /// `SizeOfRawData`.
    pub raw_size: u32,
    /// `PointerToRawData` (file offset).
    pub raw_offset: u32,
    /// `Characteristics` flags.
    pub characteristics: u32,
}

impl SectionHeader {
    /// End of the section in memory: `VirtualAddress` plus `VirtualSize`
    /// (or `SizeOfRawData` when `VirtualSize` is 0).
    pub fn virtual_end(&self) -> u64 {
        let size = if self.virtual_size == 0 {
            self.raw_size
        } else {
            self.virtual_size
        };
        u64::from(self.virtual_address) + u64::from(size)
    }

    /// Number of meaningful data bytes in the file: `min(VirtualSize,
    /// SizeOfRawData)`, or `SizeOfRawData` when `VirtualSize` is 0.
    pub fn data_len(&self) -> u32 {
        if self.virtual_size == 0 {
            self.raw_size
        } else {
            self.virtual_size.min(self.raw_size)
        }
    }

    fn parse(data: &[u8], off: usize) -> Result<Self> {
        let raw_name = bytes::<8>(data, off, "section header")?;
        let end = raw_name.iter().position(|&b| b == 0).unwrap_or(8);
        Ok(SectionHeader {
            name: String::from_utf8_lossy(&raw_name[..end]).into_owned(),
            raw_name,
            virtual_size: u32_at(data, off + 8, "section header")?,
            virtual_address: u32_at(data, off + 12, "section header")?,
            raw_size: u32_at(data, off + 16, "section header")?,
            raw_offset: u32_at(data, off + 20, "section header")?,
            characteristics: u32_at(data, off + 36, "section header")?,
        })
    }
}

/// Header fields of a PE image, for inspection and for the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeInfo {
    /// COFF `Machine` (0x8664 for x86-64).
    pub machine: u16,
    /// Optional header magic (0x20b for PE32+, 0x10b for PE32).
    pub magic: u16,
    /// Optional header `Subsystem` (10 = EFI application).
    pub subsystem: u16,
    /// `SectionAlignment`.
    pub section_alignment: u32,
    /// `FileAlignment`.
    pub file_alignment: u32,
    /// `SizeOfImage`.
    pub size_of_image: u32,
    /// `SizeOfHeaders`.
    pub size_of_headers: u32,
    /// `NumberOfSections` from the COFF header.
    pub number_of_sections: u16,
    /// `PointerToSymbolTable` (0 in a clean image).
    pub symbol_table_offset: u32,
    /// `NumberOfSymbols`.
    pub number_of_symbols: u32,
    /// Certificate Table data directory (file offset, size); (0, 0) if unsigned.
    pub certificate_table: (u32, u32),
    /// File offset of the Certificate Table data directory entry; `None`
    /// when the optional header has no such entry.
    pub certificate_directory_offset: Option<usize>,
    /// File offset of the `PE\0\0` signature (`e_lfanew`).
    pub pe_offset: usize,
    /// File offset of the optional header.
    pub optional_header_offset: usize,
    /// File offset of the section table.
    pub section_table_offset: usize,
}

impl PeInfo {
    /// File offset of the optional header's `CheckSum` field.
    pub fn checksum_offset(&self) -> usize {
        self.optional_header_offset + OPT_CHECKSUM
    }

    /// File offset just past the section table.
    pub fn section_table_end(&self) -> usize {
        self.section_table_offset + SECTION_HEADER_SIZE * self.number_of_sections as usize
    }
}

/// A parsed PE image: header fields plus the section table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeImage {
    /// Header fields.
    pub info: PeInfo,
    /// Section table in file order.
    pub sections: Vec<SectionHeader>,
}

impl PeImage {
    /// Parses the headers and section table of a PE32 or PE32+ image.
    ///
    /// Checks that the section table and every section's raw data lie inside
    /// `data`. Does not check machine or subsystem.
    pub fn parse(data: &[u8]) -> Result<Self> {
        Self::parse_prefix(data, data.len() as u64)
    }

    /// [`PeImage::parse`] from the first bytes of a file of `file_len`
    /// bytes (at least `prefix.len()`): the headers and section table must
    /// lie in `prefix`, every section's raw data inside `file_len`. Lets a
    /// caller read one section of a large image without reading the rest.
    pub fn parse_prefix(prefix: &[u8], file_len: u64) -> Result<Self> {
        let data = prefix;
        let pe_offset = pe_signature_offset(data)?;
        let coff = CoffHeader::parse(data, pe_offset + 4)?;
        let opt =
            OptionalHeader::parse(data, coff.optional_header_offset, coff.optional_header_size)?;
        let info = PeInfo {
            machine: coff.machine,
            magic: opt.magic,
            subsystem: u16_at(data, opt.offset + 68, "optional header")?,
            section_alignment: u32_at(data, opt.offset + 32, "optional header")?,
            file_alignment: u32_at(data, opt.offset + 36, "optional header")?,
            size_of_image: u32_at(data, opt.offset + OPT_SIZE_OF_IMAGE, "optional header")?,
            size_of_headers: u32_at(data, opt.offset + OPT_SIZE_OF_HEADERS, "optional header")?,
            number_of_sections: coff.number_of_sections,
            symbol_table_offset: coff.symbol_table_offset,
            number_of_symbols: coff.number_of_symbols,
            certificate_table: opt.certificate_table,
            certificate_directory_offset: opt.certificate_directory_offset,
            pe_offset,
            optional_header_offset: opt.offset,
            section_table_offset: opt.offset + opt.size,
        };
        let sections = parse_section_table(data, file_len.max(data.len() as u64), &info)?;
        Ok(PeImage { info, sections })
    }

    /// Finds the first section called `name` (the stub's rule: first match wins).
    pub fn find(&self, name: &str) -> Option<&SectionHeader> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The section's data: its first [`SectionHeader::data_len`] bytes.
    /// An empty section's data is empty wherever its offset points.
    pub fn data<'a>(&self, data: &'a [u8], s: &SectionHeader) -> Option<&'a [u8]> {
        if s.data_len() == 0 {
            return Some(&[]);
        }
        let start = s.raw_offset as usize;
        data.get(start..start.checked_add(s.data_len() as usize)?)
    }
}

/// File offset of the `PE\0\0` signature, after checking the `MZ` and
/// `PE\0\0` signatures.
fn pe_signature_offset(data: &[u8]) -> Result<usize> {
    if data.get(..2) != Some(b"MZ") {
        return Err(UkiError::NotPe("missing MZ signature"));
    }
    let pe_offset = u32_at(data, 0x3c, "e_lfanew")
        .map_err(|_| UkiError::NotPe("file too short for a DOS header"))?
        as usize;
    if pe_offset
        .checked_add(4)
        .and_then(|e| data.get(pe_offset..e))
        != Some(b"PE\0\0")
    {
        return Err(UkiError::NotPe("missing PE\\0\\0 signature at e_lfanew"));
    }
    Ok(pe_offset)
}

/// The COFF file header fields the parser keeps.
struct CoffHeader {
    machine: u16,
    number_of_sections: u16,
    symbol_table_offset: u32,
    number_of_symbols: u32,
    optional_header_size: usize,
    optional_header_offset: usize,
}

impl CoffHeader {
    /// Reads the COFF file header at `coff` (just after `PE\0\0`).
    fn parse(data: &[u8], coff: usize) -> Result<Self> {
        Ok(CoffHeader {
            machine: u16_at(data, coff, "COFF header")?,
            number_of_sections: u16_at(data, coff + 2, "COFF header")?,
            symbol_table_offset: u32_at(data, coff + 8, "COFF header")?,
            number_of_symbols: u32_at(data, coff + 12, "COFF header")?,
            optional_header_size: u16_at(data, coff + 16, "COFF header")? as usize,
            optional_header_offset: coff + 20,
        })
    }
}

/// The optional header's magic, extent and Certificate Table entry.
struct OptionalHeader {
    magic: u16,
    offset: usize,
    size: usize,
    certificate_table: (u32, u32),
    certificate_directory_offset: Option<usize>,
}

impl OptionalHeader {
    /// Checks the magic and that the header (up to `NumberOfRvaAndSizes`)
    /// lies in `data`, then reads the Certificate Table entry if present.
    fn parse(data: &[u8], offset: usize, size: usize) -> Result<Self> {
        let magic = u16_at(data, offset, "optional header")?;
        // Offset of NumberOfRvaAndSizes; data directories follow it.
        let dirs_count_off = match magic {
            MAGIC_PE32_PLUS => 108,
            MAGIC_PE32 => 92,
            _ => {
                return Err(UkiError::Malformed(format!(
                    "unknown optional header magic {magic:#06x}"
                )))
            }
        };
        if size < dirs_count_off + 4 || offset.checked_add(size).is_none_or(|e| e > data.len()) {
            return Err(UkiError::Malformed(format!(
                "optional header size {size:#x} is too small or past the end"
            )));
        }
        let dirs = u32_at(data, offset + dirs_count_off, "NumberOfRvaAndSizes")?;
        let cert_off = offset + dirs_count_off + 4 + 8 * CERT_DIRECTORY as usize;
        let certificate_directory_offset =
            (dirs > CERT_DIRECTORY && cert_off + 8 <= offset + size).then_some(cert_off);
        let certificate_table = match certificate_directory_offset {
            Some(at) => (
                u32_at(data, at, "certificate table")?,
                u32_at(data, at + 4, "certificate table")?,
            ),
            None => (0, 0),
        };
        Ok(OptionalHeader {
            magic,
            offset,
            size,
            certificate_table,
            certificate_directory_offset,
        })
    }
}

/// The section table `info` locates; every section's raw data must lie in `data`.
fn parse_section_table(data: &[u8], file_len: u64, info: &PeInfo) -> Result<Vec<SectionHeader>> {
    let count = info.number_of_sections as usize;
    let table_end = info.section_table_end();
    if table_end > data.len() {
        return Err(UkiError::Malformed(format!(
            "section table ({count} entries) ends at {table_end:#x}, past the end of the file ({:#x})",
            data.len()
        )));
    }
    let mut sections = Vec::with_capacity(count);
    for i in 0..count {
        let s = SectionHeader::parse(data, info.section_table_offset + i * SECTION_HEADER_SIZE)?;
        let end = u64::from(s.raw_offset) + u64::from(s.raw_size);
        if s.raw_size > 0 && end > file_len {
            return Err(UkiError::Malformed(format!(
                "section {:?} raw data {:#x}..{end:#x} is past the end of the file ({file_len:#x})",
                s.name, s.raw_offset,
            )));
        }
        sections.push(s);
    }
    Ok(sections)
}

/// `SizeOfImage` of a PE image (e.g. an x86 bzImage), or `None` if `data` is not a PE.
pub fn size_of_image(data: &[u8]) -> Option<u32> {
    PeImage::parse(data).ok().map(|pe| pe.info.size_of_image)
}

/// Length of a PE file as its own headers describe it: the furthest end of
/// the headers, of any section's raw data, of the certificate table (a
/// signed kernel ends with it) and of the COFF symbol + string table.
/// `None` if `data` is not a PE. Used to drop alignment padding after an
/// embedded kernel.
pub fn described_len(data: &[u8]) -> Option<u64> {
    let pe = PeImage::parse(data).ok()?;
    let info = &pe.info;
    let raw_end = pe
        .sections
        .iter()
        .filter(|s| s.raw_size > 0)
        .map(|s| u64::from(s.raw_offset) + u64::from(s.raw_size));
    let (cert_off, cert_size) = info.certificate_table;
    let mut end = raw_end
        .max()
        .unwrap_or(0)
        .max(u64::from(info.size_of_headers));
    end = end.max(u64::from(cert_off) + u64::from(cert_size));
    if info.symbol_table_offset != 0 {
        let strings_at = u64::from(info.symbol_table_offset)
            + SYMBOL_SIZE as u64 * u64::from(info.number_of_symbols);
        let strings = usize::try_from(strings_at)
            .ok()
            .and_then(|at| u32_at(data, at, "").ok())
            .unwrap_or(0);
        end = end.max(strings_at + u64::from(strings));
    }
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_up_works() {
        assert_eq!(round_up(0, 0x200), 0);
        assert_eq!(round_up(1, 0x200), 0x200);
        assert_eq!(round_up(0x200, 0x200), 0x200);
        assert_eq!(round_up(0x19134, 0x200), 0x19200);
        assert_eq!(round_up(7, 0), 7);
    }

    #[test]
    fn rejects_non_pe() {
        assert_eq!(
            PeImage::parse(b""),
            Err(UkiError::NotPe("missing MZ signature"))
        );
        assert_eq!(
            PeImage::parse(b"\x7fELF........"),
            Err(UkiError::NotPe("missing MZ signature"))
        );
        assert!(matches!(PeImage::parse(b"MZ"), Err(UkiError::NotPe(_))));
        let mut dos = vec![0u8; 0x80];
        dos[..2].copy_from_slice(b"MZ");
        dos[0x3c] = 0x40;
        assert_eq!(
            PeImage::parse(&dos),
            Err(UkiError::NotPe("missing PE\\0\\0 signature at e_lfanew"))
        );
        dos[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(PeImage::parse(&dos), Err(UkiError::NotPe(_))));
    }

    #[test]
    fn section_lengths() {
        let mut s = SectionHeader::parse(&[0u8; 40], 0).unwrap();
        s.raw_size = 0x200;
        assert_eq!(s.data_len(), 0x200);
        s.virtual_size = 0x34;
        assert_eq!(s.data_len(), 0x34);
        s.virtual_size = 0x1000;
        assert_eq!(s.data_len(), 0x200);
        s.virtual_address = 0x19100;
        assert_eq!(s.virtual_end(), 0x1a100);
    }
}
