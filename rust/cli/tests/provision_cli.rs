//! `metalos provision validate|apply` as a user runs them: exit codes,
//! `error: PATH: MESSAGE` / `warning: …` lines on stderr, configs merged
//! in the order given, `-` for standard input, and a failing apply leaving
//! `--root` unchanged. (The semantics of each config field are covered by
//! `rust/ignition/tests/apply_cases.rs`.)
//!
//! Run: `cargo test -p metalos --test provision_cli` (apply tests need
//! root for chown; without it they print "skipped" and pass).

mod common;
use common::metalos;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Writes `doc` as `dir/name` and returns its path as a string.
fn config(dir: &Path, name: &str, doc: &Value) -> String {
    let p = dir.join(name);
    std::fs::write(&p, doc.to_string()).unwrap();
    p.display().to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the exit code and that stderr has every line of `lines`.
fn assert_run(out: &Output, code: i32, lines: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr:\n{err}");
    for l in lines {
        assert!(err.lines().any(|x| x == *l), "no line {l:?} in:\n{err}");
    }
}

/// Runs `metalos ARGS` with `input` on standard input.
fn metalos_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_metalos"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Every path under `root` with type, mode, owner and contents/target.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, (u32, u32, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(p) = todo.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        let data = if m.file_type().is_symlink() {
            std::fs::read_link(&p)
                .unwrap()
                .into_os_string()
                .into_encoded_bytes()
        } else if m.is_file() {
            std::fs::read(&p).unwrap()
        } else {
            todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            Vec::new()
        };
        out.insert(p, (m.mode(), m.uid(), m.gid(), data));
    }
    out
}

fn file(path: &str, contents: &str) -> Value {
    json!({"path": path, "contents": {"source": format!("data:,{contents}")}})
}

fn files(list: Vec<Value>) -> Value {
    json!({"ignition": {"version": "3.4.0"}, "storage": {"files": list}})
}

#[test]
fn validate_good_config_exits_0() {
    let d = tempfile::tempdir().unwrap();
    let c = config(d.path(), "good.ign", &files(vec![file("/etc/motd", "hi")]));
    let out = metalos(&["provision", "validate", &c]);
    assert_run(&out, 0, &["1 config(s) valid"]);
}

#[test]
fn validate_bad_config_prints_errors_and_warnings() {
    let d = tempfile::tempdir().unwrap();
    let doc = json!({"ignition": {"version": "3.4.0"}, "storage": {"files": [
        {"path": "/etc/a", "frobnicate": true},
        {"path": "/etc/../b"},
        {"path": "/etc/c", "contents": {"source": "tftp://h/f"}}
    ]}});
    let c = config(d.path(), "bad.ign", &doc);
    let out = metalos(&["provision", "validate", &c]);
    assert_run(
        &out,
        1,
        &[
            "error: storage.files[1].path: path is not fully simplified",
            "error: storage.files[2].contents.source: url scheme \"tftp\" is not supported by MetalOS",
            "warning: storage.files[0].frobnicate: unused key frobnicate",
            "error: 2 error(s)",
        ],
    );
}

/// Acceptance findings 3 and 5: an empty source is valid (empty
/// contents); two 2.x entries for one path are conflicting inodes, while
/// the 3.x form (one entry, both fragments in `append`) is valid.
#[test]
fn validate_empty_source_and_2x_conflicting_inodes() {
    let d = tempfile::tempdir().unwrap();
    let empty = json!({"ignition": {"version": "3.3.0"}, "storage": {"files": [
        {"path": "/etc/file", "mode": 420, "overwrite": true, "contents": {"source": ""}}
    ]}});
    let c = config(d.path(), "empty.ign", &empty);
    assert_run(
        &metalos(&["provision", "validate", &c]),
        0,
        &["1 config(s) valid"],
    );
    let dup = json!({"ignition": {"version": "2.2.0"}, "storage": {"files": [
        {"filesystem": "root", "path": "/example-file", "append": true, "contents": {"source": "data:,a"}},
        {"filesystem": "root", "path": "/example-file", "append": true, "contents": {"source": "data:,b"}}
    ]}});
    let c = config(d.path(), "dup.ign", &dup);
    let out = metalos(&["provision", "validate", &c]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "error: storage.files[1].path: Config has conflicting inodes: \"/example-file\" is also storage.files[0]"
        ),
        "{}",
        stderr(&out)
    );
    let one = json!({"ignition": {"version": "3.3.0"}, "storage": {"files": [
        {"path": "/example-file", "append": [{"source": "data:,a"}, {"source": "data:,b"}]}
    ]}});
    let c = config(d.path(), "one.ign", &one);
    assert_run(
        &metalos(&["provision", "validate", &c]),
        0,
        &["1 config(s) valid"],
    );
}

