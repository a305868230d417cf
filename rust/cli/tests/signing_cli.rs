//! Signing (docs/signing.md): `metalos keys generate`, signed builds and
//! netboot bundles (checked with openssl as the independent verifier), the
//! public key in /usr and the initrds, no private key in any output, and
//! `metalos update verify|stage` refusing unsigned, forged and tampered
//! bundles without changing the disk.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn sha(p: &Path) -> String {
    metalos_config::inputs::file_digest(p).unwrap()
}

fn sh(script: &str) -> String {
    let out = Command::new("sh").args(["-c", script]).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{script} failed:\n{text}");
    text
}

fn keys(dir: &Path, name: &str) -> PathBuf {
    let k = dir.join(name);
    metalos_ok(&["keys", "generate", "-q", k.to_str().unwrap()]);
    k
}

/// openssl verifies `file.sig` (`ed25519 <base64>`) over `file` with `pubkey`.
fn openssl_verifies(file: &Path, pubkey: &Path) -> bool {
    let sig = format!("{}.sig", file.display());
    let raw = format!("{sig}.raw");
    sh(&format!(
        "cut -d' ' -f2 '{sig}' | openssl base64 -d -A > '{raw}' && test $(wc -c < '{raw}') -eq 64"
    ));
    let st = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(pubkey)
        .args(["-rawin", "-in"])
        .arg(file)
        .args(["-sigfile", &raw])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&raw);
    st.status.success()
}

#[test]
fn keys_generate_writes_keys_openssl_reads() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys(dir.path(), "site-a");
    use std::os::unix::fs::PermissionsExt;
    for name in ["signing", "PK", "KEK", "db"] {
        let key = k.join(format!("{name}.key"));
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{name}.key");
        tool_ok("openssl", &["pkey", "-noout", "-in", key.to_str().unwrap()]);
    }
    for name in ["PK", "KEK", "db"] {
        let crt = k.join(format!("{name}.crt"));
        let text = tool_ok(
            "openssl",
            &["x509", "-noout", "-text", "-in", crt.to_str().unwrap()],
        );
        assert!(
            text.contains(&format!("CN = MetalOS {name} (site-a)")),
            "{text}"
        );
        assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
        assert!(text.contains("sha256WithRSAEncryption"), "{text}");
        assert!(text.contains("CA:TRUE"), "{text}");
        // Self-signed, and the certificate belongs to the key.
        tool_ok(
            "openssl",
            &[
                "verify",
                "-CAfile",
                crt.to_str().unwrap(),
                crt.to_str().unwrap(),
            ],
        );
        let a = sh(&format!(
            "openssl x509 -noout -pubkey -in '{}'",
            crt.display()
        ));
        let b = sh(&format!(
            "openssl pkey -pubout -in '{}/{name}.key'",
            k.display()
        ));
        assert_eq!(a, b, "{name}.crt is not {name}.key's");
    }
    // signing.pub is signing.key's public half (openssl derives the same).
    let derived = sh(&format!(
        "openssl pkey -pubout -in '{}/signing.key'",
        k.display()
    ));
    assert_eq!(
        derived,
        std::fs::read_to_string(k.join("signing.pub")).unwrap()
    );

    // Never overwritten.
    let before = std::fs::read(k.join("signing.key")).unwrap();
    let out = metalos(&["keys", "generate", k.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(k.join("signing.key")).unwrap(), before);
}

#[test]
fn keys_made_by_openssl_sign_builds() {
    // The key directory format is plain openssl: a key made by openssl works.
    let fx = Fixture::new();
    let k = fx.path("ossl");
    std::fs::create_dir(&k).unwrap();
    sh(&format!(
        "cd '{}' && openssl genpkey -algorithm ed25519 -out signing.key && openssl pkey -in signing.key -pubout -out signing.pub",
        k.display()
    ));
    let out = build_signed(&fx, &full_spec(512), "v1", &k);
    assert!(openssl_verifies(
        &out.join("update/bundle.json"),
        &k.join("signing.pub")
    ));
}

