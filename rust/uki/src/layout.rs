//! Placing appended sections, shared by the writer and by section
//! replacement: raw data at the end of the file aligned to `FileAlignment`,
//! the four placement fields of a section header, and the optional header
//! sizes that follow from them.

use crate::error::{Result, UkiError};
use crate::pe::{self, PeInfo};

/// Where one section's data lies in the file and in memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placement {
    /// `VirtualSize`.
    pub virtual_size: u64,
    /// `VirtualAddress`.
    pub virtual_address: u64,
    /// `SizeOfRawData`.
    pub raw_size: u64,
    /// `PointerToRawData`.
    pub raw_offset: u64,
}

impl Placement {
    /// Writes the placement into the section header at `at` of `buf`.
    pub fn write(&self, buf: &mut [u8], at: usize) -> Result<()> {
        let vsize = to_u32(self.virtual_size, "section virtual size")?;
        pe::put_u32(buf, at + 8, vsize);
        let va = to_u32(self.virtual_address, "section virtual address")?;
        pe::put_u32(buf, at + 12, va);
        pe::put_u32(buf, at + 16, to_u32(self.raw_size, "section raw size")?);
        let raw_offset = to_u32(self.raw_offset, "section file offset")?;
        pe::put_u32(buf, at + 20, raw_offset);
        Ok(())
    }
}

/// `PointerToRawData` and `SizeOfRawData` of `len` bytes appended to a
/// file of `file_len` bytes: the end rounded up to `fa`, the length too.
pub(crate) fn next_raw(file_len: usize, len: usize, fa: u64) -> (u64, u64) {
    (
        pe::round_up(file_len as u64, fa),
        pe::round_up(len as u64, fa),
    )
}

/// Appends `data` at `raw_offset` (zero-filling up to it) and zero-pads it
/// to `raw_size` bytes.
pub(crate) fn put_raw(out: &mut Vec<u8>, data: &[u8], raw_offset: u64, raw_size: u64) {
    out.resize(raw_offset as usize, 0);
    out.extend_from_slice(data);
    out.resize((raw_offset + raw_size) as usize, 0);
}

/// Sets `SizeOfInitializedData` and `SizeOfImage` of the image `info`
/// describes, and zeroes its `CheckSum`.
pub(crate) fn set_image_sizes(
    out: &mut [u8],
    info: &PeInfo,
    initialized_data: u64,
    size_of_image: u64,
) -> Result<()> {
    let opt = info.optional_header_offset;
    pe::put_u32(
        out,
        opt + pe::OPT_SIZE_OF_INITIALIZED_DATA,
        to_u32(initialized_data, "SizeOfInitializedData")?,
    );
    pe::put_u32(
        out,
        opt + pe::OPT_SIZE_OF_IMAGE,
        to_u32(size_of_image, "SizeOfImage")?,
    );
    pe::put_u32(out, info.checksum_offset(), 0);
    Ok(())
}

/// `SizeOfInitializedData` of the image `info` describes.
pub(crate) fn initialized_data(image: &[u8], info: &PeInfo) -> Result<u64> {
    let at = info.optional_header_offset + pe::OPT_SIZE_OF_INITIALIZED_DATA;
    pe::u32_at(image, at, "SizeOfInitializedData").map(u64::from)
}

/// `v` as a 32-bit PE field, or [`UkiError::TooLarge`] naming `what`.
pub(crate) fn to_u32(v: u64, what: &'static str) -> Result<u32> {
    u32::try_from(v).map_err(|_| UkiError::TooLarge(what))
}
