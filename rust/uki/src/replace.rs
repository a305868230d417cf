//! Replacing the data of an appended section (e.g. `.cmdline`) of a UKI.
//!
//! [`crate::build_uki`] appends sections after the stub's bytes; every
//! appended section's raw data follows the previous one's (rounded up to
//! `FileAlignment`) and its `VirtualAddress` follows the previous one's end
//! (rounded up to `SectionAlignment`). [`replace_section`] keeps that layout:
//! the bytes before the replaced section stay as they are, the new data goes
//! in its place, and the sections after it are moved (data byte-identical,
//! offsets and addresses shifted). For a UKI this crate wrote, the result is
//! exactly what `build_uki` gives for the same parts with the new data.

use crate::error::{Result, UkiError};
use crate::layout::{self, Placement};
use crate::pe::{self, PeImage, SECTION_HEADER_SIZE};

/// Replaces the `.cmdline` section of `uki` with `cmdline` (bytes as given,
/// no NUL added); see [`replace_section`].
pub fn replace_cmdline(uki: &[u8], cmdline: &[u8]) -> Result<Vec<u8>> {
    replace_section(uki, ".cmdline", cmdline)
}

/// Replaces the data of section `name` of the PE image `image` with `data`.
///
/// The section must exist, `data` must not be empty, the image must not be
/// signed (a signature would be invalid afterwards), and the section and all
/// sections after it in the section table must be laid out the way
/// [`crate::add_sections`] appends them, ending at the end of the file.
/// `VirtualSize` of the replaced section becomes `data.len()`;
/// `SizeOfInitializedData` and `SizeOfImage` are adjusted, `CheckSum` zeroed.
pub fn replace_section(image: &[u8], name: &str, data: &[u8]) -> Result<Vec<u8>> {
    let pe = PeImage::parse(image)?;
    let index = replaceable_index(image, &pe, name, data)?;
    let target = &pe.sections[index];
    let mut out = image[..target.raw_offset as usize].to_vec();
    let tail_end = relay_tail(&mut out, image, &pe, index, data)?;
    let init = layout::initialized_data(image, &pe.info)?;
    let init = (init + data.len() as u64).saturating_sub(u64::from(target.virtual_size));
    let image_size = shifted_size_of_image(&pe, tail_end);
    layout::set_image_sizes(&mut out, &pe.info, init, image_size)?;
    Ok(out)
}

/// Index of the section `name`, after checking that it can be replaced
/// by `data` (see [`replace_section`]).
fn replaceable_index(image: &[u8], pe: &PeImage, name: &str, data: &[u8]) -> Result<usize> {
    let info = &pe.info;
    let (offset, size) = info.certificate_table;
    if offset != 0 || size != 0 {
        return Err(UkiError::AlreadySigned { offset, size });
    }
    let index = pe
        .sections
        .iter()
        .position(|s| s.name == name)
        .ok_or_else(|| UkiError::Malformed(format!("no {name} section to replace")))?;
    if data.is_empty() {
        return Err(UkiError::Malformed(format!(
            "new {name} data is empty; a section cannot be replaced by nothing"
        )));
    }
    let (fa, sa) = (
        u64::from(info.file_alignment),
        u64::from(info.section_alignment),
    );
    check_appended(image, pe, index, fa, sa)?;
    Ok(index)
}

/// Appends `data` in place of section `index`, then the sections after it
/// (data unchanged), and rewrites their headers; returns the end of the
/// last section in memory, aligned.
fn relay_tail(
    out: &mut Vec<u8>,
    image: &[u8],
    pe: &PeImage,
    index: usize,
    data: &[u8],
) -> Result<u64> {
    let info = &pe.info;
    let (fa, sa) = (
        u64::from(info.file_alignment),
        u64::from(info.section_alignment),
    );
    let mut va = u64::from(pe.sections[index].virtual_address);
    let mut placements = Vec::new();
    for (i, s) in pe.sections.iter().enumerate().skip(index) {
        let (bytes, vsize) = if i == index {
            (data, data.len() as u64)
        } else {
            let start = s.raw_offset as usize;
            (
                &image[start..start + s.raw_size as usize],
                u64::from(s.virtual_size),
            )
        };
        let (raw_offset, raw_size) = layout::next_raw(out.len(), bytes.len(), fa);
        layout::put_raw(out, bytes, raw_offset, raw_size);
        let placement = Placement {
            virtual_size: vsize,
            virtual_address: va,
            raw_size,
            raw_offset,
        };
        placements.push((i, placement));
        va = pe::round_up(va + vsize, sa);
    }
    for (i, placement) in placements {
        placement.write(out, info.section_table_offset + i * SECTION_HEADER_SIZE)?;
    }
    Ok(va)
}

/// `SizeOfImage` ends where the last section ends (rounded), as the writer
/// sets it; shift it by as much as that end moved to `tail_end`.
fn shifted_size_of_image(pe: &PeImage, tail_end: u64) -> u64 {
    let info = &pe.info;
    let last = pe.sections.last().expect("the replaced section exists");
    let old_tail_end = pe::round_up(
        u64::from(last.virtual_address) + u64::from(last.virtual_size),
        u64::from(info.section_alignment),
    );
    (u64::from(info.size_of_image) + tail_end).saturating_sub(old_tail_end)
}

/// Checks that sections `index..` are appended the writer's way: in table
/// order, each after the previous in the file and in memory, none of the
/// earlier sections behind them, and nothing after the last one.
fn check_appended(image: &[u8], pe: &PeImage, index: usize, fa: u64, sa: u64) -> Result<()> {
    let tail = &pe.sections[index..];
    let first = &tail[0];
    let bad = |why: String| {
        Err(UkiError::Malformed(format!(
            "cannot replace {}: {why}",
            first.name
        )))
    };
    if let Some(s) = pe.sections[..index]
        .iter()
        .find(|s| s.raw_offset >= first.raw_offset && s.raw_size > 0)
    {
        return bad(format!("section {} lies after it in the file", s.name));
    }
    let mut file_end = u64::from(first.raw_offset);
    let mut va_end = u64::from(first.virtual_address);
    for s in tail {
        let (raw, va) = (u64::from(s.raw_offset), u64::from(s.virtual_address));
        if pe::round_up(raw, fa) != raw
            || raw < file_end
            || va < va_end
            || pe::round_up(va, sa) != va
        {
            return bad(format!("section {} is not laid out as appended", s.name));
        }
        file_end = u64::from(s.raw_offset) + u64::from(s.raw_size);
        va_end = s.virtual_end();
    }
    if file_end != image.len() as u64 {
        return bad(format!(
            "{} bytes follow the last section",
            image.len() as u64 - file_end.min(image.len() as u64)
        ));
    }
    Ok(())
}
