//! Network boot on a private L2 segment (the privileged "namespace tier",
//! see docs/vm-tests.md): a bridge, tap, dnsmasq and HTTP(S) servers in an
//! anonymous network namespace around QEMU ([`metalos_vmtest::netns`]).
//! Covers what QEMU user networking cannot: UEFI HTTP Boot answered by
//! DHCP client class, metalimage's own DHCP client against a real server,
//! and HTTPS with a private CA. Needs root; fails (not skips) without it.

use metalos_tests::netboot::{blank_disk, build_bundle, edit_boot_script, netboot_host_config};
use metalos_tests::tls::TestCa;
use metalos_tests::*;
use metalos_vmtest::netns::{self, NetnsLab, SERVER};
use metalos_vmtest::{Disk, Machine, Nic};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const MAC1: &str = "52:54:00:aa:bb:11";
const MAC2: &str = "52:54:00:aa:bb:12";
/// [`MAC1`] as metalimage puts it into `${mac}` and `hosts/` file names.
const MAC1_HYPHENS: &str = "52-54-00-aa-bb-11";

/// The default image (Debian's CA bundle), built once per run for every
/// test process (a shared fixture).
fn default_image() -> &'static Path {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let dir = shared_fixture("netboot-netns", |dir| {
            build_default(&dir.join("default-image"), None, |t| t);
        });
        dir.join("default-image")
    })
}

/// A UEFI machine with a blank disk (bootindex 1) and `nic` (bootindex 2).
/// `tls`: TLS needs a seeded kernel RNG, which the default TCG CPU's
/// RDRAND gives at boot; the DHCP path must work without it (metalimage's
/// DHCP client draws no blocking randomness), so the other machines get
/// plain `qemu64`, without RDRAND.
fn machine(test: &str, name: &str, disk: &Path, nic: Nic, extra: &[&str], tls: bool) -> Machine {
    let mut builder = Machine::builder(test);
    if !tls {
        builder = builder.cpu_model("qemu64");
    }
    builder
        .name(name)
        .uefi()
        .memory_mib(1024)
        .disk(Disk::direct(disk).bootindex(1))
        .nic(nic.bootindex(2))
        .qemu_args(extra.iter().copied())
        .build()
        .unwrap()
}

/// OVMF's own UEFI HTTP Boot (no iPXE, PXE off) loads imaging.efi, so the
/// UKI's embedded command line is used: metalimage gets its address from
/// dnsmasq, fetches the HostConfig of its MAC and images the disk.
#[test]
fn uefi_http_boot_with_dhcp() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!("http://{SERVER}");
    let bundle = build_bundle(
        default_image(),
        &base,
        &[
            (MAC1, &netboot_host_config(1)),
            (MAC2, &netboot_host_config(2)),
        ],
        &dir.path().join("bundle"),
    );
    let disk = blank_disk(&dir.path().join("disk.raw"));
    let lab = NetnsLab::new()
        .http_dir(&bundle)
        .uefi_http_boot(&format!("{base}/imaging.efi"));
    let nic = Nic::new_netns(lab).no_option_rom().mac(MAC1);
    let mut vm = machine(
        "netboot_netns_uefi_http_boot",
        "host1",
        &disk,
        nic,
        &netns::OVMF_NO_PXE,
        false,
    );
    vm.start().unwrap();
    // A second machine on the same segment (same bridge, dnsmasq and
    // server): its own lease and its own HostConfig.
    let disk2 = blank_disk(&dir.path().join("disk2.raw"));
    let nic2 = Nic::new_netns(NetnsLab::join(vm.launcher_pid().unwrap(), "tapb"))
        .no_option_rom()
        .mac(MAC2);
    let mut vm2 = machine(
        "netboot_netns_uefi_http_boot",
        "host2",
        &disk2,
        nic2,
        &netns::OVMF_NO_PXE,
        false,
    );
    vm2.start().unwrap();
    let net = vm
        .wait_for_console(
            r"metalimage: network: \S+ \(([0-9a-f:]+)\) (10\.77\.1\.\d+)/24 gateway 10\.77\.1\.1 via DHCP",
            2 * BOOT_TIMEOUT,
        )
        .unwrap();
    assert_eq!(net[1], MAC1);
    vm.wait_for_console(
        &format!(
            "metalimage: HostConfig {}/hosts/{MAC1_HYPHENS}.json: host netboot-host-1",
            regex_escape(&base)
        ),
        BOOT_TIMEOUT,
    )
    .unwrap();
    let up = vm
        .wait_for_console("METALOS-ROOTFS-UP host=(\\S+) usr=(\\S+)", 2 * BOOT_TIMEOUT)
        .unwrap();
    assert_eq!(up[1], "netboot-host-1", "the MAC-keyed HostConfig");
    assert_eq!(up[2], "/dev/vda2");
    let net2 = vm2
        .wait_for_console(
            r"metalimage: network: \S+ \(([0-9a-f:]+)\) (10\.77\.1\.\d+)/24 gateway 10\.77\.1\.1 via DHCP",
            2 * BOOT_TIMEOUT,
        )
        .unwrap();
    assert_eq!(net2[1], MAC2);
    assert_ne!(net2[2], net[2], "each machine has its own lease");
    vm2.wait_for_console("METALOS-ROOTFS-UP host=netboot-host-2 ", 2 * BOOT_TIMEOUT)
        .unwrap();
    vm2.shutdown().unwrap();
    vm.shutdown().unwrap();

    // The firmware really was an HTTP Boot client, and got the lease it used.
    let dnsmasq = read(&vm.dir().join("dnsmasq.log"));
    assert!(
        dnsmasq.contains("HTTPClient"),
        "no HTTP Boot client:\n{dnsmasq}"
    );
    assert!(
        dnsmasq.contains(&format!("DHCPACK(br0) {} {MAC1}", net[2])),
        "no lease of {} for {MAC1}:\n{dnsmasq}",
        net[2]
    );
}

