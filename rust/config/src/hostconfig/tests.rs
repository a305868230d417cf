use serde_json::{json, Value};

use super::*;

const EXAMPLE: &str = include_str!("../../../../images/host-config.example.json");

fn base() -> Value {
    json!({
        "version": 1,
        "identity": { "hostname": "node1", "machine-id": "0123456789abcdef0123456789abcdef" },
        "network": { "interfaces": [
            { "mac": "52:54:00:00:00:01", "name": "eth0", "addresses": ["10.0.0.2/24"] },
            { "mac": "52:54:00:00:00:02", "name": "eth1" }
        ] }
    })
}

/// Sets `pointer` (JSON pointer) in the base document to `v` and parses it.
fn with(pointer: &str, v: Value) -> Result<HostConfig, FieldError> {
    let mut doc = base();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match doc.pointer_mut(parent).unwrap() {
        Value::Object(m) => {
            m.insert(key.to_string(), v);
        }
        Value::Array(a) => a[key.parse::<usize>().unwrap()] = v,
        _ => panic!("bad pointer {pointer}"),
    }
    HostConfig::from_json(&doc.to_string())
}

#[track_caller]
fn assert_err(r: Result<HostConfig, FieldError>, field: &str, needle: &str) {
    let e = r.expect_err("expected an error");
    assert_eq!(e.field, field, "{e}");
    assert!(
        e.message.contains(needle),
        "{e:?} should mention {needle:?}"
    );
}

#[test]
fn example_parses_and_uses_every_section() {
    let c = HostConfig::from_json(EXAMPLE).unwrap();
    assert_eq!(c.identity.hostname, "rack12-node07.dc1.example.net");
    assert_eq!(c.network.interfaces.len(), 2);
    assert_eq!(c.network.interfaces[1].mac.to_string(), "52:54:00:ab:cd:ef");
    assert_eq!(c.network.dns.len(), 2);
    assert_eq!(c.root_disk, RootDisk::Serial("S4EWNX0R123456".into()));
    assert_eq!(c.update.policy, UpdatePolicy::Automatic);
    assert_eq!(c.update.mark_good_delay_seconds, 120);
    assert!(c.update.health_check.is_some());
    assert_eq!(c.boot.emergency_action, EmergencyAction::Poweroff);
    assert_eq!(c.boot.emergency_delay_seconds, 30);
    assert!(c.provisioning.as_ref().unwrap().is_object());
    assert_eq!(c.oem_id.as_deref(), Some("metal"));
    assert_eq!(c.primary_interface().unwrap().name, "uplink0");
    assert_eq!(
        c.interface_for_mac("52:54:00:AB:cd:ef").unwrap().name,
        "storage0"
    );
    assert!(c.interface_for_mac("52:54:00:00:00:99").is_none());
    assert!(c.interface_for_mac("nonsense").is_none());
    assert_eq!(
        c.kernel_cmdline_extra(),
        "console=ttyS0,115200 intel_iommu=on transparent_hugepage=never"
    );
}

#[test]
fn minimal_document_gets_defaults() {
    let text = r#"{"version": 1, "identity": {"hostname": "Node1",
        "machine-id": "0123456789abcdef0123456789abcdef"}}"#;
    let c = HostConfig::from_json(text).unwrap();
    assert_eq!(c.root_disk, RootDisk::BootDisk);
    assert_eq!(c.update, Update::default());
    assert_eq!(c.update.mark_good_delay_seconds, 60);
    assert_eq!(c.boot.emergency_action, EmergencyAction::Reboot);
    assert_eq!(c.boot.emergency_delay_seconds, 10);
    assert!(c.network.interfaces.is_empty() && c.primary_interface().is_none());
    assert_eq!(c.kernel_cmdline_extra(), "");
    assert!(c.provisioning.is_none());
    assert!(c.oem_id.is_none());
    // The repository's default host config is valid too.
    HostConfig::from_json(include_str!("../../../../images/host-config.json")).unwrap();
}

