//! `metalos build` checked by independent tools: sgdisk, fsck.fat, mtools,
//! unsquashfs.

mod common;
use common::*;

fn sgdisk_info(img: &str, n: u32) -> String {
    tool_ok("sgdisk", &["-i", &n.to_string(), img])
}

fn check_gpt(sector_size: u64) {
    let fx = Fixture::new();
    let out = fx.build(&full_spec(sector_size), "out");
    // sgdisk takes the sector size from the device: attach 4Kn images to a
    // loop device with 4096-byte logical blocks.
    let image = out.join("disk.img");
    let loopdev = (sector_size != 512).then(|| LoopDevice::attach(&image, sector_size));
    let img = match &loopdev {
        Some(l) => l.path.clone(),
        None => image.display().to_string(),
    };
    let img = img.as_str();
    let verify = tool_ok("sgdisk", &["-v", img]);
    assert!(verify.contains("No problems found"), "sgdisk -v:\n{verify}");
    let printed = tool_ok("sgdisk", &["-p", img]);
    let logical = [
        format!("Sector size (logical): {sector_size} bytes"),
        format!("Sector size (logical/physical): {sector_size}/"),
    ];
    assert!(logical.iter().any(|l| printed.contains(l)), "{printed}");
    assert!(
        printed.contains("Disk identifier (GUID): 00000000-0000-0000-0000-000000000001"),
        "{printed}"
    );

    let m = manifest(&out);
    let expect = [
        (
            1,
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            "EFI-SYSTEM",
            "0000000000000000",
        ),
        (
            2,
            "8484680C-9521-48C6-9C11-B0720656F69E",
            "USR-A",
            "0101000000000000",
        ),
        (
            3,
            "8484680C-9521-48C6-9C11-B0720656F69E",
            "USR-B",
            "0000000000000000",
        ),
        (
            4,
            "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
            "OEM",
            "0000000000000000",
        ),
        (
            5,
            "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
            "ROOT",
            "0000000000000000",
        ),
    ];
    for (n, type_guid, name, attrs) in expect {
        let info = sgdisk_info(img, n);
        assert!(
            info.contains(&format!("Partition GUID code: {type_guid}")),
            "partition {n}:\n{info}"
        );
        assert!(
            info.contains(&format!("Partition name: '{name}'")),
            "partition {n}:\n{info}"
        );
        assert!(
            info.contains(&format!("Attribute flags: {attrs}")),
            "partition {n}:\n{info}"
        );
        let rec = m["partitions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["slot"] == n)
            .unwrap();
        let guid = rec["guid"].as_str().unwrap().to_uppercase();
        assert!(
            info.contains(&format!("Partition unique GUID: {guid}")),
            "partition {n}:\n{info}"
        );
        let first = rec["offset"].as_u64().unwrap() / sector_size;
        assert!(
            info.contains(&format!("First sector: {first} ")),
            "partition {n}:\n{info}"
        );
        assert_eq!(
            rec["offset"].as_u64().unwrap() % (1 << 20),
            0,
            "1 MiB alignment"
        );
    }
    // ROOT fills the disk up to the backup GPT (within the 1 MiB alignment).
    let root = sgdisk_info(img, 5);
    let last: u64 = root
        .split("Last sector: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let total = m["disk"]["size"].as_u64().unwrap() / sector_size;
    assert!(
        total - last < (2 << 20) / sector_size,
        "ROOT ends at {last} of {total}"
    );
}

#[test]
fn sgdisk_accepts_512_byte_sector_image() {
    check_gpt(512);
}

#[test]
fn sgdisk_accepts_4096_byte_sector_image() {
    check_gpt(4096);
}

fn check_esp(sector_size: u64) {
    let fx = Fixture::new();
    let out = fx.build(&full_spec(sector_size), "out");
    let esp = partition(&out, 1);
    let esp_path = esp.path().to_str().unwrap();
    let fsck = tool("fsck.fat", &["-n", "-v", esp_path]);
    let text =
        String::from_utf8_lossy(&fsck.stdout).to_string() + &String::from_utf8_lossy(&fsck.stderr);
    assert!(fsck.status.success(), "fsck.fat -n failed:\n{text}");
    assert!(text.contains("32 bit entries"), "not FAT32:\n{text}");
    for bad in [
        "differ",
        "Free cluster summary wrong",
        "Dirty bit",
        "Orphaned",
        "lost",
        "Contains a free cluster",
        "Bad short file name",
    ] {
        assert!(!text.contains(bad), "fsck.fat reported {bad:?}:\n{text}");
    }
    assert!(
        text.contains(&format!("{sector_size} bytes per logical sector")),
        "{text}"
    );
    let listing = tool_ok("mdir", &["-i", esp_path, "-/", "-b", "::"]);
    for f in [
        "::/EFI/BOOT/BOOTX64.EFI",
        "::/metalos/a long file name with spaces.txt",
        "::/metalos/first_boot",
        "::/metalos/host-config.json",
    ] {
        assert!(listing.contains(f), "mdir misses {f}:\n{listing}");
    }
    let dest = tempfile::tempdir().unwrap();
    for (inside, want) in [
        (
            "::/EFI/BOOT/BOOTX64.EFI",
            std::fs::read(fx.path("inputs/blob")).unwrap(),
        ),
        (
            "::/metalos/a long file name with spaces.txt",
            std::fs::read(fx.path("motd")).unwrap(),
        ),
        (
            "::/metalos/host-config.json",
            std::fs::read(fx.path("host-config.json")).unwrap(),
        ),
    ] {
        let target = dest.path().join("f");
        tool_ok(
            "mcopy",
            &["-o", "-i", esp_path, inside, target.to_str().unwrap()],
        );
        assert_eq!(std::fs::read(&target).unwrap(), want, "{inside} content");
    }
    let label = tool_ok("mlabel", &["-i", esp_path, "-s", "::"]);
    assert!(label.contains("EFI-SYSTEM"), "{label}");
}

#[test]
fn esp_is_clean_fat32_with_long_names_512() {
    check_esp(512);
}

#[test]
fn esp_is_clean_fat32_with_long_names_4096() {
    check_esp(4096);
}

#[test]
fn usr_squashfs_holds_exactly_the_spec_tree() {
    let fx = Fixture::new();
    let out = fx.build(&full_spec(512), "out");
    let usr = partition(&out, 2);
    let listing = tool_ok(
        "unsquashfs",
        &["-lln", "-d", "", usr.path().to_str().unwrap()],
    );
    let mut got: Vec<String> = listing
        .lines()
        .filter(|l| l.starts_with(['d', '-', 'l']))
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            // mode owner size date time path [-> target]
            format!("{} {} {}", cols[0], cols[1], cols[5..].join(" "))
        })
        .collect();
    got.sort();
    let mut want = vec![
        "drwxr-xr-x 0/0 ",
        "drwxr-xr-x 0/0 /bin",
        "lrwxrwxrwx 0/0 /bin/alias -> tool",
        "-rwxr-xr-x 0/0 /bin/tool",
        "drwxr-xr-x 0/0 /lib",
        "drwx------ 0/0 /lib/empty",
        "drwxr-xr-x 0/0 /share",
        "-rw------- 0/0 /share/data.txt",
        "-rw-r--r-- 0/0 /share/motd",
    ];
    want.sort();
    assert_eq!(got, want, "unsquashfs -lln:\n{listing}");
    let stat = tool_ok("unsquashfs", &["-s", usr.path().to_str().unwrap()]);
    assert!(stat.contains("Compression zstd"), "{stat}");
    // File content round-trips.
    let dest = tempfile::tempdir().unwrap();
    let root = dest.path().join("r");
    tool_ok(
        "unsquashfs",
        &["-d", root.to_str().unwrap(), usr.path().to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read(root.join("bin/tool")).unwrap(),
        std::fs::read(fx.path("inputs/tool")).unwrap()
    );
    assert_eq!(
        std::fs::read(root.join("share/data.txt")).unwrap(),
        b"inside a directory input\n"
    );
}

#[test]
fn image_is_sparse() {
    use std::os::unix::fs::MetadataExt;
    let fx = Fixture::new();
    let out = fx.build(&full_spec(512), "out");
    let meta = std::fs::metadata(out.join("disk.img")).unwrap();
    assert_eq!(meta.len(), 800 << 20);
    let allocated = meta.blocks() * 512;
    assert!(
        allocated < 16 << 20,
        "800 MiB image allocates {allocated} bytes"
    );
}
