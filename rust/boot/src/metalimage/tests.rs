use super::target::{choose_target, Candidate};
use metalos_config::hostconfig::RootDisk;
use metalos_contract::cmdline::ImagingArgs;
use metalos_disk::blockdev::Disk;
use std::path::PathBuf;

const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn full() -> String {
    format!(
        "imaging.efi console=ttyS0 metalos.host_config_url=http://10.0.2.100/hosts/${{mac}}.json \
         metalos.image_url=http://10.0.2.100/blobs/sha256/{SHA} metalos.image_sha256={SHA} \
         metalos.image_size=1073741824"
    )
}

#[test]
fn params_from_the_cmdline() {
    let p = ImagingArgs::parse(&full()).unwrap();
    assert_eq!(p.host_config_url, "http://10.0.2.100/hosts/${mac}.json");
    assert_eq!(p.image_size, 1 << 30);
    assert_eq!(p.blob_sha256(), Some(SHA));
}

#[test]
fn missing_or_bad_params_are_named() {
    // What iPXE gives a UKI loaded without arguments.
    let err = ImagingArgs::parse("imaging.efi").unwrap_err().to_string();
    assert!(
        err.starts_with("metalos.host_config_url= is missing"),
        "{err}"
    );
    assert!(err.contains("boot.ipxe"), "{err}");
    let err = ImagingArgs::parse(
        &full().replace("metalos.image_size=1073741824", "metalos.image_size=1G"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("metalos.image_size=1G"), "{err}");
    let err = ImagingArgs::parse(
        &full().replace("metalos.image_sha256=0123", "metalos.image_sha256=xyz"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("not a sha256"), "{err}");
}

fn cand(name: &str, removable: bool, serial: Option<&str>) -> Candidate {
    Candidate {
        disk: Disk {
            name: name.into(),
            dev: PathBuf::from(format!("/dev/{name}")),
        },
        removable,
        serial: serial.map(String::from),
        disk_guid: None,
    }
}

#[test]
fn target_disk_choice() {
    let one = [cand("vda", false, None), cand("sda", true, Some("USB1"))];
    assert_eq!(
        choose_target(&RootDisk::BootDisk, &one).unwrap().name,
        "vda"
    );
    let two = [cand("vda", false, Some("A")), cand("vdb", false, Some("B"))];
    let err = choose_target(&RootDisk::BootDisk, &two)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/dev/vda (serial A), /dev/vdb (serial B)"),
        "{err}"
    );
    assert_eq!(
        choose_target(&RootDisk::Serial("B".into()), &two)
            .unwrap()
            .name,
        "vdb"
    );
    let err = choose_target(&RootDisk::Serial("C".into()), &two)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no disk has serial \"C\""), "{err}");
    let err = choose_target(&RootDisk::BootDisk, &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("no non-removable disk"), "{err}");
}
