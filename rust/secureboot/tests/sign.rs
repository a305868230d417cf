//! Authenticode signing against sbsigntool: `sbverify --cert db.crt`
//! accepts what we sign; signing is deterministic; a signed image is
//! re-signed (not double-signed); the signer is read back.

use metalos_secureboot::{authenticode, DbSigner};
use std::path::{Path, PathBuf};
use std::process::Command;

const STUB: &str = "/usr/lib/systemd/boot/efi/linuxx64.efi.stub";

/// A fresh RSA 2048 key and self-signed certificate (`CN=cn`) from openssl.
fn keypair(dir: &Path, name: &str, cn: &str) -> (PathBuf, PathBuf) {
    let (key, crt) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.crt")),
    );
    let st = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
        ])
        .arg(format!("/CN={cn}"))
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("openssl");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    (key, crt)
}

fn sbverify(cert: &Path, image: &Path) -> (bool, String) {
    let out = Command::new("sbverify")
        .arg("--cert")
        .arg(cert)
        .arg(image)
        .output()
        .expect("sbverify (apt install sbsigntool; scripts/install-deps)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn signed_stub_verifies_with_sbverify_and_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let (key, crt) = keypair(dir.path(), "db", "Test db");
    let (_, other) = keypair(dir.path(), "other", "Other");
    let signer = DbSigner::load(&key, &crt).unwrap();
    assert_eq!(signer.subject_cn().as_deref(), Some("Test db"));
    let stub = std::fs::read(STUB).unwrap();
    assert_eq!(authenticode(&stub).unwrap(), None);

    let t0 = std::time::Instant::now();
    let signed = signer.sign_pe(&stub).unwrap();
    eprintln!("signing {} KiB: {:?}", stub.len() >> 10, t0.elapsed());
    assert_eq!(signed, signer.sign_pe(&stub).unwrap(), "deterministic");
    let path = dir.path().join("signed.efi");
    std::fs::write(&path, &signed).unwrap();
    let (ok, text) = sbverify(&crt, &path);
    assert!(ok, "sbverify: {text}");
    let (ok, text) = sbverify(&other, &path);
    assert!(!ok, "another certificate must not verify: {text}");

    let info = authenticode(&signed).unwrap().unwrap();
    assert_eq!(info.signer, "Test db");
    assert_eq!(info.check, "ok");

    // Re-signing replaces the signature: still one, same bytes.
    assert_eq!(signer.sign_pe(&signed).unwrap(), signed);

    // One byte of code changed: the digest no longer matches.
    let mut bad = signed.clone();
    bad[0x1000] ^= 1;
    assert!(authenticode(&bad)
        .unwrap()
        .unwrap()
        .check
        .contains("digest mismatch"));
    std::fs::write(&path, &bad).unwrap();
    assert!(!sbverify(&crt, &path).0);
}

#[test]
fn sbsigned_image_is_read_and_resigned() {
    let dir = tempfile::tempdir().unwrap();
    let (key, crt) = keypair(dir.path(), "a", "Signer A");
    let (key_b, crt_b) = keypair(dir.path(), "b", "Signer B");
    let out = dir.path().join("sb.efi");
    let st = Command::new("sbsign")
        .arg("--key")
        .arg(&key)
        .arg("--cert")
        .arg(&crt)
        .arg("--output")
        .arg(&out)
        .arg(STUB)
        .output()
        .unwrap();
    assert!(st.status.success());
    let sb = std::fs::read(&out).unwrap();
    let info = authenticode(&sb).unwrap().unwrap();
    assert_eq!(
        (info.signer.as_str(), info.check.as_str()),
        ("Signer A", "ok")
    );
    // What `sbattach --remove` + `sbsign` with key B does.
    let resigned = DbSigner::load(&key_b, &crt_b)
        .unwrap()
        .sign_pe(&sb)
        .unwrap();
    std::fs::write(&out, &resigned).unwrap();
    assert!(sbverify(&crt_b, &out).0);
    assert!(!sbverify(&crt, &out).0);
    assert_eq!(authenticode(&resigned).unwrap().unwrap().signer, "Signer B");
}

#[test]
fn mismatched_key_and_certificate_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keypair(dir.path(), "a", "A");
    let (_, crt) = keypair(dir.path(), "b", "B");
    let e = DbSigner::load(&key, &crt).unwrap_err().to_string();
    assert!(e.contains("is not the certificate of"), "{e}");
}
