use super::*;

/// A synthetic `lib/modules/6.1.0-test` tree below `root`.
fn synthetic(root: &Path) -> PathBuf {
    let dir = root.join("lib/modules/6.1.0-test");
    let files = [
        "kernel/drivers/virtio/virtio.ko",
        "kernel/drivers/virtio/virtio_ring.ko",
        "kernel/drivers/virtio/virtio_pci.ko",
        "kernel/drivers/block/virtio_blk.ko.zst",
        "kernel/fs/btrfs/btrfs.ko",
        "kernel/lib/raid6/raid6_pq.ko",
        "kernel/crypto/xor.ko",
        "kernel/crypto/crc32c_generic.ko",
        "kernel/crypto/blake2b_generic.ko",
        "kernel/fs/unrelated.ko",
    ];
    for f in files {
        let p = dir.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, f).unwrap();
    }
    let dep = "\
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/block/virtio_blk.ko.zst: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/fs/btrfs/btrfs.ko: kernel/lib/raid6/raid6_pq.ko kernel/crypto/xor.ko
kernel/lib/raid6/raid6_pq.ko:
kernel/crypto/xor.ko:
kernel/crypto/crc32c_generic.ko:
kernel/crypto/blake2b_generic.ko:
kernel/fs/unrelated.ko:
";
    std::fs::write(dir.join("modules.dep"), dep).unwrap();
    std::fs::write(
        dir.join("modules.softdep"),
        "# comment\nsoftdep btrfs pre: crc32c blake2b-256 nonexistent post: virtio_pci\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("modules.builtin"),
        "kernel/fs/ext4/ext4.ko\nkernel/fs/jbd2/jbd2.ko\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("modules.alias"),
        "alias crypto-crc32c crc32c_generic\nalias crc32c crc32c_generic\n\
         alias blake2b-256 blake2b_generic\nalias fs-btrfs btrfs\nalias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci\n\
         alias virtio:d00000002v* virtio_blk\nalias fs-unrelated unrelated\n",
    )
    .unwrap();
    dir
}

fn names(c: &ModuleClosure) -> Vec<&str> {
    c.modules.iter().map(|m| m.name.as_str()).collect()
}

#[test]
fn normalize() {
    assert_eq!(normalize_name("virtio-blk"), "virtio_blk");
    assert_eq!(
        normalize_name("kernel/drivers/block/virtio_blk.ko.zst"),
        "virtio_blk"
    );
    assert_eq!(normalize_name("btrfs.ko.xz"), "btrfs");
}

#[test]
fn dependencies_first_with_softdeps_and_builtins() {
    let tmp = tempfile::tempdir().unwrap();
    synthetic(tmp.path());
    let tree = ModulesTree::open(tmp.path()).unwrap();
    assert_eq!(tree.version, "6.1.0-test");
    let load: Vec<String> = ["virtio-blk", "ext4", "btrfs.ko"]
        .map(String::from)
        .to_vec();
    let c = tree.closure(&load).unwrap();
    assert_eq!(
        names(&c),
        [
            "virtio",
            "virtio_ring",
            "virtio_blk",
            "crc32c_generic",
            "blake2b_generic",
            "xor",
            "raid6_pq",
            "btrfs",
            "virtio_pci"
        ]
    );
    assert_eq!(c.builtin, ["ext4"]);
    assert_eq!(
        c.modules[2].rel_path,
        "kernel/drivers/block/virtio_blk.ko.zst"
    );
    assert!(c.modules[2].host_path.is_file());
    assert_eq!(c.initrd_dir(), "lib/modules/6.1.0-test");
    let text = |f: &str| String::from_utf8(c.metadata[f].clone()).unwrap();
    let dep = text("modules.dep");
    assert_eq!(dep.lines().count(), 9);
    assert!(!dep.contains("unrelated"));
    assert!(
        dep.starts_with("kernel/drivers/virtio/virtio.ko:\n"),
        "original order kept: {dep}"
    );
    assert_eq!(
        text("modules.softdep"),
        "softdep btrfs pre: crc32c blake2b-256 post: virtio_pci\n"
    );
    let alias = text("modules.alias");
    assert!(
        alias.contains("alias fs-btrfs btrfs\n") && !alias.contains("unrelated"),
        "{alias}"
    );
    assert_eq!(
        text("modules.builtin"),
        "kernel/fs/ext4/ext4.ko\nkernel/fs/jbd2/jbd2.ko\n"
    );
    assert_eq!(
        text("modules.order").lines().next(),
        Some("kernel/drivers/virtio/virtio.ko")
    );
    // Same input, same output.
    assert_eq!(c, tree.closure(&load).unwrap());
}

#[test]
fn version_dir_directly_and_alias_request() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic(tmp.path());
    let tree = ModulesTree::open(&dir).unwrap();
    let c = tree.closure(&["fs-unrelated".to_string()]).unwrap();
    assert_eq!(names(&c), ["unrelated"]);
}

