//! The merge order with the OEM partition and the platform's base
//! configs: names in order, and what a real merge of them writes.

use super::*;
use metalos_contract::paths::UsrPath;
use metalos_disk::oem::OemFile;
use metalos_ignition::apply::{apply_configs, ApplyOptions};

/// An Ignition config writing `/etc/LAYER` = `value` for each layer.
fn config(layers: &[&str], value: &str) -> Vec<u8> {
    let files: Vec<_> = layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "path": format!("/etc/{l}"), "overwrite": true,
                "contents": { "source": format!("data:,{value}") },
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "ignition": { "version": "3.4.0" }, "storage": { "files": files },
    }))
    .unwrap()
}

fn put(root: &Path, rel: &str, bytes: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

fn oem_file(path: &str, bytes: Vec<u8>) -> OemFile {
    OemFile {
        path: path.into(),
        bytes,
    }
}

/// Image base.d, OEM base/, base.platform.d/qemu (and another platform's
/// directory that must not be read), and an OEM `config.ign`.
fn layers(sysroot: &Path) -> OemContents {
    let all = ["a", "b", "c", "d"];
    put(
        sysroot,
        &format!("{BASE_DIR}/20-base.ign"),
        &config(&all, "base"),
    );
    put(
        sysroot,
        &format!("{BASE_DIR}/10-base.ign"),
        &config(&all, "early"),
    );
    put(sysroot, &format!("{BASE_DIR}/README"), b"not a config");
    let qemu = format!("{BASE_PLATFORM_DIR}/qemu");
    put(
        sysroot,
        &format!("{qemu}/10-p.ign"),
        &config(&["b", "c", "d"], "platform"),
    );
    put(
        sysroot,
        &format!("{BASE_PLATFORM_DIR}/aws/10-p.ign"),
        b"not read",
    );
    OemContents {
        release: None,
        base_configs: vec![
            oem_file(
                "base/05-oem.ign",
                config(&["a", "b", "c", "d"], "oem-early"),
            ),
            oem_file("base/50-oem.ign", config(&["a", "b", "c", "d"], "oem")),
        ],
        user_config: Some(oem_file("config.ign", config(&["c"], "user"))),
    }
}

#[test]
fn merge_order_base_oem_platform_user() {
    let t = tempfile::tempdir().unwrap();
    let sysroot = t.path().join("sysroot");
    let oem = layers(&sysroot);
    let cmdline = "console=ttyS0 metalos.oem.id=qemu";
    let platform = platform(cmdline, Some(&oem)).unwrap();
    assert_eq!(platform.platform.name(), "qemu");
    let mut inputs = base_inputs(&sysroot, Some(&oem), Some(platform.platform.name())).unwrap();
    let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "/usr/lib/metalos/provisioning/base.d/10-base.ign",
            "/usr/lib/metalos/provisioning/base.d/20-base.ign",
            "oem:///base/05-oem.ign",
            "oem:///base/50-oem.ign",
            "/usr/lib/metalos/provisioning/base.platform.d/qemu/10-p.ign",
        ]
    );
    match user_source(cmdline, &sysroot, Some(&oem)).unwrap() {
        Some(UserSource::Config(i)) => inputs.push(i),
        other => panic!("expected the OEM config.ign, got {other:?}"),
    }
    assert_eq!(inputs.last().unwrap().name, "oem:///config.ign");
    // A real merge: later wins, field by field.
    let root = t.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    apply_configs(&root, &inputs, &ApplyOptions::default()).unwrap();
    let read = |l: &str| std::fs::read_to_string(root.join("etc").join(l)).unwrap();
    assert_eq!(read("a"), "oem");
    assert_eq!(read("b"), "platform");
    assert_eq!(read("c"), "user");
    assert_eq!(read("d"), "platform");
}

#[test]
fn platform_and_oem_are_optional() {
    let t = tempfile::tempdir().unwrap();
    let sysroot = t.path();
    layers(sysroot);
    let names = |i: Vec<Input>| i.into_iter().map(|i| i.name).collect::<Vec<_>>();
    // No platform configs, no OEM partition: the image's base.d only.
    assert_eq!(names(base_inputs(sysroot, None, None).unwrap()).len(), 2);
    // A platform without a directory has no configs.
    assert_eq!(
        platform_base_configs(sysroot, "openstack").unwrap().len(),
        0
    );
    let e = platform("metalos.oem.id=../etc", None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("../etc") && e.contains("metal, qemu, openstack, aws"),
        "{e}"
    );
    assert_eq!(
        UsrPath::PROVISIONING_BASE_PLATFORM.on_host(),
        format!("/{BASE_PLATFORM_DIR}")
    );
    assert_eq!(UsrPath::PROVISIONING_BASE.on_host(), format!("/{BASE_DIR}"));
}

#[test]
fn oem_config_ign_comes_after_the_url_and_before_staged_configs() {
    use metalos_reset::layout::USER_CONFIG;
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    let oem = layers(r);
    std::fs::create_dir_all(r.join(USER_CONFIG).parent().unwrap()).unwrap();
    std::fs::write(r.join(USER_CONFIG), "{}").unwrap();
    let host = HostConfig::from_json(
        r#"{"version": 1, "identity": {"hostname": "n", "machine-id": "0123456789abcdef0123456789abcdef"},
            "provisioning": {"ignition": {"version": "3.4.0"}}}"#,
    )
    .unwrap();
    let name = |s: Option<UserSource>| match s {
        Some(UserSource::Url(u)) => format!("url {u}"),
        Some(UserSource::Config(i)) => format!("config {}", i.name),
        None => "none".into(),
    };
    let src = |cmdline, oem| name(user_source(cmdline, r, oem).unwrap());
    assert_eq!(
        src("ignition.config.url=http://x/u.ign", Some(&oem)),
        "url http://x/u.ign"
    );
    assert_eq!(src("quiet", Some(&oem)), "config oem:///config.ign");
    assert_eq!(
        src("quiet", None),
        "config /var/lib/metalos/provisioning/user.ign"
    );
    let no_user = OemContents {
        user_config: None,
        ..oem.clone()
    };
    assert_eq!(
        src("quiet", Some(&no_user)),
        "config /var/lib/metalos/provisioning/user.ign"
    );
    std::fs::remove_file(r.join(USER_CONFIG)).unwrap();
    // Then the platform provider, then the HostConfig (in `run`).
    assert_eq!(src("quiet", Some(&no_user)), "none");
    let hc = host_provisioning(Some(&host)).unwrap().unwrap();
    assert_eq!(hc.name, "HostConfig provisioning");
}
