use super::*;
use crate::cpio::{read_archives, Entry, S_IFCHR, S_IFLNK};
use metalos_config::{InputEntry, InputKind, InputsManifest, Resolver};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn field_err(toml: &str) -> String {
    InitrdSpec::from_toml(toml).unwrap_err().to_string()
}

#[test]
fn parse_minimal_and_defaults() {
    let s = InitrdSpec::from_toml("init = \"/init\"\n").unwrap();
    assert_eq!(s.init, Init::Path("/init".into()));
    assert_eq!(s.compression().unwrap(), Compression::Zstd { level: 19 });
    let s = InitrdSpec::from_toml("init = { input = \"metalinit\" }\ncompression = \"none\"\n")
        .unwrap();
    assert!(matches!(s.init, Init::Source(_)));
    assert_eq!(s.compression().unwrap(), Compression::None);
    let s = InitrdSpec::from_toml(
        "init = \"/init\"\ncompression = { algorithm = \"zstd\", level = 3 }\n",
    )
    .unwrap();
    assert_eq!(s.compression().unwrap(), Compression::Zstd { level: 3 });
}

#[test]
fn errors_name_fields() {
    let base = "init = \"/init\"\n";
    let two_files = format!(
        "{base}[[files]]\npath = \"/a\"\nsource = {{ text = \"a\" }}\n\
         [[files]]\npath = \"/b\"\nsource = {{ text = \"b\" }}\nmode = \"0999\"\n"
    );
    assert_eq!(
        field_err(&two_files),
        "files[1].mode: \"0999\" is not an octal mode"
    );
    let e = field_err(&format!(
        "{base}[[files]]\npath = \"/a\"\nsource = {{ text = \"a\" }}\nowner = 1\n"
    ));
    assert!(e.starts_with("files[0]") && e.contains("owner"), "{e}");
    let e = field_err(&format!(
        "{base}compression = {{ algorithm = \"zstd\", level = 22 }}\n"
    ));
    assert!(e.starts_with("compression.level: "), "{e}");
    let e = field_err(&format!("{base}compression = \"gzip\"\n"));
    assert!(
        e.starts_with("compression: unknown algorithm \"gzip\""),
        "{e}"
    );
    let e = field_err(&format!(
        "{base}[[devices]]\npath = \"/dev/x\"\nkind = \"pipe\"\nmajor = 1\nminor = 1\n"
    ));
    assert!(e.starts_with("devices[0].kind"), "{e}");
    let e = field_err(&format!(
        "{base}[[symlinks]]\npath = \"../x\"\ntarget = \"y\"\n"
    ));
    assert!(e.starts_with("symlinks[0].path: "), "{e}");
    let e = field_err(&format!(
        "{base}[[devices]]\npath = \"/dev/x\"\nkind = \"char\"\nmajor = 5000\nminor = 1\n"
    ));
    assert!(e.starts_with("devices[0].major: "), "{e}");
    let e = field_err("bogus = 1\ninit = \"/init\"\n");
    assert!(e.contains("bogus"), "{e}");
}

#[test]
fn documented_example_parses() {
    let doc = include_str!("mod.rs");
    let toml: String = doc
        .lines()
        .skip_while(|l| !l.starts_with("//! ```toml"))
        .skip(1)
        .take_while(|l| !l.starts_with("//! ```"))
        .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
        .collect();
    let s = InitrdSpec::from_toml(&toml).unwrap();
    assert_eq!(s.modules.unwrap().load, ["virtio_blk", "btrfs"]);
    assert_eq!(s.early.len(), 1);
}

