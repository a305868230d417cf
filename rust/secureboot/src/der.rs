//! Just enough DER for Authenticode: a writer for the structures we emit
//! and a reader for definite-length, single-byte-tag TLVs (what every
//! Authenticode signer writes).

use crate::SecureBootError;

/// `SEQUENCE`.
pub const SEQUENCE: u8 = 0x30;
/// `SET`.
pub const SET: u8 = 0x31;
/// `INTEGER`.
pub const INTEGER: u8 = 0x02;
/// `OCTET STRING`.
pub const OCTET_STRING: u8 = 0x04;
/// `OBJECT IDENTIFIER`.
pub const OID: u8 = 0x06;

/// One encoded TLV: tag, length and contents.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = n.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A constructed TLV whose contents are `parts` concatenated.
pub fn cons(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

/// A DER-encoded OID from its already encoded contents.
pub fn oid(content: &[u8]) -> Vec<u8> {
    tlv(OID, content)
}

/// `AlgorithmIdentifier { oid, NULL }`.
pub fn algorithm(oid_content: &[u8]) -> Vec<u8> {
    cons(SEQUENCE, &[&oid(oid_content), &[0x05, 0x00]])
}

/// A parsed TLV borrowing its input.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    /// The tag byte.
    pub tag: u8,
    /// The contents.
    pub content: &'a [u8],
    /// Tag, length and contents.
    pub raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Parses the TLV at the start of `input`; returns it and what follows.
    pub fn parse(input: &'a [u8]) -> Result<(Tlv<'a>, &'a [u8]), SecureBootError> {
        let bad = |why: &str| SecureBootError::Der(why.to_string());
        let (&tag, rest) = input.split_first().ok_or_else(|| bad("truncated tag"))?;
        if tag & 0x1f == 0x1f {
            return Err(bad("multi-byte tags are not supported"));
        }
        let (&first, rest) = rest.split_first().ok_or_else(|| bad("truncated length"))?;
        let (len, rest) = if first < 0x80 {
            (first as usize, rest)
        } else {
            let n = (first & 0x7f) as usize;
            if n == 0 || n > 4 || rest.len() < n {
                return Err(bad("unsupported or truncated length"));
            }
            let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
            (len, &rest[n..])
        };
        if rest.len() < len {
            return Err(bad("contents run past the end"));
        }
        let header = input.len() - rest.len();
        Ok((
            Tlv {
                tag,
                content: &rest[..len],
                raw: &input[..header + len],
            },
            &rest[len..],
        ))
    }

    /// The TLVs inside a constructed TLV, in order.
    pub fn children(&self) -> Result<Vec<Tlv<'a>>, SecureBootError> {
        let mut out = vec![];
        let mut rest = self.content;
        while !rest.is_empty() {
            let (t, r) = Tlv::parse(rest)?;
            out.push(t);
            rest = r;
        }
        Ok(out)
    }

    /// Child `i`, which must have tag `tag`.
    pub fn child(&self, i: usize, tag: u8) -> Result<Tlv<'a>, SecureBootError> {
        match self.children()?.get(i) {
            Some(t) if t.tag == tag => Ok(*t),
            Some(t) => Err(SecureBootError::Der(format!(
                "element {i}: tag {:#04x}, expected {tag:#04x}",
                t.tag
            ))),
            None => Err(SecureBootError::Der(format!("element {i} missing"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip() {
        for n in [0usize, 1, 127, 128, 255, 256, 70000] {
            let enc = tlv(OCTET_STRING, &vec![7u8; n]);
            let (t, rest) = Tlv::parse(&enc).unwrap();
            assert_eq!((t.tag, t.content.len(), rest.len()), (OCTET_STRING, n, 0));
            assert_eq!(t.raw, &enc[..]);
        }
        assert_eq!(tlv(SEQUENCE, &[0; 128])[..3], [0x30, 0x81, 0x80]);
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert!(Tlv::parse(&[0x30, 0x05, 0x00]).is_err());
        assert!(Tlv::parse(&[0x30, 0x82, 0x01]).is_err());
        assert!(Tlv::parse(&[]).is_err());
    }
}
