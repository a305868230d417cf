use super::*;
use crate::testutil::update_bundle;
use metalos_contract::graph::{meta, Graph};
use std::path::PathBuf;

fn opts<'a>(channel: &'a str, key: Option<&'a SigningKey>) -> ReleaseOptions<'a> {
    ReleaseOptions {
        channel,
        key,
        rollout: RolloutFlags::default(),
        barrier: false,
        now: 1_000,
        fault: &|_| {},
        progress: &|_| {},
    }
}

/// Every path under `dir` with its bytes, symlinks as `-> target`.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for p in crate::fsutil::sorted_entries(dir).unwrap() {
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                out.push((rel, format!("-> {}", t.display()).into_bytes()));
            } else if meta.is_dir() {
                out.push((rel, b"/".to_vec()));
                walk(root, &p, out);
            } else {
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

fn graph(dest: &Path, channel: &str) -> Graph {
    let path = dest.join("updates").join(channel).join("graph.json");
    Graph::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

struct Setup {
    dir: tempfile::TempDir,
    dest: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("srv");
    Setup { dir, dest }
}

#[test]
fn a_release_is_served_through_the_graph_and_the_blobs() {
    let s = setup();
    let b = update_bundle(s.dir.path(), "1.0", 1, None);
    let r = publish_release(&b, &s.dest, &opts("stable", None)).unwrap();
    assert_eq!(
        (r.change, r.switched, r.blobs_copied),
        (Change::Added, true, 2)
    );
    let g = graph(&s.dest, "stable");
    assert_eq!(g.nodes.len(), 1);
    let node = &g.nodes[0];
    let chan = s.dest.join("updates/stable");
    let bundle_json = std::fs::read(b.join("bundle.json")).unwrap();
    // What an agent does: <graph dir>/<payload><file>.
    let release = chan.join(&node.payload);
    assert_eq!(
        std::fs::read(release.join("bundle.json")).unwrap(),
        bundle_json
    );
    for f in ["usr.img", "bootloader.efi"] {
        assert_eq!(
            std::fs::read(release.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap()
        );
        let link = std::fs::read_link(release.join(f)).unwrap();
        assert!(link.starts_with("../../../blobs/sha256/"), "{link:?}");
    }
    assert_eq!(
        node.metadata[meta::BUNDLE_SHA256],
        crate::fsutil::sha256_hex(&bundle_json)
    );
    assert_eq!(node.metadata[meta::AGE_INDEX], "0");
    assert_eq!(
        std::fs::read_link(chan.join("graph.json")).unwrap(),
        Path::new("current/graph.json")
    );
    assert!(!chan.join("graph.json.sig").exists());
}

#[test]
fn publishing_is_deterministic_and_idempotent() {
    let s = setup();
    let other = s.dir.path().join("other");
    let bundles: Vec<_> = (1..=3)
        .map(|i| update_bundle(s.dir.path(), &format!("1.{i}"), i, None))
        .collect();
    for dest in [&s.dest, &other] {
        for b in &bundles {
            publish_release(b, dest, &opts("stable", None)).unwrap();
        }
    }
    assert!(
        tree(&s.dest) == tree(&other),
        "same inputs, different trees"
    );
    // Old graph versions are collected: the served one and the previous one stay.
    let graphs = std::fs::read_dir(s.dest.join("updates/stable/graphs")).unwrap();
    assert_eq!(graphs.count(), 2);
    let before = tree(&s.dest);
    let r = publish_release(&bundles[1], &s.dest, &opts("stable", None)).unwrap();
    assert_eq!(
        (r.change, r.switched, r.blobs_copied),
        (Change::Unchanged, false, 0)
    );
    assert!(tree(&s.dest) == before, "a second publish changed DEST");
    assert_eq!(graph(&s.dest, "stable").edges.len(), 3);
}

#[test]
fn a_signed_channel_needs_the_key_that_signed_the_bundle() {
    let s = setup();
    let key = SigningKey::generate().unwrap();
    let other = SigningKey::generate().unwrap();
    let signed = update_bundle(s.dir.path(), "1.0", 1, Some(&key));
    let unsigned = update_bundle(s.dir.path(), "1.1", 2, None);
    let by_other = update_bundle(s.dir.path(), "1.2", 3, Some(&other));
    let err = |b: &Path, k| {
        publish_release(b, &s.dest, &opts("stable", k))
            .unwrap_err()
            .to_string()
    };
    let e = err(&signed, None);
    assert!(e.contains("bundle.json.sig") && e.contains("--keys"), "{e}");
    let e = err(&unsigned, Some(&key));
    assert!(e.contains("not signed"), "{e}");
    let e = err(&by_other, Some(&key));
    assert!(e.contains("not signed by the key in --keys"), "{e}");
    assert!(tree(&s.dest).is_empty(), "refusals wrote into DEST");

    let r = publish_release(&signed, &s.dest, &opts("stable", Some(&key))).unwrap();
    assert!(r.signed);
    let chan = s.dest.join("updates/stable");
    let bytes = std::fs::read(chan.join("graph.json")).unwrap();
    metalos_signing::verify_file(&key.verifying_key(), &bytes, &chan.join("graph.json.sig"))
        .unwrap();
    // A signed channel refuses a publish or withdraw without (or with another) key.
    let e = err(&unsigned, None);
    assert!(e.contains("the channel is signed"), "{e}");
    let e = withdraw_release(&s.dest, "stable", "1.0", None, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("the channel is signed"), "{e}");
    let e = err(&by_other, Some(&other));
    assert!(e.contains("another key"), "{e}");
}

#[test]
fn withdraw_re_signs_and_list_reports() {
    let s = setup();
    let key = SigningKey::generate().unwrap();
    for (v, i) in [("1", 1), ("2", 2)] {
        let b = update_bundle(s.dir.path(), v, i, Some(&key));
        publish_release(&b, &s.dest, &opts("stable", Some(&key))).unwrap();
    }
    assert!(withdraw_release(&s.dest, "stable", "2", Some(&key), &|_| {}).unwrap());
    assert!(!withdraw_release(&s.dest, "stable", "2", Some(&key), &|_| {}).unwrap());
    let chan = s.dest.join("updates/stable");
    let bytes = std::fs::read(chan.join("graph.json")).unwrap();
    metalos_signing::verify_file(&key.verifying_key(), &bytes, &chan.join("graph.json.sig"))
        .unwrap();
    let (list, signed) = list_releases(&s.dest, "stable", 0).unwrap();
    assert!(signed);
    assert!(list[1].withdrawn && list[1].edges_in.is_empty());
    let e = list_releases(&s.dest, "beta", 0).unwrap_err().to_string();
    assert!(
        e.contains("\"beta\"") && e.contains("does not exist"),
        "{e}"
    );
    let e = withdraw_release(&s.dest, "stable", "9", Some(&key), &|_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("graph.json") && e.contains("\"9\""), "{e}");
}

#[test]
fn bad_bundles_leave_dest_unchanged() {
    let s = setup();
    let good = update_bundle(s.dir.path(), "1.0", 1, None);
    publish_release(&good, &s.dest, &opts("stable", None)).unwrap();
    let before = tree(&s.dest);
    let check = |bundle: &Path, channel: &str, want: &str| {
        let e = publish_release(bundle, &s.dest, &opts(channel, None))
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{e:?} lacks {want:?}");
        assert!(tree(&s.dest) == before, "{want}: DEST changed");
    };
    check(
        &s.dir.path().join("nope"),
        "stable",
        "nope/bundle.json: missing",
    );
    check(&good, "../x", "--channel");
    let corrupt = update_bundle(s.dir.path(), "1.1", 2, None);
    std::fs::write(corrupt.join("usr.img"), crate::testutil::bytes(9, 8192)).unwrap();
    check(&corrupt, "stable", "usr.img: sha256 is");
    std::fs::write(corrupt.join("usr.img"), b"short").unwrap();
    check(
        &corrupt,
        "stable",
        "usr.img: size is 5, bundle.json says 8192",
    );
    std::fs::remove_file(corrupt.join("bootloader.efi")).unwrap();
    std::fs::write(corrupt.join("usr.img"), crate::testutil::bytes(2, 8192)).unwrap();
    check(&corrupt, "stable", "bootloader.efi: missing");
    let changed = update_bundle(s.dir.path(), "1.0", 3, None);
    check(&changed, "stable", "immutable");
    for bad in ["../1", "current", ".x"] {
        let b = update_bundle(s.dir.path(), "tmp", 4, None);
        let path = b.join("bundle.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let text = text.replace("\"tmp\"", &format!("{bad:?}"));
        std::fs::write(&path, text).unwrap();
        check(&b, "stable", &format!("version {bad:?}"));
    }
}

#[test]
fn an_interrupted_first_publish_is_replaced_cleanly() {
    let s = setup();
    let b = update_bundle(s.dir.path(), "1.0", 1, None);
    // A leftover release directory the graph does not list, and temp files.
    let chan = s.dest.join("updates/stable");
    std::fs::create_dir_all(chan.join("1.0")).unwrap();
    std::fs::write(chan.join("1.0/bundle.json"), b"partial").unwrap();
    std::fs::create_dir_all(chan.join(".tmp-release.x")).unwrap();
    publish_release(&b, &s.dest, &opts("stable", None)).unwrap();
    let clean = setup();
    publish_release(&b, &clean.dest, &opts("stable", None)).unwrap();
    assert!(tree(&s.dest) == tree(&clean.dest));
}