/// Spec dir with a tiny modules tree; returns (resolver, modules dir).
fn fixture(root: &Path) -> Resolver {
    let tree = root.join("modules/6.1.0-test");
    std::fs::create_dir_all(tree.join("kernel/drivers/virtio")).unwrap();
    std::fs::create_dir_all(tree.join("kernel/drivers/block")).unwrap();
    std::fs::write(tree.join("kernel/drivers/virtio/virtio.ko"), b"virtio").unwrap();
    std::fs::write(tree.join("kernel/drivers/block/virtio_blk.ko"), b"vblk").unwrap();
    std::fs::write(
        tree.join("modules.dep"),
        "kernel/drivers/virtio/virtio.ko:\nkernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko\n",
    )
    .unwrap();
    std::fs::write(tree.join("modules.builtin"), "kernel/fs/ext4/ext4.ko\n").unwrap();
    std::fs::write(root.join("motd"), b"hello\n").unwrap();
    std::fs::create_dir_all(root.join("etc-tree/sub")).unwrap();
    std::fs::write(root.join("etc-tree/sub/conf"), b"k=v\n").unwrap();
    std::os::unix::fs::symlink("sub/conf", root.join("etc-tree/link")).unwrap();
    let mut inputs = InputsManifest::new();
    let mut add = |name: &str, path: &Path, kind| {
        let entry = InputEntry {
            path: path.into(),
            kind,
            sha256: String::new(),
            origin: None,
        };
        inputs.inputs.insert(name.into(), entry);
    };
    add("kernel-modules", &root.join("modules"), InputKind::Dir);
    add("ls", Path::new("/bin/ls"), InputKind::File);
    add("ucode", &root.join("motd"), InputKind::File);
    Resolver::new(root, inputs)
}

const SPEC: &str = r#"
init = "/bin/ls"
compression = { algorithm = "zstd", level = 3 }

[[executables]]
path = "/bin/ls"
source = { input = "ls" }

[[files]]
path = "/etc/motd"
source = { file = "motd" }
mode = "0600"

[[files]]
path = "/etc/tree"
source = { file = "etc-tree" }

[[directories]]
path = "/tmp"
mode = 0o1777

[[symlinks]]
path = "/sbin"
target = "bin"

[modules]
tree = { input = "kernel-modules" }
load = ["virtio-blk", "ext4"]

[[early]]
path = "kernel/x86/microcode/GenuineIntel.bin"
source = { input = "ucode" }
"#;

fn pipe(cmd: &str, args: &[&str], input: Vec<u8>) -> Vec<u8> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let t = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    t.join().unwrap().unwrap();
    assert!(out.status.success(), "{cmd} failed");
    out.stdout
}

#[test]
fn build_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let resolver = fixture(tmp.path());
    let spec = InitrdSpec::from_toml(SPEC).unwrap();
    let opts = BuildOptions {
        mtime: 1_234_567,
        cache: None,
    };
    let bytes = build(&spec, &resolver, &opts).unwrap();
    assert_eq!(
        bytes,
        build(&spec, &resolver, &opts).unwrap(),
        "reproducible"
    );
    let built = build_archives(&spec, &resolver).unwrap();
    let early_len = built
        .early
        .as_ref()
        .unwrap()
        .to_bytes(opts.mtime)
        .unwrap()
        .len();
    assert!(bytes.starts_with(b"070701"));
    assert_eq!(bytes[early_len..early_len + 4], crate::compress::ZSTD_MAGIC);

    let entries = read_archives(&bytes).unwrap();
    let get = |n: &str| -> &Entry {
        entries
            .iter()
            .find(|e| e.name == n)
            .unwrap_or_else(|| panic!("{n} missing"))
    };
    assert_eq!(get("kernel/x86/microcode/GenuineIntel.bin").archive, 0);
    assert_eq!(get("init").archive, 1);
    assert_eq!(get("init").link_target.as_deref(), Some("bin/ls"));
    assert_eq!(get("init").mode, S_IFLNK | 0o777);
    let console = get("dev/console");
    assert_eq!(
        (console.mode, console.rdev_major, console.rdev_minor),
        (S_IFCHR | 0o600, 5, 1)
    );
    assert_eq!(get("etc/motd").perm(), 0o600);
    assert_eq!(get("etc/tree/sub/conf").data, b"k=v\n");
    assert_eq!(
        get("etc/tree/link").link_target.as_deref(),
        Some("sub/conf")
    );
    assert_eq!(get("tmp").perm(), 0o1777);
    assert_eq!(get("bin/ls").perm(), 0o755);
    assert!(
        get("lib/x86_64-linux-gnu/libc.so.6").size > 0
            || get("lib/x86_64-linux-gnu/libc.so.6").nlink > 1
    );
    get("lib64/ld-linux-x86-64.so.2");
    assert_eq!(
        get("lib/modules/6.1.0-test/kernel/drivers/block/virtio_blk.ko").data,
        b"vblk"
    );
    let dep = &get("lib/modules/6.1.0-test/modules.dep").data;
    assert_eq!(dep.as_slice(), b"kernel/drivers/virtio/virtio.ko:\nkernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko\n");
    assert!(entries.iter().all(|e| e.mtime == 1_234_567 && e.uid == 0));

    // Independent tools: zstd decompresses the main part, GNU cpio lists it.
    let plain = pipe("zstd", &["-d", "-c", "-q"], bytes[early_len..].to_vec());
    let listing = String::from_utf8(pipe("cpio", &["-itv", "--quiet"], plain)).unwrap();
    assert!(listing.contains("init -> bin/ls"), "{listing}");
    assert!(
        listing.contains("lib/modules/6.1.0-test/kernel/drivers/virtio/virtio.ko"),
        "{listing}"
    );
    let early = pipe("cpio", &["-it", "--quiet"], bytes[..early_len].to_vec());
    assert!(String::from_utf8(early)
        .unwrap()
        .contains("kernel/x86/microcode/GenuineIntel.bin"));
}

