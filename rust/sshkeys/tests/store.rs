//! Opening, changing and committing a user's key sets on a temp home.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use metalos_sshkeys::{
    parse_passwd, AddOutcome, AuthorizedKeys, Error, KeySet, Lock, User, HEADER, IGNITION_SET,
    LOCK_FILE,
};

fn open(home: &Home) -> AuthorizedKeys {
    AuthorizedKeys::open(&home.user, None).unwrap()
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn sets_are_sorted_by_name_and_keys_keep_file_order() {
    let home = Home::new();
    home.write_fragment("b", &format!("{VALID2}\n{VALID1}\n"));
    home.write_fragment("a", &format!("{VALID3}\n"));
    home.write_fragment("B", &format!("{VALID4}\n"));
    home.write_fragment(IGNITION_SET, &format!("# from Ignition\n{VALID1}\n"));
    let mut keys = open(&home);
    assert_eq!(
        keys.sets().keys().collect::<Vec<_>>(),
        ["B", "a", "b", "ignition"]
    );
    keys.commit().unwrap();
    assert_eq!(
        home.authorized_keys(),
        format!("{HEADER}\n{VALID4}\n{VALID3}\n{VALID2}\n{VALID1}\n{VALID1}\n")
    );
    // Unchanged fragments are not rewritten (their comments stay).
    let ign = std::fs::read_to_string(home.fragment(IGNITION_SET)).unwrap();
    assert!(ign.starts_with("# from Ignition"));
}

#[test]
fn modes_and_layout() {
    let home = Home::new();
    let mut keys = open(&home);
    keys.add("one", KeySet::parse(VALID1), true, false).unwrap();
    let path = keys.commit().unwrap();
    assert_eq!(path, home.ssh().join("authorized_keys"));
    assert_eq!(mode(&home.ssh()), 0o700);
    assert_eq!(mode(&home.ssh().join("authorized_keys.d")), 0o700);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&home.fragment("one")), 0o600);
    assert_eq!(mode(&home.dir.path().join(LOCK_FILE)), 0o600);
    assert_eq!(
        std::fs::read_to_string(home.fragment("one")).unwrap(),
        format!("{VALID1}\n")
    );
    let leftovers: Vec<_> = std::fs::read_dir(home.ssh().join("authorized_keys.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn bad_lines_stay_in_the_fragment_but_not_in_authorized_keys() {
    let home = Home::new();
    let mut keys = open(&home);
    let set = KeySet::parse(&format!("{BAD}\n{VALID3}\n"));
    assert_eq!(
        keys.add("mixed", set, true, false).unwrap(),
        AddOutcome::Added
    );
    keys.commit().unwrap();
    assert_eq!(home.authorized_keys(), format!("{HEADER}\n{VALID3}\n"));
    assert_eq!(
        std::fs::read_to_string(home.fragment("mixed")).unwrap(),
        format!("{BAD}\n{VALID3}\n")
    );
}

#[test]
fn add_replace_no_replace_disabled_force() {
    let home = Home::new();
    let mut keys = open(&home);
    let add = |k: &mut AuthorizedKeys, key: &str, replace, force| {
        k.add("one", KeySet::parse(key), replace, force).unwrap()
    };
    assert_eq!(add(&mut keys, VALID1, true, false), AddOutcome::Added);
    assert_eq!(add(&mut keys, VALID2, false, false), AddOutcome::Exists);
    assert_eq!(add(&mut keys, VALID2, false, true), AddOutcome::Exists);
    assert_eq!(keys.render(), format!("{HEADER}\n{VALID1}\n"));
    assert_eq!(add(&mut keys, VALID2, true, false), AddOutcome::Added);
    assert_eq!(keys.render(), format!("{HEADER}\n{VALID2}\n"));
    assert_eq!(
        add(&mut keys, "# only a comment\n", true, false),
        AddOutcome::Empty
    );
    assert_eq!(keys.render(), format!("{HEADER}\n{VALID2}\n"));

    let old = keys.disable("one").unwrap().unwrap();
    assert_eq!(old.keys().count(), 1);
    assert_eq!(keys.render(), format!("{HEADER}\n"));
    assert_eq!(add(&mut keys, VALID1, true, false), AddOutcome::Disabled);
    assert_eq!(add(&mut keys, VALID1, false, true), AddOutcome::Exists);
    assert_eq!(add(&mut keys, VALID1, true, true), AddOutcome::Added);
    assert_eq!(keys.render(), format!("{HEADER}\n{VALID1}\n"));
}

#[test]
fn only_disabled_sets_give_the_header_only() {
    let home = Home::new();
    home.write_fragment("one", &format!("{VALID1}\n"));
    let mut keys = open(&home);
    assert!(keys.disable("one").unwrap().is_some());
    assert!(keys.disable("never-existed").unwrap().is_none());
    keys.commit().unwrap();
    assert_eq!(home.authorized_keys(), format!("{HEADER}\n"));
    assert_eq!(std::fs::read(home.fragment("one")).unwrap(), b"");
    assert_eq!(std::fs::read(home.fragment("never-existed")).unwrap(), b"");
    drop(keys);
    let keys = open(&home);
    assert!(keys.get("one").unwrap().is_disabled());
}

#[test]
fn no_sets_fails_and_leaves_authorized_keys_untouched() {
    let home = Home::new();
    let mut keys = open(&home);
    let err = keys.commit().unwrap_err();
    assert!(matches!(err, Error::NoKeysFound(_)), "{err}");
    assert!(err.to_string().starts_with("no keys found in "));
    assert!(home.ssh().join("authorized_keys.d").is_dir());
    assert!(!home.ssh().join("authorized_keys").exists());
    drop(keys);

    // Deleting the last set removes its fragment but keeps authorized_keys.
    home.write_fragment("one", &format!("{VALID1}\n"));
    let mut keys = open(&home);
    keys.commit().unwrap();
    assert!(keys.remove("one").unwrap().is_some());
    assert!(matches!(keys.commit(), Err(Error::NoKeysFound(_))));
    assert!(!home.fragment("one").exists());
    assert_eq!(home.authorized_keys(), format!("{HEADER}\n{VALID1}\n"));
}

#[test]
fn commit_allowing_no_keys_empties_authorized_keys() {
    let home = Home::new();
    home.write_fragment("coreos-metadata", &format!("{VALID1}\n"));
    let mut keys = open(&home);
    keys.commit().unwrap();
    assert_eq!(home.authorized_keys(), format!("{HEADER}\n{VALID1}\n"));
    assert!(keys.remove("coreos-metadata").unwrap().is_some());
    let path = keys.commit_allowing_no_keys().unwrap();
    assert_eq!(path, home.ssh().join("authorized_keys"));
    assert!(!home.fragment("coreos-metadata").exists());
    assert_eq!(home.authorized_keys(), format!("{HEADER}\n"));
}

#[test]
fn existing_authorized_keys_is_imported_once() {
    let home = Home::new();
    std::fs::create_dir(home.ssh()).unwrap();
    let old = format!("# hand-written\n{VALID1}\n\n{BAD}\n{VALID2}\n");
    std::fs::write(home.ssh().join("authorized_keys"), &old).unwrap();
    let mut keys = open(&home);
    assert_eq!(
        keys.sets().keys().collect::<Vec<_>>(),
        ["old_authorized_keys"]
    );
    keys.commit().unwrap();
    assert_eq!(
        std::fs::read_to_string(home.fragment("old_authorized_keys")).unwrap(),
        format!("{VALID1}\n{BAD}\n{VALID2}\n")
    );
    assert_eq!(
        home.authorized_keys(),
        format!("{HEADER}\n{VALID1}\n{VALID2}\n")
    );
    drop(keys);
    // Once the directory exists, authorized_keys is output only.
    std::fs::write(home.ssh().join("authorized_keys"), format!("{VALID3}\n")).unwrap();
    let keys = open(&home);
    assert_eq!(keys.sets().len(), 1);
    assert_eq!(keys.render(), format!("{HEADER}\n{VALID1}\n{VALID2}\n"));
}

#[test]
fn directory_problems_are_errors() {
    let home = Home::new();
    std::fs::create_dir_all(home.fragment("nested")).unwrap();
    let err = AuthorizedKeys::open(&home.user, None).unwrap_err();
    assert!(matches!(err, Error::NestedDirectory(_)), "{err}");

    let home = Home::new();
    std::fs::create_dir(home.ssh()).unwrap();
    std::fs::write(home.ssh().join("authorized_keys.d"), VALID1).unwrap();
    let err = AuthorizedKeys::open(&home.user, None).unwrap_err();
    assert!(matches!(err, Error::NotADirectory(_)), "{err}");

    let home = Home::new();
    home.write_fragment(".one.swp", "garbage");
    home.write_fragment("one", VALID1);
    assert_eq!(open(&home).sets().len(), 1, "dot files are skipped");
}

#[test]
fn names_are_validated() {
    let home = Home::new();
    let mut keys = open(&home);
    for name in ["", ".hidden", "..", "a/b", "/abs", "nul\0"] {
        let err = keys
            .add(name, KeySet::parse(VALID1), true, false)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{name:?}: {err}");
        assert!(keys.remove(name).is_err());
        assert!(keys.disable(name).is_err());
    }
    for name in ["ignition", "coreos-metadata", "a.b", "x-1_2", "has space"] {
        assert!(
            keys.add(name, KeySet::parse(VALID1), true, false).is_ok(),
            "{name}"
        );
    }
}

#[test]
fn ssh_dir_override_keeps_the_lock_in_home() {
    let home = Home::new();
    let other = home.dir.path().join("elsewhere");
    let mut keys = AuthorizedKeys::open(&home.user, Some(&other)).unwrap();
    keys.add("one", KeySet::parse(VALID3), true, false).unwrap();
    keys.commit().unwrap();
    assert!(other.join("authorized_keys.d/one").is_file());
    assert!(home.dir.path().join(LOCK_FILE).is_file());
    assert!(!home.ssh().exists());
}

#[test]
fn the_lock_is_exclusive_and_held_until_drop() {
    let home = Home::new();
    let lock_path = home.dir.path().join(LOCK_FILE);
    let keys = open(&home);
    assert!(Lock::try_acquire(&lock_path).unwrap().is_none());

    let (tx, rx) = mpsc::channel();
    let user = home.user.clone();
    let waiter = std::thread::spawn(move || {
        let keys = AuthorizedKeys::open(&user, None).unwrap();
        tx.send(()).unwrap();
        drop(keys);
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "second open must block"
    );
    drop(keys);
    rx.recv_timeout(Duration::from_secs(10))
        .expect("second open proceeds after drop");
    waiter.join().unwrap();
    assert!(Lock::try_acquire(&lock_path).unwrap().is_some());
}

#[test]
fn passwd_lookup() {
    let text =
        "root:x:0:0:root:/root:/bin/sh\ncore:x:500:501:Core:/home/core:/bin/bash\nbroken:x:1\n";
    let core = parse_passwd(text, "core").unwrap().unwrap();
    assert_eq!(
        (core.uid, core.gid, core.home.to_str().unwrap()),
        (500, 501, "/home/core")
    );
    assert!(parse_passwd(text, "nobody").unwrap().is_none());
    assert!(parse_passwd(text, "broken").is_err());
    assert!(parse_passwd(text, "cor").unwrap().is_none());

    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("etc")).unwrap();
    std::fs::write(root.path().join("etc/passwd"), text).unwrap();
    let user = User::lookup_in_root(root.path(), "core").unwrap();
    assert_eq!(user.home, root.path().join("home/core"));
    assert!(matches!(
        User::lookup_in_root(root.path(), "x"),
        Err(Error::UnknownUser(_))
    ));
    assert_eq!(User::lookup("root").unwrap().uid, 0);
}
