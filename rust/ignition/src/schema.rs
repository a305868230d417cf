//! The keys each spec version knows, used to prune a parsed JSON document
//! before it is read into [`crate::config::Config`]:
//!
//! * an unknown key (a typo, a key in the wrong place, or a field of a newer
//!   spec than the config's version) is a warning `unused key NAME` and is
//!   dropped, as Ignition does (an error in strict mode);
//! * keys match case-insensitively and are rewritten to their canonical
//!   spelling (Go's `encoding/json`, which Ignition uses, does the same);
//! * `null` means "unset" and is dropped;
//! * repeated object keys keep the last value (serde_json and Go agree).

use crate::error::Report;
use serde_json::{Map, Value};

/// The shape of a JSON value.
enum Shape {
    /// An object with these fields.
    Object(&'static [Field]),
    /// A list of values of one shape.
    List(&'static Shape),
    /// A string, number or boolean (type-checked later by serde).
    Scalar,
    /// A section MetalOS does not implement: kept verbatim so that a
    /// non-empty one is reported by validation.
    Opaque,
}

/// A known key and the first 3.x minor version that has it.
struct Field {
    name: &'static str,
    since: u32,
    shape: &'static Shape,
}

const fn f(name: &'static str, since: u32, shape: &'static Shape) -> Field {
    Field { name, since, shape }
}

static SCALAR: Shape = Shape::Scalar;
static OPAQUE: Shape = Shape::Opaque;
static SCALARS: Shape = Shape::List(&SCALAR);

static VERIFICATION: Shape = Shape::Object(&[f("hash", 0, &SCALAR)]);
static HEADER: Shape = Shape::Object(&[f("name", 1, &SCALAR), f("value", 1, &SCALAR)]);
static HEADERS: Shape = Shape::List(&HEADER);
/// Resources of `storage.files[].contents` / `append[]` (compression since 3.0).
static FILE_RESOURCE: Shape = Shape::Object(&[
    f("source", 0, &SCALAR),
    f("compression", 0, &SCALAR),
    f("httpHeaders", 1, &HEADERS),
    f("verification", 0, &VERIFICATION),
]);
/// Resources of `ignition.config` and CAs (compression since 3.1).
static CONFIG_RESOURCE: Shape = Shape::Object(&[
    f("source", 0, &SCALAR),
    f("compression", 1, &SCALAR),
    f("httpHeaders", 1, &HEADERS),
    f("verification", 0, &VERIFICATION),
]);
static CONFIG_RESOURCES: Shape = Shape::List(&CONFIG_RESOURCE);
static FILE_RESOURCES: Shape = Shape::List(&FILE_RESOURCE);

static IGNITION: Shape = Shape::Object(&[
    f("version", 0, &SCALAR),
    f(
        "config",
        0,
        &Shape::Object(&[
            f("merge", 0, &CONFIG_RESOURCES),
            f("replace", 0, &CONFIG_RESOURCE),
        ]),
    ),
    f(
        "timeouts",
        0,
        &Shape::Object(&[
            f("httpResponseHeaders", 0, &SCALAR),
            f("httpTotal", 0, &SCALAR),
        ]),
    ),
    f(
        "security",
        0,
        &Shape::Object(&[f(
            "tls",
            0,
            &Shape::Object(&[f("certificateAuthorities", 0, &CONFIG_RESOURCES)]),
        )]),
    ),
    f(
        "proxy",
        1,
        &Shape::Object(&[
            f("httpProxy", 1, &SCALAR),
            f("httpsProxy", 1, &SCALAR),
            f("noProxy", 1, &SCALARS),
        ]),
    ),
]);

static OWNER: Shape = Shape::Object(&[f("id", 0, &SCALAR), f("name", 0, &SCALAR)]);

static FILE: Shape = Shape::Object(&[
    f("path", 0, &SCALAR),
    f("overwrite", 0, &SCALAR),
    f("user", 0, &OWNER),
    f("group", 0, &OWNER),
    f("contents", 0, &FILE_RESOURCE),
    f("append", 0, &FILE_RESOURCES),
    f("mode", 0, &SCALAR),
]);
static DIRECTORY: Shape = Shape::Object(&[
    f("path", 0, &SCALAR),
    f("overwrite", 0, &SCALAR),
    f("user", 0, &OWNER),
    f("group", 0, &OWNER),
    f("mode", 0, &SCALAR),
]);
static LINK: Shape = Shape::Object(&[
    f("path", 0, &SCALAR),
    f("overwrite", 0, &SCALAR),
    f("user", 0, &OWNER),
    f("group", 0, &OWNER),
    f("target", 0, &SCALAR),
    f("hard", 0, &SCALAR),
]);
static STORAGE: Shape = Shape::Object(&[
    f("disks", 0, &OPAQUE),
    f("raid", 0, &OPAQUE),
    f("filesystems", 0, &OPAQUE),
    f("luks", 2, &OPAQUE),
    f("files", 0, &Shape::List(&FILE)),
    f("directories", 0, &Shape::List(&DIRECTORY)),
    f("links", 0, &Shape::List(&LINK)),
]);

static DROPIN: Shape = Shape::Object(&[f("name", 0, &SCALAR), f("contents", 0, &SCALAR)]);
static UNIT: Shape = Shape::Object(&[
    f("name", 0, &SCALAR),
    f("enabled", 0, &SCALAR),
    f("mask", 0, &SCALAR),
    f("contents", 0, &SCALAR),
    f("dropins", 0, &Shape::List(&DROPIN)),
]);
static SYSTEMD: Shape = Shape::Object(&[f("units", 0, &Shape::List(&UNIT))]);

static USER: Shape = Shape::Object(&[
    f("name", 0, &SCALAR),
    f("passwordHash", 0, &SCALAR),
    f("sshAuthorizedKeys", 0, &SCALARS),
    f("uid", 0, &SCALAR),
    f("gecos", 0, &SCALAR),
    f("homeDir", 0, &SCALAR),
    f("noCreateHome", 0, &SCALAR),
    f("primaryGroup", 0, &SCALAR),
    f("groups", 0, &SCALARS),
    f("noUserGroup", 0, &SCALAR),
    f("noLogInit", 0, &SCALAR),
    f("shell", 0, &SCALAR),
    f("system", 0, &SCALAR),
    f("shouldExist", 2, &SCALAR),
]);
static GROUP: Shape = Shape::Object(&[
    f("name", 0, &SCALAR),
    f("gid", 0, &SCALAR),
    f("passwordHash", 0, &SCALAR),
    f("system", 0, &SCALAR),
    f("shouldExist", 2, &SCALAR),
]);
static PASSWD: Shape = Shape::Object(&[
    f("users", 0, &Shape::List(&USER)),
    f("groups", 0, &Shape::List(&GROUP)),
]);

static CONFIG: Shape = Shape::Object(&[
    f("ignition", 0, &IGNITION),
    f("storage", 0, &STORAGE),
    f("systemd", 0, &SYSTEMD),
    f("passwd", 0, &PASSWD),
    f("kernelArguments", 3, &OPAQUE),
]);

/// Prunes `doc` (a 3.`minor`.0 config) in place: drops unknown keys and
/// `null`s, canonicalises key case. Unknown keys are warnings, or errors
/// when `strict`.
pub fn prune(doc: &mut Value, minor: u32, strict: bool, report: &mut Report) {
    walk(doc, &CONFIG, minor, strict, "", report);
}

fn walk(v: &mut Value, shape: &Shape, minor: u32, strict: bool, path: &str, report: &mut Report) {
    match (shape, v) {
        (Shape::Object(fields), Value::Object(map)) => {
            let old = std::mem::take(map);
            let mut new = Map::new();
            for (key, mut value) in old {
                let field = fields
                    .iter()
                    .find(|f| f.name == key)
                    .or_else(|| fields.iter().find(|f| f.name.eq_ignore_ascii_case(&key)));
                let child = join(path, &key);
                match field {
                    Some(field) if field.since <= minor => {
                        if value.is_null() {
                            continue;
                        }
                        walk(
                            &mut value,
                            field.shape,
                            minor,
                            strict,
                            &join(path, field.name),
                            report,
                        );
                        new.insert(field.name.to_string(), value);
                    }
                    _ => {
                        let msg = match field {
                            Some(field) => format!(
                                "unused key {key}: it needs spec 3.{}.0 or newer, the config is 3.{minor}.0",
                                field.since
                            ),
                            None => format!("unused key {key}"),
                        };
                        if strict {
                            report.error(child, msg);
                        } else {
                            report.warn(child, msg);
                        }
                    }
                }
            }
            *map = new;
        }
        (Shape::List(item), Value::Array(items)) => {
            for (i, it) in items.iter_mut().enumerate() {
                walk(it, item, minor, strict, &format!("{path}[{i}]"), report);
            }
        }
        // Scalars, opaque sections and type mismatches (reported by serde
        // with the path) pass through.
        _ => {}
    }
}

/// `a.b` (or `b` at the top).
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_and_newer_keys_warn_and_are_dropped() {
        let mut doc = json!({
            "ignition": {"version": "3.1.0", "proxy": {"httpProxy": "http://p"}},
            "storage": {"files": [{"path": "/a", "moed": 420, "Mode": 384, "overwrite": null}], "luks": []},
            "kernelArguments": {"shouldExist": ["x"]},
            "bogus": 1
        });
        let mut r = Report::default();
        prune(&mut doc, 1, false, &mut r);
        let warned: Vec<String> = r.warnings.iter().map(|i| i.path.clone()).collect();
        assert_eq!(
            warned,
            [
                "bogus",
                "kernelArguments",
                "storage.files[0].moed",
                "storage.luks"
            ]
        );
        assert!(r.errors.is_empty());
        assert_eq!(
            doc["storage"]["files"][0],
            json!({"path": "/a", "mode": 384})
        );
        assert_eq!(doc["ignition"]["proxy"]["httpProxy"], "http://p");
        let mut r = Report::default();
        let mut doc = json!({"ignition": {"version": "3.0.0", "proxy": {}}});
        prune(&mut doc, 0, true, &mut r);
        assert_eq!(r.errors.len(), 1);
        assert!(r.errors[0].message.contains("needs spec 3.1.0"));
    }
}
