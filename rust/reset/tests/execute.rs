//! `execute` on a temporary tree laid out like metalinit's `/sysroot`
//! (root, var, home and state subvolume directories plus the `/etc`
//! overlay's upper and work dirs), with the expectations of Flatcar's kola
//! test `cl.osreset.ignition-rerun`.

use metalos_reset::layout::{KEEP_FILE, MACHINE_ID_FILE};
use metalos_reset::{execute, keep_regex, stage, DirFlag, StageOptions};
use std::os::unix::fs::symlink;
use std::path::Path;

fn touch(root: &Path, rel: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, rel).unwrap();
}

fn exists(root: &Path, rel: &str) -> bool {
    std::fs::symlink_metadata(root.join(rel)).is_ok()
}

/// A sysroot with the kola test's files in the `/etc` upper dir.
fn sysroot() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let r = t.path();
    for d in [
        "usr/bin",
        "var/lib/metalos/etc/work/work",
        "home",
        "proc",
        "dev",
        "tmp",
    ] {
        std::fs::create_dir_all(r.join(d)).unwrap();
    }
    for f in [
        "usr/bin/busybox",
        "tmp/scratch",
        "root/.profile",
        "var/log/messages",
        "var/cache/x",
        "home/core/.bashrc",
        "var/lib/metalos/provisioning.json",
        "var/lib/metalos/provisioning/user.ign",
        "var/lib/metalos/etc/work/work/w",
        "var/lib/metalos/etc/upper/keep-dir/file",
        "var/lib/metalos/etc/upper/keep-me",
        "var/lib/metalos/etc/upper/custom/keep-me",
        "var/lib/metalos/etc/upper/custom/delete-me",
        "var/lib/metalos/etc/upper/delete-me",
        "var/lib/metalos/etc/upper/delete-dir/file",
        "var/lib/metalos/etc/upper/systemd/system/multi-user.target.wants/x.service",
    ] {
        touch(r, f);
    }
    std::fs::write(
        r.join("var/lib/metalos/etc/upper/machine-id"),
        "0123456789abcdef0123456789abcdef\n",
    )
    .unwrap();
    symlink("usr/bin", r.join("bin")).unwrap();
    symlink("/nonexistent", r.join("var/lib/metalos/etc/upper/dangling")).unwrap();
    t
}

fn kola_keep() -> Vec<String> {
    [
        "/etc/keep-dir",
        "/etc/keep-me",
        "/etc/custom/keep.*",
        "/var/log",
    ]
    .map(String::from)
    .to_vec()
}

/// Stages the kola test's reset through [`stage`], as `metalos reset` does
/// on the running system (whose live `/etc/machine-id` is given here).
fn stage_with(r: &Path, keep_machine_id: bool) {
    let esp = r.join("esp");
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::write(
        r.join("etc/machine-id"),
        "0123456789abcdef0123456789abcdef\n",
    )
    .unwrap();
    let opts = StageOptions {
        keep_paths: kola_keep(),
        keep_machine_id,
        provisioning: None,
    };
    stage(r, &DirFlag(esp.clone()), &opts).unwrap();
    assert!(esp.join("metalos/first_boot").exists());
    // At boot the live /etc is an empty mount point and the ESP is elsewhere.
    std::fs::remove_dir_all(&esp).unwrap();
    std::fs::remove_file(r.join("etc/machine-id")).unwrap();
}

