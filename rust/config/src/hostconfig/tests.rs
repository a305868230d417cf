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

#[test]
fn version_errors() {
    assert_err(
        with("/version", json!(2)),
        "version",
        "2 is not supported (expected 1)",
    );
    // Checked before anything else, even unknown fields of a newer schema.
    assert_err(
        HostConfig::from_json(r#"{"version": 2, "future": true}"#),
        "version",
        "2 is not supported (expected 1)",
    );
    assert_err(with("/version", json!("1")), "version", "invalid type");
    let mut doc = base();
    doc.as_object_mut().unwrap().remove("version");
    assert_err(
        HostConfig::from_json(&doc.to_string()),
        "version",
        "is required",
    );
}

#[test]
fn unknown_fields_are_errors_at_every_level() {
    assert_err(
        with("/colour", json!("red")),
        "colour",
        "unknown field `colour`",
    );
    assert_err(
        with("/network/interfaces/1/mtu", json!(9000)),
        "network.interfaces[1].mtu",
        "unknown field `mtu`",
    );
    assert_err(
        with("/identity/uuid", json!("x")),
        "identity.uuid",
        "unknown field",
    );
    assert_err(
        with("/boot", json!({"grace": 1})),
        "boot.grace",
        "unknown field",
    );
}

#[test]
fn missing_required_field_is_named() {
    let mut doc = base();
    doc["identity"].as_object_mut().unwrap().remove("hostname");
    assert_err(
        HostConfig::from_json(&doc.to_string()),
        "identity.hostname",
        "is required",
    );
    let mut doc = base();
    doc.as_object_mut().unwrap().remove("identity");
    assert_err(
        HostConfig::from_json(&doc.to_string()),
        "identity",
        "is required",
    );
}

#[test]
fn bad_mac() {
    assert_err(
        with("/network/interfaces/1/mac", json!("zz:00")),
        "network.interfaces[1].mac",
        r#""zz:00" is not a MAC address"#,
    );
    assert_err(
        with("/network/interfaces/1/mac", json!("52:54:00:00:00:02:03")),
        "network.interfaces[1].mac",
        "is not a MAC address",
    );
    assert_err(
        with("/network/interfaces/0/mac", json!("01:00:5e:00:00:01")),
        "network.interfaces[0].mac",
        "multicast",
    );
    assert_err(
        with("/network/interfaces/0/mac", json!("00:00:00:00:00:00")),
        "network.interfaces[0].mac",
        "zero",
    );
    // Duplicates are compared after normalising the case.
    assert_err(
        with("/network/interfaces/1/mac", json!("52:54:00:00:00:01")),
        "network.interfaces[1].mac",
        "already used by network.interfaces[0]",
    );
}

#[test]
fn bad_interface_names() {
    assert_err(
        with("/network/interfaces/1/name", json!("eth0")),
        "network.interfaces[1].name",
        r#""eth0" is already used by network.interfaces[0]"#,
    );
    for bad in ["", ".", "..", "a/b", "a:1", "has space", "sixteen-chars-xx"] {
        assert_err(
            with("/network/interfaces/1/name", json!(bad)),
            "network.interfaces[1].name",
            "not a valid interface name",
        );
    }
    assert!(with("/network/interfaces/1/name", json!("fifteen-chars-x")).is_ok());
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
fn bad_addresses() {
    let p = "/network/interfaces/0/addresses";
    assert_err(
        with(p, json!(["10.0.0.2/24", "10.0.0.3"])),
        "network.interfaces[0].addresses[1]",
        "not an address in CIDR notation",
    );
    assert_err(
        with(p, json!(["10.0.0.2/33"])),
        "network.interfaces[0].addresses[0]",
        "out of range (0..=32",
    );
    assert_err(
        with(p, json!(["2001:db8::1/129"])),
        "network.interfaces[0].addresses[0]",
        "0..=128",
    );
    assert_err(
        with(p, json!(["10.0.0.256/24"])),
        "network.interfaces[0].addresses[0]",
        "CIDR",
    );
    assert_err(
        with(p, json!(["10.0.0.2/+8"])),
        "network.interfaces[0].addresses[0]",
        "CIDR",
    );
    assert!(with(p, json!(["2001:db8::1/64", "0.0.0.0/0"])).is_ok());
    assert_err(
        with("/network/interfaces/0/gateway", json!("10.0.0.999")),
        "network.interfaces[0].gateway",
        "invalid IP address",
    );
    assert_err(
        with("/network/interfaces/1/gateway", json!("10.0.0.1")),
        "network.interfaces[1].gateway",
        "same IP family",
    );
    assert_err(
        with("/network/dns", json!(["1.1.1.1", "dns.example"])),
        "network.dns[1]",
        "invalid IP address",
    );
}

#[test]
fn bad_hostname() {
    for bad in [
        "",
        "under_score",
        "-lead",
        "trail-",
        "a..b",
        "dot.",
        &"x".repeat(64),
        &["a"; 128].join("."),
    ] {
        assert_err(
            with("/identity/hostname", json!(bad)),
            "identity.hostname",
            "not a valid host name",
        );
    }
    for good in ["NODE-1", "a.b-c.d9", &"x".repeat(63)] {
        assert!(with("/identity/hostname", json!(good)).is_ok(), "{good}");
    }
}

#[test]
fn bad_machine_id() {
    let p = "/identity/machine-id";
    assert_err(
        with(p, json!("0123456789ABCDEF0123456789ABCDEF")),
        "identity.machine-id",
        "32 lower-case hex characters",
    );
    assert_err(
        with(p, json!("01234567-89ab-cdef-0123-456789abcdef")),
        "identity.machine-id",
        "without dashes",
    );
    assert_err(
        with(p, json!("0".repeat(32))),
        "identity.machine-id",
        "all zeros",
    );
}

#[test]
fn bad_root_disk() {
    assert_err(
        with("/root-disk", json!({"match": "label"})),
        "root-disk.match",
        "unknown variant `label`",
    );
    assert_err(
        with("/root-disk", json!({"serial": "X"})),
        "root-disk.match",
        "is required",
    );
    assert_err(
        with("/root-disk", json!({"match": "serial"})),
        "root-disk",
        "needs `serial`",
    );
    assert_err(
        with(
            "/root-disk",
            json!({"match": "boot-disk", "guid": "6d6e5f1c-0b7a-4c44-9d1e-3f0c8a2b4e51"}),
        ),
        "root-disk",
        "only allowed",
    );
    assert_err(
        with("/root-disk", json!({"match": "disk-guid", "guid": "nope"})),
        "root-disk.guid",
        "is not a UUID",
    );
    assert_err(
        with("/root-disk", json!({"match": "serial", "serial": " "})),
        "root-disk.serial",
        "not a disk serial",
    );
    assert_err(
        with(
            "/root-disk",
            json!({"match": "serial", "serial": "X", "size": 1}),
        ),
        "root-disk.size",
        "unknown field",
    );
    let c = with(
        "/root-disk",
        json!({"match": "disk-guid", "guid": "6D6E5F1C-0B7A-4C44-9D1E-3F0C8A2B4E51"}),
    )
    .unwrap();
    assert!(matches!(c.root_disk, RootDisk::DiskGuid(_)));
}

#[test]
fn bad_kernel_args() {
    let p = "/kernel";
    assert_err(
        with(p, json!({"extra-args": ["quiet", "a b"]})),
        "kernel.extra-args[1]",
        "contains whitespace",
    );
    assert_err(
        with(p, json!({"extra-args": ["x\u{0}y"]})),
        "kernel.extra-args[0]",
        "NUL",
    );
    assert_err(
        with(p, json!({"extra-args": ["ok", ""]})),
        "kernel.extra-args[1]",
        "empty",
    );
    assert_err(
        with(p, json!({"extra-args": "quiet"})),
        "kernel.extra-args",
        "invalid type",
    );
}

#[test]
fn bad_update_boot_and_provisioning() {
    assert_err(
        with("/update", json!({"policy": "sometimes"})),
        "update.policy",
        "unknown variant `sometimes`",
    );
    assert_err(
        with("/update", json!({"mark-good-delay-seconds": -1})),
        "update.mark-good-delay-seconds",
        "invalid value",
    );
    assert_err(
        with("/update", json!({"health-check": ""})),
        "update.health-check",
        "non-empty",
    );
    assert_err(
        with("/boot", json!({"emergency-action": "halt"})),
        "boot.emergency-action",
        "unknown variant `halt`",
    );
    assert_err(
        with("/provisioning", json!([1, 2])),
        "provisioning",
        "must be a JSON object",
    );
    assert!(with("/provisioning", json!(null))
        .unwrap()
        .provisioning
        .is_none());
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
        assert_eq!(MacAddr::parse(bad), Err(InvalidMac(bad.into())), "{bad}");
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
