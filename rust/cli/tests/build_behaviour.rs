//! Reproducibility, bad input, and `metalos inspect` on foreign and damaged
//! images.

mod common;
use common::*;
use std::os::unix::fs::FileExt;
use std::path::Path;

fn sha256(path: &Path) -> String {
    metalos_config::inputs::file_digest(path).unwrap()
}

#[test]
fn two_builds_in_different_places_and_times_are_identical() {
    let a = Fixture::new();
    let b = Fixture::new();
    let out_a = a.build(&full_spec(512), "first/out");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    // Different directory depth, names and mtimes of the inputs.
    let out_b = b.build(&full_spec(512), "elsewhere/deeper/out2");
    assert_eq!(
        sha256(&out_a.join("disk.img")),
        sha256(&out_b.join("disk.img"))
    );
    assert_eq!(
        std::fs::read(out_a.join("manifest.json")).unwrap(),
        std::fs::read(out_b.join("manifest.json")).unwrap()
    );
    let m = manifest(&out_a);
    for p in m["partitions"].as_array().unwrap() {
        let slot = p["slot"].as_u64().unwrap();
        let (pa, pb) = (partition(&out_a, slot), partition(&out_b, slot));
        assert_eq!(sha256(pa.path()), sha256(pb.path()), "partition {slot}");
        assert_eq!(
            sha256(pa.path()),
            p["sha256"].as_str().unwrap(),
            "manifest hash of partition {slot}"
        );
    }
    assert_eq!(
        m["disk"]["sha256"].as_str().unwrap(),
        sha256(&out_a.join("disk.img"))
    );
    assert_eq!(
        m["inputs"]["tool"].as_str().unwrap(),
        sha256(&a.path("inputs/tool"))
    );
}

#[test]
fn source_date_epoch_changes_timestamps_only_when_set() {
    let fx = Fixture::new();
    let spec = fx.spec("spec.toml", &full_spec(512));
    let out = fx.path("epoch");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_metalos"))
        .args([
            "build",
            "-q",
            &spec,
            "--inputs",
            &fx.inputs(),
            "--out",
            out.to_str().unwrap(),
        ])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(manifest(&out)["source-date-epoch"], 1700000000);
    let esp = partition(&out, 1);
    let listing = tool_ok("mdir", &["-i", esp.path().to_str().unwrap(), "::/metalos"]);
    assert!(listing.contains("2023-11-14"), "{listing}");
}

