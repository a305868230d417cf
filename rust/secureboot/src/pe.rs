//! The parts of a PE/COFF image Authenticode needs: where the checksum
//! and the certificate table entry are, the headers, the sections, and
//! the certificate table itself (docs/secure-boot.md). The headers are
//! parsed by [`metalos_uki::pe`]; this module adds the Authenticode
//! hashing ranges and the checks signing needs on top.

use crate::SecureBootError;
use metalos_uki::pe::{u16_at, u32_at, PeImage};
use sha2::{Digest, Sha256};

/// `WIN_CERTIFICATE.wRevision` of an Authenticode signature.
pub const WIN_CERT_REVISION_2_0: u16 = 0x0200;
/// `WIN_CERTIFICATE.wCertificateType` of a PKCS#7 SignedData.
pub const WIN_CERT_TYPE_PKCS_SIGNED_DATA: u16 = 0x0002;

/// Offsets of the fields Authenticode skips or rewrites.
#[derive(Debug, Clone)]
pub struct PeLayout {
    /// File offset of `CheckSum`.
    pub checksum_offset: usize,
    /// File offset of the Certificate Table data directory entry.
    pub cert_dir_offset: usize,
    /// `SizeOfHeaders`.
    pub size_of_headers: usize,
    /// `(PointerToRawData, SizeOfRawData)` of every section with data,
    /// sorted by file offset.
    pub sections: Vec<(usize, usize)>,
    /// The certificate table: (file offset, size); (0, 0) if unsigned.
    pub cert_table: (usize, usize),
}

impl PeLayout {
    /// Parses the headers of `image` ([`PeImage::parse`]); every range
    /// must lie in the file, and the image must have a certificate table
    /// entry.
    pub fn parse(image: &[u8]) -> Result<PeLayout, SecureBootError> {
        let pe = PeImage::parse(image)?;
        let info = &pe.info;
        let cert_dir_offset = info
            .certificate_directory_offset
            .ok_or_else(|| SecureBootError::Pe("no certificate table data directory".into()))?;
        let size_of_headers = info.size_of_headers as usize;
        if size_of_headers > image.len() || size_of_headers < info.section_table_end() {
            return Err(SecureBootError::Pe(format!(
                "bad SizeOfHeaders {size_of_headers:#x}"
            )));
        }
        let (cert_off, cert_size) = info.certificate_table;
        let layout = PeLayout {
            checksum_offset: info.checksum_offset(),
            cert_dir_offset,
            size_of_headers,
            sections: raw_data_ranges(&pe),
            cert_table: (cert_off as usize, cert_size as usize),
        };
        layout.check_certificate_table(image.len())?;
        Ok(layout)
    }

    /// The certificate table, if any, must lie in the file after the
    /// headers and every section.
    fn check_certificate_table(&self, file_len: usize) -> Result<(), SecureBootError> {
        let (off, size) = self.cert_table;
        if (off, size) == (0, 0) {
            return Ok(());
        }
        if off.checked_add(size).is_none_or(|e| e > file_len) {
            return Err(SecureBootError::Pe(
                "the certificate table lies outside the file".into(),
            ));
        }
        // The table is appended after the image: over the headers or a
        // section, stripping or hashing it would cut into them.
        let image_end = self
            .sections
            .iter()
            .map(|(off, size)| off + size)
            .fold(self.size_of_headers, usize::max);
        if off < image_end {
            return Err(SecureBootError::Pe(format!(
                "the certificate table at {off:#x} overlaps the headers or a section (they end at {image_end:#x})"
            )));
        }
        Ok(())
    }

    /// The Authenticode sha256 of `image` (PE/COFF spec, "Calculating the
    /// PE Image Hash"; what EDK2 and the kernel's `verify_pefile` compute):
    /// the headers without `CheckSum` and the certificate table entry, the
    /// sections in file order, then what follows them except the
    /// certificate table.
    pub fn digest(&self, image: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(&image[..self.checksum_offset]);
        h.update(&image[self.checksum_offset + 4..self.cert_dir_offset]);
        h.update(&image[self.cert_dir_offset + 8..self.size_of_headers]);
        let mut hashed = self.size_of_headers;
        for &(off, size) in &self.sections {
            h.update(&image[off..off + size]);
            hashed += size;
        }
        let end = image.len().saturating_sub(self.cert_table.1);
        if end > hashed {
            h.update(&image[hashed..end]);
        }
        h.finalize().into()
    }

