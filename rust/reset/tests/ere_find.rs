//! Differential test of the ERE matcher against GNU `find -regextype
//! egrep -regex` (whole-path match) on a real directory tree: for every
//! pattern, the set of paths find prints must be the set the matcher
//! accepts, and a pattern find refuses must be refused. Patterns GNU
//! accepts but MetalOS refuses are listed separately (docs/reset.md).
//!
//! Run: `cargo test -p metalos-reset --test ere_find` (needs GNU findutils).

use metalos_reset::ere::Matcher;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

const NAMES: &[&str] = &[
    "a",
    "aa",
    "aaa",
    "ab",
    "ad",
    "b",
    "d",
    "A",
    "_",
    "a_b",
    "a b",
    "a.b",
    "a\\b",
    "a{x",
    "a{1",
    "a)",
    "a|b",
    "a]",
    "a-",
    "a^",
    "a$",
    "1a",
    "12",
    "x{",
    "{x",
    "nl\nx",
    "tab\tx",
    "é",
    "aé",
    "a.conf",
    "ssh_host_rsa_key",
    "ssh_host_rsa_key.pub",
    "(x)",
    "[x]",
    "x",
    "1}a",
    "+",
    "?",
    "*",
];

const PATTERNS: &[&str] = &[
    // literals, escapes, dots
    r"\./a",
    r"\./a\.b",
    r"\./a.b",
    r"\./a\\b",
    r"\./a\d",
    r"\./\a",
    r"\./a\|b",
    r"\./a|b",
    r"\./nl.x",
    r"\./tab.x",
    r"\./.",
    r"\./..",
    r"\./a.",
    r".*",
    r"\..*",
    "",
    // brackets
    r"\./a[\.]b",
    r"\./a[\]b",
    r"\./[a\]",
    r"\./a[]]",
    r"\./a[^]a]",
    r"\./a[-]",
    r"\./a[a-]",
    r"\./[[:digit:]]a",
    r"\./[[:digit:]]+",
    r"\./[[:alpha:]]",
    r"\./[[:upper:]]",
    r"\./a[[:space:]]b",
    r"\./[[:punct:]]",
    r"\./[^[:alnum:]]",
    r"\./[[.a.]]",
    r"\./[[=a=]]",
    r"\./a[[.-.]]",
    r"\./a[[=a=]b]",
    r"\./nl[^a]x",
    r"\./[(]x[)]",
    r"\./\[x]",
    r"\./[[]x]",
    r"\./[[:foo:]]",
    r"\./[z-a]",
    r"\./[a-c-e]",
    r"\./a[[.space.]]b",
    r"\./[[.]",
    r"\./[[:alpha:]",
    r"\./[[:alpha:]-z]",
    r"\./[a",
    r"\./[a-z]+",
    r"\./[^a]",
    // repetition, POSIX (no lazy operators)
    r"\./a+?",
    r"\./a*?",
    r"\./a??",
    r"\./a**",
    r"\./a+*",
    r"\./a{2}",
    r"\./a{,2}",
    r"\./a{1,}",
    r"\./a{2,3}",
    r"\./a{1}{2}",
    r"\./a{1}?",
    r"\./a{,1}{2}",
    r"\./a{,}",
    r"\./a{x",
    r"\./a\{x",
    r"\./a{1",
    r"\./x{",
    r"\./a{x?",
    r"\./a*{x",
    r"\./a{1,2,3}",
    r"\./a{1a}",
    r"\./a{1,a}",
    r"\./a{,1}b",
    r"\./a{0}b",
    r"\./a{}",
    r"\./a{2,1}",
    r"\./a{32768}",
    r"\./(a|b)+",
    // leading operators are ignored by GNU
    r"(\./)(*a)",
    r"(\./)(+a)",
    r"\./(?a)",
    r"^*\./a",
    r"\./({x)",
    r"\./({1}a)",
    r"{\./a",
    r"\./a|{b",
    r"\./a|*\./b",
    // groups and alternation
    r"\./()a",
    r"\./a||b",
    r"\./a|",
    r"|\./a",
    r"\./a)",
    r"\./(a))",
    r"\./(a",
    r"(\./a|\./ab)",
    r"(\./ab|\./a)",
    r"\./(a|aa)a",
    r"\./\(x\)",
    r"\./(x)",
    // anchors and GNU operators
    r"^\./a$",
    r"\./a$b",
    r"\./a\$",
    r"\./a\^",
    r"\./\w",
    r"\./\w+",
    r"\./\W",
    r"\./a\s.",
    r"\./a\S",
    r"\./\<a",
    r"\./a\>",
    r"\./a\bb",
    r"\./\`a",
    r"\./a\'",
    r"\./a\",
    // keep-regex shapes
    r"(/x/.*|\./ssh_host_.*|\./dir/.*|\./dir)",
    r"(\./dir/sub|\./a)",
    r"(|\./b)",
    r"(\./.*\.conf)",
    r"(^\./dir)",
    r"\./dir/su[b]",
    r"\./dir/sub/.*",
    r"\./\+",
    r"\./\?",
    r"\./\*",
    r"\./+",
    r"\./é",
    r"\./a.",
    r"\./a[é]",
    r"\./[[:alpha:]]é",
];

