//! dm-verity of `/usr` slots end to end: `build` seals the slot, `inspect`
//! reports the root hash, tree location and payload signature state, and
//! cryptsetup's `veritysetup verify` (an independent implementation)
//! accepts the slot and the update bundle's usr.img given only the tree's
//! offset and the root hash.

use metalos_config::spec::ImageSpec;
use metalos_config::{InputsManifest, Resolver};
use metalos_image::inspect::inspect_disk;
use metalos_image::{build, BuildOptions};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;

const SPEC: &str = r#"
[disk]
size = "40MiB"
seed = "6d6e5f1c-0b7a-4c44-9d1e-3f0c8a2b4e51"

[[partitions]]
slot = 1
label = "USR-A"
type = "usr-x86-64"
size = "16MiB"
content = "usr"
gptprio = { priority = 1, tries = 0, successful = true }

[[partitions]]
slot = 2
label = "USR-B"
type = "usr-x86-64"
size = "16MiB"

[[usr.files]]
path = "lib/os-release"
source = { text = "ID=metalos\nVERSION_ID=7\n" }

[[usr.files]]
path = "lib/metalos/boot/vmlinuz"
source = { text = "not really a kernel" }

[[usr.files]]
path = "lib/metalos/boot/initrd.img"
source = { text = "not really an initrd" }

[[usr.files]]
path = "lib/metalos/boot/cmdline"
source = { text = "console=ttyS0\n" }
"#;

fn verify(data: &Path, root: &str, hash_offset: u64) -> std::process::Output {
    Command::new("veritysetup")
        .arg("verify")
        .arg(data)
        .arg(data)
        .arg(root)
        .arg(format!("--hash-offset={hash_offset}"))
        .output()
        .expect("veritysetup (cryptsetup-bin) is installed: scripts/install-deps")
}

#[test]
fn build_seals_usr_and_inspect_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ImageSpec::parse(SPEC).unwrap();
    let resolver = Resolver::new(dir.path(), InputsManifest::new());
    let out = dir.path().join("out");
    let options = BuildOptions {
        out_dir: out.clone(),
        source_date_epoch: None,
        progress: &|_| {},
        signing_keys: None,
        cache_dir: None,
    };
    let manifest = build(&spec, &resolver, &options).unwrap();
    let disk_path = out.join("disk.img");
    let report = inspect_disk(&std::fs::File::open(&disk_path).unwrap()).unwrap();
    let a = &report.partitions[0];
    let v = a
        .verity
        .as_ref()
        .unwrap_or_else(|| panic!("USR-A has no verity area: {:?}", a.payload_signature));
    assert_eq!(v.hash_partition, 1);
    assert_eq!(v.check, "ok");
    assert_eq!(a.payload_signature.as_deref(), Some("unsigned"));
    let bytes_used = a.filesystem.as_ref().unwrap().bytes_used;
    assert_eq!(v.hash_offset, bytes_used.div_ceil(4096) * 4096);
    assert_eq!(
        v.payload["cmdline"],
        hex::encode(Sha256::digest(b"console=ttyS0\n"))
    );
    assert!(report.partitions[1].verity.is_none());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["partitions"][0]["verity"]["root_hash"], v.root_hash);

    // The partition alone (as the host sees /dev/vda1).
    let part = &manifest.partitions[0];
    let disk = std::fs::read(&disk_path).unwrap();
    let slot = dir.path().join("usr-a.img");
    let range = part.offset as usize..(part.offset + part.size) as usize;
    std::fs::write(&slot, &disk[range.clone()]).unwrap();
    let ok = verify(&slot, &v.root_hash, v.hash_offset);
    assert!(ok.status.success(), "{ok:?}");

    // The update bundle's usr.img carries the tree and descriptor.
    let usr_img = out.join("update/usr.img");
    let layout = metalos_disk::verity::SlotLayout::for_data_size(bytes_used);
    assert_eq!(std::fs::metadata(&usr_img).unwrap().len(), layout.end);
    let ok = verify(&usr_img, &v.root_hash, v.hash_offset);
    assert!(ok.status.success(), "{ok:?}");

    // Reproducible: a second build gives the same root hash.
    let out2 = dir.path().join("out2");
    let options = BuildOptions {
        out_dir: out2.clone(),
        source_date_epoch: None,
        progress: &|_| {},
        signing_keys: None,
        cache_dir: None,
    };
    build(&spec, &resolver, &options).unwrap();
    let report2 = inspect_disk(&std::fs::File::open(out2.join("disk.img")).unwrap()).unwrap();
    assert_eq!(
        report2.partitions[0].verity.as_ref().unwrap().root_hash,
        v.root_hash
    );

    // One flipped byte of the squashfs: inspect and veritysetup both see it.
    let mut bad = disk;
    bad[part.offset as usize + 300] ^= 0x40;
    let bad_path = dir.path().join("bad.img");
    std::fs::write(&bad_path, &bad).unwrap();
    let report = inspect_disk(&std::fs::File::open(&bad_path).unwrap()).unwrap();
    let check = &report.partitions[0].verity.as_ref().unwrap().check;
    assert!(check.contains("root hash mismatch"), "{check}");
    std::fs::write(&slot, &bad[range]).unwrap();
    assert!(!verify(&slot, &v.root_hash, v.hash_offset).status.success());
}