    /// The first `WIN_CERTIFICATE`'s PKCS#7 bytes, if the image is signed.
    pub fn first_signature<'a>(
        &self,
        image: &'a [u8],
    ) -> Result<Option<&'a [u8]>, SecureBootError> {
        let (off, size) = self.cert_table;
        if (off, size) == (0, 0) {
            return Ok(None);
        }
        let len = u32_at(image, off, "WIN_CERTIFICATE")? as usize;
        let (rev, typ) = (
            u16_at(image, off + 4, "WIN_CERTIFICATE")?,
            u16_at(image, off + 6, "WIN_CERTIFICATE")?,
        );
        if len < 8
            || len > size
            || rev != WIN_CERT_REVISION_2_0
            || typ != WIN_CERT_TYPE_PKCS_SIGNED_DATA
        {
            return Err(SecureBootError::Pe(format!(
                "certificate table entry is not an Authenticode signature (length {len}, revision {rev:#x}, type {typ:#x})"
            )));
        }
        Ok(Some(&image[off + 8..off + len]))
    }
}

/// `(PointerToRawData, SizeOfRawData)` of every section with data, sorted
/// by file offset (the order Authenticode hashes them in).
fn raw_data_ranges(pe: &PeImage) -> Vec<(usize, usize)> {
    let mut ranges: Vec<(usize, usize)> = pe
        .sections
        .iter()
        .filter(|s| s.raw_size > 0)
        .map(|s| (s.raw_offset as usize, s.raw_size as usize))
        .collect();
    ranges.sort();
    ranges
}

/// `image` without its certificate table (what `sbattach --remove` does):
/// the table must be the end of the file; the data directory entry is zeroed.
pub fn strip_signature(image: &[u8]) -> Result<Vec<u8>, SecureBootError> {
    let layout = PeLayout::parse(image)?;
    let (off, size) = layout.cert_table;
    let mut out = image.to_vec();
    if (off, size) != (0, 0) {
        if off + size != image.len() {
            return Err(SecureBootError::Pe(format!(
                "{} bytes follow the certificate table",
                image.len() - off - size
            )));
        }
        out.truncate(off);
        out[layout.cert_dir_offset..layout.cert_dir_offset + 8].fill(0);
    }
    Ok(out)
}

/// Appends `pkcs7` as the image's only `WIN_CERTIFICATE` (the image is
/// first padded to 8 bytes, as sbsign does; the padding is hashed) and
/// points the certificate table entry at it. `unsigned` must have no
/// certificate table and already be padded ([`pad_for_signing`]).
pub fn attach_signature(unsigned: &[u8], pkcs7: &[u8]) -> Result<Vec<u8>, SecureBootError> {
    let layout = PeLayout::parse(unsigned)?;
    let mut out = unsigned.to_vec();
    let off = out.len();
    let len = 8 + pkcs7.len();
    let padded = len.div_ceil(8) * 8;
    let too_big = || SecureBootError::Pe("the signed image exceeds 4 GiB".into());
    out.extend_from_slice(&u32::try_from(len).map_err(|_| too_big())?.to_le_bytes());
    out.extend_from_slice(&WIN_CERT_REVISION_2_0.to_le_bytes());
    out.extend_from_slice(&WIN_CERT_TYPE_PKCS_SIGNED_DATA.to_le_bytes());
    out.extend_from_slice(pkcs7);
    out.resize(off + padded, 0);
    let d = layout.cert_dir_offset;
    out[d..d + 4].copy_from_slice(&u32::try_from(off).map_err(|_| too_big())?.to_le_bytes());
    out[d + 4..d + 8].copy_from_slice(&(padded as u32).to_le_bytes());
    Ok(out)
}

/// Zero padding up to a multiple of 8 bytes.
pub fn pad_for_signing(image: &mut Vec<u8>) {
    image.resize(image.len().div_ceil(8) * 8, 0);
}
