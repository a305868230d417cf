//! Netboot helpers shared by the user-network (`tests/netboot.rs`) and the
//! network-namespace (`tests/netboot_netns.rs`) tests: bundles, blank
//! disks, boot scripts.

use std::path::{Path, PathBuf};

/// HostConfig fixture `tests/fixtures/host-config-netboot-<n>.json`
/// (host `netboot-host-<n>`, MAC `52:54:00:aa:bb:1<n>`).
pub fn netboot_host_config(n: u32) -> PathBuf {
    crate::repo().join(format!("tests/fixtures/host-config-netboot-{n}.json"))
}

/// Builds a netboot bundle of the finished image build `image_dir` into
/// `out` with every URL under `base_url` and `hosts` as (MAC, HostConfig
/// file) pairs; returns `out`.
pub fn build_bundle(
    image_dir: &Path,
    base_url: &str,
    hosts: &[(&str, &Path)],
    out: &Path,
) -> PathBuf {
    build_signed_bundle(image_dir, base_url, hosts, out, None)
}

/// [`build_bundle`], with `manifest.json.sig` when `key` is given.
pub fn build_signed_bundle(
    image_dir: &Path,
    base_url: &str,
    hosts: &[(&str, &Path)],
    out: &Path,
    key: Option<&metalos_signing::SigningKey>,
) -> PathBuf {
    let hosts: Vec<_> = hosts
        .iter()
        .map(|(mac, hc)| {
            metalos_netboot::HostArg::parse(&format!("{mac}={}", hc.display()))
                .unwrap_or_else(|e| panic!("host {mac}={}: {e}", hc.display()))
        })
        .collect();
    metalos_netboot::build_bundle(
        &metalos_netboot::BundleOptions {
            image_dir,
            base_url,
            hosts: &hosts,
            out,
            signing_key: key,
            secure_boot: None,
        },
        &|_| {},
    )
    .unwrap_or_else(|e| panic!("building the netboot bundle {}: {e}", out.display()));
    out.to_path_buf()
}

/// A blank 3 GiB disk (sparse file) at `path`.
pub fn blank_disk(path: &Path) -> PathBuf {
    let f =
        std::fs::File::create(path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    f.set_len(3 << 30).unwrap();
    path.to_path_buf()
}

/// The bundle's `boot.ipxe` with `kernel_url` as the UKI's URL (e.g. plain
/// `http://` when the bundle's base URL is `https://`, which iPXE cannot
/// fetch) and `extra` appended to the kernel command line.
pub fn edit_boot_script(bundle: &Path, kernel_url: &str, extra: &str) -> String {
    let path = bundle.join("boot.ipxe");
    let script = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut found = false;
    let lines: Vec<String> = script
        .lines()
        .map(|l| match l.strip_prefix("kernel ") {
            Some(rest) => {
                found = true;
                let args = rest.split_once(' ').map_or("", |(_, a)| a);
                format!("kernel {kernel_url} {args} {extra}")
                    .trim_end()
                    .to_string()
            }
            None => l.to_string(),
        })
        .collect();
    assert!(found, "{} has no `kernel` line:\n{script}", path.display());
    lines.join("\n") + "\n"
}
