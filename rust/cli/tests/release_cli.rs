//! `metalos release publish|withdraw|list`, with small stand-in update
//! bundles (bundle.json + a small usr.img, signed with a generated key
//! where needed) — no image build. Oracles: the graph read back as JSON,
//! openssl for signatures, the update code's HTTP bundle reader through
//! `metalos netboot serve`.

mod common;
use common::*;

use metalos_contract::graph::Graph;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// An update bundle for `version` with a usr.img derived from `seed`,
/// signed with `keys/signing.key` when given.
fn bundle(dir: &Path, version: &str, seed: u8, keys: Option<&Path>) -> PathBuf {
    let out = dir.join(format!("bundle-{version}-{seed}"));
    std::fs::create_dir_all(&out).unwrap();
    let usr: Vec<u8> = (0..20_000u32)
        .map(|i| (i as u8).wrapping_mul(seed) ^ seed)
        .collect();
    std::fs::write(out.join("usr.img"), &usr).unwrap();
    let m = metalos_contract::update::UpdateManifest {
        format: 1,
        version: version.into(),
        usr: metalos_contract::update::BundleFile {
            file: "usr.img".into(),
            size: usr.len() as u64,
            sha256: sha256(&usr),
        },
        bootloader: None,
    };
    let text = serde_json::to_string_pretty(&m).unwrap();
    std::fs::write(out.join("bundle.json"), &text).unwrap();
    if let Some(k) = keys {
        let key = metalos_signing::KeyDir::open(k)
            .unwrap()
            .signing_key()
            .unwrap();
        let sig = metalos_signing::sign(&key, text.as_bytes());
        std::fs::write(out.join("bundle.json.sig"), sig.to_file_bytes()).unwrap();
    }
    out
}

fn signing_keys(dir: &Path) -> PathBuf {
    let k = dir.join("keys");
    metalos_signing::KeyDir::generate_signing(&k).unwrap();
    k
}

fn publish(b: &Path, dest: &Path, extra: &[&str]) -> String {
    let mut args = vec!["release", "publish", "-q", b.to_str().unwrap()];
    args.extend([dest.to_str().unwrap(), "--channel", "stable"]);
    args.extend(extra);
    metalos_ok(&args)
}

