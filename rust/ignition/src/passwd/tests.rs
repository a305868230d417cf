//! Unit tests of the passwd planner against temporary roots (no root
//! privileges needed; see `tests/passwd_diff.rs` for the comparison
//! with the real shadow-utils).

use super::*;
use std::os::unix::fs::PermissionsExt;

fn root_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let p = t.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    t
}

fn base() -> tempfile::TempDir {
    root_with(&[
        ("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n+@nis::::::\n"),
        ("etc/shadow", "root:*:1:0:99999:7:::\n"),
        ("etc/group", "root:x:0:\n# keep me\nwheel:x:10:\nshadow:x:42:\n"),
        ("etc/gshadow", "root:*::\nwheel:*::\n"),
        ("etc/login.defs", "USERGROUPS_ENAB yes\nPASS_MAX_DAYS 99999\nPASS_MIN_DAYS 0\nPASS_WARN_AGE 7\nUMASK 027\n"),
        ("etc/skel/.profile", "p\n"),
        ("etc/skel/sub/inner", "i\n"),
    ])
}

fn user(name: &str) -> User {
    User {
        name: name.into(),
        ..Default::default()
    }
}

fn file<'a>(plan: &'a PasswdPlan, path: &str) -> Option<&'a Op> {
    plan.ops.iter().find(|o| o.path() == Path::new(path))
}

fn text(plan: &PasswdPlan, path: &str) -> String {
    match file(plan, path) {
        Some(Op::WriteFile { contents, .. }) => String::from_utf8(contents.clone()).unwrap(),
        other => panic!("{path}: {other:?}"),
    }
}

#[test]
fn new_user_lines_and_nis_order() {
    let t = base();
    let u = User {
        ssh_authorized_keys: vec!["ssh-ed25519 AAA a".into(), "ssh-rsa BBB b".into()],
        groups: vec!["wheel".into()],
        ..user("core")
    };
    let p = plan(t.path(), &[u], &[], 19_700).unwrap();
    assert_eq!(
        text(&p, "/etc/passwd"),
        "root:x:0:0:root:/root:/bin/bash\ncore:x:1000:1000::/home/core:/bin/bash\n+@nis::::::\n"
    );
    assert_eq!(
        text(&p, "/etc/shadow"),
        "root:*:1:0:99999:7:::\ncore:*:19700:0:99999:7:::\n"
    );
    assert_eq!(
        text(&p, "/etc/group"),
        "root:x:0:\n# keep me\nwheel:x:10:core\nshadow:x:42:\ncore:x:1000:\n"
    );
    assert_eq!(
        text(&p, "/etc/gshadow"),
        "root:*::\nwheel:*::core\ncore:!::\n"
    );
    assert_eq!(p.uid_of("core"), Some(1000));
    assert_eq!(p.gid_of("core"), Some(1000));
    assert_eq!(
        p.user("core"),
        Some((1000, 1000, PathBuf::from("/home/core")))
    );
    // Home 0777 & ~027, skeleton with its subdirectory, SSH fragment.
    let dir = |path: &str, mode: u32, uid: u32| Op::Directory {
        path: path.into(),
        attrs: Attrs {
            mode,
            uid,
            gid: uid,
        },
    };
    assert_eq!(file(&p, "/home"), Some(&dir("/home", 0o755, 0)));
    assert_eq!(
        file(&p, "/home/core"),
        Some(&dir("/home/core", 0o750, 1000))
    );
    assert!(
        matches!(file(&p, "/home/core/sub/inner"), Some(Op::WriteFile { attrs, .. }) if attrs.uid == 1000)
    );
    assert_eq!(
        file(&p, "/home/core/.ssh"),
        Some(&dir("/home/core/.ssh", 0o700, 1000))
    );
    assert_eq!(
        file(&p, "/home/core/.ssh/authorized_keys.d"),
        Some(&dir("/home/core/.ssh/authorized_keys.d", 0o700, 1000))
    );
    assert_eq!(
        file(&p, "/home/core/.ssh/authorized_keys.d/ignition"),
        Some(&Op::WriteFile {
            path: "/home/core/.ssh/authorized_keys.d/ignition".into(),
            contents: b"ssh-ed25519 AAA a\nssh-rsa BBB b\n".to_vec(),
            attrs: Attrs {
                mode: 0o600,
                uid: 1000,
                gid: 1000
            },
        })
    );
    // Deterministic.
    assert_eq!(plan(t.path(), &[user("core")], &[], 19_700).unwrap().ops, {
        plan(t.path(), &[user("core")], &[], 19_700).unwrap().ops
    });
}

