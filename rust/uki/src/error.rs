//! Error type shared by the UKI writer and reader.

use thiserror::Error;

/// Everything that can go wrong while reading a PE image or building a UKI.
///
/// Messages are meant to be shown to a user as they are.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum UkiError {
    /// The input lacks the `MZ` or `PE\0\0` signature.
    #[error("not a PE image: {0}")]
    NotPe(&'static str),

    /// A header or section points outside the file, or a field is inconsistent.
    #[error("malformed PE image: {0}")]
    Malformed(String),

    /// The stub is a PE image, but not a PE32+ x86-64 one.
    #[error(
        "unsupported stub: machine {machine:#06x}, optional header magic {magic:#06x}; \
         expected x86-64 (0x8664) PE32+ (0x020b)"
    )]
    Unsupported {
        /// COFF `Machine` field.
        machine: u16,
        /// Optional header `Magic` field.
        magic: u16,
    },

    /// The stub is not an EFI application (subsystem 10).
    #[error("stub is not an EFI application: subsystem {0}, expected 10")]
    NotEfiApplication(u16),

    /// The stub carries an Authenticode signature (non-zero Certificate Table
    /// data directory). Appending would invalidate it; sign the UKI instead.
    #[error(
        "stub is already signed (certificate table at {offset:#x}, {size} bytes); \
         refusing to add sections, use an unsigned stub and sign the finished UKI"
    )]
    AlreadySigned {
        /// File offset of the certificate table.
        offset: u32,
        /// Size of the certificate table.
        size: u32,
    },

    /// Not enough space between the section table and the first section's
    /// raw data for the new section headers.
    #[error(
        "no room for new section headers: {free} free header slot(s) before {limit:#x} \
         (SizeOfHeaders / first section data), {needed} needed"
    )]
    NoHeaderRoom {
        /// Whole 40-byte slots available.
        free: usize,
        /// Slots needed for the new sections.
        needed: usize,
        /// File offset the section table must not reach.
        limit: u32,
    },

    /// The bytes after the section table, where new headers would go, are not zero.
    #[error(
        "header space after the section table at {0:#x} is not zero; refusing to overwrite it"
    )]
    HeaderSlackInUse(u32),

    /// A PE section name must fit in 8 bytes.
    #[error("section name {0:?} is longer than 8 bytes")]
    NameTooLong(String),

    /// The stub (or the list of new sections) already has a section of that name.
    #[error(
        "section {0} already exists in the stub or was given twice; refusing to add a duplicate"
    )]
    DuplicateSection(String),

    /// The `.linux` payload is empty.
    #[error("kernel image (.linux) is empty")]
    EmptyKernel,

    /// An offset or size does not fit the 32-bit PE fields.
    #[error("image too large: {0} does not fit in 32 bits")]
    TooLarge(&'static str),
}

/// Result alias for this crate.
pub type Result<T, E = UkiError> = std::result::Result<T, E>;