/// Character classes are ASCII in MetalOS; glibc's C.UTF-8 also counts
/// letters such as `é`. These patterns are compared on ASCII paths only.
const ASCII_CLASSES: &[&str] = &[
    r"\./[[:alpha:]]",
    r"\./[^[:alnum:]]",
    r"\./\w",
    r"\./\w+",
    r"\./\W",
];

/// Accepted by GNU, refused by MetalOS (documented deviations).
const REFUSED: &[&str] = &[r"\./(a)\1", r"(\./a)\1"];

fn tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for n in NAMES {
        std::fs::write(t.path().join(n), b"").unwrap();
    }
    std::fs::create_dir_all(t.path().join("dir/sub")).unwrap();
    std::fs::write(t.path().join("dir/sub/file"), b"").unwrap();
    std::fs::write(t.path().join("dir/x.conf"), b"").unwrap();
    t
}

/// `find . -regextype egrep -regex P -print0` in `dir`: `Ok(paths)` or `Err(stderr)`.
fn find(dir: &Path, pattern: &str) -> Result<BTreeSet<Vec<u8>>, String> {
    let mut cmd = Command::new("find");
    cmd.current_dir(dir)
        .env("LC_ALL", "C.UTF-8")
        .args([".", "-regextype", "egrep", "-regex"]);
    cmd.arg(pattern).arg("-print0");
    let out = cmd
        .output()
        .expect("GNU find (findutils) is needed for this test");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

#[test]
fn matches_gnu_find() {
    let t = tree();
    let all = find(t.path(), ".*").unwrap();
    assert!(all.len() > NAMES.len(), "{all:?}");
    let mut failures = Vec::new();
    for p in PATTERNS {
        let ours = Matcher::new(p);
        match (find(t.path(), p), ours) {
            (Ok(expected), Ok(m)) => {
                let mut expected = expected;
                let mut got: BTreeSet<Vec<u8>> =
                    all.iter().filter(|x| m.is_match(x)).cloned().collect();
                if ASCII_CLASSES.contains(p) {
                    expected.retain(|x| x.is_ascii());
                    got.retain(|x| x.is_ascii());
                }
                if got != expected {
                    let show = |s: &BTreeSet<Vec<u8>>| {
                        s.iter()
                            .map(|x| OsStr::from_bytes(x).to_string_lossy().into_owned())
                            .collect::<Vec<_>>()
                    };
                    failures.push(format!(
                        "{p:?}: find {:?}, ours {:?}",
                        show(&expected),
                        show(&got)
                    ));
                }
            }
            (Err(_), Err(_)) => {}
            (Ok(e), Err(err)) => failures.push(format!(
                "{p:?}: find accepts ({} paths), we refuse: {err}",
                e.len()
            )),
            (Err(e), Ok(_)) => {
                failures.push(format!("{p:?}: find refuses ({}), we accept", e.trim()))
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} patterns differ:\n{}",
        failures.len(),
        PATTERNS.len(),
        failures.join("\n")
    );
}

#[test]
fn documented_refusals() {
    let t = tree();
    for p in REFUSED {
        assert!(find(t.path(), p).is_ok(), "GNU should accept {p:?}");
        assert!(Matcher::new(p).is_err(), "MetalOS should refuse {p:?}");
    }
}
