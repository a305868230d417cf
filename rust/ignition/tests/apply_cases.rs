//! The host test table of [`apply_configs`].
//!
//! Every [`Case`] is: a name, a list of config JSON documents merged in
//! order (base configs first, the user config last), a setup of the root
//! (on top of [`base_root`]: account files, `login.defs`, a skeleton), and
//! an expected outcome:
//!
//! * [`Expect::Ok`]: a check of the resulting tree (paths, types, modes,
//!   owners, contents, link targets, passwd/group lines) and of the
//!   report's warnings;
//! * [`Expect::Err`]: a fragment (exact JSON path + message) the error's
//!   `Display` must contain; the root must then be unchanged: a
//!   [`snapshot`] (every path with type, mode, owner, inode, link count,
//!   contents or link target) taken before equals the one taken after.
//!
//! The tables are grouped by subject (files, directories, links, passwd,
//! units, merge, validation, versions); each group is one `#[test]` that
//! runs all its cases and lists every failing one. The rollback tests
//! ([`rollback_at_every_op_restores_the_root`]) inject an I/O failure
//! before each write op in turn and require the root to be restored.
//!
//! Cases that write (chown) need root; without it they are skipped with a
//! message (CI runs as root). Error cases run anyway: they fail before the
//! first write.
//!
//! Run: `cargo test -p metalos-ignition --test apply_cases`.

use base64::Engine;
use flate2::write::GzEncoder;
use metalos_ignition::apply::{
    apply_configs, parse_inputs, plan, prepare, ApplyOptions, ApplyReport, Input,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha512};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

// ---------------------------------------------------------------------------
// The table

/// Prepares the root beyond [`base_root`].
type Setup = fn(&Path);
/// Checks the root after a successful apply.
type Check = fn(&Path, &ApplyReport);

enum Expect {
    Ok(Check),
    Err(&'static str),
}

struct Case {
    name: &'static str,
    configs: Vec<Value>,
    setup: Setup,
    strict: bool,
    expect: Expect,
}

fn ok(name: &'static str, configs: Vec<Value>, setup: Setup, check: Check) -> Case {
    Case {
        name,
        configs,
        setup,
        strict: false,
        expect: Expect::Ok(check),
    }
}

fn err(name: &'static str, configs: Vec<Value>, setup: Setup, fragment: &'static str) -> Case {
    Case {
        name,
        configs,
        setup,
        strict: false,
        expect: Expect::Err(fragment),
    }
}

fn strict(mut c: Case) -> Case {
    c.strict = true;
    c
}

/// No setup beyond [`base_root`].
fn bare(_: &Path) {}

/// `doc` with `ignition.version` 3.4.0 unless it names one (or is not an
/// object with an `ignition` key to fill: spec 1 and version tests).
fn v3(mut doc: Value) -> Value {
    let obj = doc.as_object_mut().expect("object");
    if obj.contains_key("ignitionVersion") {
        return doc;
    }
    let ign = obj.entry("ignition").or_insert_with(|| json!({}));
    if let Some(i) = ign.as_object_mut() {
        i.entry("version").or_insert_with(|| json!("3.4.0"));
    }
    doc
}

/// One config with only `storage.files`.
fn files(list: Value) -> Vec<Value> {
    vec![v3(json!({"storage": {"files": list}}))]
}

/// One config with only `storage.directories`.
fn dirs(list: Value) -> Vec<Value> {
    vec![v3(json!({"storage": {"directories": list}}))]
}

/// One config with only `storage.links`.
fn links(list: Value) -> Vec<Value> {
    vec![v3(json!({"storage": {"links": list}}))]
}

/// One config with only `systemd.units`.
fn units(list: Value) -> Vec<Value> {
    vec![v3(json!({"systemd": {"units": list}}))]
}

/// One config with only `passwd`.
fn passwd(p: Value) -> Vec<Value> {
    vec![v3(json!({ "passwd": p }))]
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn options(strict: bool) -> ApplyOptions {
    ApplyOptions {
        strict,
        now_days: Some(19000),
        ..Default::default()
    }
}

fn inputs(configs: &[Value]) -> Vec<Input> {
    configs
        .iter()
        .enumerate()
        .map(|(i, c)| Input {
            name: format!("c{i}.ign"),
            // A JSON string stands for raw (possibly invalid) config text.
            bytes: match c {
                Value::String(raw) => raw.clone().into_bytes(),
                doc => doc.to_string().into_bytes(),
            },
        })
        .collect()
}

/// Runs one case in a fresh root; `Err` describes the failure.
fn run_case(case: &Case) -> Result<(), String> {
    if matches!(case.expect, Expect::Ok(_)) && !is_root() {
        println!("{}: skipped (not root: chown needs root)", case.name);
        return Ok(());
    }
    let dir = tempfile::tempdir().unwrap();
    let root = base_root(dir.path());
    (case.setup)(&root);
    let before = snapshot(&root);
    let result = apply_configs(&root, &inputs(&case.configs), &options(case.strict));
    match (&case.expect, result) {
        (Expect::Ok(check), Ok(report)) => {
            catch_unwind(AssertUnwindSafe(|| check(&root, &report))).map_err(panic_text)
        }
        (Expect::Ok(_), Err(e)) => Err(format!("expected success, got error:\n{e}")),
        (Expect::Err(frag), Ok(_)) => Err(format!("expected an error containing {frag:?}")),
        (Expect::Err(frag), Err(e)) => {
            let text = e.to_string();
            if !text.contains(frag) {
                return Err(format!("error {text:?} does not contain {frag:?}"));
            }
            let after = snapshot(&root);
            if after != before {
                return Err(format!(
                    "root changed by a failed apply:\n{}",
                    diff(&before, &after)
                ));
            }
            Ok(())
        }
    }
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Runs every case, then fails listing all that failed.
fn run_table(cases: Vec<Case>) {
    let mut names = std::collections::BTreeSet::new();
    let mut failed = Vec::new();
    for case in &cases {
        assert!(names.insert(case.name), "duplicate case name {}", case.name);
        if let Err(why) = run_case(case) {
            failed.push(format!("--- {}: {why}", case.name));
        }
    }
    println!("{} case(s) run", cases.len());
    assert!(
        failed.is_empty(),
        "{} of {} case(s) failed:\n{}",
        failed.len(),
        cases.len(),
        failed.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Roots and snapshots

const BASE_PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
const BASE_SHADOW: &str = "root:*:19000:0:99999:7:::\n\
daemon:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n";
const BASE_GROUP: &str = "root:x:0:\ndaemon:x:1:\nsudo:x:27:\nshadow:x:42:\n\
users:x:100:\nnogroup:x:65534:\n";
const LOGIN_DEFS: &str = "UID_MIN 1000\nUID_MAX 60000\nSYS_UID_MIN 100\nSYS_UID_MAX 999\n\
GID_MIN 1000\nGID_MAX 60000\nSYS_GID_MIN 100\nSYS_GID_MAX 999\n\
USERGROUPS_ENAB yes\nENCRYPT_METHOD SHA512\n\
PASS_MAX_DAYS 99999\nPASS_MIN_DAYS 0\nPASS_WARN_AGE 7\n";

/// Writes `rel` under `root` (parents created) with `mode`.
fn put(root: &Path, rel: &str, data: &str, mode: u32) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, data).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

fn mkdir(root: &Path, rel: &str, mode: u32) {
    let p = root.join(rel);
    fs::create_dir_all(&p).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
}

fn symlink(root: &Path, rel: &str, target: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(target, p).unwrap();
}

/// A root with account files (root, daemon, nobody; groups incl. `sudo`
/// 27, `shadow` 42, `users` 100), `etc/login.defs`, `etc/default/useradd`
/// (`SHELL=/bin/sh`) and `etc/skel/.profile`.
fn base_root(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("root");
    mkdir(&root, "", 0o755);
    let gshadow: String = BASE_GROUP
        .lines()
        .map(|l| format!("{}:*::\n", l.split(':').next().unwrap()))
        .collect();
    put(&root, "etc/passwd", BASE_PASSWD, 0o644);
    put(&root, "etc/group", BASE_GROUP, 0o644);
    put(&root, "etc/shadow", BASE_SHADOW, 0o640);
    put(&root, "etc/gshadow", &gshadow, 0o640);
    put(&root, "etc/login.defs", LOGIN_DEFS, 0o644);
    put(&root, "etc/default/useradd", "SHELL=/bin/sh\n", 0o644);
    put(&root, "etc/skel/.profile", "PATH=/bin\n", 0o644);
    root
}

/// One node of a [`snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    kind: &'static str,
    /// File contents or link target.
    data: Vec<u8>,
    mode: u32,
    uid: u32,
    gid: u32,
    ino: u64,
    nlink: u64,
}

/// Every path under `root` (relative; `""` = the root) with its node.
fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, p: &Path, out: &mut BTreeMap<String, Node>) {
    let m = fs::symlink_metadata(p).unwrap();
    let ft = m.file_type();
    let (kind, data) = if ft.is_symlink() {
        let t = fs::read_link(p).unwrap();
        ("symlink", t.as_os_str().as_encoded_bytes().to_vec())
    } else if ft.is_file() {
        ("file", fs::read(p).unwrap())
    } else if ft.is_dir() {
        ("dir", Vec::new())
    } else {
        ("other", Vec::new())
    };
    let rel = p.strip_prefix(root).unwrap().display().to_string();
    out.insert(
        rel,
        Node {
            kind,
            data,
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            ino: m.ino(),
            nlink: m.nlink(),
        },
    );
    if ft.is_dir() {
        for e in fs::read_dir(p).unwrap() {
            walk(root, &e.unwrap().path(), out);
        }
    }
}

/// The paths that differ between two snapshots, one a line.
fn diff(a: &BTreeMap<String, Node>, b: &BTreeMap<String, Node>) -> String {
    let mut lines = Vec::new();
    for k in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
        match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) if x == y => {}
            (x, y) => lines.push(format!("  {k:?}: {x:?} -> {y:?}")),
        }
    }
    lines.join("\n")
}

