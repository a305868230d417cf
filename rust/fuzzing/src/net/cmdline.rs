//! Kernel command lines as the PID 1 programs read them: the network
//! parameters (`metalos_net::cmdline`), `key=value` lookups
//! (`metalos_boot::sys`), `metalos.verity=`, `metalos.emergency=`,
//! metalinit's GUIDs and metalimage's image parameters. Where MetalOS writes a command line (the
//! slot's kexec line, the netboot UKI's embedded line and iPXE script, the
//! slot descriptor's verity value) reading what was written must give
//! back what was meant.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use metalos_boot::emergency::Action;
use metalos_boot::metalinit::provision;
use metalos_boot::slotboot::slot_cmdline;
use metalos_boot::sys::{cmdline_uuid, cmdline_value};
use metalos_boot::verity::VerityArgs;
use metalos_contract::cmdline::ImagingArgs;
use metalos_disk::gpt::{Gpt, Partition};
use metalos_disk::guid::SENTINEL_DISK_GUID;
use metalos_disk::slotdesc::SlotDescriptor;
use metalos_net::cmdline::{self as net, IpConfig, StaticConfig};
use metalos_net::MacAddr;
use metalos_netboot::cmdline::{embedded_cmdline, ipxe_script, ImageParams};
use uuid::Uuid;

use crate::seeds::Seed;

/// Every key the PID 1 programs look up with `cmdline_value`.
const KEYS: &[&str] = &[
    "metalos.usr",
    "metalos.root_disk",
    "metalos.boot_disk",
    "metalos.first_boot",
    "metalos.randomize_guid",
    "metalos.emergency",
    "metalos.verity",
    "metalos.host_config_url",
    "metalos.image_url",
    "metalos.image_sha256",
    "metalos.image_size",
    "ignition.config.url",
    "metalos.config_url",
    "console",
];

/// The base URL of the netboot compositions.
const BASE_URL: &str = "http://10.77.1.1/metalos";
const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Target `cmdline`: the input as `/proc/cmdline` (UTF-8, trimmed, as
/// `metalos_boot::sys::kernel_cmdline` reads it).
pub fn cmdline(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let line = text.trim();
    lookups(line);
    network(line);
    verity(line);
    imaging(line);
    slot(line);
}

/// `cmdline_value` and the readers built on it.
fn lookups(line: &str) {
    for key in KEYS {
        if let Some(v) = cmdline_value(line, key) {
            assert!(!v.contains(char::is_whitespace), "{key}={v:?}");
            let word = format!("{key}={v}");
            assert!(line.split_whitespace().any(|w| w == word), "{word:?}");
        }
    }
    for key in ["metalos.usr", "metalos.root_disk"] {
        drop(cmdline_uuid(line, key).map_err(|e| e.to_string()));
    }
    let _ = provision::first_boot_requested(line);
    let _ = provision::config_url(line);
    let _ = cmdline_value(line, "metalos.emergency").and_then(Action::parse);
}

/// `BOOTIF=`, `metalos.mac=`, `ip=`, `metalos.dns=`; a static `ip=` must
/// survive netboot's iPXE script as iPXE expands it.
fn network(line: &str) {
    let parsed = match net::parse(line) {
        Ok(p) => p,
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("kernel command line: "), "{msg}");
            return;
        }
    };
    let Some(IpConfig::Static(s)) = &parsed.ip else {
        return;
    };
    assert!(s.prefix_len <= 32, "{s:?}");
    assert_eq!(
        net::parse_netmask(&s.netmask().to_string()),
        Some(s.prefix_len)
    );
    assert_ne!(s.gateway, Some(Ipv4Addr::UNSPECIFIED));
    let mac = parsed
        .boot_mac
        .unwrap_or(MacAddr([0x52, 0x54, 0, 0x12, 0x34, 0x56]));
    let dns = parsed.dns_servers.first().copied();
    let image = ImageParams {
        url: format!("{BASE_URL}/blobs/sha256/{SHA}"),
        sha256: SHA.into(),
        size: 1 << 30,
    };
    let args = ipxe_kernel_args(&ipxe_script("console=ttyS0", BASE_URL, &image), mac, s, dns);
    let again = net::parse(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert_eq!(again.boot_mac, Some(mac), "{args:?}");
    assert_eq!(
        again.dns_servers,
        dns.into_iter().collect::<Vec<_>>(),
        "{args:?}"
    );
    let expected = StaticConfig {
        hostname: None,
        interface: None,
        dns_servers: vec![],
        ..s.clone()
    };
    assert_eq!(again.ip, Some(IpConfig::Static(expected)), "{args:?}");
    let params = ImagingArgs::parse(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert_eq!(
        params.host_config_url,
        format!("{BASE_URL}/hosts/{}.json", mac.hyphenated())
    );
}

/// The `kernel` line of netboot's iPXE script after iPXE's expansion of
/// `${net0/...}` and `${dns}` for a NIC `mac` with lease `s`.
fn ipxe_kernel_args(script: &str, mac: MacAddr, s: &StaticConfig, dns: Option<Ipv4Addr>) -> String {
    let line = script
        .lines()
        .find_map(|l| l.strip_prefix("kernel "))
        .expect("a kernel line");
    let (_, args) = line.split_once(' ').expect("URL then arguments");
    let text = |ip: Option<Ipv4Addr>| ip.map(|ip| ip.to_string()).unwrap_or_default();
    args.replace("${net0/mac:hexhyp}", &mac.hyphenated())
        .replace("${net0/ip}", &s.address.to_string())
        .replace("${net0/gateway}", &text(s.gateway))
        .replace("${net0/netmask}", &s.netmask().to_string())
        .replace("${dns}", &text(dns))
}

/// `metalos.verity=`: parsed, rendered as a table, and the slot
/// descriptor's value for the same arguments parses back to them.
fn verity(line: &str) {
    let Some(value) = cmdline_value(line, "metalos.verity") else {
        return;
    };
    let args = match VerityArgs::parse(value) {
        Ok(a) => a,
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("metalos.verity="), "{msg}");
            return;
        }
    };
    let _ = args.table_params(254, 0);
    let written = descriptor(&args).cmdline_value();
    assert_eq!(VerityArgs::parse(&written).ok(), Some(args), "{written:?}");
}