#[test]
fn validate_warnings_alone_exit_0() {
    let d = tempfile::tempdir().unwrap();
    let doc = files(vec![
        json!({"path": "/etc/a", "frobnicate": true, "mode": 0o4755}),
    ]);
    let c = config(d.path(), "warn.ign", &doc);
    let out = metalos(&["provision", "validate", &c]);
    assert_run(
        &out,
        0,
        &[
            "warning: storage.files[0].frobnicate: unused key frobnicate",
            "warning: storage.files[0].mode: setuid/setgid/sticky bits are only supported from spec 3.6.0 and are ignored",
            "1 config(s) valid",
        ],
    );
}

#[test]
fn validate_strict_turns_unknown_keys_into_errors() {
    let d = tempfile::tempdir().unwrap();
    let doc = files(vec![json!({"path": "/etc/a", "frobnicate": true})]);
    let c = config(d.path(), "unknown.ign", &doc);
    let out = metalos(&["provision", "validate", "--strict", &c]);
    assert_run(
        &out,
        1,
        &["error: storage.files[0].frobnicate: unused key frobnicate"],
    );
}

#[test]
fn validate_several_configs_merged() {
    let d = tempfile::tempdir().unwrap();
    let a = config(d.path(), "a.ign", &files(vec![file("/etc/x", "a")]));
    let b = config(d.path(), "b.ign", &files(vec![file("/etc/x", "b")]));
    let out = metalos(&["provision", "validate", &a, &b]);
    assert_run(&out, 0, &["2 config(s) valid"]);

    let link = json!({"ignition": {"version": "3.4.0"},
        "storage": {"links": [{"path": "/etc/lnk", "target": "/x"}]}});
    let l = config(d.path(), "link.ign", &link);
    let under = config(d.path(), "under.ign", &files(vec![file("/etc/lnk/f", "x")]));
    let out = metalos(&["provision", "validate", &l, &under]);
    assert_run(
        &out,
        1,
        &["error: storage.files[0].path: file path includes link in config (in the merged config)"],
    );

    let bad = config(d.path(), "rel.ign", &files(vec![file("rel", "x")]));
    let out = metalos(&["provision", "validate", &a, &bad]);
    assert_run(
        &out,
        1,
        &[&format!(
            "error: {bad} → storage.files[0].path: path not absolute"
        )],
    );
}

#[test]
fn validate_reads_stdin_and_reports_unparsable_input() {
    let doc = files(vec![file("/etc/x", "a")]).to_string();
    let out = metalos_stdin(&["provision", "validate", "-"], &doc);
    assert_run(&out, 0, &["1 config(s) valid"]);
    let out = metalos_stdin(&["provision", "validate", "-"], "{\"ignition\":");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("error: config is not valid JSON"));
    let out = metalos_stdin(
        &["provision", "validate", "-"],
        "{\"ignition\":{\"version\":\"3.6.0\"}}",
    );
    assert_run(&out, 1, &["error: ignition.version: unsupported config version \"3.6.0\" (MetalOS reads 3.0.0-3.5.0 and translates 2.0.0-2.4.0)"]);
}

