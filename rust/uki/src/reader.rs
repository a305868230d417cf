//! The UKI reader: lists sections and returns their contents.
//!
//! Dependency-light (only `sha2`, and only for [`Uki::summaries`]) and
//! panic-free on any input, so it can run in an initrd bootloader.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::pe::{PeImage, PeInfo, SectionHeader};

/// A parsed PE image (usually a UKI) borrowing its bytes.
#[derive(Debug, Clone)]
pub struct Uki<'a> {
    bytes: &'a [u8],
    pe: PeImage,
}

/// One section, as listed by [`Uki::summaries`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionSummary {
    /// Section name.
    pub name: String,
    /// `VirtualAddress` (RVA).
    pub virtual_address: u32,
    /// `VirtualSize`.
    pub virtual_size: u32,
    /// `PointerToRawData`.
    pub raw_offset: u32,
    /// `SizeOfRawData`.
    pub raw_size: u32,
    /// `Characteristics`.
    pub characteristics: u32,
    /// SHA-256 of the section data as returned by [`Uki::section`]: the
    /// first `min(VirtualSize, SizeOfRawData)` bytes (`SizeOfRawData` bytes
    /// when `VirtualSize` is 0). File alignment padding is thus excluded,
    /// and a `.linux` whose `VirtualSize` exceeds its data hashes the whole
    /// raw data. Matches `ukify inspect` for sections that fit in their raw data.
    pub sha256: [u8; 32],
}

impl SectionSummary {
    /// The SHA-256 as lowercase hex.
    pub fn sha256_hex(&self) -> String {
        self.sha256.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl<'a> Uki<'a> {
    /// Parses the PE headers and section table of `bytes`.
    ///
    /// Accepts any PE32/PE32+ image (check [`Uki::is_uki`] and [`Uki::info`]
    /// for what it is). Fails if a header or any section's raw data lies
    /// outside `bytes`. Hashes nothing.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        Ok(Uki {
            bytes,
            pe: PeImage::parse(bytes)?,
        })
    }

    /// Header fields: machine, subsystem, alignments, number of sections, ...
    pub fn info(&self) -> &PeInfo {
        &self.pe.info
    }

    /// The section table in file order.
    pub fn sections(&self) -> &[SectionHeader] {
        &self.pe.sections
    }

    /// The section table with a SHA-256 of each section's data.
    pub fn summaries(&self) -> Vec<SectionSummary> {
        self.pe
            .sections
            .iter()
            .map(|s| SectionSummary {
                name: s.name.clone(),
                virtual_address: s.virtual_address,
                virtual_size: s.virtual_size,
                raw_offset: s.raw_offset,
                raw_size: s.raw_size,
                characteristics: s.characteristics,
                sha256: Sha256::digest(self.pe.data(self.bytes, s).unwrap_or_default()).into(),
            })
            .collect()
    }

    /// The data of the first section called `name`, without file alignment
    /// padding: `min(VirtualSize, SizeOfRawData)` bytes.
    ///
    /// For sections written by this crate that is exactly the input, except
    /// `.linux` when its `VirtualSize` (the kernel's `SizeOfImage`) exceeds
    /// the kernel's length: then zero padding up to `FileAlignment` follows
    /// (PE has no field for the exact length); use [`Uki::linux`] for the
    /// kernel itself.
    pub fn section(&self, name: &str) -> Option<&'a [u8]> {
        self.pe.data(self.bytes, self.pe.find(name)?)
    }

    /// The kernel from `.linux`, exactly as it was given to the writer.
    ///
    /// [`Uki::section`] can include zero padding up to `FileAlignment` when
    /// `.linux`'s `VirtualSize` (the kernel's `SizeOfImage`) is larger than
    /// the kernel file, e.g. for a signed bzImage whose certificate table
    /// makes its length unaligned. When the data is a PE image, this cuts it
    /// at the length the kernel's own headers describe (sections,
    /// certificate table, symbol table; see [`crate::pe::described_len`]).
    /// Otherwise it is the same as `section(".linux")`.
    pub fn linux(&self) -> Option<&'a [u8]> {
        let data = self.section(".linux")?;
        let len = crate::pe::described_len(data)
            .map_or(data.len(), |l| l.min(data.len() as u64) as usize);
        data.get(..len)
    }

    /// `.cmdline` as text (lossy UTF-8, trailing NULs removed).
    pub fn cmdline(&self) -> Option<Cow<'a, str>> {
        self.text(".cmdline")
    }

    /// `.osrel` as text (lossy UTF-8, trailing NULs removed).
    pub fn osrel(&self) -> Option<Cow<'a, str>> {
        self.text(".osrel")
    }

    /// `.uname` as text (lossy UTF-8, trailing NULs removed).
    pub fn uname(&self) -> Option<Cow<'a, str>> {
        self.text(".uname")
    }

    /// `true` if the image has a `.linux` section.
    pub fn is_uki(&self) -> bool {
        self.pe.find(".linux").is_some()
    }

    fn text(&self, name: &str) -> Option<Cow<'a, str>> {
        let data = self.section(name)?;
        let end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        Some(String::from_utf8_lossy(&data[..end]))
    }
}
