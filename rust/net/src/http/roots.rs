//! Root certificate stores for an [`super::HttpClient`].
//!
//! ureq takes either its built-in (webpki) roots or a list of specific
//! certificates, never both. A CA bundle file plus extra PEMs become one
//! list; the built-in roots plus extra PEMs become two stores, tried in
//! that order (a chain that verifies against either is accepted, which is
//! what one combined store would accept).

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use ureq::tls::{parse_pem, Certificate, PemItem, RootCerts};

use super::{HttpError, HttpOptions};

/// The root stores to try, in order; `None` = ureq's built-in roots.
pub(super) fn root_stores(options: &HttpOptions) -> Result<Vec<Option<RootCerts>>, HttpError> {
    let mut extra = Vec::new();
    for (index, pem) in options.extra_ca_pem.iter().enumerate() {
        let certs = certificates(pem).map_err(|reason| HttpError::ExtraCa { index, reason })?;
        extra.extend(certs);
    }
    match &options.ca_bundle {
        Some(path) => {
            let mut certs = load_ca_bundle(path)?;
            certs.extend(extra);
            Ok(vec![Some(RootCerts::Specific(Arc::new(certs)))])
        }
        None if extra.is_empty() => Ok(vec![None]),
        None => Ok(vec![None, Some(RootCerts::Specific(Arc::new(extra)))]),
    }
}

/// Whether `e` is a TLS failure (e.g. an unknown issuer) that another root
/// store might not have.
pub(super) fn is_tls_failure(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) => true,
        // rustls errors surface through the stream as InvalidData.
        ureq::Error::Io(io) => io.kind() == io::ErrorKind::InvalidData,
        _ => false,
    }
}

fn load_ca_bundle(path: &Path) -> Result<Vec<Certificate<'static>>, HttpError> {
    let err = |reason: String| HttpError::CaBundle {
        path: path.to_path_buf(),
        reason,
    };
    let pem = fs::read(path).map_err(|e| err(e.to_string()))?;
    certificates(&pem).map_err(err)
}

/// The certificates in a PEM bundle (at least one).
fn certificates(pem: &[u8]) -> Result<Vec<Certificate<'static>>, String> {
    let mut certs = Vec::new();
    for item in parse_pem(pem) {
        if let PemItem::Certificate(cert) = item.map_err(|e| e.to_string())? {
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        return Err("no certificates in the file".to_string());
    }
    Ok(certs)
}
