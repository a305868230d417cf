//! Helpers for the end-to-end VM tests: the inputs (Debian packages plus
//! the static MetalOS binaries), building images from `images/`, and
//! reading disks back.

use metalos_config::spec::ImageSpec;
use metalos_config::{InputsManifest, Resolver};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Generous: the machine is shared and QEMU runs under TCG.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(180);

/// Compressed initrds shared by every image build of a test run (and the
/// next run): most image builds differ only in HostConfig or `/usr`, so their
/// initrds are compressed once (`metalos build --cache-dir`).
pub const COMPRESS_CACHE: &str = "target/compress-cache";

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

pub mod image_cache;
pub use image_cache::shared_fixture;
pub mod metadata_service;
pub mod netboot;
pub mod scripted_http;
pub mod server;
pub mod tls;
mod walk;

/// Debian inputs + static binaries; the tests FAIL (not skip) without them.
pub fn inputs() -> InputsManifest {
    let debian = std::env::var_os("METALOS_INPUTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".cache/inputs/inputs.json"));
    let statics = repo().join("target/static-inputs.json");
    let mut m = InputsManifest::load(&debian).unwrap_or_else(|e| {
        panic!("{e}\nrun `make inputs` (or `cargo run -p metalos -- inputs fetch`) first")
    });
    let s = InputsManifest::load(&statics)
        .unwrap_or_else(|e| panic!("{e}\nrun `make static` (scripts/build-static) first"));
    m.merge(s).unwrap();
    m
}

/// Path of input `name`.
pub fn input(m: &InputsManifest, name: &str) -> PathBuf {
    m.path(name)
        .unwrap_or_else(|| panic!("input {name} missing"))
        .to_path_buf()
}

/// [`inputs`] with the inputs `overrides` (name, file or directory)
/// added or replaced, e.g. `("ca-certificates", test_ca_pem)`.
pub fn inputs_with(overrides: &[(&str, &Path)]) -> InputsManifest {
    let mut m = inputs();
    for (name, path) in overrides {
        let entry = InputsManifest::describe(path)
            .unwrap_or_else(|e| panic!("input {name} override {}: {e}", path.display()));
        m.inputs.insert(name.to_string(), entry);
    }
    m
}

/// Builds `images/default.toml` (after `edit` rewrites its text) with an
/// optional HostConfig override into `out`; returns the disk image path.
pub fn build_default(
    out: &Path,
    host_config: Option<&Path>,
    edit: impl FnOnce(String) -> String,
) -> PathBuf {
    build_default_with_inputs(out, host_config, edit, &[])
}

/// [`build_default`] with some inputs replaced (see [`inputs_with`]).
pub fn build_default_with_inputs(
    out: &Path,
    host_config: Option<&Path>,
    edit: impl FnOnce(String) -> String,
    overrides: &[(&str, &Path)],
) -> PathBuf {
    build_image(
        "default.toml",
        out,
        host_config,
        edit,
        inputs_with(overrides),
    )
}

/// Builds `images/SPEC` (after `edit` rewrites its text) from `inputs`
/// with an optional HostConfig override into `out` (the test's own copy);
/// returns the disk image.
pub fn build_image(
    spec_name: &str,
    out: &Path,
    host_config: Option<&Path>,
    edit: impl FnOnce(String) -> String,
    inputs: InputsManifest,
) -> PathBuf {
    let entry = cached_image(spec_name, host_config, edit, inputs);
    image_cache::copy_tree(&entry, out);
    out.join(metalos_image::build::DISK_FILE)
}

/// [`build_image`]'s output directory as the image cache keeps it, shared
/// with every test that builds the same image: for tests that only read
/// it (boot a [`raw_copy`] of its disk, publish its update bundle). Never
/// modify anything in it; it stays in the cache while the returned value
/// lives.
pub fn cached_image(
    spec_name: &str,
    host_config: Option<&Path>,
    edit: impl FnOnce(String) -> String,
    inputs: InputsManifest,
) -> image_cache::Entry {
    let images = repo().join("images");
    let text = edit(std::fs::read_to_string(images.join(spec_name)).unwrap());
    let mut spec = ImageSpec::parse(&text).unwrap();
    if let Some(hc) = host_config {
        spec.host_config = Some(metalos_config::spec::HostConfigSpec {
            default: metalos_config::Source {
                file: Some(hc.display().to_string()),
                ..Default::default()
            },
        });
    }
    let key = image_cache::BuildKey {
        spec_name,
        spec_text: &text,
        host_config,
        inputs: &inputs,
    };
    image_cache::cached_entry(&key, |dir| {
        let options = metalos_image::BuildOptions {
            out_dir: dir.to_path_buf(),
            source_date_epoch: None,
            progress: &|_| {},
            signing_keys: None,
            cache_dir: Some(repo().join(COMPRESS_CACHE)),
        };
        metalos_image::build(&spec, &Resolver::new(&images, inputs.clone()), &options).unwrap();
    })
}

/// A `data:` URL of `text`, percent-encoded (for Ignition configs).
pub fn data_url(text: &str) -> String {
    let enc: String = text
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("data:,{enc}")
}

/// `mtools` image argument (`DISK@@OFFSET`) for the ESP of a raw disk.
pub fn esp_arg(disk: &Path) -> String {
    let report = inspect(disk);
    let esp = &report.partitions[0];
    format!("{}@@{}", disk.display(), esp.first_lba * 512)
}

/// Whether the ESP of a raw disk has `path` (checked with `mdir`).
pub fn esp_has(disk: &Path, path: &str) -> bool {
    std::process::Command::new("mdir")
        .args(["-b", "-i", &esp_arg(disk), &format!("::{path}")])
        .output()
        .unwrap()
        .status
        .success()
}

/// The HostConfig used by the VM tests (agent enabled, a NIC to rename).
pub fn test_host_config() -> PathBuf {
    repo().join("tests/fixtures/host-config-vm.json")
}

/// sha256 of a file.
pub fn sha256(path: &Path) -> String {
    metalos_config::inputs::file_digest(path).unwrap()
}

/// `metalos inspect` report of a raw image on the host.
pub fn inspect(path: &Path) -> metalos_image::inspect::DiskReport {
    metalos_image::inspect::inspect_disk(&std::fs::File::open(path).unwrap()).unwrap()
}

/// Converts the qcow2 overlay of a machine to a raw image for inspection.
pub fn overlay_to_raw(overlay: &Path, raw: &Path) {
    let st = std::process::Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(overlay)
        .arg(raw)
        .status()
        .expect("qemu-img (qemu-utils) is needed");
    assert!(st.success(), "qemu-img convert failed");
}

/// A tiny HTTP/1.0 file server on 127.0.0.1 (for bundles), serving `root`
/// until dropped. Returns the port.
pub struct FileServer {
    /// Port on 127.0.0.1.
    pub port: u16,
}

impl FileServer {
    /// Serves `root` on an ephemeral 127.0.0.1 port in a background thread.
    pub fn start(root: &Path) -> FileServer {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let root = root.to_path_buf();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let root = root.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(&stream);
                    let mut line = String::new();
                    let _ = reader.read_line(&mut line);
                    let path = line
                        .split_whitespace()
                        .nth(1)
                        .unwrap_or("/")
                        .trim_start_matches('/')
                        .to_string();
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                            break;
                        }
                    }
                    let mut out = &stream;
                    match std::fs::read(root.join(&path)) {
                        Ok(body) if !path.contains("..") => {
                            let _ = write!(
                                out,
                                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n",
                                body.len()
                            );
                            let _ = out.write_all(&body);
                        }
                        _ => {
                            let _ =
                                write!(out, "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                        }
                    }
                });
            }
        });
        FileServer { port }
    }
}

