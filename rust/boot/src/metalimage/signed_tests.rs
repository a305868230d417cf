use super::*;
use metalos_signing::SigningKey;

const BASE: &str = "http://10.0.2.100";
const RAW: &str = "a846a846a846a846a846a846a846a846a846a846a846a846a846a846a846a846";
const BLOB: &str = "851b851b851b851b851b851b851b851b851b851b851b851b851b851b851b851b";

fn manifest(host_sha: &str) -> Vec<u8> {
    format!(
        r#"{{"version": 1, "base-url": "{BASE}",
  "image": {{"blob": "blobs/sha256/{BLOB}", "compression": "zstd", "sha256": "{RAW}",
             "size": 1073741824, "compressed-size": 100, "sector-size": 512}},
  "files": [{{"path": "blobs/sha256/{BLOB}", "sha256": "{BLOB}", "size": 100}},
            {{"path": "hosts/52-54-00-12-34-56.json", "sha256": "{host_sha}", "size": 2}}]}}"#
    )
    .into_bytes()
}

fn params() -> ImagingArgs {
    ImagingArgs {
        host_config_url: format!("{BASE}/hosts/${{mac}}.json"),
        image_url: format!("{BASE}/blobs/sha256/{BLOB}"),
        image_sha256: RAW.into(),
        image_size: 1 << 30,
    }
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn signed(key: &SigningKey, m: &[u8]) -> Vec<u8> {
    metalos_signing::sign(key, m).to_file_bytes()
}

#[test]
fn a_signed_manifest_vouches_for_image_and_host_config() {
    let key = SigningKey::generate().unwrap();
    let m = manifest(&sha(b"{}"));
    let sm = verify_manifest(&key.verifying_key(), BASE, &m, &signed(&key, &m)).unwrap();
    sm.check_params(&params()).unwrap();
    let url = format!("{BASE}/hosts/52-54-00-12-34-56.json");
    sm.check_file(&url, b"{}").unwrap();
    // Another HostConfig, another host, another server.
    let e = sm.check_file(&url, b"{ }").unwrap_err().to_string();
    assert!(e.contains("does not match the signed manifest"), "{e}");
    let e = sm
        .check_file(&format!("{BASE}/hosts/52-54-00-00-00-01.json"), b"{}")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not in the signed manifest"), "{e}");
    assert!(sm
        .check_file("http://evil/hosts/52-54-00-12-34-56.json", b"{}")
        .is_err());
}

#[test]
fn wrong_key_tampered_manifest_and_bad_sig_are_refused() {
    let key = SigningKey::generate().unwrap();
    let other = SigningKey::generate().unwrap();
    let m = manifest(&sha(b"{}"));
    let sig = signed(&key, &m);
    let e = verify_manifest(&other.verifying_key(), BASE, &m, &sig).unwrap_err();
    let text = format!("{e:#}");
    assert!(
        text.contains(&other.verifying_key().fingerprint()),
        "{text}"
    );
    assert!(text.contains("manifest.json"), "{text}");
    let mut tampered = m.clone();
    tampered[20] ^= 1;
    assert!(verify_manifest(&key.verifying_key(), BASE, &tampered, &sig).is_err());
    assert!(verify_manifest(&key.verifying_key(), BASE, &m, b"ed25519 AAAA\n").is_err());
    assert!(verify_manifest(&key.verifying_key(), BASE, &m, b"").is_err());
}

#[test]
fn cmdline_image_must_be_the_signed_one() {
    let key = SigningKey::generate().unwrap();
    let m = manifest(&sha(b"{}"));
    let sm = verify_manifest(&key.verifying_key(), BASE, &m, &signed(&key, &m)).unwrap();
    let mut p = params();
    p.image_sha256 = BLOB.into();
    assert!(sm.check_params(&p).is_err());
    let mut p = params();
    p.image_size += 1;
    assert!(sm.check_params(&p).is_err());
    let mut p = params();
    p.image_url = format!("{BASE}/blobs/sha256/{RAW}");
    assert!(sm.check_params(&p).is_err());
}

#[test]
fn base_url_of_an_image_url() {
    assert_eq!(base_url(&params().image_url).unwrap(), BASE);
    assert!(base_url("http://x/disk.img.zst").is_err());
}