fn build_signed(fx: &Fixture, spec: &str, out: &str, keys: &Path) -> PathBuf {
    let spec = fx.spec(&format!("{out}.toml"), spec);
    let out_dir = fx.path(out);
    metalos_ok(&[
        "build",
        "-q",
        &spec,
        "--inputs",
        &fx.inputs(),
        "--out",
        out_dir.to_str().unwrap(),
        "--keys",
        keys.to_str().unwrap(),
    ]);
    out_dir
}

/// Files under `dir` containing `pattern` (fixed bytes, grep -F / -P).
fn grep_files(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("grep")
        .env("LC_ALL", "C")
        .args(["-r", "-l", "-a"])
        .args(args)
        .arg(dir)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The private key (its PEM base64 body, the raw 32-byte seed) is in no
/// file under `dirs` (the string "PRIVATE KEY" itself is: PEM parsers in
/// the static binaries).
fn assert_no_private_key(dirs: &[&Path], key_dir: &Path) {
    let pem = std::fs::read_to_string(key_dir.join("signing.key")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = sh(&format!(
        "openssl pkey -in '{}/signing.key' -outform DER | od -An -v -tx1",
        key_dir.display()
    ));
    let bytes: Vec<&str> = der.split_whitespace().collect();
    assert_eq!(bytes.len(), 48);
    let seed: String = bytes[16..].iter().map(|b| format!("\\x{b}")).collect();
    for d in dirs {
        assert_eq!(
            grep_files(d, &["-F", "-e", &body]),
            "",
            "PEM body in {}",
            d.display()
        );
        assert_eq!(
            grep_files(d, &["-P", "-e", &seed]),
            "",
            "seed in {}",
            d.display()
        );
    }
}

/// v1 image and a v2 bundle, both built with key A; key B is another operator's.
struct Signed {
    fx: Fixture,
    a: PathBuf,
    b: PathBuf,
    img: PathBuf,
    bundle: PathBuf,
}

fn signed_setup() -> Signed {
    let fx = Fixture::new();
    let a = keys(fx.dir.path(), "a");
    let b = keys(fx.dir.path(), "b");
    let v1 = build_signed(&fx, &full_spec(512), "v1", &a);
    let v2_spec = full_spec(512).replace(
        "path = \"share/motd\"\nsource = { file = \"motd\" }",
        "path = \"share/motd\"\nsource = { text = \"version two\\n\" }",
    );
    let v2 = build_signed(&fx, &v2_spec, "v2", &a);
    Signed {
        img: v1.join("disk.img"),
        bundle: v2.join("update"),
        fx,
        a,
        b,
    }
}

fn pubkey(k: &Path) -> String {
    k.join("signing.pub").display().to_string()
}

/// `metalos update stage … --disk IMG` must fail; IMG keeps its bytes.
fn stage_refused(s: &Signed, bundle: &Path, extra: &[&str]) -> String {
    let err = offline_stage_fails(s, bundle, extra);
    // verify refuses it too.
    let mut vargs = vec!["update", "verify", bundle.to_str().unwrap()];
    vargs.extend_from_slice(extra);
    assert!(!metalos(&vargs).status.success());
    err
}

/// `metalos update stage BUNDLE --disk IMG EXTRA…` must fail and leave
/// IMG's bytes alone; returns stderr.
fn offline_stage_fails(s: &Signed, bundle: &Path, extra: &[&str]) -> String {
    let before = sha(&s.img);
    let out = offline_stage(s, bundle, extra);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "stage {extra:?} succeeded:\n{err}");
    assert_eq!(sha(&s.img), before, "the disk changed: {err}");
    err
}

fn copy_bundle(s: &Signed, name: &str) -> PathBuf {
    let dst = s.fx.path(name);
    std::fs::create_dir_all(&dst).unwrap();
    for e in std::fs::read_dir(&s.bundle).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dst.join(p.file_name().unwrap())).unwrap();
    }
    dst
}

