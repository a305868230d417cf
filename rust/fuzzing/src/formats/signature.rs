//! `signature`: detached `*.sig` files and PEM keys as `metalos_signing`
//! reads them before trusting a bundle, manifest or slot descriptor.
//! The first byte picks what the rest is: a signature checked against a
//! fixed key and message, a public key (SPKI PEM), or a private key
//! (PKCS#8 PEM).

use crate::seeds::{Seed, SeedSources};
use metalos_signing::{sign, verify, Signature, SigningKey, VerifyingKey};
use std::path::Path;
use std::sync::OnceLock;

/// A fixed ed25519 key, for fuzzing only (it signs nothing real).
const FUZZ_KEY: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIDFq4LGV2aWJ9Gw1yilm51SdlUNUy6UOsdVQ+vqJBIBr
-----END PRIVATE KEY-----
";
/// The message the fixed key signs.
const MESSAGE: &[u8] = b"metalos fuzzing: the signed message\n";
/// Another message: no signature of [`MESSAGE`] verifies it.
const OTHER_MESSAGE: &[u8] = b"metalos fuzzing: another message\n";

/// Selector bytes (the input's first byte modulo 3).
const SIGNATURE: u8 = 0;
const PUBLIC_KEY: u8 = 1;
const PRIVATE_KEY: u8 = 2;

/// The fixed key.
fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        SigningKey::from_pem_at(Path::new("fuzz key"), FUZZ_KEY.as_bytes()).expect("fuzz key")
    })
}

/// The fixed key's signature of [`MESSAGE`].
fn real_signature() -> &'static Signature {
    static SIG: OnceLock<Signature> = OnceLock::new();
    SIG.get_or_init(|| sign(key(), MESSAGE))
}

/// Target `signature`: only the real signature verifies (never panics);
/// what parses re-encodes to an equal value — a `*.sig` file to the very
/// bytes read (the format has one spelling).
pub fn signature(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        SIGNATURE => signature_file(rest),
        PUBLIC_KEY => public_key(rest),
        _ => private_key(rest),
    }
}

/// The input as a `*.sig` file, verified with the fixed key.
fn signature_file(bytes: &[u8]) {
    let Ok(sig) = Signature::from_file_bytes(bytes) else {
        return;
    };
    let written = sig.to_file_bytes();
    let read = if bytes.ends_with(b"\n") {
        bytes.to_vec()
    } else {
        [bytes, b"\n"].concat()
    };
    assert_eq!(written, read, "a second spelling of {sig:?} parses");
    assert_eq!(
        Signature::from_file_bytes(&written).expect("re-parses"),
        sig
    );
    let public = key().verifying_key();
    assert_eq!(
        verify(&public, MESSAGE, &sig).is_ok(),
        &sig == real_signature(),
        "only the real signature verifies"
    );
    assert!(verify(&public, OTHER_MESSAGE, &sig).is_err());
}

/// The input as a public key, verifying the fixed key's signature.
fn public_key(pem: &[u8]) {
    let Ok(public) = VerifyingKey::from_pem(pem) else {
        return;
    };
    let again = VerifyingKey::from_pem(public.to_pem().as_bytes()).expect("re-parses");
    assert_eq!(again, public);
    assert_eq!(again.fingerprint(), public.fingerprint());
    let ok = verify(&public, MESSAGE, real_signature()).is_ok();
    assert_eq!(ok, public == key().verifying_key(), "another key verifies");
    assert!(verify(&public, OTHER_MESSAGE, real_signature()).is_err());
}

/// The input as a private key: it signs, and its public half verifies.
fn private_key(pem: &[u8]) {
    let Ok(private) = SigningKey::from_pem_at(Path::new("input"), pem) else {
        return;
    };
    let again = SigningKey::from_pem_at(Path::new("again"), private.to_pem().as_bytes())
        .expect("re-parses");
    let public = private.verifying_key();
    assert_eq!(again.verifying_key(), public);
    let sig = sign(&private, MESSAGE);
    assert_eq!(sign(&again, MESSAGE), sig);
    assert!(verify(&public, MESSAGE, &sig).is_ok());
    assert!(verify(&public, OTHER_MESSAGE, &sig).is_err());
    let public_again = VerifyingKey::from_pem(public.to_pem().as_bytes()).expect("re-parses");
    assert_eq!(public_again, public);
}