fn build_err(spec: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let resolver = fixture(tmp.path());
    let spec = InitrdSpec::from_toml(spec).unwrap();
    build(&spec, &resolver, &BuildOptions::default())
        .unwrap_err()
        .to_string()
}

#[test]
fn build_errors_name_the_thing() {
    let e = build_err(
        "init = \"/init\"\n[[files]]\npath = \"/init\"\nsource = { file = \"no-such-file\" }\n",
    );
    assert!(
        e.starts_with("files[0].source: ") && e.contains("no-such-file"),
        "{e}"
    );
    let e = build_err("init = \"/bin/ls\"\nlibrary_dirs = [\"/nonexistent\"]\n[[executables]]\npath = \"/bin/ls\"\nsource = { input = \"ls\" }\n");
    assert!(
        e.starts_with("executables[0].source: ") && e.contains("ls needs lib"),
        "{e}"
    );
    let e = build_err("init = { text = \"#!/bin/sh\\n\" }\n[modules]\ntree = { input = \"kernel-modules\" }\nload = [\"virtio_blk\", \"nope\"]\n");
    assert!(
        e.starts_with("modules.load: ") && e.contains("\"nope\""),
        "{e}"
    );
    let e = build_err("init = \"/sbin/metalinit\"\n");
    assert_eq!(e, "init: /sbin/metalinit is not in the initrd");
    let e = build_err("init = \"/init\"\n[[files]]\npath = \"/init\"\nsource = { text = \"a\" }\n[[symlinks]]\npath = \"/init\"\ntarget = \"x\"\n");
    assert!(e.starts_with("symlinks[0]: ") && e.contains("twice"), "{e}");
}

#[test]
fn merged_usr_layout_places_libraries_through_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let resolver = fixture(tmp.path());
    let spec = "init = \"/usr/bin/ls\"\n\
        [[executables]]\npath = \"/usr/bin/ls\"\nsource = { input = \"ls\" }\n\
        [[symlinks]]\npath = \"/lib\"\ntarget = \"usr/lib\"\n\
        [[symlinks]]\npath = \"/lib64\"\ntarget = \"usr/lib64\"\n\
        [[symlinks]]\npath = \"/bin\"\ntarget = \"usr/bin\"\n\
        [modules]\ntree = { input = \"kernel-modules\" }\nload = [\"virtio_blk\"]\n";
    let spec = InitrdSpec::from_toml(spec).unwrap();
    let built = build_archives(&spec, &resolver).unwrap();
    let paths: Vec<_> = built.main.paths().collect();
    assert!(
        paths.contains(&"usr/lib/x86_64-linux-gnu/libc.so.6"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"usr/lib64/ld-linux-x86-64.so.2"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"usr/lib/modules/6.1.0-test/modules.dep"),
        "{paths:?}"
    );
    assert!(
        !paths
            .iter()
            .any(|p| p.starts_with("lib/") || p.starts_with("lib64/")),
        "{paths:?}"
    );
}

#[test]
fn docs_example_parses() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/initrd-spec.md");
    let Ok(text) = std::fs::read_to_string(doc) else {
        return;
    };
    let toml: String = text
        .lines()
        .skip_while(|l| !l.starts_with("```toml"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .map(|l| format!("{l}\n"))
        .collect();
    let s = InitrdSpec::from_toml(&toml).unwrap();
    assert_eq!(s.executables.len(), 2);
    assert_eq!(
        parse_mode(s.directories[3].mode.as_ref().unwrap(), "m").unwrap(),
        0o1777
    );
}
