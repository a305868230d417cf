//! `signature`: detached `*.sig` files and PEM keys as `metalos_signing`
//! reads them before trusting a bundle, manifest or slot descriptor.
//! The first byte picks what the rest is: a signature checked against a
//! fixed key and message, a public key, or a private key.

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

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| {
        SigningKey::from_pem_at(Path::new("fuzz key"), FUZZ_KEY.as_bytes()).expect("fuzz key")
    })
}

/// Target `signature`: nothing but the real signature verifies; what
/// parses re-encodes to bytes that parse to the same value.
pub fn signature(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            if let Ok(sig) = Signature::from_file_bytes(rest) {
                let again = Signature::from_file_bytes(&sig.to_file_bytes()).expect("re-parses");
                assert_eq!(again, sig);
                let real = sign(key(), MESSAGE);
                assert_eq!(
                    verify(&key().verifying_key(), MESSAGE, &sig).is_ok(),
                    sig == real,
                    "only the real signature verifies"
                );
            }
        }
        1 => {
            if let Ok(public) = VerifyingKey::from_pem(rest) {
                let again = VerifyingKey::from_pem(public.to_pem().as_bytes()).expect("re-parses");
                assert_eq!(again.fingerprint(), public.fingerprint());
                let sig = sign(key(), MESSAGE);
                let ok = verify(&public, MESSAGE, &sig).is_ok();
                assert_eq!(
                    ok,
                    public.fingerprint() == key().verifying_key().fingerprint()
                );
            }
        }
        _ => {
            if let Ok(private) = SigningKey::from_pem_at(Path::new("input"), rest) {
                let again =
                    SigningKey::from_pem_at(Path::new("again"), private.to_pem().as_bytes())
                        .expect("re-parses");
                let sig = sign(&private, MESSAGE);
                assert_eq!(sign(&again, MESSAGE), sig);
                assert!(verify(&private.verifying_key(), MESSAGE, &sig).is_ok());
            }
        }
    }
}

/// Seeds: a real signature, a public and a private key, made here.
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
    Ok(vec![
        seed(0, "signature", &sign(key(), MESSAGE).to_file_bytes()),
        seed(1, "public-key", key().verifying_key().to_pem().as_bytes()),
        seed(2, "private-key", key().to_pem().as_bytes()),
    ])
}
