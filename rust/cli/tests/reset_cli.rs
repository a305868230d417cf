//! `metalos reset` as a user runs it, against a directory tree standing
//! for the running system (hidden `--root DIR --esp DIR`): staging writes
//! the keep regex, provisioning source and kept machine-id on the state
//! subvolume and sets the ESP flag; `--stop` undoes it; `--preview` lists
//! fates without staging; argument errors. (Execution at boot is tested in
//! `rust/reset/tests/execute.rs`.)
//!
//! Run: `cargo test -p metalos --test reset_cli`.

mod common;
use common::metalos;
use std::path::Path;
use std::process::Output;

const ID: &str = "0123456789abcdef0123456789abcdef";
const TAIL: &str = "/var/lib/metalos/reset-backup|/var/lib/metalos/reset-backup/.*|\
/var/lib/metalos/reset-keep|/var/lib/metalos/reset-machine-id|\
/var/lib/metalos/provisioning|/var/lib/metalos/provisioning/.*";

fn touch(root: &Path, rel: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, rel).unwrap();
}

/// A running system's view: /etc (live overlay), subvolume contents, the upper dir.
fn system() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    touch(r, "etc/machine-id");
    std::fs::write(r.join("etc/machine-id"), format!("{ID}\n")).unwrap();
    for f in [
        "usr/bin/busybox",
        "var/log/messages",
        "var/cache/x",
        "home/core/.profile",
        "var/lib/metalos/etc/work/w",
        "var/lib/metalos/etc/upper/keep-me",
        "var/lib/metalos/etc/upper/delete-me",
        "var/lib/metalos/etc/upper/custom/keep-me",
        "var/lib/metalos/etc/upper/custom/delete-me",
        "esp/metalos/host-config.json",
    ] {
        touch(r, f);
    }
    t
}

fn run(r: &Path, args: &[&str]) -> Output {
    let root = r.to_str().unwrap().to_string();
    let esp = r.join("esp").to_str().unwrap().to_string();
    let mut all = vec!["reset", "--root", &root, "--esp", &esp];
    all.extend_from_slice(args);
    metalos(&all)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "stderr:\n{}", text(&out.stderr));
    text(&out.stdout)
}

fn fails_with(out: &Output, msg: &str) {
    let err = text(&out.stderr);
    assert!(
        !out.status.success(),
        "succeeded; stdout:\n{}",
        text(&out.stdout)
    );
    assert!(err.contains(msg), "no {msg:?} in:\n{err}");
}

