//! `[oem]`: the OEM partition checked by independent tools (sgdisk,
//! fsck.fat, mtools), built twice bit-identically, shown by `metalos
//! inspect`, and refused clearly when its inputs are wrong.

mod common;
use common::*;

const BASE_A: &str = r#"{"ignition": {"version": "3.4.0"}, "systemd": {"units": [{"name": "coreos-metadata-sshkeys@.service", "enabled": true}]}}"#;
const BASE_B: &str = r#"{"ignition": {"version": "3.4.0"}, "storage": {"files": [{"path": "/etc/oem-b", "contents": {"source": "data:,b"}}]}}"#;
const LINUX_DATA: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

/// `full_spec` with partition 4 (`OEM`) written from `[oem]`, `oem`
/// appended, and a `/usr` os-release giving the version.
fn oem_spec(oem: &str) -> String {
    let spec = full_spec(512).replace(
        "label = \"OEM\"\ntype = \"linux-generic\"\nsize = \"16MiB\"",
        "label = \"OEM\"\ntype = \"linux-generic\"\nsize = \"40MiB\"\ncontent = \"oem\"",
    );
    assert!(spec.contains("content = \"oem\""));
    format!(
        "{spec}\n[[usr.files]]\npath = \"lib/os-release\"\nsource = {{ text = \"ID=metalos\\nVERSION_ID=7.1\\n\" }}\n\n{oem}"
    )
}

fn fixture() -> Fixture {
    let fx = Fixture::new();
    std::fs::create_dir_all(fx.path("oem")).unwrap();
    std::fs::write(fx.path("oem/20-sshkeys.ign"), BASE_A).unwrap();
    std::fs::write(fx.path("oem/10-files.json"), BASE_B).unwrap();
    fx
}

const OEM: &str =
    "[oem]\nid = \"qemu\"\nbase_configs = [\"oem/20-sshkeys.ign\", \"oem/10-files.json\"]\n";

fn mcopy_out(part: &std::path::Path, path: &str) -> String {
    let out = tool(
        "mcopy",
        &[
            "-n",
            "-i",
            part.to_str().unwrap(),
            &format!("::{path}"),
            "-",
        ],
    );
    assert!(
        out.status.success(),
        "mcopy {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn oem_partition_is_fat_with_release_and_base_configs() {
    let fx = fixture();
    let out = fx.build(&oem_spec(OEM), "out");
    let img = out.join("disk.img");
    let info = tool_ok("sgdisk", &["-i", "4", img.to_str().unwrap()]);
    assert!(info.contains("Partition name: 'OEM'"), "{info}");
    assert!(
        info.contains(&format!("Partition GUID code: {LINUX_DATA}")),
        "{info}"
    );
    let rec = manifest(&out)["partitions"][3].clone();
    assert_eq!(rec["content"], "oem");
    assert_eq!(rec["filesystem"]["type"], "vfat");

    let part = partition(&out, 4);
    tool_ok("fsck.fat", &["-n", part.path().to_str().unwrap()]);
    let label = tool_ok("mlabel", &["-s", "-i", part.path().to_str().unwrap(), "::"]);
    assert!(label.contains("OEM"), "{label}");
    assert_eq!(
        mcopy_out(part.path(), "oem-release"),
        "ID=qemu\nVERSION_ID=7.1\nNAME=\"MetalOS OEM (qemu)\"\n"
    );
    assert_eq!(mcopy_out(part.path(), "base/20-sshkeys.ign"), BASE_A);
    assert_eq!(mcopy_out(part.path(), "base/10-files.ign"), BASE_B);
    let listing = tool_ok(
        "mdir",
        &["-b", "-i", part.path().to_str().unwrap(), "::/base"],
    );
    let mut names: Vec<&str> = listing.lines().filter(|l| !l.is_empty()).collect();
    names.sort();
    assert_eq!(
        names,
        ["::/base/10-files.ign", "::/base/20-sshkeys.ign"],
        "{listing}"
    );
}

#[test]
fn oem_builds_are_bit_identical() {
    let fx = fixture();
    let spec = oem_spec(OEM);
    let a = std::fs::read(fx.build(&spec, "a").join("disk.img")).unwrap();
    let b = std::fs::read(fx.build(&spec, "b").join("disk.img")).unwrap();
    assert!(a == b, "two builds of the same spec differ");
}

#[test]
fn inspect_shows_the_oem_id_and_base_configs() {
    let fx = fixture();
    let img = fx.build(&oem_spec(OEM), "out").join("disk.img");
    let img = img.to_str().unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&metalos_ok(&["inspect", "--json", img])).unwrap();
    let oem = &v["partitions"][3]["oem"];
    assert_eq!(oem["id"], "qemu", "{oem}");
    assert_eq!(oem["version_id"], "7.1");
    assert_eq!(oem["name"], "MetalOS OEM (qemu)");
    let base: Vec<&str> = oem["base_configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(base, ["base/10-files.ign", "base/20-sshkeys.ign"]);
    assert_eq!(oem["base_configs"][1]["size"], BASE_A.len());
    assert!(oem["user_config"].is_null());
    // Other partitions have no "oem" key.
    assert!(v["partitions"][0].get("oem").is_none());

    let text = metalos_ok(&["inspect", img]);
    assert!(
        text.contains("  oem: id qemu, version 7.1, name \"MetalOS OEM (qemu)\"\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "  oem base configs: base/10-files.ign ({} bytes), base/20-sshkeys.ign ({} bytes)\n",
            BASE_B.len(),
            BASE_A.len()
        )),
        "{text}"
    );
}

