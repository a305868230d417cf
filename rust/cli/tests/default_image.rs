//! The default image (images/default.toml) built from the real Debian inputs.

mod common;
use common::*;

#[test]
fn default_image_builds_and_passes_the_checkers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("default");
    build_default_image(&out, &[]);
    let img = out.join("disk.img");
    let v = tool_ok("sgdisk", &["-v", img.to_str().unwrap()]);
    assert!(v.contains("No problems found"), "{v}");
    let usr_a = tool_ok("sgdisk", &["-i", "2", img.to_str().unwrap()]);
    assert!(
        usr_a.contains("Partition name: 'USR-A'")
            && usr_a.contains("Attribute flags: 0101000000000000"),
        "{usr_a}"
    );

    let esp = partition(&out, 1);
    tool_ok("fsck.fat", &["-n", esp.path().to_str().unwrap()]);
    let listing = tool_ok(
        "mdir",
        &["-i", esp.path().to_str().unwrap(), "-/", "-b", "::"],
    );
    assert!(
        listing.contains("::/metalos/first_boot")
            && listing.contains("::/metalos/host-config.json"),
        "{listing}"
    );

    let usr = partition(&out, 2);
    let root = dir.path().join("usr");
    tool_ok(
        "unsquashfs",
        &["-d", root.to_str().unwrap(), usr.path().to_str().unwrap()],
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(real_inputs()).unwrap()).unwrap();
    let busybox = metalos_config::inputs::file_digest(&root.join("bin/busybox")).unwrap();
    assert_eq!(busybox, m["inputs"]["busybox"]["sha256"].as_str().unwrap());
    let kernel =
        metalos_config::inputs::file_digest(&root.join("lib/metalos/boot/vmlinuz")).unwrap();
    assert_eq!(kernel, m["inputs"]["kernel"]["sha256"].as_str().unwrap());
    assert_eq!(
        std::fs::read_link(root.join("bin/sh"))
            .unwrap()
            .to_str()
            .unwrap(),
        "busybox"
    );
}

#[test]
fn a_cache_dir_reuses_compressed_initrds_and_changes_no_byte() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let cache_arg = ["--cache-dir", cache.to_str().unwrap()];
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    build_default_image(&first, &cache_arg);
    let entries = |d: &std::path::Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let filled = entries(&cache);
    assert_eq!(
        filled.len(),
        3,
        "one entry per initrd, no temp files: {filled:?}"
    );
    assert!(filled.iter().all(|n| n.ends_with(".zst") && n.len() == 68));
    build_default_image(&second, &cache_arg);
    assert_eq!(
        entries(&cache),
        filled,
        "the second build only reads the cache"
    );
    for file in ["disk.img", "manifest.json", "artifacts/setup-initrd"] {
        assert!(
            std::fs::read(first.join(file)).unwrap() == std::fs::read(second.join(file)).unwrap(),
            "{file} differs between a cache miss and a hit"
        );
    }
}