#[test]
fn unknown_module_and_missing_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = synthetic(tmp.path());
    let tree = ModulesTree::open(tmp.path()).unwrap();
    let e = tree
        .closure(&["virtio_blk".into(), "no_such_mod".into()])
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("unknown kernel module \"no_such_mod\""),
        "{e}"
    );
    std::fs::remove_file(dir.join("kernel/crypto/xor.ko")).unwrap();
    let e = tree.closure(&["btrfs".into()]).unwrap_err();
    assert!(
        e.to_string().contains("module xor") && e.to_string().contains("xor.ko"),
        "{e}"
    );
    let e = ModulesTree::open(&tmp.path().join("lib")).unwrap_err();
    assert!(e.to_string().contains("not a kernel modules tree"), "{e}");
}

/// Real Debian cloud kernel trees, if one has been unpacked on this machine.
fn real_trees() -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut roots = vec![PathBuf::from("/lib/modules")];
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(ws) = manifest_dir.parent().and_then(Path::parent) {
        roots.push(ws.join(".cache/inputs"));
    }
    fn walk(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with("-cloud-amd64") && p.join("kernel").is_dir() {
                found.push(p);
            } else if depth > 0 && p.is_dir() && !p.is_symlink() {
                walk(&p, depth - 1, found);
            }
        }
    }
    for r in roots {
        walk(&r, 5, &mut found);
    }
    found
}

#[test]
fn real_cloud_kernel_if_present() {
    for dir in real_trees() {
        let tree = ModulesTree::open(&dir).unwrap();
        let c = tree
            .closure(&["virtio_blk".into(), "btrfs".into(), "ext4".into()])
            .unwrap();
        let n = names(&c);
        eprintln!("{}: {n:?} builtin {:?}", dir.display(), c.builtin);
        assert!(n.contains(&"virtio_blk") && n.contains(&"btrfs"), "{n:?}");
        assert_eq!(c.builtin, ["ext4"]);
        let pos = |m: &str| n.iter().position(|x| *x == m);
        for (dep, of) in [
            ("raid6_pq", "btrfs"),
            ("xor", "btrfs"),
            ("libcrc32c", "btrfs"),
        ] {
            if let (Some(a), Some(b)) = (pos(dep), pos(of)) {
                assert!(a < b, "{dep} before {of}: {n:?}");
            }
        }
        let dep = String::from_utf8(c.metadata["modules.dep"].clone()).unwrap();
        assert!(
            dep.lines()
                .any(|l| l.starts_with("kernel/fs/btrfs/btrfs.ko:")),
            "{dep}"
        );
        let e = tree
            .closure(&["definitely_not_a_module".into()])
            .unwrap_err();
        assert!(e.to_string().contains("definitely_not_a_module"));
    }
}

#[test]
fn synthesized_from_modinfo() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("6.1.0-raw");
    let mods = [
        ("kernel/a/base.ko", "alias=fs-base"),
        ("kernel/a/mid.ko", "depends=base"),
        ("kernel/b/top.ko", "depends=mid,base\\0softdep=pre: helper"),
        ("kernel/b/helper.ko", "alias=helper-alias"),
    ];
    for (rel, modinfo) in mods {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let c = tmp.path().join("m.c");
        let src = format!("__attribute__((section(\".modinfo\"), used)) static const char mi[] = \"{modinfo}\";\n");
        std::fs::write(&c, src).unwrap();
        let ok = std::process::Command::new("gcc")
            .args(["-c", "-o"])
            .arg(&p)
            .arg(&c)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("gcc unavailable; skipping");
            return;
        }
    }
    std::fs::write(
        dir.join("modules.order"),
        "kernel/b/top.ko\nkernel/a/base.ko\n",
    )
    .unwrap();
    assert_eq!(
        read_modinfo(&dir.join("kernel/b/top.ko")).unwrap().softdeps,
        ["pre: helper"]
    );
    let tree = ModulesTree::open(tmp.path()).unwrap();
    assert_eq!(tree.version, "6.1.0-raw");
    let c = tree.closure(&["top".into(), "fs-base".into()]).unwrap();
    assert_eq!(names(&c), ["helper", "base", "mid", "top"]);
    let dep = String::from_utf8(c.metadata["modules.dep"].clone()).unwrap();
    assert_eq!(
        dep,
        "kernel/b/top.ko: kernel/a/mid.ko kernel/a/base.ko\nkernel/a/base.ko:\nkernel/a/mid.ko: kernel/a/base.ko\nkernel/b/helper.ko:\n"
    );
    let alias = String::from_utf8(c.metadata["modules.alias"].clone()).unwrap();
    assert!(alias.contains("alias fs-base base\n"), "{alias}");
    assert_eq!(c.metadata["modules.softdep"], b"softdep top pre: helper\n");
}