#[test]
fn validate_fetch_checks_hashes() {
    let d = tempfile::tempdir().unwrap();
    let doc = files(vec![
        json!({"path": "/etc/x", "contents": {"source": "data:,x",
        "verification": {"hash": format!("sha512-{}", "0".repeat(128))}}}),
    ]);
    let c = config(d.path(), "hash.ign", &doc);
    assert_run(&metalos(&["provision", "validate", &c]), 0, &[]);
    let out = metalos(&["provision", "validate", "--fetch", &c]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("storage.files[0].contents: data:,x: hash mismatch"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn apply_merges_in_order() {
    if !is_root() {
        println!("skipped: not root (apply chowns)");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let a = config(
        d.path(),
        "a.ign",
        &files(vec![file("/etc/x", "from-a"), file("/etc/only-a", "a")]),
    );
    let b = config(d.path(), "b.ign", &files(vec![file("/etc/x", "from-b")]));
    let r = root.display().to_string();
    let out = metalos(&["provision", "apply", "--root", &r, &a, &b]);
    assert_run(&out, 0, &[]);
    assert_eq!(
        std::fs::read_to_string(root.join("etc/x")).unwrap(),
        "from-b"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("etc/only-a")).unwrap(),
        "a"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l == "/etc/x"), "{stdout}");

    let d2 = tempfile::tempdir().unwrap();
    let r2 = d2.path().display().to_string();
    let out = metalos(&["provision", "apply", "--root", &r2, &b, &a]);
    assert_run(&out, 0, &[]);
    assert_eq!(
        std::fs::read_to_string(d2.path().join("etc/x")).unwrap(),
        "from-a"
    );
}

#[test]
fn apply_from_stdin() {
    if !is_root() {
        println!("skipped: not root (apply chowns)");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let r = d.path().display().to_string();
    let doc = files(vec![file("/etc/stdin", "yes")]).to_string();
    let out = metalos_stdin(&["provision", "apply", "--root", &r, "-"], &doc);
    assert_run(&out, 0, &[]);
    assert_eq!(
        std::fs::read_to_string(d.path().join("etc/stdin")).unwrap(),
        "yes"
    );
}

#[test]
fn failing_apply_exits_1_and_leaves_root_unchanged() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/existing"), "old").unwrap();
    let before = snapshot(&root);
    let good = config(d.path(), "good.ign", &files(vec![file("/etc/new", "n")]));
    let r = root.display().to_string();
    // Fails at fetch (wrong hash), at plan (existing file), at validation.
    let wrong_hash = files(vec![
        json!({"path": "/etc/h", "contents": {"source": "data:,x",
        "verification": {"hash": format!("sha512-{}", "0".repeat(128))}}}),
    ]);
    let cases = [
        (wrong_hash, "hash mismatch"),
        (
            files(vec![file("/etc/existing", "new")]),
            // Plan errors name the entry in the merged config (good.ign first).
            "storage.files[1].path: a file exists there already and overwrite is false",
        ),
        (files(vec![file("/usr/x", "new")]), "/usr is read-only"),
    ];
    for (i, (doc, fragment)) in cases.iter().enumerate() {
        let bad = config(d.path(), &format!("bad{i}.ign"), doc);
        let out = metalos(&["provision", "apply", "--root", &r, &good, &bad]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        assert!(stderr(&out).contains(fragment), "{}", stderr(&out));
        assert!(snapshot(&root) == before, "root changed by case {i}");
    }
}

#[test]
fn apply_root_must_be_a_directory() {
    let d = tempfile::tempdir().unwrap();
    let c = config(d.path(), "c.ign", &files(vec![]));
    let missing = d.path().join("missing").display().to_string();
    let out = metalos(&["provision", "apply", "--root", &missing, &c]);
    assert_run(
        &out,
        1,
        &[&format!("error: --root {missing}: not a directory")],
    );
    assert!(!d.path().join("missing").exists());
    let out = metalos(&["provision", "apply", &c]);
    assert_eq!(out.status.code(), Some(2), "clap usage error");
    assert!(stderr(&out).contains("--root"), "{}", stderr(&out));
}

#[test]
fn missing_config_file_errors() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("nope.ign").display().to_string();
    let out = metalos(&["provision", "validate", &p]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!("reading {p}")),
        "{}",
        stderr(&out)
    );
}