fn descriptor(a: &VerityArgs) -> SlotDescriptor {
    SlotDescriptor {
        format: 1,
        hash_algorithm: "sha256".into(),
        block_size: 4096,
        data_size: a.data_blocks.saturating_mul(4096),
        data_blocks: a.data_blocks,
        hash_offset: a.hash_offset,
        root_hash: a.root_hash.clone(),
        salt: a.salt.clone(),
        payload: BTreeMap::new(),
    }
}

/// metalimage's parameters; the netboot UKI's embedded command line
/// (the input as its base) must give back the image it names.
fn imaging(line: &str) {
    let image = match ImagingArgs::parse(line) {
        Ok(p) => {
            assert!(p.image_sha256.len() == 64, "{p:?}");
            let _ = p.blob_sha256();
            ImageParams {
                url: p.image_url,
                sha256: p.image_sha256,
                size: p.image_size,
            }
        }
        Err(e) => {
            drop(e.to_string());
            ImageParams {
                url: format!("{BASE_URL}/blobs/sha256/{SHA}"),
                sha256: SHA.into(),
                size: 1 << 30,
            }
        }
    };
    let composed = embedded_cmdline(line, BASE_URL, &image);
    let again = ImagingArgs::parse(&composed).unwrap_or_else(|e| panic!("{composed:?}: {e}"));
    assert_eq!(
        again,
        ImagingArgs {
            host_config_url: format!("{BASE_URL}/hosts/${{mac}}.json"),
            image_url: image.url,
            image_sha256: image.sha256,
            image_size: image.size,
        },
        "{composed:?}"
    );
}

/// The bootloader's kexec line for a slot whose own `cmdline` file is the
/// input, booted from a command line that is the input too: metalinit
/// must read back the slot, the disk, the boot disk, first boot, the
/// emergency action and the verity arguments that were written.
fn slot(line: &str) {
    let usr = Uuid::from_u128(0x3a1c_2e44_0f4b_4a57_9c51_2b8e_6f7d_9a10);
    let part = Partition {
        number: 3,
        type_guid: Uuid::from_u128(0x8484_680c_9521_48c6_9c11_b072_0656_f69e),
        guid: usr,
        first_lba: 2048,
        last_lba: 4095,
        attributes: 0,
        name: "usr-a".into(),
    };
    let gpt = Gpt {
        sector_size: 512,
        total_sectors: 1 << 20,
        disk_guid: SENTINEL_DISK_GUID,
        partitions: vec![part.clone()],
    };
    let boot_disk = "pci-0000:00:04.0";
    let args = VerityArgs {
        root_hash: SHA.into(),
        hash_offset: 21_909_504,
        data_blocks: 5349,
        salt: "5a".repeat(32),
    };
    let written = slot_cmdline(line, None, &part, &gpt, Some(boot_disk), true, line);
    let written = format!(
        "{written} metalos.verity={}",
        descriptor(&args).cmdline_value()
    );
    let read = |key| cmdline_uuid(&written, key).unwrap_or_else(|e| panic!("{written:?}: {e}"));
    assert_eq!(read("metalos.usr"), usr);
    assert_eq!(read("metalos.root_disk"), SENTINEL_DISK_GUID);
    assert_eq!(read("metalos.randomize_guid"), SENTINEL_DISK_GUID);
    assert_eq!(
        cmdline_value(&written, "metalos.boot_disk"),
        Some(boot_disk)
    );
    assert!(provision::first_boot_requested(&written));
    assert_eq!(
        cmdline_value(&written, "metalos.emergency"),
        cmdline_value(line, "metalos.emergency"),
        "{written:?}"
    );
    let verity = cmdline_value(&written, "metalos.verity").expect("written");
    assert_eq!(VerityArgs::parse(verity).ok(), Some(args));
}