/// `metalos …` that must fail; returns stderr.
fn fails(args: &[&str]) -> String {
    let out = metalos(args);
    assert!(!out.status.success(), "metalos {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

fn graph(dest: &Path) -> Graph {
    let text = std::fs::read_to_string(dest.join("updates/stable/graph.json")).unwrap();
    Graph::parse(&text).unwrap()
}

/// Edges as `from>to` version pairs, sorted.
fn edges(g: &Graph) -> Vec<String> {
    let mut v: Vec<String> = g
        .edges
        .iter()
        .map(|[f, t]| format!("{}>{}", g.nodes[*f].version, g.nodes[*t].version))
        .collect();
    v.sort();
    v
}

fn list_json(dest: &Path) -> serde_json::Value {
    let out = metalos_ok(&[
        "release",
        "list",
        dest.to_str().unwrap(),
        "--channel",
        "stable",
        "--json",
    ]);
    serde_json::from_str(&out).unwrap()
}

#[test]
fn barriers_withdrawal_and_a_widened_rollout() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("srv");
    let start = ["--rollout-start", "2020-01-01T00:00:00Z"];
    publish(&bundle(dir.path(), "1.0", 1, None), &dest, &[]);
    let b11 = bundle(dir.path(), "1.1", 2, None);
    let widen: Vec<&str> = [&start[..], &["--rollout-start-value", "0.25"]].concat();
    let out = publish(&b11, &dest, &widen);
    assert!(
        out.contains("epoch 1577836800") && out.contains("now 25.0%"),
        "{out}"
    );
    publish(&bundle(dir.path(), "1.2", 3, None), &dest, &["--barrier"]);
    publish(&bundle(dir.path(), "1.3", 4, None), &dest, &[]);
    let g = graph(&dest);
    assert_eq!(edges(&g), ["1.0>1.1", "1.0>1.2", "1.1>1.2", "1.2>1.3"]);

    let d = dest.to_str().unwrap();
    metalos_ok(&["release", "withdraw", "-q", d, "--channel", "stable", "1.3"]);
    publish(&bundle(dir.path(), "1.4", 5, None), &dest, &[]);
    assert_eq!(
        edges(&graph(&dest)),
        ["1.0>1.1", "1.0>1.2", "1.1>1.2", "1.2>1.4", "1.3>1.4"],
        "nothing leads into 1.3; hosts on it still update"
    );

    // Widen 1.1's rollout: its start and edges stay.
    let out = publish(&b11, &dest, &["--rollout-start-value", "1"]);
    assert!(
        out.starts_with("updated the rollout of release 1.1"),
        "{out}"
    );
    assert!(
        out.contains("epoch 1577836800") && out.contains("now 100.0%"),
        "{out}"
    );
    let list = list_json(&dest);
    let releases = list["releases"].as_array().unwrap();
    let r11 = &releases[1];
    assert_eq!(r11["version"], "1.1");
    assert_eq!(r11["rollout_start_value"], 1.0);
    assert_eq!(r11["rollout_fraction"], 1.0);
    assert_eq!(r11["edges_out"], serde_json::json!(["1.2"]));
    assert_eq!(releases[2]["barrier"], true);
    assert_eq!(releases[3]["withdrawn"], true);
    assert_eq!(releases[3]["edges_in"], serde_json::json!([]));
    assert_eq!(list["signed"], false);
    // A republish with the same options writes nothing.
    let before = tree(&dest);
    let out = publish(&b11, &dest, &["--rollout-start-value", "1"]);
    assert!(out.starts_with("already published"), "{out}");
    assert!(tree(&dest) == before);

    // A future rollout admits nobody yet; the text listing says so.
    let future = [
        "--rollout-start",
        "2100-01-01T00:00:00Z",
        "--rollout-minutes",
        "60",
    ];
    publish(&bundle(dir.path(), "1.5", 6, None), &dest, &future);
    let text = metalos_ok(&["release", "list", d, "--channel", "stable"]);
    assert!(text.contains("(unsigned, 6 release(s))"), "{text}");
    assert!(
        text.contains("1.5\tage 5\t-\trollout 0.0%\tfrom: 1.2,1.3,1.4\tto: -"),
        "{text}"
    );
    assert!(
        text.contains("1.2\tage 2\tbarrier\trollout 100.0%"),
        "{text}"
    );
}

#[test]
fn publishing_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let b1 = bundle(dir.path(), "1", 1, None);
    let b2 = bundle(dir.path(), "2", 2, None);
    for dest in [&a, &b] {
        publish(&b1, dest, &[]);
        publish(
            &b2,
            dest,
            &[
                "--rollout-start",
                "2026-12-01T12:00:00+01:00",
                "--rollout-minutes",
                "90",
            ],
        );
    }
    assert!(tree(&a) == tree(&b), "same inputs, different trees");
    let g = graph(&a);
    let m = &g.nodes[1].metadata;
    assert_eq!(m["org.metalos.updates.start_epoch"], "1796122800");
    assert_eq!(m["org.metalos.updates.duration_minutes"], "90");
}

/// openssl verifies `file.sig` (`ed25519 <base64>`) over `file` with `pubkey`.
fn openssl_verifies(file: &Path, pubkey: &Path) -> bool {
    let sig = std::fs::read_to_string(format!("{}.sig", file.display())).unwrap();
    let raw = tempfile::NamedTempFile::new().unwrap();
    let b64 = sig.trim().strip_prefix("ed25519 ").unwrap();
    let script = format!(
        "printf %s '{b64}' | openssl base64 -d -A > '{}'",
        raw.path().display()
    );
    tool_ok("sh", &["-c", &script]);
    let st = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(pubkey)
        .args(["-rawin", "-in"])
        .arg(file)
        .arg("-sigfile")
        .arg(raw.path())
        .output()
        .unwrap();
    st.status.success()
}

