//! The SSH wire encoding of public key blobs (RFC 4251 `string`, `mpint`).

use crate::error::KeyError;

/// Reads length-prefixed fields from a key blob.
pub(crate) struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// A reader over `blob`.
    pub(crate) fn new(blob: &'a [u8]) -> Reader<'a> {
        Reader(blob)
    }

    /// One `string`: a big-endian u32 length, then that many bytes.
    pub(crate) fn string(&mut self) -> Result<&'a [u8], KeyError> {
        if self.0.len() < 4 {
            return Err(KeyError::Truncated);
        }
        let (len, rest) = self.0.split_at(4);
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if rest.len() < len {
            return Err(KeyError::Truncated);
        }
        let (field, rest) = rest.split_at(len);
        self.0 = rest;
        Ok(field)
    }

    /// One non-negative `mpint`, returning its size in bits.
    pub(crate) fn mpint_bits(&mut self) -> Result<u32, KeyError> {
        let field = self.string()?;
        if field.first().is_some_and(|b| b & 0x80 != 0) {
            return Err(KeyError::Invalid("negative integer"));
        }
        Ok(bit_length(field))
    }

    /// Fails unless every byte was read.
    pub(crate) fn finish(self) -> Result<(), KeyError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(KeyError::TrailingData(n)),
        }
    }
}

/// The number of significant bits of a big-endian unsigned integer.
pub(crate) fn bit_length(bytes: &[u8]) -> u32 {
    let digits: &[u8] = match bytes.iter().position(|&b| b != 0) {
        Some(i) => &bytes[i..],
        None => return 0,
    };
    (digits.len() as u32 - 1) * 8 + (8 - digits[0].leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(bit_length(&[0, 0x80, 0]), 16);
        assert_eq!(bit_length(&[1, 0]), 9);
    }

    #[test]
    fn truncated_and_trailing() {
        let mut r = Reader::new(&[0, 0, 0, 5, b'a']);
        assert_eq!(r.string(), Err(KeyError::Truncated));
        let mut r = Reader::new(&[0, 0, 0, 1, b'a', 9]);
        assert_eq!(r.string(), Ok(&b"a"[..]));
        assert_eq!(r.finish(), Err(KeyError::TrailingData(1)));
        let mut r = Reader::new(&[0, 0, 0, 1, 0x80]);
        assert!(r.mpint_bits().is_err());
    }
}
