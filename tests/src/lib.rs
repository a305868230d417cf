//! Helpers for the end-to-end VM tests: the inputs (Debian packages plus
//! the static MetalOS binaries), building images from `images/`, and
//! reading disks back.

use metalos_config::spec::ImageSpec;
use metalos_config::{InputsManifest, Resolver};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Generous: the machine is shared and QEMU runs under TCG.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(180);

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

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

/// Builds `images/default.toml` (after `edit` rewrites its text) with an
/// optional HostConfig override into `out`; returns the disk image path.
pub fn build_default(
    out: &Path,
    host_config: Option<&Path>,
    edit: impl FnOnce(String) -> String,
) -> PathBuf {
    let images = repo().join("images");
    let text = edit(std::fs::read_to_string(images.join("default.toml")).unwrap());
    let mut spec = ImageSpec::parse(&text).unwrap();
    if let Some(hc) = host_config {
        spec.host_config = Some(metalos_config::spec::HostConfigSpec {
            default: metalos_config::Source {
                file: Some(hc.display().to_string()),
                ..Default::default()
            },
        });
    }
    let options = metalos_image::BuildOptions {
        out_dir: out.to_path_buf(),
        source_date_epoch: None,
        progress: &|_| {},
    };
    metalos_image::build(&spec, &Resolver::new(&images, inputs()), &options).unwrap();
    out.join(metalos_image::build::DISK_FILE)
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
