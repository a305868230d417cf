//! Secure Boot signing in `metalos build` / `netboot build`
//! (docs/secure-boot.md), checked with sbsigntool's `sbverify` as the
//! independent verifier: UKIs, the update bundle's bootloader, the netboot
//! imaging.efi and the slot kernel are db-signed, reproducibly; the verity
//! descriptor hashes the signed kernel; `inspect` names the signer.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

fn sbverify(cert: &Path, file: &Path) -> bool {
    Command::new("sbverify")
        .arg("--cert")
        .arg(cert)
        .arg(file)
        .output()
        .expect("sbverify (sbsigntool; scripts/install-deps)")
        .status
        .success()
}

fn sha(p: &Path) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(std::fs::read(p).unwrap()))
}

#[test]
fn signed_default_image_is_secure_boot_signed_and_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    for k in [&a, &b] {
        metalos_ok(&["keys", "generate", "-q", k.to_str().unwrap()]);
    }
    let (out1, out2) = (dir.path().join("one"), dir.path().join("two"));
    // The second build compresses its initrds afresh (an empty cache), so
    // the comparison covers compression too.
    let fresh_cache = dir.path().join("fresh-cache");
    for (out, cache) in [(&out1, None), (&out2, Some(&fresh_cache))] {
        let mut args = vec![
            "--keys",
            a.to_str().unwrap(),
            "--netboot-base-url",
            "http://10.0.2.100",
        ];
        if let Some(c) = cache {
            args.extend(["--cache-dir", c.to_str().unwrap()]);
        }
        build_default_image(out, &args);
    }
    let db = a.join("db.crt");
    let signed = [
        "artifacts/bootloader.efi",
        "artifacts/imaging.efi",
        "update/bootloader.efi",
        "netboot/imaging.efi",
        "disk.img",
    ];
    for f in signed {
        assert_eq!(sha(&out1.join(f)), sha(&out2.join(f)), "{f} reproducible");
    }
    for f in &signed[..4] {
        assert!(sbverify(&db, &out1.join(f)), "{f} signed by db");
        assert!(!sbverify(&b.join("db.crt"), &out1.join(f)), "{f} not by b");
    }
    let text = metalos_ok(&[
        "inspect",
        out1.join("artifacts/bootloader.efi").to_str().unwrap(),
    ]);
    assert!(
        text.contains("Authenticode: signed by \"MetalOS db (a)\" (check: ok)"),
        "{text}"
    );

    // The slot kernel is db-signed and the descriptor hashes that file.
    let usr = partition(&out1, 2);
    let kernel = dir.path().join("vmlinuz");
    let bytes = Command::new("unsquashfs")
        .args([
            "-cat",
            usr.path().to_str().unwrap(),
            "lib/metalos/boot/vmlinuz",
        ])
        .output()
        .unwrap()
        .stdout;
    std::fs::write(&kernel, &bytes).unwrap();
    assert!(sbverify(&db, &kernel), "slot vmlinuz signed by db");
    let report: serde_json::Value = serde_json::from_str(&metalos_ok(&[
        "inspect",
        "--json",
        out1.join("disk.img").to_str().unwrap(),
    ]))
    .unwrap();
    let payload = &report["partitions"][1]["verity"]["payload"]["vmlinuz"];
    assert_eq!(payload.as_str().unwrap(), sha(&kernel));

    // netboot build: a signed imaging UKI needs the db key to be re-signed.
    let k = dir.path().join("ossl");
    std::fs::create_dir(&k).unwrap();
    std::fs::copy(a.join("signing.key"), k.join("signing.key")).unwrap();
    std::fs::copy(a.join("signing.pub"), k.join("signing.pub")).unwrap();
    let nb = dir.path().join("nb");
    let args = |keys: &Path| {
        vec![
            "netboot".to_string(),
            "build".into(),
            "-q".into(),
            "--image".into(),
            out1.display().to_string(),
            "--base-url".into(),
            "http://10.0.2.5".into(),
            "--out".into(),
            nb.display().to_string(),
            "--keys".into(),
            keys.display().to_string(),
        ]
    };
    let refused = metalos(&args(&k).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("replacing its command line needs the db key"),
        "{err}"
    );
    assert!(!nb.exists());
    metalos_ok(&args(&b).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(sbverify(&b.join("db.crt"), &nb.join("imaging.efi")));
}
