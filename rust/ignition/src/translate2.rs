//! Spec 2.x (2.0.0–2.4.0) → 3.1.0, for configs whose storage targets the
//! root filesystem (the shape Flatcar's own examples use).
//!
//! Follows the upstream converter (ign-converter `v24tov31`) with Flatcar's
//! relaxations:
//! * `ignition.config.append` becomes `merge`;
//! * every file/directory/link must be on the `root` filesystem, and
//!   `storage.filesystems` must be empty (named filesystems cannot be mapped
//!   onto a MetalOS root);
//! * two files, directories or links with the same path are an error
//!   (`Config has conflicting inodes`, the converter's `Check2_4`): 2.x
//!   allowed them, 3.x has no equivalent;
//! * files: unset `overwrite` becomes `true` when there are contents (2.2+
//!   default), an `append: true` entry becomes one `append[]` fragment;
//! * units: `enable` (deprecated) and `enabled` fold into `enabled`
//!   (`enabled` wins);
//! * `networkd.units` become files under `/etc/systemd/network/` (Flatcar);
//! * users: the deprecated `create` object is mapped onto the user fields.

use crate::error::Report;
use serde_json::{json, Map, Value};

/// The 3.x minor version translated configs are read as.
pub const TARGET_MINOR: u32 = 1;

/// Translates a 2.x document; problems are recorded in `report` with 2.x
/// JSON paths.
pub fn translate(mut doc: Value, report: &mut Report) -> Value {
    let mut out = Map::new();
    let ign = doc
        .get_mut("ignition")
        .map(Value::take)
        .unwrap_or(json!({}));
    out.insert("ignition".into(), ignition(ign));
    if let Some(storage) = doc.get_mut("storage").map(Value::take) {
        out.insert("storage".into(), self::storage(storage, report));
    }
    let mut systemd = doc.get_mut("systemd").map(Value::take).unwrap_or(json!({}));
    if let Some(units) = systemd.get_mut("units").and_then(Value::as_array_mut) {
        for u in units {
            if let Some(obj) = u.as_object_mut() {
                let enable = obj.remove("enable");
                if !obj.contains_key("enabled") {
                    if let Some(e) = enable {
                        obj.insert("enabled".into(), e);
                    }
                }
            }
        }
    }
    out.insert("systemd".into(), systemd);
    if let Some(networkd) = doc.get("networkd") {
        networkd_files(networkd, &mut out, report);
    }
    if let Some(mut passwd) = doc.get_mut("passwd").map(Value::take) {
        if let Some(users) = passwd.get_mut("users").and_then(Value::as_array_mut) {
            for u in users {
                fold_create(u);
            }
        }
        out.insert("passwd".into(), passwd);
    }
    for key in doc
        .as_object()
        .map(|m| m.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        if !matches!(
            key.as_str(),
            "ignition" | "storage" | "systemd" | "networkd" | "passwd"
        ) {
            out.insert(key.clone(), doc[&key].take());
        }
    }
    Value::Object(out)
}

fn ignition(mut ign: Value) -> Value {
    if let Some(obj) = ign.as_object_mut() {
        obj.insert("version".into(), json!(format!("3.{TARGET_MINOR}.0")));
        if let Some(cfg) = obj.get_mut("config").and_then(Value::as_object_mut) {
            if let Some(append) = cfg.remove("append") {
                cfg.insert("merge".into(), append);
            }
        }
    }
    ign
}