#[test]
fn kola_osreset_ignition_rerun() {
    let t = sysroot();
    let r = t.path();
    stage_with(r, true);
    let s = execute(r).unwrap().expect("a reset was staged");
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    let up = "var/lib/metalos/etc/upper";
    for kept in ["keep-dir/file", "keep-me", "custom/keep-me"] {
        assert!(exists(r, &format!("{up}/{kept}")), "{kept}");
    }
    for gone in [
        "delete-me",
        "custom/delete-me",
        "delete-dir",
        "systemd",
        "dangling",
    ] {
        assert!(!exists(r, &format!("{up}/{gone}")), "{gone}");
    }
    assert_eq!(
        std::fs::read_to_string(r.join(up).join("machine-id")).unwrap(),
        "0123456789abcdef0123456789abcdef\n"
    );
    assert!(s.machine_id_kept);
    // /var/log kept, the rest of the subvolumes wiped.
    assert!(exists(r, "var/log/messages"));
    for gone in [
        "var/cache",
        "home/core",
        "root",
        "bin",
        "var/lib/metalos/provisioning.json",
    ] {
        assert!(!exists(r, gone), "{gone}");
    }
    // Never touched: /usr, mount points, the overlay work dir, staged provisioning.
    for stays in [
        "usr/bin/busybox",
        "tmp/scratch",
        "proc",
        "dev",
        "home",
        "var/lib/metalos/etc/work/work/w",
        "var/lib/metalos/provisioning/user.ign",
    ] {
        assert!(exists(r, stays), "{stays}");
    }
    assert!(!exists(r, KEEP_FILE));
    assert!(!exists(r, MACHINE_ID_FILE));
    assert!(s.deleted >= 10, "{s:?}");
    // custom/ and keep-dir/ kept as parents; var/lib kept as the state mount point's parent.
    assert!(s.kept >= 5, "{s:?}");
    // A second boot: nothing staged, nothing done.
    assert_eq!(execute(r).unwrap(), None);
}

#[test]
fn machine_id_removed_unless_kept() {
    let t = sysroot();
    let r = t.path();
    stage_with(r, false);
    let s = execute(r).unwrap().unwrap();
    assert!(!s.machine_id_kept);
    assert!(!exists(r, "var/lib/metalos/etc/upper/machine-id"));
}

#[test]
fn machine_id_removed_even_when_matched() {
    let t = sysroot();
    let r = t.path();
    let re = keep_regex(&["/etc/machine-id".to_string()]).unwrap();
    std::fs::write(r.join(KEEP_FILE), format!("{re}\n")).unwrap();
    execute(r).unwrap().unwrap();
    assert!(!exists(r, "var/lib/metalos/etc/upper/machine-id"));
}

#[test]
fn whiteouts_are_entries() {
    let t = sysroot();
    let r = t.path();
    let wh = r.join("var/lib/metalos/etc/upper/motd");
    let c = std::ffi::CString::new(wh.to_str().unwrap()).unwrap();
    // SAFETY: valid path; a 0/0 character device is an overlay whiteout.
    let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR, 0) };
    if rc != 0 {
        eprintln!("skipped: mknod needs root");
        return;
    }
    std::fs::write(r.join(KEEP_FILE), keep_regex(&[]).unwrap()).unwrap();
    execute(r).unwrap().unwrap();
    assert!(!exists(r, "var/lib/metalos/etc/upper/motd"));
}

#[test]
fn keep_directory_itself_only() {
    let t = sysroot();
    let r = t.path();
    let re = keep_regex(&["^/etc/custom".to_string()]).unwrap();
    std::fs::write(r.join(KEEP_FILE), re).unwrap();
    execute(r).unwrap().unwrap();
    let up = r.join("var/lib/metalos/etc/upper");
    assert!(up.join("custom").is_dir());
    assert_eq!(std::fs::read_dir(up.join("custom")).unwrap().count(), 0);
}

#[test]
fn full_wipe_keeps_only_the_layout() {
    let t = sysroot();
    let r = t.path();
    std::fs::write(r.join(KEEP_FILE), keep_regex(&[]).unwrap()).unwrap();
    let s = execute(r).unwrap().unwrap();
    assert!(s.failures.is_empty(), "{:?}", s.failures);
    assert_eq!(
        std::fs::read_dir(r.join("var/lib/metalos/etc/upper"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(std::fs::read_dir(r.join("home")).unwrap().count(), 0);
    // var keeps only lib/metalos (the state mount point) and its parent.
    let var: Vec<_> = std::fs::read_dir(r.join("var"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(var, ["lib"]);
    assert!(exists(r, "var/lib/metalos/provisioning/user.ign"));
}