#[test]
fn signed_build_outputs() {
    let s = signed_setup();
    let out = s.bundle.parent().unwrap();
    // The bundle manifest is signed (openssl agrees), by A and not by B.
    assert!(openssl_verifies(
        &s.bundle.join("bundle.json"),
        Path::new(&pubkey(&s.a))
    ));
    assert!(!openssl_verifies(
        &s.bundle.join("bundle.json"),
        Path::new(&pubkey(&s.b))
    ));
    let sig = std::fs::read_to_string(s.bundle.join("bundle.json.sig")).unwrap();
    assert!(sig.starts_with("ed25519 ") && sig.ends_with('\n') && sig.lines().count() == 1);
    // The public key is in /usr.
    let usr = partition(out, 2);
    let got = tool_ok(
        "unsquashfs",
        &[
            "-cat",
            usr.path().to_str().unwrap(),
            "lib/metalos/signing.pub",
        ],
    );
    assert_eq!(
        got,
        std::fs::read_to_string(s.a.join("signing.pub")).unwrap()
    );
    // Reproducible: the same keys give the same bytes.
    let again = build_signed(&s.fx, &full_spec(512), "v1-again", &s.a);
    assert_eq!(sha(&again.join("disk.img")), sha(&s.img));
    // No private key anywhere (the raw disk, the bundle, the unpacked /usr).
    let unpacked = s.fx.path("usr-tree");
    tool_ok(
        "unsquashfs",
        &[
            "-q",
            "-d",
            unpacked.to_str().unwrap(),
            usr.path().to_str().unwrap(),
        ],
    );
    assert_no_private_key(&[out, &unpacked], &s.a);
}

#[test]
fn unsigned_build_has_no_signature_or_key() {
    let fx = Fixture::new();
    let out = fx.build(&full_spec(512), "plain");
    assert!(!out.join("update/bundle.json.sig").exists());
    let usr = partition(&out, 2);
    let o = tool(
        "unsquashfs",
        &[
            "-cat",
            usr.path().to_str().unwrap(),
            "lib/metalos/signing.pub",
        ],
    );
    assert!(!o.status.success(), "an unsigned build carries signing.pub");
}

