//! `metalos netboot build|publish|serve|image-write` and `metalos build --netboot-base-url`.
//!
//! The default image is built once (real inputs + static binaries); the
//! publish tests use small stand-in image directories (the real imaging.efi
//! and build manifest with a small disk.img), so each release has its own blob.

mod common;
use common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BASE: &str = "http://10.0.2.100";
const MAC: &str = "52:54:00:12:34:56";

/// The default image, built for one test (fast: the compressed initrds
/// come from the shared cache) into a temp dir that goes with the guard.
fn default_image() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("default");
    build_default_image(&out, &[]);
    (dir, out)
}

fn host_config(dir: &Path, name: &str, hostname: &str) -> String {
    let p = dir.join(name);
    let json = format!(
        r#"{{"version": 1, "identity": {{"hostname": "{hostname}", "machine-id": "00112233445566778899aabbccddeeff"}}}}"#
    );
    std::fs::write(&p, json).unwrap();
    p.display().to_string()
}

fn build_bundle(image: &Path, out: &Path, hosts: &[String]) {
    let mut args = vec![
        "netboot".to_string(),
        "build".into(),
        "-q".into(),
        "--image".into(),
        image.display().to_string(),
        "--base-url".into(),
        format!("{BASE}/"),
        "--out".into(),
        out.display().to_string(),
    ];
    for h in hosts {
        args.push("--host".into());
        args.push(h.clone());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    metalos_ok(&refs);
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn bundle_contents_hashes_and_reproducibility() {
    let (_image_dir, image) = default_image();
    let image = image.as_path();
    let dir = tempfile::tempdir().unwrap();
    let hc = host_config(dir.path(), "h.json", "node1");
    let host = format!("{}={hc}", MAC.to_uppercase());
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let t = std::time::Instant::now();
    build_bundle(image, &a, std::slice::from_ref(&host));
    eprintln!("netboot build: {:.1}s", t.elapsed().as_secs_f64());
    build_bundle(image, &b, &[host]);
    assert!(tree(&a) == tree(&b), "two bundle builds differ");

    let build_manifest = json(&image.join("manifest.json"));
    let disk_sha = build_manifest["disk"]["sha256"].as_str().unwrap();
    let m = json(&a.join("manifest.json"));
    assert_eq!(m["version"], 1);
    assert_eq!(m["image"]["sha256"], disk_sha);
    assert_eq!(m["image"]["size"], 1u64 << 30);
    assert_eq!(m["image"]["sector-size"], 512);
    let blob = m["image"]["blob"].as_str().unwrap();
    let files = m["files"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            blob,
            "boot.ipxe",
            "hosts/52-54-00-12-34-56.json",
            "imaging.efi"
        ]
    );
    for f in files {
        let p = a.join(f["path"].as_str().unwrap());
        let sha = metalos_config::inputs::file_digest(&p).unwrap();
        assert_eq!(f["sha256"], sha.as_str(), "{}", p.display());
        assert_eq!(f["size"], std::fs::metadata(&p).unwrap().len());
    }
    assert_eq!(
        blob,
        format!("blobs/sha256/{}", files[0]["sha256"].as_str().unwrap())
    );
    assert_eq!(m["image"]["compressed-size"], files[0]["size"]);
    // Independent oracle: zstd decompresses the blob to disk.img.
    let raw = dir.path().join("raw.img");
    tool_ok(
        "zstd",
        &[
            "-d",
            "-q",
            a.join(blob).to_str().unwrap(),
            "-o",
            raw.to_str().unwrap(),
        ],
    );
    assert_eq!(metalos_config::inputs::file_digest(&raw).unwrap(), disk_sha);

    let script = std::fs::read_to_string(a.join("boot.ipxe")).unwrap();
    let image_args = format!(
        "metalos.image_url={BASE}/{blob} metalos.image_sha256={disk_sha} metalos.image_size=1073741824"
    );
    let kernel = format!(
        "kernel {BASE}/imaging.efi console=ttyS0 panic=10 BOOTIF=01-${{net0/mac:hexhyp}} \
         ip=${{net0/ip}}::${{net0/gateway}}:${{net0/netmask}} metalos.dns=${{dns}} \
         metalos.host_config_url={BASE}/hosts/${{net0/mac:hexhyp}}.json {image_args}"
    );
    assert!(script.starts_with("#!ipxe\n"), "{script}");
    assert!(
        script.lines().any(|l| l == kernel),
        "{script}\nexpected: {kernel}"
    );
    assert!(script.ends_with("\nboot\n"), "{script}");

    let efi = std::fs::read(a.join("imaging.efi")).unwrap();
    let uki = metalos_uki::Uki::parse(&efi).unwrap();
    assert_eq!(
        uki.cmdline().unwrap(),
        format!("console=ttyS0 panic=10 metalos.host_config_url={BASE}/hosts/${{mac}}.json {image_args}")
    );
    let orig = std::fs::read(image.join("artifacts/imaging.efi")).unwrap();
    let orig = metalos_uki::Uki::parse(&orig).unwrap();
    for s in [".linux", ".initrd", ".osrel", ".uname", ".sbat"] {
        assert_eq!(uki.section(s), orig.section(s), "{s}");
    }
    assert_eq!(
        std::fs::read(a.join("hosts/52-54-00-12-34-56.json")).unwrap(),
        std::fs::read(&hc).unwrap()
    );
}

#[test]
fn build_writes_the_bundle_in_one_go() {
    let (_image_dir, image) = default_image();
    let image = image.as_path();
    let dir = tempfile::tempdir().unwrap();
    let hc = host_config(dir.path(), "h.json", "node1");
    let out = dir.path().join("img");
    let host = format!("52-54-00-12-34-56={hc}");
    build_default_image(&out, &["--netboot-base-url", BASE, "--netboot-host", &host]);
    let separate = dir.path().join("separate");
    build_bundle(image, &separate, &[format!("{MAC}={hc}")]);
    assert!(tree(&out.join("netboot")) == tree(&separate));
}

#[test]
fn bad_hosts_fail_clearly_and_write_nothing() {
    let (_image_dir, image) = default_image();
    let image = image.as_path();
    let dir = tempfile::tempdir().unwrap();
    let good = host_config(dir.path(), "good.json", "node1");
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"version": 1, "identity": {"hostname": "x", "colour": 1}}"#,
    )
    .unwrap();
    let bad_ignition = dir.path().join("bad-ignition.json");
    std::fs::write(
        &bad_ignition,
        r#"{"version": 1, "identity": {"hostname": "x", "machine-id": "00112233445566778899aabbccddeeff"},
            "provisioning": {"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/a/../b"}]}}}"#,
    )
    .unwrap();
    let out = dir.path().join("bundle");
    let cases = [
        (
            format!("{MAC}={}", bad_ignition.display()),
            "provisioning.storage.files[0].path: path is not fully simplified",
        ),
        (format!("52:54:00:12:34={good}"), "is not a MAC address"),
        (MAC.to_string(), "expected MAC=HOSTCONFIG"),
        (format!("{MAC}={}", bad.display()), "identity"),
        (
            format!("{MAC}={}", dir.path().join("missing.json").display()),
            "missing.json",
        ),
    ];
    for (host, expected) in cases {
        let o = metalos(&[
            "netboot",
            "build",
            "--image",
            image.to_str().unwrap(),
            "--base-url",
            BASE,
            "--host",
            &host,
            "--out",
            out.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{host}");
        assert!(err.contains(expected), "{host}: {err}");
        assert!(!out.exists(), "{host}: {} was written", out.display());
    }
    let o = metalos(&[
        "netboot",
        "build",
        "--image",
        image.to_str().unwrap(),
        "--base-url",
        "ftp://x",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--base-url \"ftp://x\""));
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 3, "temp files left: {leftovers:?}");
}

