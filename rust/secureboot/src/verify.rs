//! Reading an image's Authenticode signature: who signed it and whether
//! the signature matches the image (no trust decision: that is the
//! firmware's, with its `db`).

use crate::der::{Tlv, OCTET_STRING, SEQUENCE, SET};
use crate::pkcs7::{CertParts, OID_MESSAGE_DIGEST};
use crate::{pe, rsa_sha256, SecureBootError};
use sha2::{Digest, Sha256};

/// What the first signature of a signed image says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticode {
    /// Subject commonName of the signing certificate (empty if it has none).
    pub signer: String,
    /// sha256 of the signing certificate (DER), hex.
    pub signer_cert_sha256: String,
    /// `ok`, or why the signature does not match the image.
    pub check: String,
}

/// The signer of `image`'s first Authenticode signature; `None` if the
/// image is unsigned.
pub fn authenticode(image: &[u8]) -> Result<Option<Authenticode>, SecureBootError> {
    let layout = pe::PeLayout::parse(image)?;
    let Some(p7) = layout.first_signature(image)? else {
        return Ok(None);
    };
    let (ci, _) = Tlv::parse(p7)?;
    let signed = ci.child(1, 0xa0)?.child(0, SEQUENCE)?;
    let items = signed.children()?;
    let content = signed.child(2, SEQUENCE)?;
    let idc = content.child(1, 0xa0)?.child(0, SEQUENCE)?;
    let certs = items
        .iter()
        .find(|t| t.tag == 0xa0)
        .ok_or_else(|| SecureBootError::Der("no certificates".into()))?;
    let signer_info = items
        .iter()
        .rev()
        .find(|t| t.tag == SET)
        .ok_or_else(|| SecureBootError::Der("no signerInfos".into()))?
        .child(0, SEQUENCE)?;
    let sid = signer_info.child(1, SEQUENCE)?;
    let serial = sid.child(1, crate::der::INTEGER)?;
    let issuer = sid.child(0, SEQUENCE)?;
    let cert = certs
        .children()?
        .into_iter()
        .filter_map(|c| CertParts::parse(c.raw).ok())
        .find(|c| c.serial.raw == serial.raw && c.issuer.raw == issuer.raw)
        .ok_or_else(|| SecureBootError::Der("the signer's certificate is not included".into()))?;
    let check = check(image, &layout, idc, signer_info, &cert)
        .err()
        .unwrap_or_else(|| "ok".into());
    Ok(Some(Authenticode {
        signer: cert.subject_cn().unwrap_or_default(),
        signer_cert_sha256: hex::encode(Sha256::digest(cert.raw)),
        check,
    }))
}

/// `Err(why)` unless the image digest, the message digest and the RSA
/// signature all match.
fn check(
    image: &[u8],
    layout: &pe::PeLayout,
    idc: Tlv,
    signer_info: Tlv,
    cert: &CertParts,
) -> Result<(), String> {
    let e = |x: SecureBootError| x.to_string();
    let signed_digest = idc
        .child(1, SEQUENCE)
        .map_err(e)?
        .child(1, OCTET_STRING)
        .map_err(e)?;
    if signed_digest.content != layout.digest(image) {
        return Err("image digest mismatch (the image was changed after signing)".into());
    }
    let attrs = signer_info.child(3, 0xa0).map_err(e)?;
    let digest = attrs
        .children()
        .map_err(e)?
        .into_iter()
        .find_map(|a| {
            let kids = a.children().ok()?;
            (kids.first()?.content == OID_MESSAGE_DIGEST)
                .then(|| kids.get(1)?.child(0, OCTET_STRING).ok())
                .flatten()
        })
        .ok_or("no messageDigest attribute")?;
    if digest.content != Sha256::digest(idc.content).as_slice() {
        return Err("messageDigest does not match the signed content".into());
    }
    let sig = signer_info.child(5, OCTET_STRING).map_err(e)?;
    let to_verify = Sha256::digest(crate::der::tlv(SET, attrs.content));
    let key = rsa_sha256::rsa_public(cert).map_err(e)?;
    key.verify(rsa_sha256::scheme(), &to_verify, sig.content)
        .map_err(|_| "RSA signature does not verify with the included certificate".to_string())
}
