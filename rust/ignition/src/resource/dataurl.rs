//! `data:` URLs (RFC 2397): `data:[<mediatype>][;base64],<data>`.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use percent_encoding::percent_decode_str;

/// Standard base64, with or without the `=` padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes a `data:` URL (RFC 2397) into its bytes.
///
/// The media type is optional but must be well-formed when present
/// (`type/subtype` followed by `;attribute=value` parameters); the data is
/// percent-decoded, then base64-decoded when `;base64` is given.
pub fn decode_data_url(url: &str) -> Result<Vec<u8>, String> {
    let rest = url
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("data:"))
        .map(|_| &url[5..])
        .ok_or_else(|| "invalid data url: not a data: URL".to_string())?;
    let bad = |why: &str| format!("invalid data url: {why}");
    let (meta, data) = rest
        .split_once(',')
        .ok_or_else(|| bad("no ',' before the data"))?;
    let (mediatype, base64) = match meta.rsplit_once(';') {
        Some((m, p)) if p.eq_ignore_ascii_case("base64") => (m, true),
        _ => (meta, false),
    };
    check_mediatype(mediatype).map_err(|e| bad(&e))?;
    check_percent_escapes(data).map_err(|e| bad(&e))?;
    let bytes: Vec<u8> = percent_decode_str(data).collect();
    if !base64 {
        return Ok(bytes);
    }
    BASE64
        .decode(&bytes)
        .map_err(|e| bad(&format!("base64: {e}")))
}

/// `[type/subtype](;attribute=value)*`, each part an RFC 2045 token (a
/// parameter value may also be percent-encoded).
fn check_mediatype(mediatype: &str) -> Result<(), String> {
    let mut parts = mediatype.split(';');
    let essence = parts.next().unwrap_or_default();
    if !essence.is_empty() {
        let ok = essence
            .split_once('/')
            .is_some_and(|(t, s)| is_token(t) && is_token(s));
        if !ok {
            return Err(format!("malformed media type {essence:?}"));
        }
    }
    for param in parts {
        let ok = param
            .split_once('=')
            .is_some_and(|(a, v)| is_token(a) && is_token(v));
        if !ok {
            return Err(format!("malformed media type parameter {param:?}"));
        }
    }
    Ok(())
}

/// A non-empty RFC 2045 token: no spaces, controls or tspecials.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
}

/// Every `%` must start a `%XX` escape.
fn check_percent_escapes(data: &str) -> Result<(), String> {
    let bytes = data.as_bytes();
    for (i, _) in data.match_indices('%') {
        let ok = bytes.len() > i + 2
            && bytes[i + 1].is_ascii_hexdigit()
            && bytes[i + 2].is_ascii_hexdigit();
        if !ok {
            let end = (i + 3).min(data.len());
            let escape = data.get(i..end).unwrap_or("%");
            return Err(format!("malformed percent-encoding {escape:?}"));
        }
    }
    Ok(())
}
