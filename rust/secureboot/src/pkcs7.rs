//! The Authenticode PKCS#7 SignedData, built and taken apart.

use crate::der::{self, cons, tlv, Tlv, INTEGER, OCTET_STRING, SEQUENCE, SET};
use crate::SecureBootError;

/// 1.2.840.113549.1.7.2 (signedData).
pub const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// 2.16.840.1.101.3.4.2.1 (sha256).
pub const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
/// 1.3.6.1.4.1.311.2.1.4 (SPC_INDIRECT_DATA_OBJID).
pub const OID_SPC_INDIRECT_DATA: &[u8] =
    &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x04];
/// 1.3.6.1.4.1.311.2.1.15 (SPC_PE_IMAGE_DATAOBJ).
pub const OID_SPC_PE_IMAGE_DATA: &[u8] =
    &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x0f];
/// 1.2.840.113549.1.9.3 (contentType).
pub const OID_CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
/// 1.2.840.113549.1.9.4 (messageDigest).
pub const OID_MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
/// 1.2.840.113549.1.1.1 (rsaEncryption).
pub const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// 2.5.4.3 (commonName).
pub const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// `SpcPeImageData { flags BIT STRING '', file [0] { [2] { [0] "<<<Obsolete>>>" } } }`,
/// byte for byte what sbsign and signtool write.
const SPC_PE_IMAGE_DATA: &[u8] = &[
    0x30, 0x25, 0x03, 0x01, 0x00, 0xa0, 0x20, 0xa2, 0x1e, 0x80, 0x1c, 0x00, 0x3c, 0x00, 0x3c, 0x00,
    0x3c, 0x00, 0x4f, 0x00, 0x62, 0x00, 0x73, 0x00, 0x6f, 0x00, 0x6c, 0x00, 0x65, 0x00, 0x74, 0x00,
    0x65, 0x00, 0x3e, 0x00, 0x3e, 0x00, 0x3e,
];

/// `SpcIndirectDataContent` for a PE image with Authenticode sha256 `digest`.
pub fn indirect_data(digest: &[u8; 32]) -> Vec<u8> {
    cons(
        SEQUENCE,
        &[
            &cons(
                SEQUENCE,
                &[&der::oid(OID_SPC_PE_IMAGE_DATA), SPC_PE_IMAGE_DATA],
            ),
            &cons(
                SEQUENCE,
                &[&der::algorithm(OID_SHA256), &tlv(OCTET_STRING, digest)],
            ),
        ],
    )
}

/// The signed attributes (contentType, messageDigest), DER `SET OF` order,
/// as the concatenated elements (the caller wraps them in `SET` to sign,
/// `[0]` to store).
pub fn signed_attributes(content_digest: &[u8; 32]) -> Vec<u8> {
    let mut attrs = [
        cons(
            SEQUENCE,
            &[
                &der::oid(OID_CONTENT_TYPE),
                &cons(SET, &[&der::oid(OID_SPC_INDIRECT_DATA)]),
            ],
        ),
        cons(
            SEQUENCE,
            &[
                &der::oid(OID_MESSAGE_DIGEST),
                &cons(SET, &[&tlv(OCTET_STRING, content_digest)]),
            ],
        ),
    ];
    attrs.sort();
    attrs.concat()
}

/// The parts of the signer's certificate a SignerInfo names.
pub struct CertParts<'a> {
    /// The whole certificate.
    pub raw: &'a [u8],
    /// The serial number (the INTEGER TLV).
    pub serial: Tlv<'a>,
    /// The issuer Name (SEQUENCE TLV).
    pub issuer: Tlv<'a>,
    /// The subject Name (SEQUENCE TLV).
    pub subject: Tlv<'a>,
    /// SubjectPublicKeyInfo (SEQUENCE TLV).
    pub spki: Tlv<'a>,
}

impl<'a> CertParts<'a> {
    /// Splits an X.509 certificate (DER).
    pub fn parse(cert: &'a [u8]) -> Result<CertParts<'a>, SecureBootError> {
        let (c, _) = Tlv::parse(cert)?;
        let tbs = c.child(0, SEQUENCE)?;
        let items = tbs.children()?;
        let skip = usize::from(items.first().map(|t| t.tag) == Some(0xa0));
        let get = |i: usize, tag: u8| tbs.child(i + skip, tag);
        Ok(CertParts {
            raw: c.raw,
            serial: get(0, INTEGER)?,
            issuer: get(2, SEQUENCE)?,
            subject: get(4, SEQUENCE)?,
            spki: get(5, SEQUENCE)?,
        })
    }

    /// The subject's commonName, if any.
    pub fn subject_cn(&self) -> Option<String> {
        for rdn in self.subject.children().ok()? {
            for atv in rdn.children().ok()? {
                let kids = atv.children().ok()?;
                if kids.len() == 2 && kids[0].content == OID_COMMON_NAME {
                    return Some(String::from_utf8_lossy(kids[1].content).into_owned());
                }
            }
        }
        None
    }
}

/// `ContentInfo(SignedData)` with one certificate and one SignerInfo.
pub fn signed_data(idc: &[u8], cert: &CertParts, attrs: &[u8], signature: &[u8]) -> Vec<u8> {
    let signer_info = cons(
        SEQUENCE,
        &[
            &tlv(INTEGER, &[1]),
            &cons(SEQUENCE, &[cert.issuer.raw, cert.serial.raw]),
            &der::algorithm(OID_SHA256),
            &tlv(0xa0, attrs),
            &der::algorithm(OID_RSA_ENCRYPTION),
            &tlv(OCTET_STRING, signature),
        ],
    );
    let signed = cons(
        SEQUENCE,
        &[
            &tlv(INTEGER, &[1]),
            &cons(SET, &[&der::algorithm(OID_SHA256)]),
            &cons(
                SEQUENCE,
                &[&der::oid(OID_SPC_INDIRECT_DATA), &cons(0xa0, &[idc])],
            ),
            &tlv(0xa0, cert.raw),
            &cons(SET, &[&signer_info]),
        ],
    );
    cons(
        SEQUENCE,
        &[&der::oid(OID_SIGNED_DATA), &cons(0xa0, &[&signed])],
    )
}
