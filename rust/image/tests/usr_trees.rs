//! `[[usr.trees]]` end to end: a tree with setuid/setgid/sticky bits,
//! group-owned files and symlinks goes through `build`, and squashfs-tools'
//! `unsquashfs -lln` (an independent reader) lists what the source had.

use metalos_config::spec::ImageSpec;
use metalos_config::{InputsManifest, Resolver};
use metalos_image::{build, BuildOptions};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

fn put(root: &Path, rel: &str, mode: u32, gid: u32) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, rel.as_bytes()).unwrap();
    if is_root() {
        std::os::unix::fs::chown(&p, Some(0), Some(gid)).unwrap();
    }
    // After chown, which clears setuid/setgid.
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

const SPEC: &str = r#"
[disk]
size = "40MiB"
seed = "6d6e5f1c-0b7a-4c44-9d1e-3f0c8a2b4e51"
source-date-epoch = 1700000000

[[partitions]]
slot = 1
label = "USR-A"
type = "usr-x86-64"
size = "32MiB"
content = "usr"

[[usr.files]]
path = "lib/os-release"
source = { text = "ID=metalos\n" }

[[usr.trees]]
source = { input = "rootfs", path = "usr" }
exclude = ["share/doc"]

[[usr.trees]]
source = { input = "rootfs", path = "etc" }
path = "share/metalos/etc"
"#;

#[test]
fn trees_keep_owners_modes_and_links() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    put(&rootfs, "usr/bin/su", 0o4755, 0);
    put(&rootfs, "usr/bin/expiry", 0o2755, 42);
    put(&rootfs, "usr/lib/os-release", 0o644, 0);
    put(&rootfs, "usr/share/doc/README", 0o644, 0);
    put(&rootfs, "etc/shadow", 0o640, 42);
    std::fs::create_dir_all(rootfs.join("usr/lib/sticky")).unwrap();
    std::fs::set_permissions(
        rootfs.join("usr/lib/sticky"),
        std::fs::Permissions::from_mode(0o1777),
    )
    .unwrap();
    symlink("../usr/lib/os-release", rootfs.join("etc/os-release")).unwrap();

    let mut inputs = InputsManifest::new();
    inputs
        .inputs
        .insert("rootfs".into(), InputsManifest::describe(&rootfs).unwrap());
    let spec = ImageSpec::parse(SPEC).unwrap();
    let resolver = Resolver::new(dir.path(), inputs);
    let out = dir.path().join("out");
    let options = BuildOptions {
        out_dir: out.clone(),
        source_date_epoch: None,
        progress: &|_| {},
        signing_keys: None,
        cache_dir: None,
    };
    let manifest = build(&spec, &resolver, &options).unwrap();
    assert!(manifest.inputs.contains_key("rootfs"));
    let part = &manifest.partitions[0];
    let disk = std::fs::read(out.join("disk.img")).unwrap();
    let usr = dir.path().join("usr.sqfs");
    std::fs::write(
        &usr,
        &disk[part.offset as usize..(part.offset + part.size) as usize],
    )
    .unwrap();
    let listing = Command::new("unsquashfs")
        .args(["-lln", "-d", "r"])
        .arg(&usr)
        .output()
        .expect("unsquashfs (squashfs-tools) is installed");
    assert!(listing.status.success(), "{listing:?}");
    let text = String::from_utf8(listing.stdout).unwrap();
    let line = |path: &str| -> Vec<String> {
        let l = text
            .lines()
            .find(|l| l.ends_with(&format!(" r/{path}")) || l.contains(&format!(" r/{path} -> ")))
            .unwrap_or_else(|| panic!("{path} not listed:\n{text}"));
        l.split_whitespace().map(str::to_string).collect()
    };
    let g = if is_root() { "42" } else { "*" };
    let check = |path: &str, perms: &str, gid: &str| {
        let l = line(path);
        assert_eq!(l[0], perms, "{path}: {l:?}");
        if gid != "*" {
            assert_eq!(l[1], format!("0/{gid}"), "{path}: {l:?}");
        }
    };
    check("bin/su", "-rwsr-xr-x", "0");
    check("bin/expiry", "-rwxr-sr-x", g);
    check("share/metalos/etc/shadow", "-rw-r-----", g);
    check("lib/sticky", "drwxrwxrwt", "*");
    check("share/metalos/etc/os-release", "lrwxrwxrwx", "*");
    assert_eq!(
        line("share/metalos/etc/os-release").last().unwrap(),
        "../usr/lib/os-release"
    );
    assert!(!text.contains("share/doc"), "excluded:\n{text}");
    // The spec's lib/os-release replaced the tree's.
    let cat = Command::new("unsquashfs")
        .args(["-cat"])
        .arg(&usr)
        .arg("lib/os-release")
        .output()
        .unwrap();
    assert_eq!(cat.stdout, b"ID=metalos\n");
}