/// Runs a build expected to fail; returns stderr.
fn failing(fx: &Fixture, spec: &str) -> String {
    let spec = fx.spec("bad.toml", spec);
    let out = fx.path("bad-out");
    let res = metalos(&[
        "build",
        &spec,
        "--inputs",
        &fx.inputs(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!res.status.success(), "build unexpectedly succeeded");
    assert!(!out.join("disk.img").exists());
    String::from_utf8(res.stderr).unwrap()
}

#[test]
fn bad_oem_inputs_are_named() {
    let fx = fixture();
    std::fs::write(fx.path("oem/broken.ign"), "{\"ignition\": ").unwrap();
    std::fs::write(fx.path("oem/other.ign"), "{\"a\": 1}").unwrap();
    let cases = [
        (
            oem_spec("[oem]\nid = \"qemu\"\nbase_configs = [\"oem/broken.ign\"]\n"),
            "oem.base-configs[0]: oem/broken.ign: not JSON: EOF while parsing",
        ),
        (
            oem_spec("[oem]\nid = \"qemu\"\nbase_configs = [\"oem/other.ign\"]\n"),
            "oem.base-configs[0]: oem/other.ign: not a valid Ignition config:",
        ),
        (
            oem_spec("[oem]\nid = \"qemu\"\nbase_configs = [\"oem/missing.ign\"]\n"),
            "oem.base-configs[0]:",
        ),
        (
            oem_spec("[oem]\nid = \"Q E M U\"\n"),
            "oem.id: \"Q E M U\" is not a platform id",
        ),
        (
            oem_spec("[oem]\nid = \"qemu\"\n").replace(
                "size = \"40MiB\"\ncontent = \"oem\"",
                "size = \"16MiB\"\ncontent = \"oem\"",
            ),
            "partitions[3].size: 16777216 bytes is too small for a FAT32 OEM partition",
        ),
        (
            format!("{}\n[oem]\nid = \"qemu\"\n", full_spec(512)),
            "oem: [oem] is given but no partition has content = \"oem\"",
        ),
        (
            oem_spec(""),
            "partitions[3].content: content = \"oem\" needs an [oem] section",
        ),
    ];
    for (spec, want) in cases {
        let stderr = failing(&fx, &spec);
        assert!(stderr.contains(want), "want {want:?} in:\n{stderr}");
    }
}