/// Replaces the image's os-release VERSION_ID (in /usr) with `version`.
pub fn with_version(spec: String, version: &str) -> String {
    spec.replace(
        "path = \"lib/os-release\"\nsource = { file = \"os-release\" }",
        &format!("path = \"lib/os-release\"\nsource = {{ text = \"ID=metalos\\nNAME=MetalOS\\nVERSION_ID={version}\\n\" }}"),
    )
}

/// Packs directories of bundles into a squashfs image (a second disk for
/// the guest: `mount -t squashfs /dev/vdb …`). `bundles` maps a name to a
/// bundle directory.
pub fn bundle_disk(out: &Path, bundles: &[(&str, &Path)]) -> PathBuf {
    metalos_disk::usrfs::squashfs_of_dirs(out, bundles).unwrap();
    out.to_path_buf()
}

/// The seed's own 2.2.0 Ignition example (Flatcar's boot-process page):
/// a unit enabled by a wants link.
pub fn seed_config() -> serde_json::Value {
    serde_json::json!({
        "ignition": {"version": "2.2.0"},
        "systemd": {"units": [{
            "name": "my.service", "enabled": true,
            "contents": "[Service]\nType=oneshot\nExecStart=/usr/bin/echo Hello World\n\n[Install]\nWantedBy=multi-user.target"
        }]},
        "storage": {"links": [{
            "filesystem": "root",
            "path": "/etc/systemd/system/multi-user.target.wants/my.service",
            "target": "/etc/systemd/system/my.service"
        }]}
    })
}

/// A sparse raw copy of a built image at `to` (for tests that edit the
/// disk between boots); returns `to`.
pub fn raw_copy(image: &Path, to: &Path) -> PathBuf {
    let st = std::process::Command::new("cp")
        .arg("--sparse=always")
        .arg(image)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success(), "cp {} {}", image.display(), to.display());
    to.to_path_buf()
}
