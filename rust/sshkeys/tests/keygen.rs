//! Fingerprints and sizes against `ssh-keygen -lf` on freshly generated keys
//! (skipped, loudly, when ssh-keygen is not installed).

use std::path::Path;
use std::process::Command;

use metalos_sshkeys::{KeySet, PublicKey};

fn keygen_available() -> bool {
    let ok = Command::new("ssh-keygen").arg("-?").output().is_ok();
    if !ok {
        eprintln!("SKIPPED: ssh-keygen not installed (package openssh-client)");
    }
    ok
}

fn generate(dir: &Path, name: &str, args: &[&str]) -> (String, String) {
    let key = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", &format!("{name} test key")])
        .args(args)
        .arg("-f")
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success(), "ssh-keygen {args:?}");
    let pub_path = key.with_extension("pub");
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&pub_path)
        .output()
        .unwrap();
    assert!(out.status.success());
    (
        std::fs::read_to_string(pub_path).unwrap(),
        String::from_utf8(out.stdout).unwrap().trim().to_string(),
    )
}

#[test]
fn generated_keys_match_ssh_keygen() {
    if !keygen_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let kinds: &[(&str, &[&str])] = &[
        ("ed25519", &["-t", "ed25519"]),
        ("rsa2048", &["-t", "rsa", "-b", "2048"]),
        ("rsa3072", &["-t", "rsa", "-b", "3072"]),
        ("ecdsa256", &["-t", "ecdsa", "-b", "256"]),
        ("ecdsa384", &["-t", "ecdsa", "-b", "384"]),
        ("ecdsa521", &["-t", "ecdsa", "-b", "521"]),
    ];
    for (name, args) in kinds {
        let (text, expected) = generate(dir.path(), name, args);
        let key = PublicKey::parse(&text).unwrap();
        assert_eq!(key.fingerprint_line(), expected, "{name}");
        // With options in front, the fingerprint is the same.
        let with_opts = PublicKey::parse(&format!("no-pty,command=\"x y\" {text}")).unwrap();
        assert_eq!(with_opts.fingerprint(), key.fingerprint());
    }
}

#[test]
fn a_whole_file_matches_ssh_keygen_line_by_line() {
    if !keygen_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = generate(dir.path(), "a", &["-t", "ed25519"]);
    let (b, _) = generate(dir.path(), "b", &["-t", "ecdsa"]);
    let file = dir.path().join("authorized_keys");
    std::fs::write(&file, format!("# c\n{a}restrict {b}")).unwrap();
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&file)
        .output()
        .unwrap();
    let expected: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let set = KeySet::parse(&std::fs::read_to_string(&file).unwrap());
    let ours: Vec<String> = set.keys().map(|k| k.fingerprint_line()).collect();
    assert_eq!(ours, expected);
}