/// Runs a build expected to fail; returns stderr and checks nothing is left.
fn failing_build(fx: &Fixture, spec: &str, out_rel: &str) -> String {
    let spec = fx.spec("bad.toml", spec);
    let out = fx.path(out_rel);
    let res = metalos(&[
        "build",
        &spec,
        "--inputs",
        &fx.inputs(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!res.status.success(), "build unexpectedly succeeded");
    assert_eq!(res.status.code(), Some(1));
    if out.exists() {
        let left: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            left.is_empty(),
            "left behind in {}: {left:?}",
            out.display()
        );
    }
    String::from_utf8(res.stderr).unwrap()
}

#[test]
fn spec_errors_name_the_field() {
    let fx = Fixture::new();
    let base = full_spec(512);
    let cases = [
        (
            base.replace("sector-size = 512", "sector-size = 1024"),
            "disk.sector-size",
        ),
        (base.replace("slot = 4", "slot = 3"), "partitions[3].slot"),
        (
            base.replace("size = \"16MiB\"", "size = \"16 parsecs\""),
            "partitions[3].size",
        ),
        (
            base.replace("type = \"linux-generic\"", "type = \"ntfs\""),
            "partitions[3].type",
        ),
        (
            base.replace("mode = \"0600\"", "mode = \"rwx\""),
            "usr.files[2].mode",
        ),
        (
            base.replace("label = \"OEM\"", "label = \"OEM\"\ncolour = \"blue\""),
            "partitions[3]",
        ),
        (
            base.replace(
                "seed = \"0b5e8d4e-27c4-4f27-a3a4-5c1b2a9d3e7f\"",
                "seed = \"nope\"",
            ),
            "disk.seed",
        ),
        (
            base.replace("priority = 1,", "priority = 16,"),
            "partitions[1].gptprio.priority",
        ),
        (
            base.replace("path = \"bin/alias\"", "path = \"../escape\""),
            "usr.symlinks[0].path",
        ),
        (
            base.replace("{ input = \"tool\" }", "{ input = \"nosuch\" }"),
            "usr.files[0].source",
        ),
    ];
    for (spec, field) in cases {
        let err = failing_build(&fx, &spec, "out");
        assert!(
            err.contains(field),
            "expected an error naming {field}, got:\n{err}"
        );
    }
}

#[test]
fn partitions_that_do_not_fit_are_refused() {
    let fx = Fixture::new();
    let spec = full_spec(512).replace("size = \"800MiB\"", "size = \"150MiB\"");
    let err = failing_build(&fx, &spec, "out");
    assert!(
        err.contains("fill") || err.contains("does not fit"),
        "{err}"
    );
    let spec = full_spec(512).replace("size = \"fill\"", "size = \"1GiB\"");
    let err = failing_build(&fx, &spec, "out");
    assert!(
        err.contains("partitions[4].size") && err.contains("does not fit"),
        "{err}"
    );
    let spec = full_spec(512).replace("size = \"40MiB\"", "size = \"8MiB\"");
    let err = failing_build(&fx, &spec, "out");
    assert!(
        err.contains("partitions[0].size") && err.contains("too small for a FAT32 ESP"),
        "{err}"
    );
    let spec = full_spec(512)
        .replace(
            "size = \"64MiB\"\ncontent = \"usr\"",
            "size = \"1MiB\"\ncontent = \"usr\"",
        )
        .replace("{ input = \"tool\" }", "{ input = \"blob\" }");
    let err = failing_build(&fx, &spec, "out");
    assert!(
        err.contains("partition 2 (USR-A)") && err.contains("does not fit"),
        "{err}"
    );
}

#[test]
fn missing_input_files_are_named() {
    let fx = Fixture::new();
    std::fs::remove_file(fx.path("inputs/blob")).unwrap();
    let err = failing_build(&fx, &full_spec(512), "out");
    assert!(
        err.contains("esp.files[0].source") && err.contains("inputs/blob does not exist"),
        "{err}"
    );
    let fx = Fixture::new();
    let err = failing_build(
        &fx,
        &full_spec(512).replace("file = \"motd\"", "file = \"no-such-motd\""),
        "out",
    );
    assert!(err.contains("no-such-motd does not exist"), "{err}");
    let fx = Fixture::new();
    let res = metalos(&[
        "build",
        &fx.spec("s.toml", &full_spec(512)),
        "--inputs",
        "/nonexistent/inputs.json",
        "--out",
        fx.path("o").to_str().unwrap(),
    ]);
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("/nonexistent/inputs.json"));
    assert!(!fx.path("o").exists());
}

#[test]
fn unwritable_output_fails_cleanly() {
    let fx = Fixture::new();
    // A regular file where the output directory should be.
    std::fs::write(fx.path("blocker"), b"x").unwrap();
    let res = metalos(&[
        "build",
        &fx.spec("s.toml", &full_spec(512)),
        "--inputs",
        &fx.inputs(),
        "--out",
        fx.path("blocker/out").to_str().unwrap(),
    ]);
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("blocker/out"), "{err}");
    // A read-only output directory (root ignores permissions, so use /proc).
    let res = metalos(&[
        "build",
        &fx.spec("s.toml", &full_spec(512)),
        "--inputs",
        &fx.inputs(),
        "--out",
        "/proc/metalos-out",
    ]);
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("/proc/metalos-out"));
}