/// A small image directory: the default build's manifest and imaging.efi
/// with a 1 MiB disk.img derived from `seed`.
fn small_image(dir: &Path, seed: u8) -> PathBuf {
    let (_image_dir, image) = default_image();
    let image = image.as_path();
    let out = dir.join(format!("image-{seed}"));
    std::fs::create_dir_all(out.join("artifacts")).unwrap();
    std::fs::copy(
        image.join("artifacts/imaging.efi"),
        out.join("artifacts/imaging.efi"),
    )
    .unwrap();
    let disk: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i as u8).wrapping_mul(seed) ^ seed)
        .collect();
    std::fs::write(out.join("disk.img"), &disk).unwrap();
    let mut m = json(&image.join("manifest.json"));
    m["disk"]["size"] = disk.len().into();
    m["disk"]["sha256"] = metalos_config::inputs::file_digest(&out.join("disk.img"))
        .unwrap()
        .into();
    std::fs::write(out.join("manifest.json"), m.to_string()).unwrap();
    out
}

fn small_bundle(dir: &Path, seed: u8) -> PathBuf {
    let image = small_image(dir, seed);
    let out = dir.join(format!("bundle-{seed}"));
    let hc = host_config(dir, &format!("h{seed}.json"), &format!("node{seed}"));
    build_bundle(&image, &out, &[format!("{MAC}={hc}")]);
    out
}

