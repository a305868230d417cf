//! The parts of a PE/COFF image Authenticode needs: where the checksum
//! and the certificate table entry are, the headers, the sections, and
//! the certificate table itself (docs/secure-boot.md).

use crate::SecureBootError;
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

fn u16_at(d: &[u8], at: usize) -> Result<u16, SecureBootError> {
    d.get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| SecureBootError::Pe(format!("truncated at {at:#x}")))
}

fn u32_at(d: &[u8], at: usize) -> Result<u32, SecureBootError> {
    d.get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| SecureBootError::Pe(format!("truncated at {at:#x}")))
}

impl PeLayout {
    /// Parses the headers of `image`; every range must lie in the file.
    pub fn parse(image: &[u8]) -> Result<PeLayout, SecureBootError> {
        let bad = |why: String| SecureBootError::Pe(why);
        if image.get(..2) != Some(b"MZ") {
            return Err(bad("no MZ header".into()));
        }
        let pe = u32_at(image, 0x3c)? as usize;
        if image.get(pe..pe + 4) != Some(b"PE\0\0") {
            return Err(bad("no PE signature".into()));
        }
        let sections = u16_at(image, pe + 6)? as usize;
        let opt_size = u16_at(image, pe + 20)? as usize;
        let opt = pe + 24;
        let (count_at, dirs_at) = match u16_at(image, opt)? {
            0x10b => (opt + 92, opt + 96),
            0x20b => (opt + 108, opt + 112),
            m => return Err(bad(format!("unknown optional header magic {m:#x}"))),
        };
        if u32_at(image, count_at)? < 5 || dirs_at + 5 * 8 > opt + opt_size {
            return Err(bad("no certificate table data directory".into()));
        }
        let cert_dir_offset = dirs_at + 4 * 8;
        let cert_table = (
            u32_at(image, cert_dir_offset)? as usize,
            u32_at(image, cert_dir_offset + 4)? as usize,
        );
        let size_of_headers = u32_at(image, opt + 60)? as usize;
        let table = opt + opt_size;
        let mut secs = vec![];
        for i in 0..sections {
            let h = table + i * 40;
            let (raw_size, raw_off) = (
                u32_at(image, h + 16)? as usize,
                u32_at(image, h + 20)? as usize,
            );
            if raw_size == 0 {
                continue;
            }
            if raw_off
                .checked_add(raw_size)
                .is_none_or(|e| e > image.len())
            {
                return Err(bad(format!("section {i} lies outside the file")));
            }
            secs.push((raw_off, raw_size));
        }
        secs.sort();
        if size_of_headers > image.len() || size_of_headers < table + sections * 40 {
            return Err(bad(format!("bad SizeOfHeaders {size_of_headers:#x}")));
        }
        if cert_table != (0, 0)
            && cert_table
                .0
                .checked_add(cert_table.1)
                .is_none_or(|e| e > image.len())
        {
            return Err(bad("the certificate table lies outside the file".into()));
        }
        // The table is appended after the image: over the headers or a
        // section, stripping or hashing it would cut into them.
        let image_end = secs
            .iter()
            .map(|(off, size)| off + size)
            .fold(size_of_headers, usize::max);
        if cert_table != (0, 0) && cert_table.0 < image_end {
            return Err(bad(format!(
                "the certificate table at {:#x} overlaps the headers or a section (they end at {image_end:#x})",
                cert_table.0
            )));
        }
        Ok(PeLayout {
            checksum_offset: opt + 64,
            cert_dir_offset,
            size_of_headers,
            sections: secs,
            cert_table,
        })
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
        let len = u32_at(image, off)? as usize;
        let (rev, typ) = (u16_at(image, off + 4)?, u16_at(image, off + 6)?);
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