/// Seeds: command lines from the UKIs, netboot and the tests (see the
/// module documentation of each reader).
pub fn seeds() -> Vec<Seed> {
    let image = ImageParams {
        url: format!("http://10.0.2.100/blobs/sha256/{SHA}"),
        sha256: SHA.into(),
        size: 1_073_741_824,
    };
    let base = "console=ttyS0 panic=10";
    let script = ipxe_script(base, "http://10.0.2.100", &image);
    let ipxe_line = script
        .lines()
        .find_map(|l| l.strip_prefix("kernel "))
        .expect("a kernel line")
        .to_string();
    let ipxe_expanded = ipxe_line
        .replace("${net0/mac:hexhyp}", "52-54-00-12-34-56")
        .replace("${net0/ip}", "10.0.2.15")
        .replace("${net0/gateway}", "10.0.2.2")
        .replace("${net0/netmask}", "255.255.255.0")
        .replace("${dns}", "10.0.2.3");
    let root = "a".repeat(64);
    let salt = "5a".repeat(32);
    let lines: Vec<(&str, String)> = vec![
        ("uki-embedded", embedded_cmdline(base, "http://10.0.2.100", &image)),
        ("ipxe-script-line", ipxe_line),
        ("ipxe-expanded", ipxe_expanded),
        (
            "net-ipxe-style",
            "imaging.efi console=ttyS0 BOOTIF=01-52-54-00-12-34-56 \
             ip=10.77.1.100::10.77.1.1:255.255.255.0 metalos.dns=10.77.1.1,10.77.1.2"
                .into(),
        ),
        (
            "net-full-ip",
            "ip=10.0.0.5:10.0.0.9:10.0.0.1:24:host1:eth0:off:1.1.1.1:8.8.8.8 metalos.mac=AA:BB:CC:DD:EE:01"
                .into(),
        ),
        ("net-dhcp", "ip=:::::eth0:dhcp BOOTIF=aa:bb:cc:dd:ee:01 metalos.dns=".into()),
        (
            "slot-kexec",
            format!(
                "console=ttyS0 quiet metalos.usr=PARTUUID=3a1c2e44-0f4b-4a57-9c51-2b8e6f7d9a10 \
                 metalos.root_disk=00000000-0000-0000-0000-000000000001 \
                 metalos.boot_disk=pci-0000:00:04.0 metalos.first_boot=detected \
                 metalos.randomize_guid=00000000-0000-0000-0000-000000000001 \
                 systemd.machine_id=5f1c0e6a4b7d4c3e9a2b1c0d9e8f7a6b metalos.emergency=shell \
                 metalos.verity={root}:21909504:5349:{salt}"
            ),
        ),
        (
            "provision",
            "console=ttyS0 metalos.first_boot=1 ignition.config.url=http://10.0.2.100/ign.json \
             metalos.emergency=poweroff"
                .into(),
        ),
        ("verity-no-salt", format!("metalos.verity={root}:4096:1:")),
        ("quoted", "ip=\"dhcp\" foo=\"a b\" metalos.emergency=reboot".into()),
    ];
    lines
        .into_iter()
        .map(|(name, line)| Seed {
            target: "cmdline",
            name: name.into(),
            data: line.into_bytes(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_runs_over_seeds_and_broken_inputs() {
        for seed in seeds() {
            cmdline(&seed.data);
            cmdline(&seed.data[..seed.data.len() / 2]);
        }
        for bad in [
            "",
            "ip=",
            "ip=10.0.0.1::10.0.0.2:255.0.255.0",
            "metalos.verity=x:y:z:w",
            "metalos.usr=PARTUUID=nope",
            "BOOTIF=01-aa-bb-cc-dd-ee-01 metalos.mac=aa:bb:cc:dd:ee:02",
            "metalos.image_sha256=XYZ",
        ] {
            cmdline(bad.as_bytes());
        }
        cmdline(&[0xff, 0xfe]);
    }
}