fn storage(mut storage: Value, report: &mut Report) -> Value {
    let Some(obj) = storage.as_object_mut() else {
        return storage;
    };
    if obj
        .get("filesystems")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        report.error(
            "storage.filesystems",
            "2.x filesystems cannot be translated: MetalOS applies 2.x configs to the \"root\" filesystem only",
        );
        obj.remove("filesystems");
    }
    // Cleaned path → the first entry that writes it.
    let mut inodes: std::collections::BTreeMap<String, String> = Default::default();
    for kind in ["files", "directories", "links"] {
        let Some(list) = obj.get_mut(kind).and_then(Value::as_array_mut) else {
            continue;
        };
        for (i, node) in list.iter_mut().enumerate() {
            let path = format!("storage.{kind}[{i}]");
            let Some(n) = node.as_object_mut() else {
                continue;
            };
            if let Some(p) = n.get("path").and_then(Value::as_str) {
                let clean = clean_path(p);
                if let Some(first) = inodes.get(&clean) {
                    report.error(
                        format!("{path}.path"),
                        format!(
                            "Config has conflicting inodes: {clean:?} is also {first}; all files, \
                             directories and links must specify a unique path (spec 3.x has no \
                             equivalent: list every fragment in one entry's append)"
                        ),
                    );
                } else {
                    inodes.insert(clean, path.clone());
                }
            }
            match n.remove("filesystem") {
                Some(Value::String(fs)) if fs == "root" => {}
                Some(other) => report.error(
                    format!("{path}.filesystem"),
                    format!(
                        "only the \"root\" filesystem is supported in 2.x configs, not {other}"
                    ),
                ),
                None => report.error(
                    format!("{path}.filesystem"),
                    "filesystem is required in 2.x configs",
                ),
            }
            if kind == "files" {
                translate_file(n);
            }
        }
    }
    storage
}

/// A path as Go's `filepath.Join("/", p)` cleans it (what the converter
/// compares).
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Rewrites a 2.x file entry in place: `append: true` becomes a one-fragment
/// `append[]` (never overwriting), unset `overwrite` the 2.2+ default.
fn translate_file(n: &mut Map<String, Value>) {
    let appending = n.remove("append").and_then(|v| v.as_bool()) == Some(true);
    let has_source = n
        .get("contents")
        .and_then(|c| c.get("source"))
        .is_some_and(|s| !s.is_null());
    if appending {
        let contents = n.remove("contents").unwrap_or(json!({}));
        n.insert("append".into(), json!([contents]));
        n.insert("overwrite".into(), json!(false));
    } else if !n.contains_key("overwrite") {
        n.insert("overwrite".into(), json!(has_source));
    }
}

fn fold_create(user: &mut Value) {
    let Some(obj) = user.as_object_mut() else {
        return;
    };
    let Some(Value::Object(create)) = obj.remove("create") else {
        return;
    };
    for (k, v) in create {
        obj.entry(k).or_insert(v);
    }
}

fn networkd_files(networkd: &Value, out: &mut Map<String, Value>, report: &mut Report) {
    let Some(units) = networkd.get("units").and_then(Value::as_array) else {
        return;
    };
    let mut files = Vec::new();
    for (i, u) in units.iter().enumerate() {
        let Some(name) = u.get("name").and_then(Value::as_str) else {
            report.error(format!("networkd.units[{i}].name"), "name is required");
            continue;
        };
        if let Some(contents) = u.get("contents").and_then(Value::as_str) {
            files.push(data_file(&format!("/etc/systemd/network/{name}"), contents));
        }
        for d in u
            .get("dropins")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let (Some(dn), Some(c)) = (
                d.get("name").and_then(Value::as_str),
                d.get("contents").and_then(Value::as_str),
            ) {
                files.push(data_file(&format!("/etc/systemd/network/{name}.d/{dn}"), c));
            }
        }
    }
    let storage = out.entry("storage").or_insert(json!({}));
    if let Some(obj) = storage.as_object_mut() {
        let list = obj.entry("files").or_insert(json!([]));
        if let Some(list) = list.as_array_mut() {
            list.extend(files);
        }
    }
}