fn publish(bundle: &Path, dest: &Path, keep: &str) {
    metalos_ok(&[
        "netboot",
        "publish",
        "-q",
        bundle.to_str().unwrap(),
        dest.to_str().unwrap(),
        "--keep",
        keep,
    ]);
}

/// The served manifest, after checking every file it lists.
fn served(dest: &Path) -> serde_json::Value {
    let m =
        metalos_netboot::verify_served(dest).unwrap_or_else(|e| panic!("not served intact: {e}"));
    serde_json::to_value(m).unwrap()
}

fn blobs(dest: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dest.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Every path with its mtime: proves a second publish rewrote nothing.
fn mtimes(dir: &Path) -> Vec<(String, std::time::SystemTime)> {
    let mut v: Vec<_> = tree(dir)
        .into_iter()
        .map(|(p, _)| {
            let t = std::fs::symlink_metadata(dir.join(&p))
                .unwrap()
                .modified()
                .unwrap();
            (p, t)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn publish_twice_is_idempotent_and_gc_keeps_referenced_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("srv");
    let (a, b, c) = (
        small_bundle(dir.path(), 1),
        small_bundle(dir.path(), 2),
        small_bundle(dir.path(), 3),
    );
    let blob_of = |bundle: &Path| {
        json(&bundle.join("manifest.json"))["image"]["blob"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string()
    };

    publish(&a, &dest, "2");
    assert_eq!(served(&dest), json(&a.join("manifest.json")));
    let before = (tree(&dest), mtimes(&dest));
    publish(&a, &dest, "2");
    assert!(
        (tree(&dest), mtimes(&dest)) == before,
        "second publish changed DEST"
    );
    assert_eq!(
        std::fs::read(dest.join("hosts/52-54-00-12-34-56.json")).unwrap(),
        std::fs::read(a.join("hosts/52-54-00-12-34-56.json")).unwrap()
    );

    publish(&b, &dest, "2");
    publish(&c, &dest, "2");
    assert_eq!(served(&dest), json(&c.join("manifest.json")));
    let mut expected = vec![blob_of(&b), blob_of(&c)];
    expected.sort();
    assert_eq!(
        blobs(&dest),
        expected,
        "B is kept, so is its blob; A's is gone"
    );
    let index = json(&dest.join("releases.json"));
    assert_eq!(index["releases"].as_array().unwrap().len(), 2);
    assert_eq!(std::fs::read_dir(dest.join("releases")).unwrap().count(), 2);

    // Re-publishing a kept older release makes it current; nothing removed.
    publish(&b, &dest, "2");
    assert_eq!(served(&dest), json(&b.join("manifest.json")));
    assert_eq!(blobs(&dest), expected);
    // --keep 1: only the served release and its blob remain.
    publish(&b, &dest, "1");
    assert_eq!(blobs(&dest), [blob_of(&b)]);
    assert_eq!(std::fs::read_dir(dest.join("releases")).unwrap().count(), 1);
}

/// Runs a publish that pauses at `step`, then kills it.
fn interrupted_publish(bundle: &Path, dest: &Path, step: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_metalos"))
        .args([
            "netboot",
            "publish",
            bundle.to_str().unwrap(),
            dest.to_str().unwrap(),
            "--keep",
            "1",
        ])
        .env("METALOS_FAULT_PAUSE", format!("publish:{step}"))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let marker = format!("metalos-fault: paused at publish:{step}");
    let mut seen = String::new();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("publish ended before {step}:\n{seen}"))
            .unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(&marker) {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn interrupted_publish_keeps_the_previous_release_served() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("srv");
    let (a, b) = (small_bundle(dir.path(), 4), small_bundle(dir.path(), 5));
    let (ma, mb) = (
        json(&a.join("manifest.json")),
        json(&b.join("manifest.json")),
    );
    for step in metalos_netboot::publish::STEPS {
        publish(&a, &dest, "1");
        assert_eq!(served(&dest), ma);
        interrupted_publish(&b, &dest, step);
        let now = served(&dest);
        let switched = matches!(*step, "switch" | "gc");
        assert_eq!(
            now,
            if switched { mb.clone() } else { ma.clone() },
            "stopped at {step}"
        );
        // With --keep 1 the interrupted run must not have removed A's blob
        // while A is still served (checked by served()), and a clean
        // publish completes from any state.
        publish(&b, &dest, "1");
        assert_eq!(served(&dest), mb, "after {step}");
    }
}

#[test]
fn serve_gets_heads_and_404s() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("hosts")).unwrap();
    std::fs::write(dir.path().join("hosts/a.json"), b"{}\n").unwrap();
    let (mut child, url) = serve(dir.path());
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let get = |req: &str| {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let ok = get("GET /hosts/a.json HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(
        ok.starts_with("HTTP/1.1 200 OK\r\n")
            && ok.contains("Content-Length: 3\r\n")
            && ok.ends_with("\r\n\r\n{}\n"),
        "{ok}"
    );
    let head = get("HEAD /hosts/a.json HTTP/1.0\r\n\r\n");
    assert!(
        head.contains("Content-Length: 3\r\n") && head.ends_with("\r\n\r\n"),
        "{head}"
    );
    assert!(get("GET /nope HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 404"));
    assert!(get("GET /../etc/passwd HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 400"));
    child.kill().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    child.wait().unwrap();
    assert!(
        log.contains("GET /hosts/a.json 200") && log.contains("GET /nope 404"),
        "{log}"
    );
}

/// `metalos netboot image-write`: the blob served over HTTP onto a file
/// larger than the image gives the image bit for bit with its tables; bad
/// arguments fail naming the fault and leave no partition table.
#[test]
fn image_write_puts_the_served_image_on_a_file() {
    let (_image_dir, image) = default_image();
    let image = image.as_path();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    build_bundle(image, &bundle, &[]);
    let m = json(&bundle.join("manifest.json"));
    let (size, sha) = (
        m["image"]["size"].as_u64().unwrap(),
        m["image"]["sha256"].as_str().unwrap().to_string(),
    );
    let (mut child, base) = serve(&bundle);
    let url = format!("{base}{}", m["image"]["blob"].as_str().unwrap());
    let target = dir.path().join("disk.raw");
    let write = |target: &Path, sha: &str| {
        let size = size.to_string();
        metalos(&[
            "-q",
            "netboot",
            "image-write",
            &url,
            "--target",
            target.to_str().unwrap(),
            "--size",
            &size,
            "--sha256",
            sha,
        ])
    };
    let has_gpt = |p: &Path| {
        let mut head = [0u8; 520];
        std::fs::File::open(p)
            .unwrap()
            .read_exact(&mut head)
            .unwrap();
        &head[512..520] == b"EFI PART"
    };

    let missing = write(&target, &sha);
    let err = String::from_utf8_lossy(&missing.stderr);
    assert!(
        !missing.status.success() && err.contains("opening"),
        "{err}"
    );

    std::fs::File::create(&target)
        .unwrap()
        .set_len(size / 2)
        .unwrap();
    let small = write(&target, &sha);
    let err = String::from_utf8_lossy(&small.stderr);
    assert!(err.contains("larger than the disk"), "{err}");

    std::fs::File::create(&target)
        .unwrap()
        .set_len(size + (4 << 20))
        .unwrap();
    let out = write(&target, &sha);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read(&target).unwrap();
    let disk = std::fs::read(image.join("disk.img")).unwrap();
    assert!(
        written[..size as usize] == disk[..],
        "not the image, bit for bit"
    );
    assert!(written[size as usize..].iter().all(|b| *b == 0));

    // The image's sha256 is not the one given: the old tables are gone.
    let wrong = write(&target, &"0".repeat(64));
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(err.contains("sha256 mismatch"), "{err}");
    assert!(!has_gpt(&target), "no valid table left");
    child.kill().unwrap();
    child.wait().unwrap();
}