// ---------------------------------------------------------------------------
// Assertions on the tree

fn meta(root: &Path, rel: &str) -> fs::Metadata {
    fs::symlink_metadata(root.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// `rel` is a regular file with exactly `contents` and `mode`.
fn assert_file(root: &Path, rel: &str, contents: &str, mode: u32) {
    let m = meta(root, rel);
    assert!(m.is_file(), "{rel} is not a regular file");
    assert_eq!(
        fs::read_to_string(root.join(rel)).unwrap(),
        contents,
        "{rel} contents"
    );
    assert_eq!(m.mode() & 0o7777, mode, "{rel} mode {:o}", m.mode());
}

fn assert_owner(root: &Path, rel: &str, uid: u32, gid: u32) {
    let m = meta(root, rel);
    assert_eq!((m.uid(), m.gid()), (uid, gid), "{rel} owner");
}

fn assert_dir(root: &Path, rel: &str, mode: u32) {
    let m = meta(root, rel);
    assert!(m.is_dir(), "{rel} is not a directory");
    assert_eq!(m.mode() & 0o7777, mode, "{rel} mode {:o}", m.mode());
}

fn assert_symlink(root: &Path, rel: &str, target: &str) {
    let m = meta(root, rel);
    assert!(m.file_type().is_symlink(), "{rel} is not a symlink");
    assert_eq!(
        fs::read_link(root.join(rel)).unwrap(),
        Path::new(target),
        "{rel} target"
    );
}

fn assert_absent(root: &Path, rel: &str) {
    assert!(
        fs::symlink_metadata(root.join(rel)).is_err(),
        "{rel} exists"
    );
}

/// The line of `etc/FILE` for entry `name`.
fn entry(root: &Path, file: &str, name: &str) -> Option<String> {
    let text = fs::read_to_string(root.join("etc").join(file)).unwrap();
    let prefix = format!("{name}:");
    text.lines()
        .find(|l| l.starts_with(&prefix))
        .map(str::to_string)
}

fn assert_entry(root: &Path, file: &str, line: &str) {
    let name = line.split(':').next().unwrap();
    assert_eq!(
        entry(root, file, name).as_deref(),
        Some(line),
        "etc/{file} entry {name}"
    );
}

fn assert_warning(report: &ApplyReport, fragment: &str) {
    assert!(
        report.warnings.iter().any(|w| w.contains(fragment)),
        "no warning containing {fragment:?} in {:?}",
        report.warnings
    );
}

// ---------------------------------------------------------------------------
// Resources

/// A `data:` URL of `s`, percent-encoded.
fn data(s: &str) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    format!("data:,{}", utf8_percent_encode(s, NON_ALPHANUMERIC))
}

/// A base64 `data:` URL of `b`.
fn data64(b: &[u8]) -> String {
    format!(
        "data:application/octet-stream;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(b)
    )
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn sha512(b: &[u8]) -> String {
    format!("sha512-{}", hex::encode(Sha512::digest(b)))
}

fn sha256(b: &[u8]) -> String {
    format!("sha256-{}", hex::encode(Sha256::digest(b)))
}

/// A `data:` URL holding a whole config.
fn config_url(doc: Value) -> String {
    data64(doc.to_string().as_bytes())
}

// ---------------------------------------------------------------------------
// Files

fn existing_file(root: &Path) {
    put(root, "etc/existing", "old\n", 0o600);
}

fn existing_dir_d(root: &Path) {
    mkdir(root, "etc/d", 0o755);
}

fn file_cases() -> Vec<Case> {
    let gz = gzip(b"compressed\n");
    vec![
        ok(
            "file data url plain",
            files(json!([{"path": "/etc/plain", "contents": {"source": "data:,hello%20world"}}])),
            bare,
            |r, _| {
                assert_file(r, "etc/plain", "hello world", 0o644);
                assert_owner(r, "etc/plain", 0, 0);
            },
        ),
        ok(
            "file data url base64",
            files(json!([{"path": "/etc/b64", "contents": {"source": "data:text/plain;base64,aGVsbG8K"}}])),
            bare,
            |r, _| assert_file(r, "etc/b64", "hello\n", 0o644),
        ),
        ok(
            "file gzip sha512 (3.0.0)",
            vec![json!({"ignition": {"version": "3.0.0"}, "storage": {"files": [{
                "path": "/etc/gz", "contents": {"source": data64(&gz), "compression": "gzip",
                "verification": {"hash": sha512(b"compressed\n")}}}]}})],
            bare,
            |r, _| assert_file(r, "etc/gz", "compressed\n", 0o644),
        ),
        ok(
            "file gzip sha256 (3.1.0)",
            vec![json!({"ignition": {"version": "3.1.0"}, "storage": {"files": [{
                "path": "/etc/gz", "contents": {"source": data64(&gz), "compression": "gzip",
                "verification": {"hash": sha256(b"compressed\n")}}}]}})],
            bare,
            |r, _| assert_file(r, "etc/gz", "compressed\n", 0o644),
        ),
        ok(
            "file append fragments after contents",
            files(json!([{"path": "/etc/app", "contents": {"source": data("a\n")},
                "append": [{"source": data("b\n")}, {"source": data64(b"c\n")}]}])),
            bare,
            |r, _| assert_file(r, "etc/app", "a\nb\nc\n", 0o644),
        ),
        ok(
            "file overwrite true replaces an existing file (mode defaults to 0644)",
            files(json!([{"path": "/etc/existing", "overwrite": true, "contents": {"source": data("new\n")}}])),
            existing_file,
            |r, _| assert_file(r, "etc/existing", "new\n", 0o644),
        ),
        err(
            "file overwrite unset on an existing file",
            files(json!([{"path": "/etc/existing", "contents": {"source": data("new\n")}}])),
            existing_file,
            "storage.files[0].path: a file exists there already and overwrite is false",
        ),
        err(
            "file overwrite false on an existing file",
            files(json!([{"path": "/etc/existing", "overwrite": false, "contents": {"source": data("new\n")}}])),
            existing_file,
            "storage.files[0].path: a file exists there already and overwrite is false",
        ),
        ok(
            "file existing without source is kept and appended (mode kept)",
            files(json!([{"path": "/etc/existing", "append": [{"source": data("more\n")}]}])),
            existing_file,
            |r, _| assert_file(r, "etc/existing", "old\nmore\n", 0o600),
        ),
        ok(
            "file existing without source keeps contents, explicit mode wins",
            files(json!([{"path": "/etc/existing", "mode": 0o640}])),
            existing_file,
            |r, _| assert_file(r, "etc/existing", "old\n", 0o640),
        ),
        ok(
            "file without source or existing file is empty",
            files(json!([{"path": "/etc/empty"}])),
            bare,
            |r, _| assert_file(r, "etc/empty", "", 0o644),
        ),
        ok(
            "file explicit mode",
            files(json!([{"path": "/etc/secret", "mode": 0o600, "contents": {"source": data("s")}}])),
            bare,
            |r, _| assert_file(r, "etc/secret", "s", 0o600),
        ),
        ok(
            "file owner by id",
            files(json!([{"path": "/etc/owned", "user": {"id": 1234}, "group": {"id": 5678}}])),
            bare,
            |r, _| assert_owner(r, "etc/owned", 1234, 5678),
        ),
        ok(
            "file owner user only: group stays 0",
            files(json!([{"path": "/etc/owned", "user": {"id": 1234}}])),
            bare,
            |r, _| assert_owner(r, "etc/owned", 1234, 0),
        ),
        ok(
            "file owner by name of a user created in the same config",
            vec![v3(json!({
                "passwd": {"users": [{"name": "alice"}]},
                "storage": {"files": [{"path": "/etc/alice", "user": {"name": "alice"}, "group": {"name": "alice"}}]}
            }))],
            bare,
            |r, _| assert_owner(r, "etc/alice", 1000, 1000),
        ),
        ok(
            "file owner by name of an existing user and group",
            files(json!([{"path": "/etc/d1", "user": {"name": "daemon"}, "group": {"name": "sudo"}}])),
            bare,
            |r, _| assert_owner(r, "etc/d1", 1, 27),
        ),
        err(
            "file owner name unknown at apply time",
            files(json!([{"path": "/etc/x", "user": {"name": "nosuchuser"}}])),
            bare,
            "storage.files[0].user.name: no user \"nosuchuser\" in the target's /etc/passwd",
        ),
        err(
            "file group name unknown at apply time",
            files(json!([{"path": "/etc/x", "group": {"name": "nosuchgroup"}}])),
            bare,
            "storage.files[0].group.name: no group \"nosuchgroup\" in the target's /etc/group",
        ),
        ok(
            "file parents created 0755 root",
            files(json!([{"path": "/opt/a/b/f", "mode": 0o600, "user": {"id": 7}}])),
            bare,
            |r, _| {
                for d in ["opt", "opt/a", "opt/a/b"] {
                    assert_dir(r, d, 0o755);
                    assert_owner(r, d, 0, 0);
                }
                assert_file(r, "opt/a/b/f", "", 0o600);
                assert_owner(r, "opt/a/b/f", 7, 0);
            },
        ),
        err(
            "file over a directory without overwrite",
            files(json!([{"path": "/etc/d", "contents": {"source": data("x")}}])),
            existing_dir_d,
            "storage.files[0].path: a node that is not a regular file exists there already and overwrite is false",
        ),
        err(
            "file with wrong hash fails at fetch time",
            files(json!([
                {"path": "/etc/first", "contents": {"source": data("x")}},
                {"path": "/etc/second", "contents": {"source": "data:,hello",
                    "verification": {"hash": format!("sha512-{}", "0".repeat(128))}}}])),
            bare,
            "storage.files[1].contents: data:,hello: hash mismatch: expected sha512-000",
        ),
        err(
            "file with corrupt gzip fails at fetch time",
            files(json!([{"path": "/etc/gz", "contents": {"source": "data:,notgzip", "compression": "gzip"}}])),
            bare,
            "storage.files[0].contents: data:,notgzip: gzip:",
        ),
        err(
            "file with a parent that is a regular file",
            files(json!([{"path": "/etc/existing/f"}])),
            existing_file,
            "storage.files[0].path: /etc/existing exists and is not a directory",
        ),
    ]
}

#[test]
fn files_table() {
    run_table(file_cases());
}

// ---------------------------------------------------------------------------
// Directories

fn existing_data_dir(root: &Path) {
    mkdir(root, "srv/data", 0o750);
    put(root, "srv/data/keep.txt", "keep", 0o644);
}

fn dir_cases() -> Vec<Case> {
    vec![
        ok(
            "directory default 0755 root",
            dirs(json!([{"path": "/var/lib/foo"}])),
            bare,
            |r, _| {
                assert_dir(r, "var/lib/foo", 0o755);
                assert_owner(r, "var/lib/foo", 0, 0);
            },
        ),
        ok(
            "directory mode and owner",
            dirs(json!([{"path": "/srv/x", "mode": 0o700, "user": {"id": 10}, "group": {"id": 20}}])),
            bare,
            |r, _| {
                assert_dir(r, "srv/x", 0o700);
                assert_owner(r, "srv/x", 10, 20);
            },
        ),
        ok(
            "directory existing keeps contents and mode",
            dirs(json!([{"path": "/srv/data"}])),
            existing_data_dir,
            |r, _| {
                assert_dir(r, "srv/data", 0o750);
                assert_file(r, "srv/data/keep.txt", "keep", 0o644);
            },
        ),
        ok(
            "directory existing gets the new mode, keeps contents",
            dirs(json!([{"path": "/srv/data", "mode": 0o711}])),
            existing_data_dir,
            |r, _| {
                assert_dir(r, "srv/data", 0o711);
                assert_file(r, "srv/data/keep.txt", "keep", 0o644);
            },
        ),
        err(
            "directory over an existing file without overwrite",
            dirs(json!([{"path": "/etc/existing"}])),
            existing_file,
            "storage.directories[0].path: a node that is not a directory exists there already and overwrite is false",
        ),
        ok(
            "directory over an existing file with overwrite",
            dirs(json!([{"path": "/etc/existing", "overwrite": true}])),
            existing_file,
            |r, _| assert_dir(r, "etc/existing", 0o755),
        ),
        ok(
            "directory special mode bits masked with a warning",
            dirs(json!([{"path": "/tmpx", "mode": 0o1777}])),
            bare,
            |r, rep| {
                assert_dir(r, "tmpx", 0o777);
                assert_warning(rep, "storage.directories[0].mode: setuid/setgid/sticky bits are only supported from spec 3.6.0 and are ignored");
            },
        ),
    ]
}

#[test]
fn directories_table() {
    run_table(dir_cases());
}

// ---------------------------------------------------------------------------
// Links

fn existing_link(root: &Path) {
    symlink(root, "etc/l", "/etc/t");
}

fn escaping_links(root: &Path) {
    symlink(root, "etc/x", "/outside");
    symlink(root, "etc/y", "../../../../escape");
}

fn link_cases() -> Vec<Case> {
    vec![
        ok(
            "link symlink target verbatim",
            links(
                json!([{"path": "/etc/l", "target": "/etc/t"}, {"path": "/etc/rel", "target": "../x/y"}]),
            ),
            bare,
            |r, _| {
                assert_symlink(r, "etc/l", "/etc/t");
                assert_symlink(r, "etc/rel", "../x/y");
            },
        ),
        ok(
            "link symlink owner set with lchown",
            links(
                json!([{"path": "/etc/l", "target": "/etc/t", "user": {"id": 5}, "group": {"id": 6}}]),
            ),
            bare,
            |r, _| assert_owner(r, "etc/l", 5, 6),
        ),
        ok(
            "link hard link to a file of the same config",
            vec![v3(json!({"storage": {
                "files": [{"path": "/etc/a", "contents": {"source": data("A")}}],
                "links": [{"path": "/srv/b", "target": "/etc/a", "hard": true}]}}))],
            bare,
            |r, _| {
                assert_file(r, "srv/b", "A", 0o644);
                assert_eq!(meta(r, "srv/b").ino(), meta(r, "etc/a").ino());
            },
        ),
        ok(
            "link hard link to an existing file",
            links(json!([{"path": "/etc/hl", "target": "/etc/existing", "hard": true}])),
            existing_file,
            |r, _| {
                assert_eq!(meta(r, "etc/hl").ino(), meta(r, "etc/existing").ino());
                assert_eq!(meta(r, "etc/existing").nlink(), 2);
            },
        ),
        err(
            "link hard link to a missing target",
            links(json!([{"path": "/etc/hl", "target": "/nope", "hard": true}])),
            bare,
            "storage.links[0].target: hard link target /nope does not exist",
        ),
        ok(
            "link same target is a no-op",
            links(json!([{"path": "/etc/l", "target": "/etc//t"}])),
            existing_link,
            |r, rep| {
                assert_symlink(r, "etc/l", "/etc/t");
                assert!(rep.changed.is_empty(), "{:?}", rep.changed);
            },
        ),
        err(
            "link different target without overwrite",
            links(json!([{"path": "/etc/l", "target": "/etc/other"}])),
            existing_link,
            "storage.links[0].path: a different node exists there already and overwrite is false",
        ),
        ok(
            "link different target with overwrite",
            links(json!([{"path": "/etc/l", "target": "/etc/other", "overwrite": true}])),
            existing_link,
            |r, _| assert_symlink(r, "etc/l", "/etc/other"),
        ),
        ok(
            "path through an absolute symlink in the root resolves inside the root",
            files(json!([{"path": "/etc/x/f", "contents": {"source": data("in")}}])),
            escaping_links,
            |r, _| {
                assert_file(r, "outside/f", "in", 0o644);
                assert_dir(r, "outside", 0o755);
                assert_symlink(r, "etc/x", "/outside");
                assert!(!Path::new("/outside/f").exists(), "written on the host");
            },
        ),
        ok(
            "path through a relative symlink climbing out is clamped to the root",
            dirs(json!([{"path": "/etc/y/d"}])),
            escaping_links,
            |r, _| {
                assert_dir(r, "escape/d", 0o755);
                assert!(!Path::new("/escape").exists(), "written on the host");
            },
        ),
        err(
            "two entries resolving to one node through a symlink",
            files(json!([{"path": "/etc/x/f"}, {"path": "/outside/f"}])),
            escaping_links,
            "resolves to /outside/f, which storage.files[",
        ),
    ]
}

#[test]
fn links_table() {
    run_table(link_cases());
}

// ---------------------------------------------------------------------------
// Users and groups

fn existing_user(root: &Path) {
    let add = |rel: &str, line: &str| {
        let p = root.join(rel);
        let mut text = fs::read_to_string(&p).unwrap();
        text.push_str(line);
        fs::write(p, text).unwrap();
    };
    add("etc/passwd", "old:x:1100:1100::/home/old:/bin/sh\n");
    add("etc/shadow", "old:*:19000:0:99999:7:::\n");
    add("etc/group", "old:x:1100:\n");
    add("etc/gshadow", "old:!::\n");
    mkdir(root, "home/old", 0o755);
}

fn passwd_cases() -> Vec<Case> {
    vec![
        ok(
            "users uid allocation and private groups",
            passwd(json!({"users": [{"name": "a"}, {"name": "b", "uid": 2001}, {"name": "c"}]})),
            bare,
            |r, _| {
                assert_entry(r, "passwd", "a:x:1000:1000::/home/a:/bin/sh");
                assert_entry(r, "passwd", "b:x:2001:2001::/home/b:/bin/sh");
                assert_entry(r, "passwd", "c:x:2002:2002::/home/c:/bin/sh");
                assert_entry(r, "group", "a:x:1000:");
                assert_entry(r, "group", "c:x:2002:");
                assert_entry(r, "shadow", "a:*:19000:0:99999:7:::");
                assert_dir(r, "home/a", 0o755);
                assert_owner(r, "home/a", 1000, 1000);
                assert_file(r, "home/a/.profile", "PATH=/bin\n", 0o644);
                assert_owner(r, "home/a/.profile", 1000, 1000);
            },
        ),
        ok(
            "users supplementary groups and primary group",
            passwd(json!({"users": [{"name": "d", "groups": ["sudo", "users"]},
                {"name": "e", "primaryGroup": "users"}]})),
            bare,
            |r, _| {
                assert_entry(r, "group", "sudo:x:27:d");
                assert_entry(r, "group", "users:x:100:d");
                assert_entry(r, "passwd", "e:x:1001:100::/home/e:/bin/sh");
                assert!(entry(r, "group", "e").is_none(), "no private group for e");
            },
        ),
        ok(
            "groups with gid and system allocation",
            passwd(
                json!({"groups": [{"name": "g1", "gid": 3000}, {"name": "sysg", "system": true}, {"name": "g2"}]}),
            ),
            bare,
            |r, _| {
                assert_entry(r, "group", "g1:x:3000:");
                assert_entry(r, "group", "sysg:x:999:");
                assert_entry(r, "group", "g2:x:3001:");
                assert_entry(r, "gshadow", "g1:*::");
            },
        ),
        ok(
            "users ssh key fragment",
            passwd(
                json!({"users": [{"name": "core", "sshAuthorizedKeys": ["ssh-ed25519 AAAA k1", "ssh-rsa BBBB k2"]}]}),
            ),
            bare,
            |r, _| {
                let f = "home/core/.ssh/authorized_keys.d/ignition";
                assert_file(r, f, "ssh-ed25519 AAAA k1\nssh-rsa BBBB k2\n", 0o600);
                assert_owner(r, f, 1000, 1000);
                assert_dir(r, "home/core/.ssh", 0o700);
                assert_dir(r, "home/core/.ssh/authorized_keys.d", 0o700);
                assert_owner(r, "home/core/.ssh", 1000, 1000);
                assert_absent(r, "home/core/.ssh/authorized_keys");
            },
        ),
        ok(
            "users shouldExist false removes an existing user",
            passwd(
                json!({"users": [{"name": "old", "shouldExist": false}, {"name": "ghost", "shouldExist": false}]}),
            ),
            existing_user,
            |r, _| {
                assert!(entry(r, "passwd", "old").is_none());
                assert!(entry(r, "shadow", "old").is_none());
                assert!(entry(r, "passwd", "ghost").is_none());
                assert_entry(r, "passwd", "root:x:0:0:root:/root:/bin/bash");
            },
        ),
        ok(
            "users existing user modified keeps uid",
            passwd(
                json!({"users": [{"name": "old", "gecos": "Old One", "sshAuthorizedKeys": ["k"]}]}),
            ),
            existing_user,
            |r, _| {
                assert_entry(r, "passwd", "old:x:1100:1100:Old One:/home/old:/bin/sh");
                assert_file(r, "home/old/.ssh/authorized_keys.d/ignition", "k\n", 0o600);
            },
        ),
        err(
            "users unknown supplementary group",
            passwd(json!({"users": [{"name": "f", "groups": ["nosuch"]}]})),
            bare,
            "passwd.users[0].groups[0]: group 'nosuch' does not exist",
        ),
        err(
            "users uid already used",
            passwd(json!({"users": [{"name": "f", "uid": 1}]})),
            bare,
            "passwd.users[0].uid",
        ),
        err(
            "users invalid shell",
            passwd(json!({"users": [{"name": "f", "shell": "bash"}]})),
            bare,
            "passwd.users[0].shell: invalid shell 'bash'",
        ),
        err(
            "users name clashing with an existing group",
            passwd(json!({"users": [{"name": "sudo"}]})),
            bare,
            "passwd.users[0].name: group sudo exists",
        ),
    ]
}

#[test]
fn passwd_table() {
    run_table(passwd_cases());
}

// ---------------------------------------------------------------------------
// Units

const PRESET: &str = "etc/systemd/system-preset/20-ignition.preset";

fn existing_preset(root: &Path) {
    put(root, PRESET, "enable old.service\n", 0o644);
}

fn existing_mask(root: &Path) {
    symlink(root, "etc/systemd/system/m.service", "/dev/null");
}

fn unit_cases() -> Vec<Case> {
    vec![
        ok(
            "units contents and dropins",
            units(
                json!([{"name": "a.service", "contents": "[Unit]\nDescription=A\n",
                "dropins": [{"name": "10-x.conf", "contents": "[Service]\nX=1\n"}]},
                {"name": "b.service", "dropins": [{"name": "y.conf", "contents": "[Unit]\n"}]}]),
            ),
            bare,
            |r, _| {
                assert_file(
                    r,
                    "etc/systemd/system/a.service",
                    "[Unit]\nDescription=A\n",
                    0o644,
                );
                assert_file(
                    r,
                    "etc/systemd/system/a.service.d/10-x.conf",
                    "[Service]\nX=1\n",
                    0o644,
                );
                assert_file(
                    r,
                    "etc/systemd/system/b.service.d/y.conf",
                    "[Unit]\n",
                    0o644,
                );
                assert_absent(r, "etc/systemd/system/b.service");
                assert_absent(r, PRESET);
            },
        ),
        ok(
            "units mask is a symlink to /dev/null",
            units(json!([{"name": "m.service", "mask": true}])),
            bare,
            |r, _| assert_symlink(r, "etc/systemd/system/m.service", "/dev/null"),
        ),
        ok(
            "units mask false removes an existing mask",
            units(json!([{"name": "m.service", "mask": false}])),
            existing_mask,
            |r, _| assert_absent(r, "etc/systemd/system/m.service"),
        ),
        ok(
            "units preset sorted with instances folded and disable",
            units(json!([
                {"name": "z.service", "enabled": true, "contents": "[Install]\nWantedBy=multi-user.target\n"},
                {"name": "foo@b.service", "enabled": true},
                {"name": "c.service", "enabled": false},
                {"name": "a.timer", "enabled": true},
                {"name": "foo@a.service", "enabled": true},
                {"name": "n.service", "contents": "[Unit]\n"}])),
            bare,
            |r, _| {
                assert_file(
                r,
                PRESET,
                "disable c.service\nenable a.timer\nenable foo@.service a b\nenable z.service\n",
                0o644,
            )
            },
        ),
        ok(
            "units preset keeps existing lines",
            units(json!([{"name": "new.service", "enabled": true}])),
            existing_preset,
            |r, _| assert_file(r, PRESET, "enable new.service\nenable old.service\n", 0o644),
        ),
        ok(
            "units enabled without [Install] warns",
            units(json!([{"name": "w.service", "enabled": true, "contents": "[Unit]\n"}])),
            bare,
            |_, rep| {
                assert_warning(
                    rep,
                    "systemd.units[0].contents: unit is enabled but has no [Install] section",
                )
            },
        ),
    ]
}

#[test]
fn units_table() {
    run_table(unit_cases());
}

// ---------------------------------------------------------------------------
// Merging (several inputs, and ignition.config references)

fn merge_cases() -> Vec<Case> {
    let child30 = json!({"ignition": {"version": "3.0.0"}, "storage": {"files": [
        {"path": "/etc/child", "contents": {"source": "data:,c"}},
        {"path": "/etc/shared", "contents": {"source": "data:,from-child"}}]}});
    let bad_child =
        json!({"ignition": {"version": "3.1.0"}, "storage": {"files": [{"path": "rel"}]}});
    vec![
        ok(
            "merge user wins per field, unset fields kept",
            vec![
                v3(
                    json!({"storage": {"files": [{"path": "/etc/m", "mode": 0o600, "contents": {"source": data("base")}}]}}),
                ),
                v3(
                    json!({"storage": {"files": [{"path": "/etc/m", "contents": {"source": data("user")}}]}}),
                ),
            ],
            bare,
            |r, _| assert_file(r, "etc/m", "user", 0o600),
        ),
        ok(
            "merge keyed lists: units by name, dropins by name, users by name",
            vec![
                v3(
                    json!({"systemd": {"units": [{"name": "a.service", "enabled": true, "contents": "[Unit]\nA=1\n",
                    "dropins": [{"name": "x.conf", "contents": "[Unit]\nX=base\n"}]}]},
                    "passwd": {"users": [{"name": "u", "gecos": "Base", "shell": "/bin/zsh"}]}}),
                ),
                v3(
                    json!({"systemd": {"units": [{"name": "a.service", "enabled": false,
                    "dropins": [{"name": "x.conf", "contents": "[Unit]\nX=user\n"}, {"name": "y.conf", "contents": "[Unit]\n"}]}]},
                    "passwd": {"users": [{"name": "u", "gecos": "User"}]}}),
                ),
            ],
            bare,
            |r, _| {
                assert_file(r, "etc/systemd/system/a.service", "[Unit]\nA=1\n", 0o644);
                assert_file(
                    r,
                    "etc/systemd/system/a.service.d/x.conf",
                    "[Unit]\nX=user\n",
                    0o644,
                );
                assert_file(
                    r,
                    "etc/systemd/system/a.service.d/y.conf",
                    "[Unit]\n",
                    0o644,
                );
                assert_file(r, PRESET, "disable a.service\n", 0o644);
                assert_entry(r, "passwd", "u:x:1000:1000:User:/home/u:/bin/zsh");
            },
        ),
        ok(
            "merge child node replaces a parent node of another kind",
            vec![
                v3(
                    json!({"storage": {"files": [{"path": "/etc/n"}], "links": [{"path": "/etc/o", "target": "/x"}],
                    "directories": [{"path": "/etc/p"}]}}),
                ),
                v3(
                    json!({"storage": {"directories": [{"path": "/etc/n"}], "files": [{"path": "/etc/o"}],
                    "links": [{"path": "/etc/p", "target": "/y"}]}}),
                ),
            ],
            bare,
            |r, _| {
                assert_dir(r, "etc/n", 0o755);
                assert_file(r, "etc/o", "", 0o644);
                assert_symlink(r, "etc/p", "/y");
            },
        ),
        ok(
            "merge sshAuthorizedKeys union",
            vec![
                passwd(json!({"users": [{"name": "core", "sshAuthorizedKeys": ["k1"]}]})).remove(0),
                passwd(json!({"users": [{"name": "core", "sshAuthorizedKeys": ["k2", "k1"]}]}))
                    .remove(0),
            ],
            bare,
            |r, _| {
                assert_file(
                    r,
                    "home/core/.ssh/authorized_keys.d/ignition",
                    "k1\nk2\n",
                    0o600,
                )
            },
        ),
        err(
            "merge result invalid: file under a link of the other config",
            vec![
                v3(json!({"storage": {"links": [{"path": "/etc/lnk", "target": "/x"}]}})),
                v3(json!({"storage": {"files": [{"path": "/etc/lnk/f"}]}})),
            ],
            bare,
            "storage.files[0].path: file path includes link in config (in the merged config)",
        ),
        err(
            "merge: an invalid input is named",
            vec![
                v3(json!({})),
                v3(json!({"storage": {"files": [{"path": "rel"}]}})),
            ],
            bare,
            "c1.ign → storage.files[0].path: path not absolute",
        ),
        ok(
            "config.merge data URL child of 3.0.0 merged over the parent",
            vec![
                json!({"ignition": {"version": "3.4.0", "config": {"merge": [{"source": config_url(child30.clone())}]}},
                "storage": {"files": [{"path": "/etc/parent", "contents": {"source": "data:,p"}},
                    {"path": "/etc/shared", "mode": 0o600, "contents": {"source": "data:,from-parent"}}]}}),
            ],
            bare,
            |r, rep| {
                assert_file(r, "etc/parent", "p", 0o644);
                assert_file(r, "etc/child", "c", 0o644);
                assert_file(r, "etc/shared", "from-child", 0o600);
                assert_eq!(rep.sources.len(), 2, "{:?}", rep.sources);
            },
        ),
        ok(
            "config.replace data URL child replaces the parent",
            vec![
                json!({"ignition": {"version": "3.3.0", "config": {"replace": {"source": config_url(child30.clone()),
                "verification": {"hash": sha512(child30.to_string().as_bytes())}}}},
                "storage": {"files": [{"path": "/etc/parent"}]}}),
            ],
            bare,
            |r, _| {
                assert_file(r, "etc/child", "c", 0o644);
                assert_absent(r, "etc/parent");
            },
        ),
        err(
            "config.merge child invalid: path prefixed with the reference",
            vec![
                json!({"ignition": {"version": "3.4.0", "config": {"merge": [{"source": config_url(bad_child)}]}}}),
            ],
            bare,
            "ignition.config.merge[0] → storage.files[0].path: path not absolute",
        ),
        err(
            "config.replace child with a wrong hash",
            vec![
                json!({"ignition": {"version": "3.4.0", "config": {"replace": {"source": config_url(child30),
                "verification": {"hash": format!("sha512-{}", "0".repeat(128))}}}}}),
            ],
            bare,
            "ignition.config.replace: data:application/octet-stream;base64,eyJ",
        ),
        ok(
            "2.2.0 seed example translated",
            vec![json!({
                "ignition": {"version": "2.2.0"},
                "systemd": {"units": [{"name": "my.service", "enabled": true,
                    "contents": "[Service]\nType=oneshot\nExecStart=/usr/bin/echo Hello World\n\n[Install]\nWantedBy=multi-user.target"}]},
                "storage": {"links": [{"filesystem": "root",
                    "path": "/etc/systemd/system/multi-user.target.wants/my.service",
                    "target": "/etc/systemd/system/my.service"}]}})],
            bare,
            |r, _| {
                assert_file(
                    r,
                    "etc/systemd/system/my.service",
                    "[Service]\nType=oneshot\nExecStart=/usr/bin/echo Hello World\n\n[Install]\nWantedBy=multi-user.target",
                    0o644,
                );
                assert_symlink(
                    r,
                    "etc/systemd/system/multi-user.target.wants/my.service",
                    "/etc/systemd/system/my.service",
                );
                assert_file(r, PRESET, "enable my.service\n", 0o644);
            },
        ),
        ok(
            "2.x file without overwrite replaces (2.2+ default); append: true appends",
            vec![
                json!({"ignition": {"version": "2.3.0"}, "storage": {"files": [
                {"filesystem": "root", "path": "/etc/existing", "contents": {"source": "data:,two"}, "mode": 0o640},
                {"filesystem": "root", "path": "/etc/appended", "append": true, "contents": {"source": "data:,+"}}]}}),
            ],
            existing_file,
            |r, _| {
                assert_file(r, "etc/existing", "two", 0o640);
                assert_file(r, "etc/appended", "+", 0o644);
            },
        ),
        err(
            "2.x entries for one path are conflicting inodes (ign-converter Check2_4)",
            vec![
                json!({"ignition": {"version": "2.3.0"}, "storage": {"files": [
                {"filesystem": "root", "path": "/etc/existing", "contents": {"source": "data:,two"}, "mode": 0o640},
                {"filesystem": "root", "path": "/etc/existing", "append": true, "contents": {"source": "data:,+"}}]}}),
            ],
            existing_file,
            "storage.files[1].path: Config has conflicting inodes: \"/etc/existing\" is also storage.files[0]",
        ),
    ]
}

#[test]
fn merge_table() {
    run_table(merge_cases());
}

// ---------------------------------------------------------------------------
// Validation errors (all found before the first write)

fn file_with(extra: Value) -> Vec<Value> {
    let mut f = json!({"path": "/etc/f"});
    f.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    files(json!([f]))
}

fn source(url: &str) -> Vec<Value> {
    file_with(json!({"contents": {"source": url}}))
}

fn hash(h: &str, version: &str) -> Vec<Value> {
    vec![
        json!({"ignition": {"version": version}, "storage": {"files": [
        {"path": "/etc/f", "contents": {"source": "data:,x", "verification": {"hash": h}}}]}}),
    ]
}

fn storage_section(key: &str, value: Value) -> Vec<Value> {
    let mut s = serde_json::Map::new();
    s.insert(key.into(), value);
    vec![v3(json!({ "storage": s }))]
}

fn validation_cases() -> Vec<Case> {
    let long = "0".repeat(128);
    vec![
        err("path not absolute", files(json!([{"path": "etc/f"}])), bare,
            "storage.files[0].path: path not absolute"),
        err("path not fully simplified", files(json!([{"path": "/a"}, {"path": "/a/../b"}])), bare,
            "storage.files[1].path: path is not fully simplified"),
        err("path trailing slash", dirs(json!([{"path": "/a/"}])), bare,
            "storage.directories[0].path: path is not fully simplified"),
        err("path not specified", links(json!([{"path": "", "target": "/x"}])), bare,
            "storage.links[0].path: path not specified"),
        err("path missing entirely", files(json!([{"mode": 420}])), bare,
            "storage.files[0]: config is not valid: missing field `path`"),
        err("duplicate path across files and directories",
            vec![v3(json!({"storage": {"files": [{"path": "/a"}], "directories": [{"path": "/a"}]}}))], bare,
            "storage.directories[0].path: duplicate entry defined (also storage.files[0])"),
        err("duplicate path across files and links",
            vec![v3(json!({"storage": {"files": [{"path": "/a"}], "links": [{"path": "/a", "target": "/b"}]}}))], bare,
            "storage.links[0].path: duplicate entry defined (also storage.files[0])"),
        err("duplicate file path", files(json!([{"path": "/a"}, {"path": "/a"}])), bare,
            "storage.files[1].path: duplicate entry defined (also storage.files[0])"),
        err("file under a config link",
            vec![v3(json!({"storage": {"files": [{"path": "/l/f"}], "links": [{"path": "/l", "target": "/x"}]}}))], bare,
            "storage.files[0].path: file path includes link in config"),
        err("directory under a config link",
            vec![v3(json!({"storage": {"directories": [{"path": "/l/d"}], "links": [{"path": "/l", "target": "/x"}]}}))], bare,
            "storage.directories[0].path: directory path includes link in config"),
        err("path conflicts with a systemd unit",
            vec![v3(json!({"storage": {"files": [{"path": "/etc/systemd/system/a.service"}]},
                "systemd": {"units": [{"name": "a.service", "contents": "[Unit]\n"}]}}))], bare,
            "storage.files[0].path: path conflicts with systemd unit or dropin"),
        err("path conflicts with a systemd dropin",
            vec![v3(json!({"storage": {"directories": [{"path": "/etc/systemd/system/a.service.d/x.conf"}]},
                "systemd": {"units": [{"name": "a.service", "dropins": [{"name": "x.conf", "contents": "[Unit]\n"}]}]}}))], bare,
            "storage.directories[0].path: path conflicts with systemd unit or dropin"),
        err("path under /usr", files(json!([{"path": "/usr/lib/x"}])), bare,
            "storage.files[0].path: /usr is read-only on MetalOS"),
        err("path /usr itself", dirs(json!([{"path": "/usr"}])), bare,
            "storage.directories[0].path: /usr is read-only on MetalOS"),
        err("illegal file mode", file_with(json!({"mode": 0o10000})), bare,
            "storage.files[0].mode: illegal file mode"),
        ok("special mode bits masked with a warning", file_with(json!({"mode": 0o4755})), bare,
            |r, rep| {
                assert_file(r, "etc/f", "", 0o755);
                assert_warning(rep, "storage.files[0].mode: setuid/setgid/sticky bits are only supported from spec 3.6.0 and are ignored");
            }),
        err("owner with both id and name", file_with(json!({"user": {"id": 0, "name": "root"}})), bare,
            "storage.files[0].user: cannot set both id and name"),
        err("group with both id and name", dirs(json!([{"path": "/d", "group": {"id": 0, "name": "root"}}])), bare,
            "storage.directories[0].group: cannot set both id and name"),
        err("overwrite without source", file_with(json!({"overwrite": true})), bare,
            "storage.files[0].overwrite: overwrite must be false if source is unspecified"),
        err("invalid url scheme", source("foo://bar/baz"), bare,
            "storage.files[0].contents.source: invalid url scheme"),
        err("url without scheme", source("/etc/passwd"), bare,
            "storage.files[0].contents.source: invalid url scheme"),
        err("unsupported scheme tftp", source("tftp://host/file"), bare,
            "storage.files[0].contents.source: url scheme \"tftp\" is not supported by MetalOS"),
        err("unsupported scheme s3", source("s3://bucket/key"), bare,
            "storage.files[0].contents.source: url scheme \"s3\" is not supported by MetalOS"),
        err("unsupported scheme gs", source("gs://bucket/key"), bare,
            "storage.files[0].contents.source: url scheme \"gs\" is not supported by MetalOS"),
        err("unsupported scheme arn", source("arn:aws:s3:::bucket/key"), bare,
            "storage.files[0].contents.source: url scheme \"arn\" is not supported by MetalOS"),
        err("unsupported scheme in append", file_with(json!({"append": [{"source": "s3://b/k"}]})), bare,
            "storage.files[0].append[0].source: url scheme \"s3\" is not supported by MetalOS"),
        err("append without source", file_with(json!({"append": [{"compression": "gzip"}]})), bare,
            "storage.files[0].append[0].source: source is required"),
        err("malformed data URL: no comma", source("data:text/plain;base64"), bare,
            "storage.files[0].contents.source: invalid data url: no ',' before the data"),
        err("malformed data URL: bad base64", source("data:;base64,@@@"), bare,
            "storage.files[0].contents.source: invalid data url: base64"),
        err("malformed data URL: bad percent escape", source("data:,%zz"), bare,
            "storage.files[0].contents.source: invalid data url: malformed percent-encoding"),
        err("malformed hash", hash("sha512", "3.4.0"), bare,
            "storage.files[0].contents.verification.hash: malformed hash specifier"),
        err("unrecognized hash function", hash("md5-d41d8cd98f00b204e9800998ecf8427e", "3.4.0"), bare,
            "storage.files[0].contents.verification.hash: unrecognized hash function"),
        err("incorrect hash size", hash("sha512-abcd", "3.4.0"), bare,
            "storage.files[0].contents.verification.hash: incorrect size for hash sum"),
        err("hash not hex", hash(&format!("sha512-{}", "z".repeat(128)), "3.4.0"), bare,
            "storage.files[0].contents.verification.hash: incorrect size for hash sum"),
        err("sha256 in 3.0.0", hash(&format!("sha256-{}", "0".repeat(64)), "3.0.0"), bare,
            "storage.files[0].contents.verification.hash: unrecognized hash function"),
        err("hash without source", file_with(json!({"contents": {"verification": {"hash": format!("sha512-{long}")}}})), bare,
            "storage.files[0].contents.verification.hash: source must be specified if verification is specified"),
        err("invalid compression", file_with(json!({"contents": {"source": "data:,x", "compression": "xz"}})), bare,
            "storage.files[0].contents.compression: invalid compression method"),
        err("http headers on a data source",
            file_with(json!({"contents": {"source": "data:,x", "httpHeaders": [{"name": "A", "value": "b"}]}})), bare,
            "storage.files[0].contents.httpHeaders: cannot use HTTP headers with this source scheme"),
        err("http source without a fetcher",
            source("http://192.0.2.1/f"), bare,
            "storage.files[0].contents: http://192.0.2.1/f: needs the network but no HTTP fetcher is available"),
        err("link target required", links(json!([{"path": "/l"}])), bare,
            "storage.links[0].target: link target is required"),
        err("link target empty", links(json!([{"path": "/l", "target": ""}])), bare,
            "storage.links[0].target: link target is required"),
        err("hard link to a configured directory",
            vec![v3(json!({"storage": {"directories": [{"path": "/d"}], "links": [{"path": "/l", "target": "/d", "hard": true}]}}))], bare,
            "storage.links[0].target: hard link target is a directory"),
        err("invalid unit extension", units(json!([{"name": "foo.bar"}])), bare,
            "systemd.units[0].name: invalid systemd unit extension"),
        err("unit name only an extension", units(json!([{"name": ".service"}])), bare,
            "systemd.units[0].name: invalid systemd unit extension"),
        err("invalid dropin extension", units(json!([{"name": "a.service", "dropins": [{"name": "x.txt"}]}])), bare,
            "systemd.units[0].dropins[0].name: invalid systemd drop-in extension"),
        err("bad unit contents", units(json!([{"name": "a.service", "contents": "[Unit\nA=b\n"}])), bare,
            "systemd.units[0].contents: invalid unit content: unable to find end of section"),
        err("bad dropin contents", units(json!([{"name": "a.service", "dropins": [{"name": "x.conf", "contents": "[Service"}]}])), bare,
            "systemd.units[0].dropins[0].contents: invalid unit content"),
        err("duplicate unit", units(json!([{"name": "a.service"}, {"name": "a.service"}])), bare,
            "systemd.units[1].name: duplicate entry defined"),
        err("duplicate dropin", units(json!([{"name": "a.service", "dropins": [{"name": "x.conf"}, {"name": "x.conf"}]}])), bare,
            "systemd.units[0].dropins[1].name: duplicate entry defined"),
        err("duplicate user", passwd(json!({"users": [{"name": "u"}, {"name": "u"}]})), bare,
            "passwd.users[1].name: duplicate entry defined"),
        err("duplicate group", passwd(json!({"groups": [{"name": "g"}, {"name": "g"}]})), bare,
            "passwd.groups[1].name: duplicate entry defined"),
        err("duplicate ssh key", passwd(json!({"users": [{"name": "u", "sshAuthorizedKeys": ["k", "k"]}]})), bare,
            "passwd.users[0].sshAuthorizedKeys[1]: duplicate entry defined"),
        err("user name required", passwd(json!({"users": [{"name": ""}]})), bare,
            "passwd.users[0].name: name is required"),
        err("disks not supported", storage_section("disks", json!([{"device": "/dev/sda"}])), bare,
            "storage.disks: not supported by MetalOS"),
        err("raid not supported", storage_section("raid", json!([{"name": "md0", "level": "raid1", "devices": ["/dev/sda"]}])), bare,
            "storage.raid: not supported by MetalOS"),
        err("filesystems not supported", storage_section("filesystems", json!([{"device": "/dev/sda1", "format": "ext4"}])), bare,
            "storage.filesystems: not supported by MetalOS"),
        err("luks not supported", storage_section("luks", json!([{"name": "c", "device": "/dev/sda2"}])), bare,
            "storage.luks: not supported by MetalOS"),
        err("kernelArguments not supported", vec![v3(json!({"kernelArguments": {"shouldExist": ["quiet"]}}))], bare,
            "kernelArguments: not supported by MetalOS"),
        ok("empty sections are fine",
            vec![v3(json!({"storage": {"disks": [], "raid": [], "filesystems": [], "luks": []},
                "kernelArguments": {"shouldExist": [], "shouldNotExist": []}}))], bare,
            |_, rep| assert!(rep.changed.is_empty(), "{:?}", rep.changed)),
        ok("unknown key is a warning", files(json!([{"path": "/etc/f", "frobnicate": 1}])), bare,
            |r, rep| {
                assert_file(r, "etc/f", "", 0o644);
                assert_warning(rep, "storage.files[0].frobnicate: unused key frobnicate");
            }),
        strict(err("unknown key is an error when strict", files(json!([{"path": "/etc/f", "frobnicate": 1}])), bare,
            "storage.files[0].frobnicate: unused key frobnicate")),
        ok("key of a newer spec is a warning",
            vec![json!({"ignition": {"version": "3.0.0"}, "kernelArguments": {"shouldExist": ["x"]}})], bare,
            |_, rep| assert_warning(rep, "unused key kernelArguments: it needs spec 3.3.0 or newer, the config is 3.0.0")),
        err("wrong type names the path", files(json!([{"path": "/a"}, {"path": "/b", "mode": "0644"}])), bare,
            "storage.files[1].mode: config is not valid"),
        err("wrong type of a section", vec![v3(json!({"passwd": {"users": {"name": "u"}}}))], bare,
            "passwd.users: config is not valid"),
    ]
}

#[test]
fn validation_table() {
    run_table(validation_cases());
}

// ---------------------------------------------------------------------------
// Versions and unparsable configs

/// A case whose one input is the raw `text`.
fn raw_err(name: &'static str, text: &'static str, fragment: &'static str) -> Case {
    err(name, vec![Value::String(text.into())], bare, fragment)
}

fn version_cases() -> Vec<Case> {
    vec![
        err(
            "version 3.6.0",
            vec![json!({"ignition": {"version": "3.6.0"}})],
            bare,
            "ignition.version: unsupported config version \"3.6.0\"",
        ),
        err(
            "version 3.4.1",
            vec![json!({"ignition": {"version": "3.4.1"}})],
            bare,
            "ignition.version: unsupported config version \"3.4.1\"",
        ),
        err(
            "version 2.5.0",
            vec![json!({"ignition": {"version": "2.5.0"}})],
            bare,
            "ignition.version: unsupported config version \"2.5.0\"",
        ),
        err(
            "version not a string",
            vec![json!({"ignition": {"version": 3}})],
            bare,
            "ignition.version: invalid config version (couldn't parse)",
        ),
        err(
            "spec 1 ignitionVersion",
            vec![json!({"ignitionVersion": 1})],
            bare,
            "ignitionVersion: spec 1 configs are not supported",
        ),
        err(
            "version missing",
            vec![json!({"storage": {}})],
            bare,
            "ignition.version: unsupported config version: ignition.version is missing",
        ),
        raw_err("empty config", "", "not a config (empty)"),
        raw_err("whitespace config", " \n\t", "not a config (empty)"),
        raw_err(
            "invalid JSON",
            "{\"ignition\": ",
            "config is not valid JSON",
        ),
        raw_err(
            "top level not an object",
            "[1]",
            "the top level must be a JSON object",
        ),
        ok(
            "minimal 3.0.0 config changes nothing",
            vec![json!({"ignition": {"version": "3.0.0"}})],
            bare,
            |_, rep| assert!(rep.changed.is_empty()),
        ),
        ok(
            "minimal 2.0.0 config changes nothing",
            vec![json!({"ignition": {"version": "2.0.0"}})],
            bare,
            |_, rep| assert!(rep.changed.is_empty()),
        ),
    ]
}

#[test]
fn versions_table() {
    run_table(version_cases());
}

// ---------------------------------------------------------------------------
// Rollback

fn rollback_setup(root: &Path) {
    put(root, "etc/motd", "old motd\n", 0o644);
    put(root, "etc/appendme", "line1\n", 0o640);
    existing_data_dir(root);
    existing_link(root);
    put(root, PRESET, "enable old.service\n", 0o644);
}

/// Many ops of every kind: passwd files, homes, ssh keys, files (new,
/// overwrite, append), directories (new, existing with a mode change),
/// links (new, replaced, hard), units, dropins, masks, presets.
fn rollback_config() -> Value {
    v3(json!({
        "passwd": {
            "groups": [{"name": "ops", "gid": 4000}],
            "users": [
                {"name": "alice", "groups": ["ops", "sudo"], "sshAuthorizedKeys": ["ssh-ed25519 AAAA a"]},
                {"name": "svc", "system": true, "noCreateHome": true}
            ]
        },
        "storage": {
            "files": [
                {"path": "/etc/motd", "overwrite": true, "contents": {"source": data("new motd\n")}},
                {"path": "/etc/appendme", "append": [{"source": data("line2\n")}]},
                {"path": "/opt/app/conf/app.toml", "mode": 0o600, "user": {"name": "alice"},
                    "contents": {"source": data64(&gzip(b"x = 1\n")), "compression": "gzip"}},
                {"path": "/srv/data/new.txt", "contents": {"source": data("n")}}
            ],
            "directories": [
                {"path": "/srv/data", "mode": 0o700},
                {"path": "/var/lib/app/state", "user": {"name": "svc"}}
            ],
            "links": [
                {"path": "/etc/l", "target": "/etc/new-target", "overwrite": true},
                {"path": "/opt/app/current", "target": "conf"},
                {"path": "/etc/motd.hard", "target": "/etc/motd", "hard": true}
            ]
        },
        "systemd": {"units": [
            {"name": "app.service", "enabled": true, "contents": "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
                "dropins": [{"name": "10-env.conf", "contents": "[Service]\nEnvironment=A=1\n"}]},
            {"name": "bad.service", "mask": true},
            {"name": "worker@1.service", "enabled": true},
            {"name": "old.service", "enabled": false}
        ]}
    }))
}

fn ops_count(root: &Path, configs: &[Value]) -> usize {
    let opts = options(false);
    let inputs = inputs(configs);
    let parsed = parse_inputs(&inputs, &opts).unwrap();
    let prepared = prepare(&inputs, parsed, &opts).unwrap();
    plan(root, &prepared, &opts).unwrap().len()
}

#[test]
fn rollback_at_every_op_restores_the_root() {
    if !is_root() {
        println!("rollback: skipped (not root: chown needs root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = base_root(dir.path());
    rollback_setup(&root);
    let configs = vec![rollback_config()];
    let original = snapshot(&root);
    let count = ops_count(&root, &configs);
    assert!(count >= 25, "only {count} ops");
    for n in 0..count {
        let opts = ApplyOptions {
            fail_before_op: Some(n),
            ..options(false)
        };
        let e = apply_configs(&root, &inputs(&configs), &opts).expect_err("injected failure");
        assert!(e.to_string().contains("(injected failure)"), "op {n}: {e}");
        let now = snapshot(&root);
        assert!(
            now == original,
            "op {n} of {count}: root not restored:\n{}",
            diff(&original, &now)
        );
    }
    println!("rolled back at each of {count} ops");
    // And without a failure, everything lands.
    apply_configs(&root, &inputs(&configs), &options(false)).unwrap();
    assert_file(&root, "etc/motd", "new motd\n", 0o644);
    assert_eq!(
        meta(&root, "etc/motd.hard").ino(),
        meta(&root, "etc/motd").ino()
    );
    assert_file(&root, "etc/appendme", "line1\nline2\n", 0o640);
    assert_file(&root, "opt/app/conf/app.toml", "x = 1\n", 0o600);
    assert_owner(&root, "opt/app/conf/app.toml", 1000, 0);
    assert_dir(&root, "srv/data", 0o700);
    assert_file(&root, "srv/data/keep.txt", "keep", 0o644);
    assert_symlink(&root, "etc/l", "/etc/new-target");
    assert_symlink(&root, "etc/systemd/system/bad.service", "/dev/null");
    assert_file(
        &root,
        PRESET,
        "disable old.service\nenable app.service\nenable old.service\nenable worker@.service 1\n",
        0o644,
    );
    assert_entry(&root, "group", "ops:x:4000:alice");
    let leftovers: Vec<String> = snapshot(&root)
        .into_keys()
        .filter(|k| k.contains("metalos-undo"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn applying_twice_fails_on_the_second_run_and_changes_nothing() {
    if !is_root() {
        println!("apply twice: skipped (not root: chown needs root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = base_root(dir.path());
    let configs = vec![v3(json!({
        "passwd": {"users": [{"name": "alice", "sshAuthorizedKeys": ["k"]}]},
        "storage": {"files": [
            {"path": "/etc/once", "contents": {"source": data("1")}},
            {"path": "/etc/log", "append": [{"source": data("x")}]}
        ]},
        "systemd": {"units": [{"name": "a.service", "enabled": true}]}
    }))];
    apply_configs(&root, &inputs(&configs), &options(false)).unwrap();
    let after_first = snapshot(&root);
    let e = apply_configs(&root, &inputs(&configs), &options(false)).unwrap_err();
    assert!(
        e.to_string()
            .contains("storage.files[0].path: a file exists there already and overwrite is false"),
        "{e}"
    );
    let now = snapshot(&root);
    assert!(now == after_first, "{}", diff(&after_first, &now));
}

// ---------------------------------------------------------------------------
// Known bugs (src/units.rs, src/passwd.rs): paths not resolved inside the root

/// A host directory next to the root (outside it): `TMP/host-outside`.
fn host_outside(root: &Path) -> std::path::PathBuf {
    root.parent().unwrap().join("host-outside")
}

/// `ROOT/etc/systemd` -> `TMP/host-outside` (an absolute host path), with
/// a mask and a preset file there.
fn systemd_dir_escapes(root: &Path) {
    let out = host_outside(root);
    mkdir(&out, "system", 0o755);
    std::os::unix::fs::symlink("/dev/null", out.join("system/old.service")).unwrap();
    put(
        &out,
        "system-preset/20-ignition.preset",
        "enable host.service\n",
        0o644,
    );
    std::os::unix::fs::symlink(&out, root.join("etc/systemd")).unwrap();
}

/// `ROOT/etc/passwd` -> `TMP/host-outside/passwd` (an absolute host path).
fn passwd_escapes(root: &Path) {
    let out = host_outside(root);
    put(&out, "passwd", "hostonly:x:0:0::/:/bin/sh\n", 0o644);
    fs::remove_file(root.join("etc/passwd")).unwrap();
    std::os::unix::fs::symlink(out.join("passwd"), root.join("etc/passwd")).unwrap();
}

fn escape_bug_cases() -> Vec<Case> {
    vec![
        ok(
            "unit mask through a symlinked /etc/systemd stays inside the root",
            units(json!([{"name": "m.service", "mask": true}])),
            systemd_dir_escapes,
            |r, _| assert_absent(&host_outside(r), "system/m.service"),
        ),
        ok(
            "unit mask false through a symlinked /etc/systemd removes nothing on the host",
            units(json!([{"name": "old.service", "mask": false}])),
            systemd_dir_escapes,
            |r, _| assert_symlink(&host_outside(r), "system/old.service", "/dev/null"),
        ),
        ok(
            "existing preset is read inside the root, not through the host",
            units(json!([{"name": "a.service", "enabled": true}])),
            systemd_dir_escapes,
            |r, _| {
                let inside = r.join(host_outside(r).strip_prefix("/").unwrap());
                let p = inside.join("system-preset/20-ignition.preset");
                let text = fs::read_to_string(p).unwrap();
                assert!(!text.contains("host.service"), "{text:?}");
            },
        ),
        ok(
            "etc/passwd symlinked to an absolute path is read inside the root",
            passwd(json!({"users": [{"name": "zed"}]})),
            passwd_escapes,
            |r, _| {
                assert!(
                    entry(r, "passwd", "hostonly").is_none(),
                    "host entry copied"
                )
            },
        ),
    ]
}

/// Absolute symlinks inside the root (`ROOT/etc/systemd -> /x`,
/// `ROOT/etc/passwd -> /x/passwd`) resolve with the root as `/`: unit
/// masks, the existing preset file and the account files are read and
/// written inside the root, never on the host (a regression test: all four
/// once escaped).
#[test]
fn paths_resolve_inside_the_root() {
    run_table(escape_bug_cases());
}