#[test]
fn existing_image_survives_a_failed_rebuild() {
    let fx = Fixture::new();
    let out = fx.build(&full_spec(512), "out");
    let before = sha256(&out.join("disk.img"));
    let spec = fx.spec(
        "bad.toml",
        &full_spec(512).replace("{ input = \"tool\" }", "{ input = \"nosuch\" }"),
    );
    let res = metalos(&[
        "build",
        &spec,
        "--inputs",
        &fx.inputs(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!res.status.success());
    assert_eq!(sha256(&out.join("disk.img")), before);
    let names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let mut names = names;
    names.sort();
    assert_eq!(
        names,
        ["disk.img", "manifest.json", "update"],
        "no temp files may be left"
    );
}

#[test]
fn inspect_reports_layout_gptprio_and_contents() {
    let fx = Fixture::new();
    let out = fx.build(&full_spec(512), "out");
    let img = out.join("disk.img");
    let json: serde_json::Value =
        serde_json::from_str(&metalos_ok(&["inspect", "--json", img.to_str().unwrap()])).unwrap();
    assert_eq!(json["sector_size"], 512);
    assert_eq!(json["disk_guid"], "00000000-0000-0000-0000-000000000001");
    let parts = json["partitions"].as_array().unwrap();
    assert_eq!(
        parts
            .iter()
            .map(|p| p["slot"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        parts[1]["gptprio"],
        serde_json::json!({"priority": 1, "tries": 0, "successful": true})
    );
    assert_eq!(
        parts[2]["gptprio"],
        serde_json::json!({"priority": 0, "tries": 0, "successful": false})
    );
    assert_eq!(parts[1]["filesystem"]["type"], "squashfs");
    assert_eq!(parts[0]["filesystem"]["type"], "vfat");
    let files: Vec<&str> = parts[0]["filesystem"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        files.contains(&"metalos/a long file name with spaces.txt"),
        "{files:?}"
    );
    let text = metalos_ok(&["inspect", img.to_str().unwrap()]);
    assert!(
        text.contains("gptprio: priority 1 tries 0 successful 1"),
        "{text}"
    );
}

#[test]
fn inspect_reads_a_disk_made_by_sgdisk() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("foreign.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let img_s = img.to_str().unwrap();
    tool_ok(
        "sgdisk",
        &[
            "-n",
            "1:2048:+16M",
            "-t",
            "1:ef00",
            "-c",
            "1:boot",
            "-n",
            "3:0:+8M",
            "-t",
            "3:8304",
            "-c",
            "3:data",
            "-A",
            "3:set:48",
            "-A",
            "3:set:56",
            img_s,
        ],
    );
    let json: serde_json::Value =
        serde_json::from_str(&metalos_ok(&["inspect", "--json", img_s])).unwrap();
    let parts = json["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["label"], "boot");
    assert_eq!(parts[0]["type_name"], "esp");
    assert_eq!(parts[1]["slot"], 3);
    assert_eq!(parts[1]["gptprio"]["priority"], 1);
    assert_eq!(parts[1]["gptprio"]["successful"], true);
    let info = tool_ok("sgdisk", &["-i", "3", img_s]);
    let guid = info
        .split("Partition unique GUID: ")
        .nth(1)
        .unwrap()
        .lines()
        .next()
        .unwrap();
    assert_eq!(parts[1]["guid"].as_str().unwrap().to_uppercase(), guid);
}

#[test]
fn inspect_falls_back_to_the_backup_gpt() {
    let fx = Fixture::new();
    let out = fx.build(&full_spec(512), "out");
    let img = out.join("disk.img");
    let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
    f.write_all_at(&[0xffu8; 512], 512).unwrap(); // wipe the primary header
    drop(f);
    let res = metalos(&["inspect", "--json", img.to_str().unwrap()]);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
    assert!(
        json["primary_gpt_error"]
            .as_str()
            .unwrap()
            .contains("no GPT signature"),
        "{json}"
    );
    assert_eq!(json["partitions"].as_array().unwrap().len(), 5);
    let text = metalos_ok(&["inspect", img.to_str().unwrap()]);
    assert!(text.contains("primary GPT is damaged"), "{text}");
    // sgdisk agrees the primary is damaged and the backup is fine.
    let v =
        String::from_utf8_lossy(&tool("sgdisk", &["-v", img.to_str().unwrap()]).stdout).to_string();
    assert!(
        v.contains("main GPT header") || v.contains("Caution") || v.contains("corrupt"),
        "{v}"
    );
}

#[test]
fn inspect_rejects_non_images() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("junk");
    std::fs::write(&p, vec![7u8; 8192]).unwrap();
    let res = metalos(&["inspect", p.to_str().unwrap()]);
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("not a recognised artifact"));
}
