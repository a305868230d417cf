//! `[oem]` parsing and validation.

use crate::spec::ImageSpec;

const DISK: &str = r#"
[disk]
size = "256MiB"
seed = "0b5e8d4e-27c4-4f27-a3a4-5c1b2a9d3e7f"

[[partitions]]
slot = 1
label = "EFI-SYSTEM"
type = "esp"
size = "40MiB"
content = "esp"
"#;

const OEM_PART: &str = r#"
[[partitions]]
slot = 6
label = "OEM"
type = "linux-generic"
size = "40MiB"
content = "oem"
"#;

fn error(spec: &str) -> String {
    ImageSpec::parse(spec).unwrap_err().to_string()
}

#[test]
fn oem_section_and_partition() {
    let spec = format!(
        "{DISK}{OEM_PART}\n[oem]\nid = \"qemu\"\nbase_configs = [\"oem/base.ign\", \"platform.json\"]\n"
    );
    let s = ImageSpec::parse(&spec).unwrap();
    let oem = s.oem.as_ref().unwrap();
    assert_eq!(oem.id, "qemu");
    assert_eq!(
        oem.base_config_names().unwrap(),
        ["base.ign", "platform.ign"]
    );
    // The kebab-case spelling of the rest of the spec works too.
    let spec = format!("{DISK}{OEM_PART}\n[oem]\nid = \"aws\"\nbase-configs = [\"a.ign\"]\n");
    assert_eq!(
        ImageSpec::parse(&spec).unwrap().oem.unwrap().base_configs,
        ["a.ign"]
    );
    // No [oem] and no OEM content: nothing to check.
    assert!(ImageSpec::parse(DISK).unwrap().oem.is_none());
}

#[test]
fn one_needs_the_other() {
    let e = error(&format!("{DISK}\n[oem]\nid = \"qemu\"\n"));
    assert!(
        e.starts_with("oem: [oem] is given but no partition has content = \"oem\""),
        "{e}"
    );
    let e = error(&format!("{DISK}{OEM_PART}"));
    assert_eq!(
        e,
        "partitions[1].content: content = \"oem\" needs an [oem] section (at least `id`)"
    );
    let two = OEM_PART
        .replace("slot = 6", "slot = 7")
        .replace("\"OEM\"", "\"OEM2\"");
    let e = error(&format!("{DISK}{OEM_PART}{two}\n[oem]\nid = \"qemu\"\n"));
    assert_eq!(
        e,
        "partitions: only one partition may have content = \"oem\""
    );
}

#[test]
fn label_id_and_names_are_checked() {
    let part = OEM_PART.replace("\"OEM\"", "\"VENDOR\"");
    let e = error(&format!("{DISK}{part}\n[oem]\nid = \"qemu\"\n"));
    assert!(
        e.starts_with("partitions[1].label: \"VENDOR\": the partition with content = \"oem\" must be labelled \"OEM\""),
        "{e}"
    );
    let e = error(&format!("{DISK}{OEM_PART}\n[oem]\nid = \"../etc\"\n"));
    assert!(
        e.starts_with("oem.id: \"../etc\" is not a platform id"),
        "{e}"
    );
    let e = error(&format!("{DISK}{OEM_PART}\n[oem]\nid = \"\"\n"));
    assert!(e.starts_with("oem.id: \"\" is not a platform id"), "{e}");
    let e = error(&format!(
        "{DISK}{OEM_PART}\n[oem]\nid = \"qemu\"\nbase_configs = [\"a/x.ign\", \"b/X.json\"]\n"
    ));
    assert_eq!(
        e,
        "oem.base-configs[1]: \"b/X.json\" would be base/X.ign, as oem.base-configs[0] is"
    );
    let e = error(&format!(
        "{DISK}{OEM_PART}\n[oem]\nid = \"qemu\"\nbase_configs = [\"/etc/x.ign\"]\n"
    ));
    assert_eq!(e, "oem.base-configs[0]: \"/etc/x.ign\" must be relative");
    let e = error(&format!(
        "{DISK}{OEM_PART}\n[oem]\nid = \"qemu\"\nbase_configs = [\"my config.ign\"]\n"
    ));
    assert!(
        e.starts_with("oem.base-configs[0]: \"my config.ign\": the file name"),
        "{e}"
    );
    let e = error(&format!(
        "{DISK}{OEM_PART}\n[oem]\nid = \"qemu\"\nname = \"x\"\n"
    ));
    assert!(e.contains("unknown field `name`"), "{e}");
}
