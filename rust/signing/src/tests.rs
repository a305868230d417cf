use super::*;
use std::os::unix::fs::PermissionsExt;

fn keypair() -> (SigningKey, VerifyingKey) {
    let k = SigningKey::generate().unwrap();
    let v = k.verifying_key();
    (k, v)
}

#[test]
fn sign_verify_roundtrip_through_files() {
    let (k, v) = keypair();
    let sig = sign(&k, b"manifest");
    let parsed = Signature::from_file_bytes(&sig.to_file_bytes()).unwrap();
    assert_eq!(parsed, sig);
    verify(&v, b"manifest", &parsed).unwrap();
    // Deterministic.
    assert_eq!(sign(&k, b"manifest"), sig);
}

#[test]
fn sig_file_format_is_one_line() {
    let (k, _) = keypair();
    let text = String::from_utf8(sign(&k, b"x").to_file_bytes()).unwrap();
    assert!(text.starts_with("ed25519 "));
    assert!(text.ends_with('\n'));
    assert_eq!(text.lines().count(), 1);
    assert_eq!(text.len(), "ed25519 ".len() + 88 + 1);
    // Without the newline it still parses.
    Signature::from_file_bytes(text.trim_end().as_bytes()).unwrap();
}

#[test]
fn wrong_key_is_refused_with_its_fingerprint() {
    let (k, _) = keypair();
    let (_, other) = keypair();
    let err = verify(&other, b"m", &sign(&k, b"m")).unwrap_err();
    assert!(err.to_string().contains(&other.fingerprint()), "{err}");
    assert!(matches!(err, SigningError::BadSignature { .. }));
}

#[test]
fn tampered_message_is_refused() {
    let (k, v) = keypair();
    let sig = sign(&k, b"version 1");
    assert!(verify(&v, b"version 2", &sig).is_err());
    assert!(verify(&v, b"version 1 ", &sig).is_err());
}

#[test]
fn malformed_signatures_are_refused() {
    let (k, _) = keypair();
    let good = String::from_utf8(sign(&k, b"m").to_file_bytes()).unwrap();
    let b64 = good.trim_end().strip_prefix("ed25519 ").unwrap();
    for bad in [
        String::new(),
        "ed25519".to_string(),
        format!("rsa {b64}\n"),
        format!("ed25519 {}\n", &b64[..40]),
        "ed25519 !!!notbase64!!!\n".to_string(),
        format!("{good}{good}"),
        format!("ed25519  {b64}\n"),
    ] {
        let e = Signature::from_file_bytes(bad.as_bytes()).unwrap_err();
        assert!(matches!(e, SigningError::Malformed(_)), "{bad:?}: {e}");
    }
    assert!(Signature::from_file_bytes(&[0xff; 64]).is_err());
}

#[test]
fn pem_roundtrip_and_fingerprint() {
    let (k, v) = keypair();
    let again = SigningKey::from_pem_at(std::path::Path::new("k"), k.to_pem().as_bytes()).unwrap();
    assert_eq!(again.verifying_key(), v);
    assert!(k.to_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
    let pem = v.to_pem();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    assert_eq!(VerifyingKey::from_pem(pem.as_bytes()).unwrap(), v);
    let fp = v.fingerprint();
    assert!(fp.starts_with("sha256:") && fp.len() == 7 + 16, "{fp}");
    assert_ne!(fp, keypair().1.fingerprint());
}

#[test]
fn malformed_pem_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("signing.pub");
    std::fs::write(
        &p,
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let e = VerifyingKey::load(&p).unwrap_err();
    assert!(e.to_string().contains(&p.display().to_string()), "{e}");
    let q = dir.path().join("signing.key");
    std::fs::write(&q, b"garbage").unwrap();
    let e = SigningKey::load(&q).unwrap_err();
    assert!(e.to_string().contains("signing.key"), "{e}");
    // A private key is not a public key.
    std::fs::write(&p, keypair().0.to_pem()).unwrap();
    assert!(VerifyingKey::load(&p).is_err());
    let missing = dir.path().join("nope.pub");
    assert!(VerifyingKey::load(&missing)
        .unwrap_err()
        .to_string()
        .contains("nope.pub"));
}

#[test]
fn keydir_generate_open_and_refuse_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let kd_path = dir.path().join("keys");
    let kd = KeyDir::generate_signing(&kd_path).unwrap();
    let mode = std::fs::metadata(kd.signing_key_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let opened = KeyDir::open(&kd_path).unwrap();
    let sig = sign(&opened.signing_key().unwrap(), b"m");
    verify(&opened.verifying_key().unwrap(), b"m", &sig).unwrap();
    let e = KeyDir::generate_signing(&kd_path).unwrap_err();
    assert!(e.to_string().contains("refusing to overwrite"), "{e}");
    // A mismatched pair is refused.
    std::fs::remove_file(kd.signing_pub_path()).unwrap();
    std::fs::write(kd.signing_pub_path(), keypair().1.to_pem()).unwrap();
    assert!(KeyDir::open(&kd_path).is_err());
}

#[test]
fn verify_file_errors_name_the_sig_file() {
    let dir = tempfile::tempdir().unwrap();
    let (k, v) = keypair();
    let sigp = sig_path(&dir.path().join("bundle.json"));
    assert!(sigp.ends_with("bundle.json.sig"));
    let e = verify_file(&v, b"m", &sigp).unwrap_err();
    assert!(e.to_string().contains("bundle.json.sig"), "{e}");
    std::fs::write(&sigp, sign(&k, b"m").to_file_bytes()).unwrap();
    verify_file(&v, b"m", &sigp).unwrap();
}

#[test]
fn private_pem_is_pkcs8_v1_like_openssl() {
    // 48 bytes of DER: version 0, the OID, the 32-byte seed; no public key.
    let (k, _) = keypair();
    let pem = k.to_pem();
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(der.len(), 48);
    assert_eq!(&der[..5], &[0x30, 46, 0x02, 0x01, 0x00]);
}