fn read(r: &Path, rel: &str) -> String {
    std::fs::read_to_string(r.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn stage_writes_regex_config_machine_id_and_flag() {
    let t = system();
    let r = t.path();
    let ign = r.join("new.ign");
    std::fs::write(&ign, r#"{"ignition":{"version":"3.4.0"}}"#).unwrap();
    let out = ok(&run(
        r,
        &[
            "--keep-machine-id",
            "--provisioning-file",
            ign.to_str().unwrap(),
            "--keep-paths",
            "/etc/keep-dir",
            "/etc/keep-me",
            "/etc/custom/keep.*",
            "/var/log/",
        ],
    ));
    let re = format!(
        "(/etc/keep-dir/.*|/etc/keep-dir|/etc/keep-me/.*|/etc/keep-me|/etc/custom/keep.*|\
/var/log/.*|/var/log|{TAIL})"
    );
    assert!(out.contains(&re), "{out}");
    assert_eq!(read(r, "var/lib/metalos/reset-keep"), format!("{re}\n"));
    assert_eq!(
        read(r, "var/lib/metalos/reset-machine-id"),
        format!("{ID}\n")
    );
    assert_eq!(
        read(r, "var/lib/metalos/provisioning/user.ign"),
        r#"{"ignition":{"version":"3.4.0"}}"#
    );
    assert!(r.join("esp/metalos/first_boot").exists());
    // Nothing deleted yet.
    assert!(r.join("var/lib/metalos/etc/upper/delete-me").exists());

    // Staging again replaces it (and reports that); a URL replaces the file.
    let again = run(r, &["--config-url", "http://example.com/c.ign"]);
    ok(&again);
    assert!(text(&again.stderr).contains("replacing the previously staged reset"));
    assert_eq!(read(r, "var/lib/metalos/reset-keep"), format!("({TAIL})\n"));
    assert_eq!(
        read(r, "var/lib/metalos/provisioning/config-url"),
        "http://example.com/c.ign\n"
    );
    assert!(!r.join("var/lib/metalos/provisioning/user.ign").exists());
    assert!(!r.join("var/lib/metalos/reset-machine-id").exists());
}

#[test]
fn stop_unstages() {
    let t = system();
    let r = t.path();
    ok(&run(r, &["--keep-machine-id", "--keep-paths", "/var/log"]));
    let out = ok(&run(r, &["--stop"]));
    assert!(out.contains("reset un-staged"), "{out}");
    for gone in [
        "var/lib/metalos/reset-keep",
        "var/lib/metalos/reset-machine-id",
        "esp/metalos/first_boot",
    ] {
        assert!(!r.join(gone).exists(), "{gone}");
    }
    let out = ok(&run(r, &["--stop"]));
    assert!(out.contains("no reset was staged"), "{out}");
}

#[test]
fn preview_lists_fates_and_stages_nothing() {
    let t = system();
    let r = t.path();
    let out = ok(&run(
        r,
        &[
            "--preview",
            "--keep-paths",
            "/etc/keep-me",
            "/etc/custom/keep.*",
            "/var/log",
        ],
    ));
    let lines: Vec<&str> = out.lines().collect();
    for l in [
        "keep /etc/keep-me",
        "delete /etc/delete-me",
        "keep /etc/custom/keep-me",
        "delete /etc/custom/delete-me",
        "keep /etc/custom",
        "keep /var/log/messages",
        "keep /var/log",
        "delete /var/cache/x",
        "delete /var/cache",
        "delete /home/core/.profile",
        "delete /home/core",
    ] {
        assert!(lines.contains(&l), "no {l:?} in:\n{out}");
    }
    // Children before parents; never /usr, the live /etc, the work dir, the ESP stand-in's
    // parent mount points.
    let pos = |l: &str| lines.iter().position(|x| *x == l).unwrap();
    assert!(pos("delete /var/cache/x") < pos("delete /var/cache"));
    for l in &lines {
        for bad in ["/usr", "/var/lib/metalos/etc", "/etc/machine-id"] {
            assert!(!l.ends_with(bad) && !l.contains(&format!("{bad}/")), "{l}");
        }
    }
    assert!(!r.join("var/lib/metalos/reset-keep").exists());
    assert!(!r.join("esp/metalos/first_boot").exists());
}

#[test]
fn argument_errors() {
    let t = system();
    let r = t.path();
    let ign = r.join("c.ign");
    std::fs::write(&ign, r#"{"ignition":{"version":"3.4.0"}}"#).unwrap();
    fails_with(
        &run(
            r,
            &[
                "--provisioning-file",
                ign.to_str().unwrap(),
                "--config-url",
                "http://x",
            ],
        ),
        "cannot be used with",
    );
    for bad in ["etc/x", "./etc", ".*"] {
        fails_with(
            &run(r, &["--keep-paths", "/ok", bad]),
            "must be an absolute path or a regex for an absolute path",
        );
    }
    fails_with(
        &run(r, &["--keep-paths", r"/etc/(a)\1"]),
        "invalid keep regex",
    );
    fails_with(&run(r, &["--keep-paths"]), "--keep-paths");
    std::fs::write(&ign, "{not json").unwrap();
    fails_with(
        &run(r, &["--provisioning-file", ign.to_str().unwrap()]),
        "is not a valid Ignition config",
    );
    fails_with(
        &run(r, &["--stop", "--keep-paths", "/x"]),
        "cannot be used with",
    );
    fails_with(
        &metalos(&["reset", "--root", r.to_str().unwrap()]),
        "--root needs --esp",
    );
    std::fs::remove_file(r.join("etc/machine-id")).unwrap();
    fails_with(&run(r, &["--keep-machine-id"]), "machine-id");
    // Nothing was staged by any of these.
    assert!(!r.join("var/lib/metalos/reset-keep").exists());
    assert!(!r.join("esp/metalos/first_boot").exists());
}

#[test]
fn hidden_options_stay_hidden() {
    let out = ok(&metalos(&["reset", "--help"]));
    for flag in [
        "--keep-paths",
        "--keep-machine-id",
        "--provisioning-file",
        "--config-url",
        "--preview",
        "--stop",
    ] {
        assert!(out.contains(flag), "{flag}");
    }
    assert!(!out.contains("--root") && !out.contains("--esp"), "{out}");
}