#[test]
fn spec_signing_section_signs_and_errors_name_the_field() {
    let fx = Fixture::new();
    keys(fx.dir.path(), "k");
    let spec = format!("[signing]\nkeys = \"k\"\n{}", full_spec(512));
    let out = fx.build(&spec, "from-spec");
    assert!(openssl_verifies(
        &out.join("update/bundle.json"),
        &fx.path("k/signing.pub")
    ));
    // A missing key directory fails the build, naming the field and the file.
    let bad = fx.spec(
        "bad.toml",
        &format!("[signing]\nkeys = \"nokeys\"\n{}", full_spec(512)),
    );
    let o = metalos(&[
        "build",
        "-q",
        &bad,
        "--inputs",
        &fx.inputs(),
        "--out",
        fx.path("bad").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("signing.keys") && err.contains("nokeys/signing.key"),
        "{err}"
    );
    assert!(!fx.path("bad/disk.img").exists());
}

#[test]
fn update_accepts_a_bundle_signed_by_its_key() {
    let s = signed_setup();
    let out = metalos(&[
        "update",
        "verify",
        s.bundle.to_str().unwrap(),
        "--pubkey",
        &pubkey(&s.a),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("signature verified"), "{err}");
    let before = sha(&s.img);
    metalos_ok(&[
        "update",
        "stage",
        "-q",
        s.bundle.to_str().unwrap(),
        "--disk",
        s.img.to_str().unwrap(),
        "--pubkey",
        &pubkey(&s.a),
    ]);
    assert_ne!(sha(&s.img), before);
}

#[test]
fn update_refuses_a_bundle_signed_by_another_key() {
    let s = signed_setup();
    let fp = metalos_signing::VerifyingKey::load(&s.b.join("signing.pub"))
        .unwrap()
        .fingerprint();
    let err = stage_refused(&s, &s.bundle, &["--pubkey", &pubkey(&s.b)]);
    assert!(
        err.contains("bundle.json.sig") && err.contains(&fp),
        "{err}"
    );
    assert!(err.contains("does not verify"), "{err}");
}

#[test]
fn update_refuses_unsigned_tampered_and_malformed_bundles() {
    let s = signed_setup();
    let key = pubkey(&s.a);
    // Unsigned.
    let unsigned = copy_bundle(&s, "unsigned");
    std::fs::remove_file(unsigned.join("bundle.json.sig")).unwrap();
    let err = stage_refused(&s, &unsigned, &["--pubkey", &key]);
    assert!(
        err.contains("bundle.json.sig") && err.contains("no signature"),
        "{err}"
    );
    // Tampered manifest (another version string, hashes unchanged).
    let tampered = copy_bundle(&s, "tampered");
    let m = std::fs::read_to_string(tampered.join("bundle.json")).unwrap();
    let m2 = m.replacen("\"version\": \"", "\"version\": \"9", 1);
    assert_ne!(m, m2);
    std::fs::write(tampered.join("bundle.json"), m2).unwrap();
    let err = stage_refused(&s, &tampered, &["--pubkey", &key]);
    assert!(err.contains("does not verify"), "{err}");
    // Malformed signature file.
    let malformed = copy_bundle(&s, "malformed");
    std::fs::write(malformed.join("bundle.json.sig"), "ed25519 AAAA\n").unwrap();
    let err = stage_refused(&s, &malformed, &["--pubkey", &key]);
    assert!(err.contains("malformed signature"), "{err}");
    // --insecure-skip-signature stages the unsigned bundle, loudly.
    let out = metalos(&[
        "update",
        "stage",
        "-q",
        unsigned.to_str().unwrap(),
        "--disk",
        s.img.to_str().unwrap(),
        "--insecure-skip-signature",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("WARNING: --insecure-skip-signature"), "{err}");
}

/// A bootloader UKI (Debian's systemd-stub, a dummy kernel) whose initrd
/// carries `etc/metalos/signing.pub` of `keys`, as a signed build's does.
fn bootloader_uki(fx: &Fixture, name: &str, keys: &Path) -> PathBuf {
    let dir = fx.path(name);
    std::fs::create_dir_all(dir.join("root/etc/metalos")).unwrap();
    std::fs::copy(
        keys.join("signing.pub"),
        dir.join("root/etc/metalos/signing.pub"),
    )
    .unwrap();
    std::fs::write(dir.join("kernel"), b"not really a kernel").unwrap();
    sh(&format!(
        "cd '{0}/root' && find etc | cpio --quiet -o -H newc > '{0}/initrd.cpio'",
        dir.display()
    ));
    let uki = dir.join("bootloader.efi");
    let d = |f: &str| dir.join(f).display().to_string();
    metalos_ok(&[
        "uki",
        "-q",
        "--stub",
        "/usr/lib/systemd/boot/efi/linuxx64.efi.stub",
        "--kernel",
        &d("kernel"),
        "--initrd",
        &d("initrd.cpio"),
        "--uname",
        "6.1.0-test",
        "-o",
        uki.to_str().unwrap(),
    ]);
    uki
}

/// Puts `uki` on the ESP of `img` as EFI/BOOT/BOOTX64.EFI.
fn install_bootloader(img: &Path, uki: &Path) {
    let esp = metalos_tests::esp_arg(img);
    tool_ok(
        "mcopy",
        &[
            "-o",
            "-i",
            &esp,
            uki.to_str().unwrap(),
            "::/EFI/BOOT/BOOTX64.EFI",
        ],
    );
}

/// `metalos update stage -q BUNDLE --disk IMG EXTRA…`.
fn offline_stage(s: &Signed, bundle: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "update",
        "stage",
        "-q",
        bundle.to_str().unwrap(),
        "--disk",
        s.img.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    metalos(&args)
}

/// [`offline_stage_fails`] with no key on the command line: the refusal
/// comes from the disk's own key, never "unverified".
fn offline_stage_refused(s: &Signed, bundle: &Path, extra: &[&str]) -> String {
    let err = offline_stage_fails(s, bundle, extra);
    assert!(!err.contains("unverified"), "{err}");
    err
}

/// Acceptance finding 1: with `--disk`, the trust anchor is the disk's own
/// key (its next-boot /usr slot's, cross-checked with its bootloader's),
/// never the key of the host running the command (this build host has
/// none): a bundle signed by another key, or unsigned, is refused and
/// nothing on the disk changes, bootloader included; `--pubkey` overrides.
#[test]
fn offline_stage_trusts_the_disks_key_not_the_hosts() {
    let s = signed_setup();
    let fp = |k: &Path| {
        metalos_signing::VerifyingKey::load(&k.join("signing.pub"))
            .unwrap()
            .fingerprint()
    };
    let (fp_a, fp_b) = (fp(&s.a), fp(&s.b));
    // v2 signed by B, carrying another bootloader: the reported attack.
    let v2b_spec = full_spec(512).replace(
        "path = \"share/motd\"\nsource = { file = \"motd\" }",
        "path = \"share/motd\"\nsource = { text = \"foreign\\n\" }",
    );
    let foreign = build_signed(&s.fx, &v2b_spec, "v2b", &s.b).join("update");
    let err = offline_stage_refused(&s, &foreign, &[]);
    assert!(
        err.contains("does not verify") && err.contains(&fp_a) && err.contains("slot 2 (USR-A)"),
        "{err}"
    );
    let unsigned = copy_bundle(&s, "unsigned-offline");
    std::fs::remove_file(unsigned.join("bundle.json.sig")).unwrap();
    let err = offline_stage_refused(&s, &unsigned, &[]);
    assert!(err.contains("no signature"), "{err}");

    // A bootloader that trusts B on a disk whose /usr trusts A: refused
    // even for A's own bundle, naming both keys.
    install_bootloader(&s.img, &bootloader_uki(&s.fx, "uki-b", &s.b));
    let err = offline_stage_refused(&s, &s.bundle, &[]);
    assert!(
        err.contains("keys disagree") && err.contains(&fp_a) && err.contains(&fp_b),
        "{err}"
    );
    assert!(err.contains("EFI/BOOT/BOOTX64.EFI"), "{err}");

    // Both parts trust A: A's bundle stages without any flag.
    install_bootloader(&s.img, &bootloader_uki(&s.fx, "uki-a", &s.a));
    let before = sha(&s.img);
    let out = offline_stage(&s, &s.bundle, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!("signature verified (key {fp_a})")),
        "{err}"
    );
    assert_ne!(sha(&s.img), before);
}

/// An unsigned disk stays `unverified` offline, as on a host.
#[test]
fn offline_stage_onto_an_unsigned_disk_says_unverified() {
    let fx = Fixture::new();
    let v1 = fx.build(&full_spec(512), "v1");
    let v2 = fx.build(
        &full_spec(512).replace(
            "path = \"share/motd\"\nsource = { file = \"motd\" }",
            "path = \"share/motd\"\nsource = { text = \"two\\n\" }",
        ),
        "v2",
    );
    let img = v1.join("disk.img");
    let out = metalos(&[
        "update",
        "stage",
        "-q",
        v2.join("update").to_str().unwrap(),
        "--disk",
        img.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "unverified: {} was built without signing keys",
            img.display()
        )),
        "{err}"
    );
}

#[test]
fn update_on_a_system_without_a_key_says_unverified() {
    if Path::new("/usr/lib/metalos/signing.pub").exists() {
        return; // this host is a signed MetalOS system
    }
    let s = signed_setup();
    let out = metalos(&["update", "verify", s.bundle.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("unverified: this system was built without signing keys"),
        "{err}"
    );
}

/// The default image (real inputs) built with keys and a netboot bundle:
/// every initrd and /usr carry signing.pub, the bundle and netboot
/// manifests are signed, publish serves the signature, `netboot build
/// --keys` signs with the key given, and no private key is in any output.
#[test]
fn signed_default_image_initrds_and_netboot() {
    let dir = tempfile::tempdir().unwrap();
    let a = keys(dir.path(), "a");
    let b = keys(dir.path(), "b");
    let hc = dir.path().join("hc.json");
    std::fs::write(
        &hc,
        r#"{"version": 1, "identity": {"hostname": "n1", "machine-id": "00112233445566778899aabbccddeeff"}}"#,
    )
    .unwrap();
    let out = dir.path().join("default");
    let host = format!("52:54:00:12:34:56={}", hc.display());
    build_default_image(
        &out,
        &[
            "--keys",
            a.to_str().unwrap(),
            "--netboot-base-url",
            "http://10.0.2.100",
            "--netboot-host",
            &host,
        ],
    );
    let public = std::fs::read_to_string(a.join("signing.pub")).unwrap();
    let unpacked = dir.path().join("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    for initrd in ["bootloader-initrd", "setup-initrd", "imaging-initrd"] {
        let f = out.join("artifacts").join(initrd);
        let got = sh(&format!(
            "zstd -dc '{}' | cpio -i --quiet --to-stdout etc/metalos/signing.pub",
            f.display()
        ));
        assert_eq!(got, public, "{initrd}");
        sh(&format!(
            "zstd -dc '{}' > '{}/{initrd}.cpio'",
            f.display(),
            unpacked.display()
        ));
    }
    let usr = partition(&out, 2);
    let got = tool_ok(
        "unsquashfs",
        &[
            "-cat",
            usr.path().to_str().unwrap(),
            "lib/metalos/signing.pub",
        ],
    );
    assert_eq!(got, public);
    tool_ok(
        "unsquashfs",
        &[
            "-q",
            "-d",
            unpacked.join("usr").to_str().unwrap(),
            usr.path().to_str().unwrap(),
        ],
    );
    let a_pub = a.join("signing.pub");
    assert!(openssl_verifies(&out.join("update/bundle.json"), &a_pub));
    assert!(openssl_verifies(&out.join("netboot/manifest.json"), &a_pub));

    // publish serves the signature next to the manifest.
    let dest = dir.path().join("srv");
    metalos_ok(&[
        "netboot",
        "publish",
        "-q",
        out.join("netboot").to_str().unwrap(),
        dest.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read(dest.join("manifest.json.sig")).unwrap(),
        std::fs::read(out.join("netboot/manifest.json.sig")).unwrap()
    );
    assert!(openssl_verifies(&dest.join("manifest.json"), &a_pub));

    // `netboot build --keys B` signs with B.
    let nb = dir.path().join("nb-b");
    metalos_ok(&[
        "netboot",
        "build",
        "-q",
        "--image",
        out.to_str().unwrap(),
        "--base-url",
        "http://10.0.2.100",
        "--out",
        nb.to_str().unwrap(),
        "--keys",
        b.to_str().unwrap(),
    ]);
    assert!(openssl_verifies(
        &nb.join("manifest.json"),
        &b.join("signing.pub")
    ));
    assert!(!openssl_verifies(&nb.join("manifest.json"), &a_pub));

    assert_no_private_key(&[&out, &unpacked, &dest], &a);
    assert_no_private_key(&[&nb], &b);
}
