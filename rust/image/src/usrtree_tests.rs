//! Tests of `[[usr.trees]]` walking and merging.

use super::*;
use std::os::unix::fs::{symlink, PermissionsExt};

/// Sets `mode`; where special bits are not allowed (the Nix build
/// sandbox refuses setuid/setgid/sticky with EPERM) sets `mode & 0o777`.
/// Returns the mode the file now has.
fn set_mode(p: &Path, mode: u32) -> u32 {
    match std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)) {
        Ok(()) => mode,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode & 0o777)).unwrap();
            mode & 0o777
        }
        Err(e) => panic!("chmod {}: {e}", p.display()),
    }
}

/// The mode `p` has on disk (permission and special bits).
fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// A small tree: `bin/su` (setuid), `share/doc/x`, `lib/link -> ../bin/su`, `tmp/` (sticky).
fn sample(root: &Path) {
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("share/doc")).unwrap();
    std::fs::create_dir_all(root.join("lib")).unwrap();
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    std::fs::write(root.join("bin/su"), b"su").unwrap();
    set_mode(&root.join("bin/su"), 0o4755);
    set_mode(&root.join("tmp"), 0o1777);
    std::fs::write(root.join("share/doc/x"), b"x").unwrap();
    symlink("../bin/su", root.join("lib/link")).unwrap();
}

fn paths(nodes: &[UsrNode]) -> Vec<&str> {
    nodes.iter().map(|n| n.path()).collect()
}

#[test]
fn walk_is_sorted_and_keeps_modes_and_links() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let nodes = walk_tree(dir.path(), "", &[]).unwrap();
    assert_eq!(
        paths(&nodes),
        [
            "bin",
            "bin/su",
            "lib",
            "lib/link",
            "share",
            "share/doc",
            "share/doc/x",
            "tmp"
        ]
    );
    match &nodes[1] {
        UsrNode::File { mode, .. } => {
            assert_eq!(u32::from(*mode), mode_of(&dir.path().join("bin/su")))
        }
        n => panic!("{n:?}"),
    }
    match &nodes[3] {
        UsrNode::Symlink { target, .. } => assert_eq!(target, "../bin/su"),
        n => panic!("{n:?}"),
    }
    match &nodes[7] {
        UsrNode::Dir { mode, .. } => assert_eq!(u32::from(*mode), mode_of(&dir.path().join("tmp"))),
        n => panic!("{n:?}"),
    }
}

#[test]
fn walk_places_under_dest_and_excludes() {
    let dir = tempfile::tempdir().unwrap();
    sample(dir.path());
    let nodes = walk_tree(
        dir.path(),
        "share/metalos/etc",
        &["share/doc".into(), "t*".into()],
    )
    .unwrap();
    assert_eq!(
        paths(&nodes),
        [
            "share/metalos/etc",
            "share/metalos/etc/bin",
            "share/metalos/etc/bin/su",
            "share/metalos/etc/lib",
            "share/metalos/etc/lib/link",
            "share/metalos/etc/share",
        ]
    );
}

#[test]
fn walk_refuses_fifos_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(status.success());
    let e = walk_tree(dir.path(), "", &[]).unwrap_err();
    assert!(e.contains("pipe is a fifo"), "{e}");
    assert!(walk_tree(dir.path(), "", &["pipe".into()])
        .unwrap()
        .is_empty());
}

#[test]
fn merge_rules() {
    let t = |nodes: Vec<UsrNode>| nodes;
    let tree_a = t(vec![
        UsrNode::dir("etc", 0o755),
        UsrNode::file("etc/os-release", 0o644, Resolved::Bytes(b"a".to_vec())),
    ]);
    let tree_b = t(vec![UsrNode::Dir {
        path: "etc".into(),
        mode: 0o750,
        uid: 0,
        gid: 42,
    }]);
    let explicit = vec![UsrNode::symlink("etc/os-release", "../lib/os-release")];
    let all = merge(
        explicit,
        vec![
            ("usr.trees[0]".into(), tree_a.clone()),
            ("usr.trees[1]".into(), tree_b),
        ],
    )
    .unwrap();
    assert_eq!(all.len(), 2);
    assert!(matches!(&all[0], UsrNode::Symlink { path, .. } if path == "etc/os-release"));
    assert!(matches!(
        &all[1],
        UsrNode::Dir {
            mode: 0o750,
            gid: 42,
            ..
        }
    ));

    let e = merge(
        vec![],
        vec![
            ("usr.trees[0]".into(), tree_a.clone()),
            ("usr.trees[1]".into(), tree_a.clone()),
        ],
    )
    .unwrap_err();
    assert_eq!(e.field, "usr.trees[1].source");
    assert!(e.message.contains("also provided by usr.trees[0]"), "{e}");

    let e = merge(
        vec![UsrNode::file("etc", 0o644, Resolved::Bytes(vec![]))],
        vec![("usr.trees[0]".into(), tree_a.clone())],
    )
    .unwrap_err();
    assert!(e.message.contains("is a directory in usr.trees[0]"), "{e}");

    let e = merge(
        vec![UsrNode::file(
            "etc/os-release/x",
            0o644,
            Resolved::Bytes(vec![]),
        )],
        vec![("usr.trees[0]".into(), tree_a)],
    )
    .unwrap_err();
    assert!(e.message.contains("is a file or link but"), "{e}");
}