fn data_file(path: &str, contents: &str) -> Value {
    let enc = percent_encoding::utf8_percent_encode(contents, percent_encoding::NON_ALPHANUMERIC);
    json!({
        "path": path,
        "mode": 420,
        "overwrite": true,
        "contents": {"source": format!("data:,{enc}")}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(v: Value) -> (Value, Report) {
        let mut r = Report::default();
        (translate(v, &mut r), r)
    }

    #[test]
    fn seed_example() {
        let (v, r) = tr(json!({
            "ignition": {"version": "2.2.0"},
            "systemd": {"units": [{"name": "my.service", "enabled": true, "contents": "[Service]\n"}]},
            "storage": {"links": [{"filesystem": "root", "path": "/etc/systemd/system/multi-user.target.wants/my.service", "target": "/etc/systemd/system/my.service"}]}
        }));
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(v["ignition"]["version"], "3.1.0");
        assert_eq!(v["storage"]["links"][0].get("filesystem"), None);
        assert_eq!(v["systemd"]["units"][0]["enabled"], true);
    }

    #[test]
    fn files_and_errors() {
        let (v, r) = tr(json!({
            "ignition": {"version": "2.1.0", "config": {"append": [{"source": "data:,"}]}},
            "storage": {
                "files": [
                    {"filesystem": "root", "path": "/a", "contents": {"source": "data:,x"}},
                    {"filesystem": "root", "path": "/a2", "append": true, "contents": {"source": "data:,y"}},
                    {"filesystem": "root", "path": "/b"},
                    {"filesystem": "oem", "path": "/c"}
                ],
                "filesystems": [{"name": "oem", "mount": {"device": "/dev/sda6", "format": "btrfs"}}]
            },
            "systemd": {"units": [{"name": "a.service", "enable": true, "enabled": false}]},
            "networkd": {"units": [{"name": "10-e.network", "contents": "[Match]\nName=e*\n"}]},
            "passwd": {"users": [{"name": "u", "create": {"uid": 1001, "shell": "/bin/sh"}, "shell": "/bin/bash"}]}
        }));
        let paths: Vec<&str> = r.errors.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(
            paths,
            ["storage.filesystems", "storage.files[3].filesystem"]
        );
        let files = v["storage"]["files"].as_array().unwrap();
        assert_eq!(files[0]["overwrite"], true);
        assert_eq!(files[1]["append"], json!([{"source": "data:,y"}]));
        assert_eq!(files[1]["overwrite"], false);
        assert_eq!(files[1].get("contents"), None);
        assert_eq!(files[2]["overwrite"], false);
        assert_eq!(files[4]["path"], "/etc/systemd/network/10-e.network");
        assert_eq!(v["ignition"]["config"]["merge"][0]["source"], "data:,");
        assert_eq!(v["systemd"]["units"][0]["enabled"], false);
        assert_eq!(v["passwd"]["users"][0]["uid"], 1001);
        assert_eq!(v["passwd"]["users"][0]["shell"], "/bin/bash");
    }

    /// ign-converter's `Check2_4` (and Flatcar's fork): the same path twice,
    /// in any kind of node, is "conflicting inodes", even as two appends.
    #[test]
    fn duplicate_paths_are_conflicting_inodes() {
        let (_, r) = tr(json!({
            "ignition": {"version": "2.2.0"},
            "storage": {
                "files": [
                    {"filesystem": "root", "path": "/example-file", "append": true, "contents": {"source": "data:,a"}},
                    {"filesystem": "root", "path": "/example-file", "append": true, "contents": {"source": "data:,b"}},
                    {"filesystem": "root", "path": "/d/x"}
                ],
                "directories": [{"filesystem": "root", "path": "/d/./x/"}],
                "links": [{"filesystem": "root", "path": "/other", "target": "/x"}]
            }
        }));
        let got: Vec<(&str, &str)> = r
            .errors
            .iter()
            .map(|i| (i.path.as_str(), i.message.as_str()))
            .collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].0, "storage.files[1].path");
        assert!(
            got[0].1.starts_with(
                "Config has conflicting inodes: \"/example-file\" is also storage.files[0]"
            ),
            "{got:?}"
        );
        assert_eq!(got[1].0, "storage.directories[0].path");
        assert!(got[1].1.contains("storage.files[2]"), "{got:?}");
    }
}