#[test]
fn missing_files_defaults() {
    let t = root_with(&[]);
    let g = Group {
        name: "shadow".into(),
        gid: Some(42),
        ..Default::default()
    };
    let u = User {
        no_create_home: Some(true),
        ..user("a")
    };
    let p = plan(t.path(), &[u], &[g], 1).unwrap();
    let attrs = |path: &str| match file(&p, path) {
        Some(Op::WriteFile { attrs, .. }) => *attrs,
        o => panic!("{o:?}"),
    };
    assert_eq!(
        attrs("/etc/passwd"),
        Attrs {
            mode: 0o644,
            uid: 0,
            gid: 0
        }
    );
    assert_eq!(
        attrs("/etc/shadow"),
        Attrs {
            mode: 0o640,
            uid: 0,
            gid: 42
        }
    );
    assert_eq!(text(&p, "/etc/passwd"), "a:x:1000:100::/home/a:/bin/bash\n");
    // No login.defs: USERGROUPS_ENAB off, gid 100, aging fields empty.
    let t = root_with(&[]);
    let p = plan(
        t.path(),
        &[User {
            no_create_home: Some(true),
            ..user("a")
        }],
        &[],
        5,
    )
    .unwrap();
    assert_eq!(text(&p, "/etc/passwd"), "a:x:1000:100::/home/a:/bin/bash\n");
    assert_eq!(text(&p, "/etc/shadow"), "a:*:5::::::\n");
    assert!(file(&p, "/etc/group").is_none());
}

#[test]
fn errors_carry_json_paths() {
    let t = base();
    let err = |users: &[User], groups: &[Group]| {
        plan(t.path(), users, groups, 1).unwrap_err().to_string()
    };
    let u = User {
        primary_group: Some("nope".into()),
        ..user("a")
    };
    assert_eq!(
        err(&[user("b"), u], &[]),
        "passwd.users[1].primaryGroup: group 'nope' does not exist"
    );
    let u = User {
        groups: vec!["wheel".into(), "x".into()],
        ..user("a")
    };
    assert_eq!(
        err(&[u], &[]),
        "passwd.users[0].groups[1]: group 'x' does not exist"
    );
    let u = User {
        uid: Some(0),
        ..user("a")
    };
    assert_eq!(err(&[u], &[]), "passwd.users[0].uid: UID 0 is not unique");
    let g = Group {
        gid: Some(10),
        ..Default::default()
    };
    assert_eq!(
        err(
            &[],
            &[Group {
                name: "g".into(),
                ..g
            }]
        ),
        "passwd.groups[0].gid: GID '10' already exists"
    );
    let g = Group {
        name: "root".into(),
        should_exist: Some(false),
        ..Default::default()
    };
    assert!(
        err(&[], &[g]).starts_with("passwd.groups[0].shouldExist: cannot remove the primary group")
    );
    assert!(err(&[user("a:b")], &[]).starts_with("passwd.users[0].name"));
    assert!(err(
        &[User {
            gecos: Some("x:y".into()),
            ..user("a")
        }],
        &[]
    )
    .starts_with("passwd.users[0].gecos"));
    assert!(err(&[user("wheel")], &[]).starts_with("passwd.users[0].name: group wheel exists"));
}

#[test]
fn delete_and_no_change() {
    let t = base();
    let p = plan(t.path(), &[], &[], 1).unwrap();
    assert!(p.ops.is_empty());
    let gone = User {
        should_exist: Some(false),
        ..user("ghost")
    };
    assert!(plan(t.path(), &[gone], &[], 1).unwrap().ops.is_empty());
    let gone = User {
        should_exist: Some(false),
        ..user("root")
    };
    let p = plan(t.path(), &[gone], &[], 1).unwrap();
    assert_eq!(text(&p, "/etc/passwd"), "+@nis::::::\n");
    assert!(p.uid_of("root").is_none());
}

#[test]
fn existing_ssh_dir_kept_and_home_symlink_resolved() {
    let t = base();
    std::fs::create_dir_all(t.path().join("var/home/core/.ssh")).unwrap();
    std::os::unix::fs::symlink("var/home", t.path().join("home")).unwrap();
    std::fs::set_permissions(
        t.path().join("var/home/core"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let u = User {
        ssh_authorized_keys: vec!["k".into()],
        ..user("core")
    };
    let p = plan(t.path(), &[u], &[], 1).unwrap();
    // Home exists (through the /home symlink): no skeleton, no mkdir of .ssh.
    assert!(file(&p, "/var/home/core").is_none());
    assert!(file(&p, "/var/home/core/.ssh").is_none());
    assert!(file(&p, "/var/home/core/.ssh/authorized_keys.d").is_some());
    assert!(file(&p, "/var/home/core/.ssh/authorized_keys.d/ignition").is_some());
}