/// metalimage fetches the HostConfig and the image over HTTPS from a
/// server with a certificate of a per-run test CA: it works when the
/// imaging initrd carries that CA as its bundle (the `ca-certificates`
/// input), and fails with the URL and the certificate problem — then
/// runs the emergency action — with Debian's bundle. iPXE (no HTTPS) gets
/// boot.ipxe and imaging.efi over plain HTTP.
#[test]
fn https_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = TestCa::generate(&d.join("ca"), "metalos-vmtest", SERVER);
    let base = format!("https://{SERVER}");
    let hosts = [(MAC1, netboot_host_config(1))];
    let hosts: Vec<(&str, &Path)> = hosts.iter().map(|(m, p)| (*m, p.as_path())).collect();

    // Trusted: the image's CA bundle is the test CA.
    let image = d.join("image-test-ca");
    build_default_with_inputs(&image, None, |t| t, &[("ca-certificates", &ca.ca_pem)]);
    let bundle = build_bundle(&image, &base, &hosts, &d.join("bundle-test-ca"));
    let http = plain_http_root(&d.join("http-test-ca"), &bundle, "");
    let lab = NetnsLab::new()
        .ipxe_script(&format!("http://{SERVER}/boot.ipxe"))
        .http_dir(&http)
        .https_dir(&bundle, &ca.cert, &ca.key);
    let disk = blank_disk(&d.join("disk1.raw"));
    let mut vm = machine(
        "netboot_netns_https",
        "test-ca",
        &disk,
        Nic::new_netns(lab.clone()).mac(MAC1),
        &[],
        true,
    );
    vm.start().unwrap();
    vm.wait_for_console(
        &format!(
            "metalimage: HostConfig {}/hosts/{MAC1_HYPHENS}.json: host netboot-host-1",
            regex_escape(&base)
        ),
        2 * BOOT_TIMEOUT,
    )
    .unwrap();
    vm.wait_for_console(
        &format!(
            r"metalimage: imaging /dev/vda from {}/blobs/sha256/[0-9a-f]{{64}}",
            regex_escape(&base)
        ),
        BOOT_TIMEOUT,
    )
    .unwrap();
    let up = vm
        .wait_for_console("METALOS-ROOTFS-UP host=(\\S+) usr=(\\S+)", 2 * BOOT_TIMEOUT)
        .unwrap();
    assert_eq!(up[1], "netboot-host-1");
    vm.shutdown().unwrap();
    let https = read(&vm.dir().join("https.log"));
    for file in [format!("hosts/{MAC1_HYPHENS}.json"), "blobs/sha256/".into()] {
        assert!(
            https.contains(&format!("FILE:{file}")),
            "{file} not served over HTTPS:\n{https}"
        );
    }

    // Untrusted: the default image (Debian's CA bundle), same server.
    let bundle = build_bundle(default_image(), &base, &hosts, &d.join("bundle-debian"));
    let http = plain_http_root(
        &d.join("http-debian"),
        &bundle,
        "metalos.emergency=poweroff",
    );
    let lab = NetnsLab {
        http_root: Some(http),
        ..lab
    }
    .https_dir(&bundle, &ca.cert, &ca.key);
    let disk = blank_disk(&d.join("disk2.raw"));
    let mut vm = machine(
        "netboot_netns_https",
        "debian-ca",
        &disk,
        Nic::new_netns(lab).mac(MAC1),
        &[],
        true,
    );
    vm.start().unwrap();
    let fatal = vm
        .wait_for_console(r"metalimage: FATAL: ([^\r\n]*)", 2 * BOOT_TIMEOUT)
        .unwrap();
    let url = format!("{base}/hosts/{MAC1_HYPHENS}.json");
    assert!(fatal[1].contains(&url), "the URL is named: {}", fatal[1]);
    assert!(
        fatal[1].contains("invalid peer certificate: UnknownIssuer"),
        "the certificate problem is named: {}",
        fatal[1]
    );
    vm.wait_for_console("metalimage: emergency action: Poweroff", BOOT_TIMEOUT)
        .unwrap();
    let status = vm.wait_for_shutdown(BOOT_TIMEOUT).unwrap();
    assert!(
        status.success(),
        "QEMU exits by itself after the poweroff: {status}"
    );
    let console = vm.console_text();
    assert!(
        !console.contains("metalimage: imaging"),
        "the disk was not touched"
    );
}

/// A directory for the plain-HTTP server: `boot.ipxe` from `bundle` with
/// the UKI fetched over `http://` (iPXE has no HTTPS) and `extra` appended
/// to the command line, and `imaging.efi` (a symlink into `bundle`). The
/// command line's URLs stay those of the bundle.
fn plain_http_root(dir: &Path, bundle: &Path, extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let script = edit_boot_script(bundle, &format!("http://{SERVER}/imaging.efi"), extra);
    std::fs::write(dir.join("boot.ipxe"), script).unwrap();
    std::os::unix::fs::symlink(bundle.join("imaging.efi"), dir.join("imaging.efi")).unwrap();
    dir.to_path_buf()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Escapes regex metacharacters (URLs in console patterns).
fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}