#[test]
fn a_signed_channel_verifies_with_the_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("srv");
    let keys = signing_keys(dir.path());
    let k = keys.to_str().unwrap();
    let b1 = bundle(dir.path(), "1", 1, Some(&keys));
    let e = fails(&[
        "release",
        "publish",
        b1.to_str().unwrap(),
        dest.to_str().unwrap(),
        "--channel",
        "stable",
    ]);
    assert!(
        e.contains("bundle.json.sig") && e.contains("pass --keys"),
        "{e}"
    );
    assert!(!dest.exists(), "a refused publish created DEST");

    publish(&b1, &dest, &["--keys", k]);
    let chan = dest.join("updates/stable");
    let pubkey = keys.join("signing.pub");
    assert!(openssl_verifies(&chan.join("graph.json"), &pubkey));
    assert!(openssl_verifies(&chan.join("1/bundle.json"), &pubkey));
    let d = dest.to_str().unwrap();
    let e = fails(&["release", "withdraw", d, "--channel", "stable", "1"]);
    assert!(
        e.contains("graph.json.sig") && e.contains("the channel is signed"),
        "{e}"
    );
    metalos_ok(&[
        "release",
        "withdraw",
        "-q",
        d,
        "--channel",
        "stable",
        "1",
        "--keys",
        k,
    ]);
    assert!(openssl_verifies(&chan.join("graph.json"), &pubkey));
    assert_eq!(list_json(&dest)["signed"], true);
    // Another key is refused.
    let other = signing_keys(&dir.path().join("o"));
    let b2 = bundle(dir.path(), "2", 2, Some(&other));
    let e = fails(&[
        "release",
        "publish",
        b2.to_str().unwrap(),
        d,
        "--channel",
        "stable",
        "--keys",
        other.to_str().unwrap(),
    ]);
    assert!(e.contains("another key"), "{e}");
}

#[test]
fn hosts_fetch_a_release_over_http_and_netboot_gc_keeps_its_blob() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("srv");
    let b1 = bundle(dir.path(), "1", 1, None);
    publish(&b1, &dest, &[]);
    // netboot releases in the same DEST; --keep 1 collects all but the newest.
    for seed in [1, 2] {
        let nb = netboot_bundle(dir.path(), seed);
        let (d, n) = (dest.to_str().unwrap(), nb.to_str().unwrap());
        metalos_ok(&["netboot", "publish", "-q", n, d, "--keep", "1"]);
    }
    let blobs = std::fs::read_dir(dest.join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(
        blobs, 2,
        "the newest netboot blob and the channel's usr.img"
    );

    let (mut server, base) = serve(&dest);
    let chan = format!("{base}updates/stable/");
    let src = metalos_update::BundleSource::parse(&chan, None).unwrap();
    let g =
        Graph::parse(&String::from_utf8(src.read_small("graph.json").unwrap()).unwrap()).unwrap();
    let payload = format!("{chan}{}", g.nodes[0].payload);
    let src = metalos_update::BundleSource::parse(&payload, None).unwrap();
    let text = src.read_small("bundle.json").unwrap();
    assert_eq!(text, std::fs::read(b1.join("bundle.json")).unwrap());
    let m = metalos_contract::update::UpdateManifest::parse(std::str::from_utf8(&text).unwrap())
        .unwrap();
    let mut usr = Vec::new();
    src.copy_verified(&m.usr, &mut usr, |_| {}).unwrap();
    assert_eq!(usr, std::fs::read(b1.join("usr.img")).unwrap());
    server.kill().unwrap();
    server.wait().unwrap();
}

/// A stand-in netboot bundle (publish only checks the listed hashes).
fn netboot_bundle(dir: &Path, seed: u8) -> PathBuf {
    let out = dir.join(format!("netboot-{seed}"));
    let blob: Vec<u8> = (0..3000u32).map(|i| (i as u8) ^ seed).collect();
    let blob_path = format!("blobs/sha256/{}", sha256(&blob));
    let files = [
        (blob_path.clone(), blob.clone()),
        ("boot.ipxe".into(), b"#!ipxe\n".to_vec()),
        ("imaging.efi".into(), vec![seed; 100]),
    ];
    let mut records = Vec::new();
    for (path, data) in &files {
        let p = out.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        records.push(serde_json::json!({"path": path, "sha256": sha256(data), "size": data.len()}));
    }
    let m = serde_json::json!({
        "version": 1,
        "base-url": "http://10.0.2.100/",
        "image": {"blob": blob_path, "compression": "zstd", "sha256": sha256(b"raw"),
                  "size": 1 << 20, "compressed-size": blob.len(), "sector-size": 512},
        "files": records,
    });
    std::fs::write(out.join("manifest.json"), m.to_string()).unwrap();
    out
}

/// A DEST with one release, for commands that must fail without touching it.
struct Refusals {
    dir: tempfile::TempDir,
    dest: PathBuf,
    before: Vec<(String, Vec<u8>)>,
}