#[test]
fn round_trip() {
    for text in [EXAMPLE.to_string(), base().to_string()] {
        let c = HostConfig::from_json(&text).unwrap();
        let again = HostConfig::from_json(&c.to_json_pretty()).unwrap();
        assert_eq!(c, again);
    }
    let mut c = HostConfig::from_json(EXAMPLE).unwrap();
    c.root_disk = RootDisk::DiskGuid("6d6e5f1c-0b7a-4c44-9d1e-3f0c8a2b4e51".parse().unwrap());
    assert!(c.to_json_pretty().contains(r#""match": "disk-guid""#));
    assert_eq!(HostConfig::from_json(&c.to_json_pretty()).unwrap(), c);
}

#[test]
fn primary_falls_back_to_first_interface() {
    let c = HostConfig::from_json(&base().to_string()).unwrap();
    assert_eq!(c.primary_interface().unwrap().name, "eth0");
    let c = with("/network/interfaces/1/primary", json!(true)).unwrap();
    assert_eq!(c.primary_interface().unwrap().name, "eth1");
}

/// One bad value per line: `JSON pointer | JSON value | expected field | text in the message`.
/// Each sets the pointer in [`base`] and expects `from_json` to fail so.
const BAD_VALUES: &str = r#"
/version | 2 | version | 2 is not supported (expected 1)
/version | "1" | version | invalid type
/colour | "red" | colour | unknown field `colour`
/network/interfaces/1/mtu | 9000 | network.interfaces[1].mtu | unknown field `mtu`
/identity/uuid | "x" | identity.uuid | unknown field
/boot | {"grace": 1} | boot.grace | unknown field
/identity/hostname | "under_score" | identity.hostname | not a valid host name
/identity/hostname | "" | identity.hostname | not a valid host name
/identity/hostname | "-lead" | identity.hostname | must not start or end with '-'
/identity/hostname | "trail-" | identity.hostname | must not start or end with '-'
/identity/hostname | "a..b" | identity.hostname | 1 to 63 characters
/identity/hostname | "dot." | identity.hostname | 1 to 63 characters
/identity/machine-id | "0123456789ABCDEF0123456789ABCDEF" | identity.machine-id | 32 lower-case hex characters
/identity/machine-id | "01234567-89ab-cdef-0123-456789abcdef" | identity.machine-id | without dashes
/identity/machine-id | "00000000000000000000000000000000" | identity.machine-id | all zeros
/network/interfaces/1/mac | "zz:00" | network.interfaces[1].mac | "zz:00" is not a MAC address
/network/interfaces/1/mac | "52:54:00:00:00:02:03" | network.interfaces[1].mac | is not a MAC address
/network/interfaces/0/mac | "01:00:5e:00:00:01" | network.interfaces[0].mac | multicast
/network/interfaces/0/mac | "00:00:00:00:00:00" | network.interfaces[0].mac | zero
/network/interfaces/1/mac | "52:54:00:00:00:01" | network.interfaces[1].mac | already used by network.interfaces[0]
/network/interfaces/1/name | "eth0" | network.interfaces[1].name | "eth0" is already used by network.interfaces[0]
/network/interfaces/1/name | "" | network.interfaces[1].name | not a valid interface name
/network/interfaces/1/name | "." | network.interfaces[1].name | reserved name
/network/interfaces/1/name | ".." | network.interfaces[1].name | reserved name
/network/interfaces/1/name | "a/b" | network.interfaces[1].name | no '/', ':'
/network/interfaces/1/name | "a:1" | network.interfaces[1].name | no '/', ':'
/network/interfaces/1/name | "has space" | network.interfaces[1].name | whitespace
/network/interfaces/1/name | "sixteen-chars-xx" | network.interfaces[1].name | 1 to 15 bytes
/network/interfaces/0/addresses | ["10.0.0.2/24", "10.0.0.3"] | network.interfaces[0].addresses[1] | not an address in CIDR notation
/network/interfaces/0/addresses | ["10.0.0.2/33"] | network.interfaces[0].addresses[0] | out of range (0..=32
/network/interfaces/0/addresses | ["2001:db8::1/129"] | network.interfaces[0].addresses[0] | 0..=128 for IPv6
/network/interfaces/0/addresses | ["10.0.0.256/24"] | network.interfaces[0].addresses[0] | CIDR
/network/interfaces/0/addresses | ["10.0.0.2/+8"] | network.interfaces[0].addresses[0] | CIDR
/network/interfaces/0/gateway | "10.0.0.999" | network.interfaces[0].gateway | invalid IP address
/network/interfaces/1/gateway | "10.0.0.1" | network.interfaces[1].gateway | same IP family
/network/interfaces/0/primary | "yes" | network.interfaces[0].primary | expected a boolean
/network/dns | ["1.1.1.1", "dns.example"] | network.dns[1] | invalid IP address
/root-disk | {"match": "label"} | root-disk.match | unknown variant `label`
/root-disk | {"serial": "X"} | root-disk.match | is required
/root-disk | {"match": "serial"} | root-disk | needs `serial`
/root-disk | {"match": "boot-disk", "serial": "X"} | root-disk | only allowed
/root-disk | {"match": "serial", "serial": "X", "guid": "6d6e5f1c-0b7a-4c44-9d1e-3f0c8a2b4e51"} | root-disk | only allowed
/root-disk | {"match": "disk-guid", "guid": "nope"} | root-disk.guid | is not a UUID
/root-disk | {"match": "serial", "serial": " "} | root-disk.serial | not a disk serial
/root-disk | {"match": "serial", "serial": "X", "size": 1} | root-disk.size | unknown field
/kernel | {"extra-args": ["quiet", "a b"]} | kernel.extra-args[1] | contains whitespace
/kernel | {"extra-args": ["x\u0000y"]} | kernel.extra-args[0] | NUL
/kernel | {"extra-args": ["ok", ""]} | kernel.extra-args[1] | empty
/kernel | {"extra-args": "quiet"} | kernel.extra-args | invalid type
/update | {"policy": "sometimes"} | update.policy | unknown variant `sometimes`
/update | {"mark-good-delay-seconds": -1} | update.mark-good-delay-seconds | invalid value
/update | {"health-check": ""} | update.health-check | non-empty
/boot | {"emergency-action": "halt"} | boot.emergency-action | unknown variant `halt`
/boot | {"emergency-delay-seconds": 1.5} | boot.emergency-delay-seconds | invalid type
/provisioning | [1, 2] | provisioning | must be a JSON object
/oem-id | "QEMU" | oem-id | is not a platform id
/oem-id | "../x" | oem-id | is not a platform id
/oem-id | "" | oem-id | is not a platform id
/oem-id | 7 | oem-id | invalid type
"#;

#[test]
fn bad_values_name_their_field() {
    for line in BAD_VALUES.lines().filter(|l| !l.is_empty()) {
        let parts: Vec<&str> = line.split(" | ").collect();
        let [pointer, value, field, needle] = parts[..] else {
            panic!("bad table line {line:?}")
        };
        let value: Value = serde_json::from_str(value).unwrap();
        let e = with(pointer, value).expect_err(line);
        assert_eq!(e.field, field, "{line}\n  got: {e}");
        assert!(e.message.contains(needle), "{line}\n  got: {e}");
    }
}

#[test]
fn good_values_are_accepted() {
    let long_label = "x".repeat(63);
    for (pointer, value) in [
        ("/identity/hostname", json!("NODE-1")),
        ("/identity/hostname", json!("a.b-c.d9")),
        ("/identity/hostname", json!(long_label)),
        ("/identity/hostname", json!(["a"; 127].join("."))),
        ("/network/interfaces/1/name", json!("fifteen-chars-x")),
        (
            "/network/interfaces/0/addresses",
            json!(["2001:db8::1/64", "0.0.0.0/0"]),
        ),
        (
            "/root-disk",
            json!({"match": "disk-guid", "guid": "6D6E5F1C-0B7A-4C44-9D1E-3F0C8A2B4E51"}),
        ),
        ("/root-disk", json!({"match": "boot-disk"})),
        ("/provisioning", json!(null)),
        ("/oem-id", json!("qemu")),
        ("/oem_id", json!("openstack")),
    ] {
        with(pointer, value.clone()).unwrap_or_else(|e| panic!("{pointer} = {value}: {e}"));
    }
    let too_long = ["a"; 128].join(".");
    let e = with("/identity/hostname", json!(too_long)).unwrap_err();
    assert_eq!(e.field, "identity.hostname");
    assert!(e.message.contains("1 to 253 characters"), "{e}");
}

#[test]
fn version_is_checked_first_and_required() {
    // Even unknown fields of a newer schema do not hide the version error.
    let e = HostConfig::from_json(r#"{"version": 2, "future": true}"#).unwrap_err();
    assert_eq!(e.to_string(), "version: 2 is not supported (expected 1)");
    let mut doc = base();
    doc.as_object_mut().unwrap().remove("version");
    assert_err(
        HostConfig::from_json(&doc.to_string()),
        "version",
        "is required",
    );
}

#[test]
fn missing_required_field_is_named() {
    let mut doc = base();
    doc["identity"].as_object_mut().unwrap().remove("hostname");
    let e = HostConfig::from_json(&doc.to_string()).unwrap_err();
    assert_eq!(e.to_string(), "identity.hostname: is required");
    let mut doc = base();
    doc.as_object_mut().unwrap().remove("identity");
    assert_err(
        HostConfig::from_json(&doc.to_string()),
        "identity",
        "is required",
    );
}

#[test]
fn two_primaries() {
    let mut doc = base();
    doc["network"]["interfaces"][0]["primary"] = json!(true);
    doc["network"]["interfaces"][1]["primary"] = json!(true);
    assert_err(
        HostConfig::from_json(&doc.to_string()),
        "network.interfaces[1].primary",
        "network.interfaces[0] already is",
    );
}

#[test]
fn bad_mac_message_is_exact() {
    let e = with("/network/interfaces/1/mac", json!("zz:00")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with(r#"network.interfaces[1].mac: "zz:00" is not a MAC address"#),
        "{e}"
    );
}

#[test]
fn syntax_errors_have_a_location() {
    assert_err(
        HostConfig::from_json("{\n  \"version\": 1,\n}"),
        "line 3 column 1",
        "trailing comma",
    );
    let trailing = format!("{} x", base());
    let column = format!("line 1 column {}", trailing.len());
    assert_err(
        HostConfig::from_json(&trailing),
        &column,
        "trailing characters",
    );
    assert_err(
        HostConfig::from_json(r#"{"version": 1, "identity": {"#),
        "line 1 column 28",
        "EOF",
    );
    assert_err(HostConfig::from_json(""), "line 1 column 0", "EOF");
}

#[test]
fn mac_addr_parse_and_display() {
    let m: MacAddr = "AA:bb:0C:dd:EE:0f".parse().unwrap();
    assert_eq!(m.to_string(), "aa:bb:0c:dd:ee:0f");
    assert_eq!(m.octets(), [0xaa, 0xbb, 0x0c, 0xdd, 0xee, 0x0f]);
    assert!(!m.is_multicast() && !m.is_zero());
    for bad in [
        "",
        "aa:bb:cc:dd:ee",
        "aa-bb-cc-dd-ee-ff",
        "aabb.ccdd.eeff",
        "a:bb:cc:dd:ee:fff",
        "+a:bb:cc:dd:ee:ff",
    ] {
        assert_eq!(
            MacAddr::parse(bad),
            Err(InvalidMac {
                value: bad.into(),
                hyphens_allowed: false
            }),
            "{bad}"
        );
    }
}

#[test]
fn load_reads_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("host-config.json");
    std::fs::write(&path, EXAMPLE).unwrap();
    assert_eq!(
        HostConfig::load(&path).unwrap(),
        HostConfig::from_json(EXAMPLE).unwrap()
    );
    let e = HostConfig::load(dir.path().join("missing.json")).unwrap_err();
    assert!(e.message.starts_with("cannot read"), "{e}");
}

#[test]
fn validate_rejects_a_prefix_built_in_code_out_of_range() {
    let mut c = HostConfig::from_json(&base().to_string()).unwrap();
    c.network.interfaces[0].addresses[0].prefix = 33;
    let e = c.validate().expect_err("prefix 33 on IPv4");
    assert_eq!(e.field, "network.interfaces[0].addresses[0]");
    assert!(
        e.message
            .contains("prefix length 33 is out of range (0..=32 for IPv4)"),
        "{e}"
    );
}

#[test]
fn oem_id_spellings() {
    let c = with("/oem_id", json!("aws")).unwrap();
    assert_eq!(c.oem_id.as_deref(), Some("aws"));
    // Written back in the schema's kebab-case.
    assert!(c.to_json_pretty().contains(r#""oem-id": "aws""#));
    assert!(!HostConfig::from_json(&base().to_string())
        .unwrap()
        .to_json_pretty()
        .contains("oem"));
}
