//! Shared helpers for the CLI tests: run `metalos` (or `metalos-vm`), build fixture inputs
//! and specs in temp dirs, call independent tools as oracles.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `metalos` binary with `args`.
pub fn metalos(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metalos"))
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run metalos")
}

/// Runs the `metalos-vm` binary (the VM tools) with `args`.
pub fn metalos_vm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metalos-vm"))
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run metalos-vm")
}

/// Runs `metalos`, asserting success; returns stdout.
pub fn metalos_ok(args: &[&str]) -> String {
    let out = metalos(args);
    assert!(
        out.status.success(),
        "metalos {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs an independent tool; panics with a hint if it is missing.
pub fn tool(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}); install the test tools (see README, `make deps`)")
        })
}

/// Like [`tool`] but asserts exit 0 and returns stdout+stderr.
pub fn tool_ok(program: &str, args: &[&str]) -> String {
    let out = tool(program, args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

/// A temp dir with fixture inputs and an inputs manifest.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// Inputs: `tool` (64 KiB of patterned bytes), `blob` (3 MiB pseudo-random), `tree` (a dir).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let inputs = dir.path().join("inputs");
        std::fs::create_dir_all(inputs.join("tree/sub")).unwrap();
        let pattern: Vec<u8> = (0..65536u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(inputs.join("tool"), &pattern).unwrap();
        // Incompressible (xorshift), so size limits are really exercised.
        let mut x = 0x9e3779b97f4a7c15u64;
        let blob: Vec<u8> = (0..3 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(inputs.join("blob"), blob).unwrap();
        std::fs::write(
            inputs.join("tree/sub/data.txt"),
            b"inside a directory input\n",
        )
        .unwrap();
        let sha = |p: &Path| metalos_config::inputs::file_digest(p).unwrap();
        let manifest = serde_json::json!({
            "version": 1,
            "inputs": {
                "tool": { "path": "inputs/tool", "kind": "file", "sha256": sha(&inputs.join("tool")) },
                "blob": { "path": "inputs/blob", "kind": "file", "sha256": sha(&inputs.join("blob")) },
                "tree": { "path": "inputs/tree", "kind": "dir",
                          "sha256": metalos_config::inputs::tree_digest(&inputs.join("tree")).unwrap() },
            }
        });
        std::fs::write(
            dir.path().join("inputs.json"),
            serde_json::to_string_pretty(&manifest).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.path().join("motd"), b"welcome to a test image\n").unwrap();
        std::fs::write(
            dir.path().join("host-config.json"),
            br#"{"version": 1, "identity": {"hostname": "test", "machine-id": "00112233445566778899aabbccddeeff"}}"#,
        )
        .unwrap();
        Fixture { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn inputs(&self) -> String {
        self.path("inputs.json").display().to_string()
    }

    /// Writes `spec` as `name` and returns its path.
    pub fn spec(&self, name: &str, spec: &str) -> String {
        let p = self.path(name);
        std::fs::write(&p, spec).unwrap();
        p.display().to_string()
    }

    /// Builds `spec` into `out` (relative to the fixture), asserting success.
    pub fn build(&self, spec: &str, out: &str) -> PathBuf {
        let spec = self.spec("spec.toml", spec);
        let out_dir = self.path(out);
        metalos_ok(&[
            "build",
            "-q",
            &spec,
            "--inputs",
            &self.inputs(),
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        out_dir
    }
}

/// A spec with every feature: ESP with a long name, USR-A squashfs with
/// files/dirs/symlinks, an empty USR-B, OEM and a fill ROOT.
pub fn full_spec(sector_size: u64) -> String {
    let esp = if sector_size == 4096 {
        "264MiB"
    } else {
        "40MiB"
    };
    format!(
        r#"
[disk]
size = "800MiB"
sector-size = {sector_size}
seed = "0b5e8d4e-27c4-4f27-a3a4-5c1b2a9d3e7f"

[[partitions]]
slot = 1
label = "EFI-SYSTEM"
type = "esp"
size = "{esp}"
content = "esp"

[[partitions]]
slot = 2
label = "USR-A"
type = "usr-x86-64"
size = "64MiB"
content = "usr"
gptprio = {{ priority = 1, tries = 0, successful = true }}

[[partitions]]
slot = 3
label = "USR-B"
type = "usr-x86-64"
size = "64MiB"

[[partitions]]
slot = 4
label = "OEM"
type = "linux-generic"
size = "16MiB"

[[partitions]]
slot = 5
label = "ROOT"
type = "root-x86-64"
size = "fill"

[host-config]
default = {{ file = "host-config.json" }}

[[esp.files]]
path = "EFI/BOOT/BOOTX64.EFI"
source = {{ input = "blob" }}

[[esp.files]]
path = "metalos/a long file name with spaces.txt"
source = {{ file = "motd" }}

[[esp.files]]
path = "metalos/first_boot"
source = {{ text = "" }}

[[usr.files]]
path = "bin/tool"
source = {{ input = "tool" }}
mode = "0755"

[[usr.files]]
path = "share/motd"
source = {{ file = "motd" }}

[[usr.files]]
path = "share/data.txt"
source = {{ input = "tree", path = "sub/data.txt" }}
mode = "0600"

[[usr.directories]]
path = "lib/empty"
mode = "0700"

[[usr.symlinks]]
path = "bin/alias"
target = "tool"
"#
    )
}

/// Reads `len` bytes at `offset` of `path` into a new temp file.
pub fn extract(path: &Path, offset: u64, len: u64) -> tempfile::NamedTempFile {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut src = std::fs::File::open(path).unwrap();
    src.seek(SeekFrom::Start(offset)).unwrap();
    let mut out = tempfile::NamedTempFile::new().unwrap();
    std::io::copy(&mut (&mut src).take(len), &mut out).unwrap();
    out.flush().unwrap();
    out
}

/// The build manifest of an output dir.
pub fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap()
}

/// Extracts partition `slot` using the manifest's offsets.
pub fn partition(out: &Path, slot: u64) -> tempfile::NamedTempFile {
    let m = manifest(out);
    let p = m["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["slot"] == slot)
        .unwrap();
    extract(
        &out.join("disk.img"),
        p["offset"].as_u64().unwrap(),
        p["size"].as_u64().unwrap(),
    )
}

/// A loop device over an image, detached on drop (tests run as root).
pub struct LoopDevice {
    pub path: String,
}

impl LoopDevice {
    /// `losetup --find --show --sector-size N --read-only IMAGE`.
    pub fn attach(image: &Path, sector_size: u64) -> Self {
        let out = tool_ok(
            "losetup",
            &[
                "--find",
                "--show",
                "--read-only",
                "--sector-size",
                &sector_size.to_string(),
                image.to_str().unwrap(),
            ],
        );
        LoopDevice {
            path: out.trim().to_string(),
        }
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.path]).status();
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The static binaries' inputs manifest written by `scripts/build-static`.
pub fn static_inputs() -> PathBuf {
    let path = repo_root().join("target/static-inputs.json");
    assert!(
        path.exists(),
        "{} is missing: run `make static` (scripts/build-static)",
        path.display()
    );
    path
}

/// The real inputs manifest (METALOS_INPUTS or `.cache/inputs/inputs.json`).
/// Fails with instructions when it has not been fetched.
pub fn real_inputs() -> PathBuf {
    let path = std::env::var_os("METALOS_INPUTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".cache/inputs/inputs.json"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo run -p metalos -- inputs fetch` (or `make test`, which does it)",
        path.display()
    );
    path
}

/// `metalos build images/default.toml` with the real Debian inputs and the
/// static binaries into `out`, plus `extra` arguments; returns stdout.
/// Compressed initrds come from the test run's shared cache
/// (`target/compress-cache`) unless `extra` names a `--cache-dir`.
pub fn build_default_image(out: &Path, extra: &[&str]) -> String {
    let spec = repo_root().join("images/default.toml");
    let (inputs, statics) = (real_inputs(), static_inputs());
    let shared_cache = repo_root().join("target/compress-cache");
    let mut args = vec![
        "build",
        "-q",
        spec.to_str().unwrap(),
        "--inputs",
        inputs.to_str().unwrap(),
        "--inputs",
        statics.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    if !extra.contains(&"--cache-dir") {
        args.extend(["--cache-dir", shared_cache.to_str().unwrap()]);
    }
    args.extend_from_slice(extra);
    metalos_ok(&args)
}

/// Every path under `dir` with its bytes (symlinks as `-> target`).
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.file_type().is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                out.push((rel, format!("-> {}", t.display()).into_bytes()));
            } else if meta.is_dir() {
                out.push((rel, b"/".to_vec()));
                stack.push(p);
            } else {
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Starts `metalos netboot serve DIR` on a free port; returns it and the base URL.
pub fn serve(dir: &Path) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_metalos"))
        .args([
            "netboot",
            "serve",
            dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(" at ").next().unwrap().to_string();
    (child, url)
}
