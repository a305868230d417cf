//! Exclude patterns of `[[usr.trees]]` (`exclude = ["share/doc", "share/locale/*"]`).
//!
//! A pattern is a relative path whose components may use `*` (any run of
//! characters except `/`) and `?` (one character except `/`). It excludes
//! every path whose leading components it matches: excluding a directory
//! excludes everything inside it. Patterns are matched against paths
//! relative to the tree's source directory.

use crate::source::check_relative;

/// Checks that `pattern` is a usable exclude pattern.
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() || pattern.ends_with('/') || pattern.contains("//") {
        return Err(format!("{pattern:?} is not a clean relative path"));
    }
    check_relative(pattern)?;
    if pattern.split('/').any(|c| c == "." || c.contains("**")) {
        return Err(format!(
            "{pattern:?} must not contain `.` components or `**` (a pattern also excludes everything below what it matches)"
        ));
    }
    Ok(())
}

/// Whether `pattern` excludes `path` (both relative, `/`-separated).
pub fn exclude_matches(pattern: &str, path: &str) -> bool {
    let mut parts = path.split('/');
    pattern.split('/').all(|p| {
        parts
            .next()
            .is_some_and(|c| glob(p.as_bytes(), c.as_bytes()))
    })
}

/// Matches one component: `*` any run, `?` one byte, anything else itself.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|i| glob(rest, &text[i..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_exclude_everything_below() {
        assert!(exclude_matches("share/doc", "share/doc"));
        assert!(exclude_matches("share/doc", "share/doc/bash/README"));
        assert!(!exclude_matches("share/doc", "share/doc-base"));
        assert!(!exclude_matches("share/doc", "share"));
        assert!(!exclude_matches("share/doc", "lib/share/doc"));
    }

    #[test]
    fn globs_stay_within_a_component() {
        assert!(exclude_matches(
            "share/locale/*",
            "share/locale/de/LC_MESSAGES/x.mo"
        ));
        assert!(!exclude_matches("share/locale/*", "share/locale"));
        assert!(exclude_matches("lib/*.a", "lib/libc.a"));
        assert!(!exclude_matches("lib/*.a", "lib/x/libc.a"));
        assert!(exclude_matches("*/man?", "share/man1"));
        assert!(!exclude_matches("*/man?", "share/man"));
        assert!(exclude_matches(
            "ssh/ssh_host_*",
            "ssh/ssh_host_ed25519_key"
        ));
    }

    #[test]
    fn bad_patterns_are_rejected() {
        for p in ["", "/etc", "a/../b", "a/", "a//b", "./a", "a/**/b"] {
            assert!(check_pattern(p).is_err(), "{p:?}");
        }
        check_pattern("share/*/man?").unwrap();
    }

    const DISK: &str = "[disk]\nsize = \"64MiB\"\nseed = \"6d6e5f1c-0b7a-4c44-9d1e-3f0c8a2b4e51\"\n\
        [[partitions]]\nslot = 1\nlabel = \"USR\"\ntype = \"usr-x86-64\"\nsize = \"32MiB\"\ncontent = \"usr\"\n";

    #[test]
    fn spec_trees_parse() {
        let spec = crate::spec::ImageSpec::parse(&format!(
            "{DISK}[[usr.trees]]\nsource = {{ input = \"rootfs\", path = \"usr\" }}\n\
             [[usr.trees]]\nsource = {{ input = \"rootfs\", path = \"etc\" }}\n\
             path = \"share/metalos/etc\"\nexclude = [\"ssh/ssh_host_*\"]\n"
        ))
        .unwrap();
        let trees = &spec.usr.trees;
        assert_eq!(trees.len(), 2);
        assert_eq!(trees[0].path, "");
        assert_eq!(trees[0].source.path.as_deref(), Some("usr"));
        assert_eq!(trees[1].path, "share/metalos/etc");
        assert_eq!(trees[1].exclude, ["ssh/ssh_host_*"]);
    }

    #[test]
    fn spec_tree_errors_name_the_field() {
        let err = |tail: &str| {
            crate::spec::ImageSpec::parse(&format!("{DISK}{tail}"))
                .unwrap_err()
                .to_string()
        };
        let e = err("[[usr.trees]]\nsource = { input = \"r\" }\npath = \"/abs\"\n");
        assert!(e.starts_with("usr.trees[0].path: "), "{e}");
        let e = err("[[usr.trees]]\nsource = { input = \"r\" }\nexclude = [\"ok\", \"../x\"]\n");
        assert!(e.starts_with("usr.trees[0].exclude[1]: "), "{e}");
        let e = err("[[usr.trees]]\nsource = { text = \"x\" }\n");
        assert!(e.starts_with("usr.trees[0].source: "), "{e}");
        let e = err("[[usr.trees]]\nsource = { input = \"r\" }\nmode = \"0755\"\n");
        assert!(e.contains("usr.trees"), "{e}");
    }
}