/// Seeds: real signatures of small messages, a public and a private key,
/// all made here with the signing crate.
pub fn seeds(_src: &SeedSources) -> anyhow::Result<Vec<Seed>> {
    let seed = |which: u8, name: &str, bytes: &[u8]| {
        let mut data = vec![which];
        data.extend_from_slice(bytes);
        Seed {
            target: "signature",
            name: name.into(),
            data,
        }
    };
    let mut out = vec![
        seed(SIGNATURE, "signature", &real_signature().to_file_bytes()),
        seed(
            PUBLIC_KEY,
            "public-key",
            key().verifying_key().to_pem().as_bytes(),
        ),
        seed(PRIVATE_KEY, "private-key", key().to_pem().as_bytes()),
    ];
    for (name, message) in [("empty", &b""[..]), ("manifest", b"{\"format\":1}\n")] {
        let sig = sign(key(), message).to_file_bytes();
        out.push(seed(SIGNATURE, &format!("signature-{name}"), &sig));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Standard padded base64 (the `*.sig` alphabet), for hand-made files.
    fn base64(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// The raw 64 bytes of the real signature.
    fn real_raw() -> Vec<u8> {
        let text = String::from_utf8(real_signature().to_file_bytes()).unwrap();
        let b64 = text.trim_end().strip_prefix("ed25519 ").unwrap();
        let raw = decode(b64);
        assert_eq!(base64(&raw), b64);
        raw
    }

    /// Decodes standard padded base64 (test helper, trusted input).
    fn decode(text: &str) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let sextets: Vec<u32> = text
            .bytes()
            .filter(|&c| c != b'=')
            .map(|c| ALPHABET.iter().position(|&a| a == c).unwrap() as u32)
            .collect();
        let mut out = vec![];
        for chunk in sextets.chunks(4) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, s)| n | s << (18 - 6 * i));
            for i in 0..chunk.len() - 1 {
                out.push((n >> (16 - 8 * i)) as u8);
            }
        }
        out
    }

    fn sig_file(raw: &[u8]) -> Vec<u8> {
        let mut data = vec![SIGNATURE];
        data.extend_from_slice(format!("ed25519 {}\n", base64(raw)).as_bytes());
        data
    }

    #[test]
    fn every_seed_runs() {
        let src = SeedSources {
            repo: ".".into(),
            build: "/nonexistent".into(),
            inputs: "/nonexistent".into(),
        };
        for s in seeds(&src).unwrap() {
            signature(&s.data);
        }
        assert_eq!(sig_file(&real_raw())[1..], real_signature().to_file_bytes());
    }

    #[test]
    fn a_non_canonical_s_parses_but_does_not_verify() {
        // S + l, the group order: the same point equation, another encoding.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut raw = real_raw();
        let mut carry = 0u16;
        for (s, l) in raw[32..].iter_mut().zip(L) {
            let sum = u16::from(*s) + u16::from(l) + carry;
            *s = sum as u8;
            carry = sum >> 8;
        }
        let data = sig_file(&raw);
        let sig = Signature::from_file_bytes(&data[1..]).unwrap();
        assert!(verify(&key().verifying_key(), MESSAGE, &sig).is_err());
        signature(&data);
    }

    #[test]
    fn malformed_signatures_and_keys_do_not_panic() {
        let mut all_zero = sig_file(&[0; 64]);
        signature(&all_zero);
        all_zero[1] = b'E';
        signature(&all_zero);
        let real = sig_file(&real_raw());
        let mut trailing_bits = real.clone();
        // The last data character before "==" carries 4 unused bits.
        let at = trailing_bits.len() - 4;
        trailing_bits[at] = if trailing_bits[at] == b'B' {
            b'C'
        } else {
            b'B'
        };
        signature(&trailing_bits);
        signature(&[&real[..], b"\n"].concat());
        signature(&[&real[..real.len() - 1], b"\r\n"].concat());
        for which in [PUBLIC_KEY, PRIVATE_KEY] {
            for text in [
                "",
                "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                FUZZ_KEY,
                &key().verifying_key().to_pem(),
                &FUZZ_KEY.replace('\n', "\r\n"),
            ] {
                signature(&[&[which][..], text.as_bytes()].concat());
            }
            signature(&[which, 0xff, 0xfe]);
        }
        signature(&[]);
    }
}
