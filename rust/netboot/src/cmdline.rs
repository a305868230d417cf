//! Kernel command lines and the iPXE script of a bundle.

use crate::error::{NetbootError, Result};
use metalos_contract::cmdline::ImagingArgs;
use metalos_contract::MacAddr;

/// iPXE's expansion of the boot NIC's MAC, hyphenated lower case
/// (`52-54-00-12-34-56`), as in HostConfig file names.
pub const IPXE_MAC: &str = "${net0/mac:hexhyp}";
/// The placeholder metalimage expands to the boot NIC's hyphenated MAC.
pub const METALIMAGE_MAC: &str = "${mac}";

/// What the command line tells metalimage about the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageParams {
    /// URL of the compressed disk image blob.
    pub url: String,
    /// sha256 of the uncompressed disk image.
    pub sha256: String,
    /// Size of the uncompressed disk image.
    pub size: u64,
}

/// Checks and normalises `--base-url`: `http://` or `https://`, a host, no
/// query, fragment, whitespace or quotes (it goes into a kernel command line
/// and an iPXE script); a trailing `/` is removed.
pub fn normalize_base_url(url: &str) -> Result<String> {
    let bad = |reason: &str| NetbootError::BaseUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(bad("has no host"));
    }
    if let Some(c) = url
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "\"'?#${}\\".contains(*c))
    {
        return Err(bad(&format!(
            "contains {c:?} (no whitespace, quotes, query, fragment or `$`)"
        )));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// `--host` MACs: `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff`, either case.
pub fn parse_mac(text: &str) -> Result<MacAddr, String> {
    text.parse::<MacAddr>().map_err(|e| e.to_string())
}

/// The HostConfig file name of a MAC: `hosts/52-54-00-12-34-56.json`.
pub fn host_path(mac: &MacAddr) -> String {
    format!("hosts/{}.json", mac.hyphenated())
}

/// The `metalos.*` imaging arguments (written as metalimage parses them).
fn imaging_args(host_config_url: String, image: &ImageParams) -> String {
    ImagingArgs {
        host_config_url,
        image_url: image.url.clone(),
        image_sha256: image.sha256.clone(),
        image_size: image.size,
    }
    .to_args()
}

/// The command line embedded in the published imaging UKI (used by firmware
/// PXE and UEFI HTTP Boot, which pass no arguments): the UKI's own command
/// line, then the HostConfig URL (`${mac}` expanded by metalimage) and the image.
pub fn embedded_cmdline(base_cmdline: &str, base_url: &str, image: &ImageParams) -> String {
    join(&[
        base_cmdline.trim(),
        &imaging_args(format!("{base_url}/hosts/{METALIMAGE_MAC}.json"), image),
    ])
}

/// The iPXE script: iPXE replaces the UKI's embedded command line, so the
/// script carries all of it, with the lease from iPXE (`BOOTIF`, `ip=`).
pub fn ipxe_script(base_cmdline: &str, base_url: &str, image: &ImageParams) -> String {
    let args = join(&[
        base_cmdline.trim(),
        &format!("BOOTIF=01-{IPXE_MAC}"),
        "ip=${net0/ip}::${net0/gateway}:${net0/netmask}",
        "metalos.dns=${dns}",
        &imaging_args(format!("{base_url}/hosts/{IPXE_MAC}.json"), image),
    ]);
    format!(
        "#!ipxe\n\
         # MetalOS netboot: the imaging UKI (metalimage) writes the disk image.\n\
         # Written by `metalos netboot build`; serve this tree at {base_url}/.\n\
         kernel {base_url}/imaging.efi {args}\n\
         boot\n"
    )
}

fn join(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> ImageParams {
        ImageParams {
            url: "http://10.0.2.100/blobs/sha256/ab".into(),
            sha256: "cd".into(),
            size: 42,
        }
    }

    #[test]
    fn base_urls() {
        assert_eq!(
            normalize_base_url("http://10.0.2.100/").unwrap(),
            "http://10.0.2.100"
        );
        assert_eq!(
            normalize_base_url("https://boot.example/metalos").unwrap(),
            "https://boot.example/metalos"
        );
        for bad in [
            "ftp://x",
            "http://",
            "http:///x",
            "http://a b",
            "http://x/?q",
            "x",
        ] {
            assert!(normalize_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn macs() {
        let a = parse_mac("52:54:00:AB:cd:EF").unwrap();
        assert_eq!(parse_mac("52-54-00-ab-cd-ef").unwrap(), a);
        assert_eq!(host_path(&a), "hosts/52-54-00-ab-cd-ef.json");
        assert!(parse_mac("52:54:00:ab:cd").is_err());
        assert!(parse_mac("52:54-00:ab:cd:zz").is_err());
    }

    #[test]
    fn script_and_cmdline() {
        let s = ipxe_script("console=ttyS0 panic=10", "http://h", &image());
        assert_eq!(
            s.lines().nth(3).unwrap(),
            "kernel http://h/imaging.efi console=ttyS0 panic=10 BOOTIF=01-${net0/mac:hexhyp} \
             ip=${net0/ip}::${net0/gateway}:${net0/netmask} metalos.dns=${dns} \
             metalos.host_config_url=http://h/hosts/${net0/mac:hexhyp}.json \
             metalos.image_url=http://10.0.2.100/blobs/sha256/ab metalos.image_sha256=cd \
             metalos.image_size=42"
        );
        assert!(s.starts_with("#!ipxe\n") && s.ends_with("\nboot\n"));
        assert_eq!(
            embedded_cmdline("console=ttyS0", "http://h", &image()),
            "console=ttyS0 metalos.host_config_url=http://h/hosts/${mac}.json \
             metalos.image_url=http://10.0.2.100/blobs/sha256/ab metalos.image_sha256=cd \
             metalos.image_size=42"
        );
    }
}