impl Refusals {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("srv");
        publish(&bundle(dir.path(), "1", 1, None), &dest, &[]);
        let before = tree(&dest);
        Refusals { dir, dest, before }
    }

    /// Runs `metalos` with `args` (split at spaces; `DEST` is replaced):
    /// it must fail with `want` in its message and leave DEST as it was.
    fn check(&self, args: &str, want: &str) {
        let d = self.dest.to_str().unwrap();
        let args: Vec<&str> = args
            .split(' ')
            .map(|a| if a == "DEST" { d } else { a })
            .collect();
        let e = fails(&args);
        assert!(e.contains(want), "{args:?}: {e:?} lacks {want:?}");
        assert!(tree(&self.dest) == self.before, "{args:?} changed DEST");
    }

    fn publish(&self, b: &Path, want: &str) {
        let cmd = format!("release publish {} DEST --channel stable", b.display());
        self.check(&cmd, want);
    }
}

#[test]
fn bad_bundles_are_refused_before_dest_changes() {
    let r = Refusals::new();
    let dir = r.dir.path();
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    r.publish(&empty, "empty/bundle.json: missing");
    let corrupt = bundle(dir, "2", 2, None);
    std::fs::write(corrupt.join("usr.img"), b"other bytes").unwrap();
    r.publish(&corrupt, "usr.img: size is 11, bundle.json says 20000");
    let renamed = bundle(dir, "3", 3, None);
    let text = std::fs::read_to_string(renamed.join("bundle.json")).unwrap();
    let text = text.replace("\"3\"", "\"../3\"");
    std::fs::write(renamed.join("bundle.json"), text).unwrap();
    r.publish(&renamed, "version \"../3\"");
    r.publish(&bundle(dir, "1", 9, None), "versions are immutable");
}

#[test]
fn bad_options_channels_and_versions_are_refused() {
    let r = Refusals::new();
    let ok = bundle(r.dir.path(), "4", 4, None);
    let publish = format!("release publish {} DEST --channel", ok.display());
    let checks = [
        (
            format!("{publish} a/b"),
            "--channel: \"a/b\": '/' is not allowed",
        ),
        (
            format!("{publish} stable --rollout-start yesterday"),
            "--rollout-start \"yesterday\"",
        ),
        (
            format!("{publish} stable --rollout-start-value 1.5"),
            "--rollout-start-value: 1.5",
        ),
        (
            format!("{publish} stable --rollout-minutes 0"),
            "--rollout-minutes",
        ),
        (
            "release withdraw DEST --channel beta 1".into(),
            "updates/beta/graph.json does not exist",
        ),
        (
            "release list DEST --channel beta".into(),
            "updates/beta/graph.json does not exist",
        ),
        (
            "release withdraw DEST --channel stable 7".into(),
            "version \"7\" is not a release",
        ),
    ];
    for (args, want) in &checks {
        r.check(args, want);
    }
}

/// Runs a publish that pauses at `step`, then kills it.
fn interrupted_publish(b: &Path, dest: &Path, keys: &Path, step: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_metalos"))
        .args([
            "release",
            "publish",
            b.to_str().unwrap(),
            dest.to_str().unwrap(),
        ])
        .args(["--channel", "stable", "--keys", keys.to_str().unwrap()])
        .env("METALOS_FAULT_PAUSE", format!("release:{step}"))
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let marker = format!("metalos-fault: paused at release:{step}");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("publish ended before {step}"))
            .unwrap();
        if line.contains(&marker) {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn an_interrupted_publish_serves_a_consistent_signed_graph() {
    let dir = tempfile::tempdir().unwrap();
    let keys = signing_keys(dir.path());
    let k = keys.to_str().unwrap();
    let b1 = bundle(dir.path(), "1", 1, Some(&keys));
    let clean = dir.path().join("clean");
    for b in [&b1, &bundle(dir.path(), "2", 2, Some(&keys))] {
        publish(b, &clean, &["--keys", k]);
    }
    let steps = metalos_netboot::channel::STEPS;
    for (i, step) in steps.iter().enumerate() {
        let dest = dir.path().join(format!("srv-{step}"));
        publish(&b1, &dest, &["--keys", k]);
        let b2 = bundle(dir.path(), "2", 2, Some(&keys));
        interrupted_publish(&b2, &dest, &keys, step);
        let chan = dest.join("updates/stable");
        assert!(
            openssl_verifies(&chan.join("graph.json"), &keys.join("signing.pub")),
            "{step}"
        );
        let switched = i >= steps.iter().position(|s| *s == "switch").unwrap();
        assert_eq!(
            graph(&dest).nodes.len(),
            if switched { 2 } else { 1 },
            "{step}"
        );
        publish(&b2, &dest, &["--keys", k]);
        assert!(
            tree(&dest) == tree(&clean),
            "after {step}: not what a clean run writes"
        );
    }
}
