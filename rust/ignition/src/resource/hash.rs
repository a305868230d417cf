//! `verification.hash`: `sha512-<hex>` and (spec 3.1.0+) `sha256-<hex>`.

use sha2::{Digest, Sha256, Sha512};

/// A parsed hash specifier.
struct Spec {
    function: &'static str,
    sum: Vec<u8>,
}

/// Checks a `verification.hash` specifier for spec version 3.`minor`,
/// with Ignition's messages.
pub fn check_hash(spec: &str, minor: u32) -> Result<(), String> {
    parse(spec, minor).map(|_| ())
}

fn parse(spec: &str, minor: u32) -> Result<Spec, String> {
    let (function, hex_sum) = spec
        .split_once('-')
        .ok_or_else(|| "malformed hash specifier".to_string())?;
    let (function, len) = match function {
        "sha512" => ("sha512", 128),
        "sha256" if minor >= 1 => ("sha256", 64),
        _ => return Err("unrecognized hash function".to_string()),
    };
    let sum = hex::decode(hex_sum)
        .ok()
        .filter(|_| hex_sum.len() == len)
        .ok_or_else(|| "incorrect size for hash sum".to_string())?;
    Ok(Spec { function, sum })
}

/// Checks `data` against `spec` (any supported function).
pub(super) fn verify(spec: &str, data: &[u8]) -> Result<(), String> {
    let parsed = parse(spec, u32::MAX).map_err(|e| format!("verification.hash: {e}"))?;
    let got = match parsed.function {
        "sha256" => Sha256::digest(data).to_vec(),
        _ => Sha512::digest(data).to_vec(),
    };
    if got == parsed.sum {
        return Ok(());
    }
    Err(format!(
        "hash mismatch: expected {spec}, got {}-{}",
        parsed.function,
        hex::encode(got)
    ))
}
