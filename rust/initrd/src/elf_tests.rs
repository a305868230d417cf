use super::*;
use std::process::Command;

fn initrd_paths(c: &[LibFile]) -> Vec<&str> {
    c.iter().map(|f| f.initrd_path.as_str()).collect()
}

#[test]
fn ls_closure_has_interpreter_and_libc() {
    let exe = [(PathBuf::from("/bin/ls"), "/bin/ls".to_string())];
    let c = closure(&exe, &LibrarySearch::default()).unwrap();
    let paths = initrd_paths(&c);
    assert!(paths.windows(2).all(|w| w[0] < w[1]), "sorted: {paths:?}");
    assert!(
        paths.contains(&"/lib/x86_64-linux-gnu/libc.so.6"),
        "{paths:?}"
    );
    let interp = c
        .iter()
        .find(|f| f.initrd_path == "/lib64/ld-linux-x86-64.so.2")
        .unwrap();
    // On Debian the interpreter path is a symlink; its target is included too.
    if let Some(t) = &interp.symlink_target {
        let resolved = lexical(&format!("/lib64/{t}"));
        let resolved = if t.starts_with('/') {
            t.clone()
        } else {
            resolved
        };
        assert!(
            paths.contains(&resolved.as_str()),
            "{resolved} in {paths:?}"
        );
    }
    for f in &c {
        if f.symlink_target.is_none() {
            assert!(std::fs::metadata(&f.host_path).unwrap().is_file());
        }
    }
    assert_eq!(
        c,
        closure(&exe, &LibrarySearch::default()).unwrap(),
        "deterministic"
    );
}

#[test]
fn python_via_symlinked_path() {
    let exe = [(
        PathBuf::from("/usr/bin/python3"),
        "/usr/bin/python3".to_string(),
    )];
    let Ok(c) = closure(&exe, &LibrarySearch::default()) else {
        return; // python3 missing or unusual; covered by the ls test
    };
    let paths = initrd_paths(&c);
    for lib in ["libz.so.1", "libexpat.so.1", "libm.so.6", "libc.so.6"] {
        assert!(
            paths.iter().any(|p| p.ends_with(&format!("/{lib}"))),
            "{lib} in {paths:?}"
        );
    }
}

#[test]
fn static_and_non_elf_have_empty_closure() {
    if Path::new("/bin/busybox").exists() {
        let info = inspect(&std::fs::read("/bin/busybox").unwrap())
            .unwrap()
            .unwrap();
        if info.interpreter.is_none() && info.needed.is_empty() {
            let exe = [(PathBuf::from("/bin/busybox"), "/bin/busybox".into())];
            assert!(closure(&exe, &LibrarySearch::default()).unwrap().is_empty());
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("s");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    assert!(
        closure(&[(script, "/init".into())], &LibrarySearch::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn unresolvable_library_names_binary_and_library() {
    let tmp = tempfile::tempdir().unwrap();
    let search = LibrarySearch {
        default_dirs: vec![tmp.path().to_path_buf()],
    };
    let e = closure(&[(PathBuf::from("/bin/ls"), "/bin/ls".into())], &search).unwrap_err();
    let msg = e.to_string();
    // /bin/ls is resolved to its real path; its interpreter is found by path.
    assert!(msg.contains("ls needs lib"), "{msg}");
    assert!(msg.contains(".so"), "{msg}");
}

fn gcc(args: &[&str], dir: &Path) -> bool {
    Command::new("gcc")
        .args(args)
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success())
}

/// Builds `app/lib/libfoo.so.1 -> libfoo.so.1.0` and two programs using it:
/// `app/bin/prog` (RUNPATH `$ORIGIN/../lib`) and `app/bin/prog2` (absolute RPATH).
fn build_app(root: &Path) -> Option<PathBuf> {
    let app = root.join("app");
    std::fs::create_dir_all(app.join("lib")).unwrap();
    std::fs::create_dir_all(app.join("bin")).unwrap();
    std::fs::write(root.join("foo.c"), "int foo(void){return 42;}\n").unwrap();
    std::fs::write(
        root.join("main.c"),
        "int foo(void);\nint main(void){return foo()-42;}\n",
    )
    .unwrap();
    let lib = app.join("lib");
    let ok = gcc(
        &[
            "-shared",
            "-fPIC",
            "-o",
            "app/lib/libfoo.so.1.0",
            "-Wl,-soname,libfoo.so.1",
            "foo.c",
        ],
        root,
    );
    if !ok {
        return None;
    }
    std::os::unix::fs::symlink("libfoo.so.1.0", lib.join("libfoo.so.1")).unwrap();
    std::os::unix::fs::symlink("libfoo.so.1", lib.join("libfoo.so")).unwrap();
    let abs = format!("-Wl,-rpath,{}", lib.display());
    let ok = gcc(
        &[
            "-o",
            "app/bin/prog",
            "main.c",
            "-Lapp/lib",
            "-lfoo",
            "-Wl,--enable-new-dtags",
            "-Wl,-rpath,$ORIGIN/../lib",
        ],
        root,
    ) && gcc(
        &[
            "-o",
            "app/bin/prog2",
            "main.c",
            "-Lapp/lib",
            "-lfoo",
            "-Wl,--disable-new-dtags",
            &abs,
        ],
        root,
    );
    ok.then_some(app)
}

#[test]
fn origin_runpath_and_absolute_rpath() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(app) = build_app(tmp.path()) else {
        eprintln!("gcc unavailable; skipping");
        return;
    };
    let info = inspect(&std::fs::read(app.join("bin/prog")).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(info.runpath, ["$ORIGIN/../lib"]);
    assert!(info.needed.contains(&"libfoo.so.1".to_string()));
    // $ORIGIN follows the executable's place in the initrd.
    let c = closure(
        &[(app.join("bin/prog"), "/opt/x/bin/prog".into())],
        &LibrarySearch::default(),
    )
    .unwrap();
    let foo: Vec<_> = c
        .iter()
        .filter(|f| f.initrd_path.contains("libfoo"))
        .collect();
    assert_eq!(foo.len(), 2, "{foo:?}");
    assert_eq!(foo[0].initrd_path, "/opt/x/lib/libfoo.so.1");
    assert_eq!(foo[0].symlink_target.as_deref(), Some("libfoo.so.1.0"));
    assert_eq!(foo[1].initrd_path, "/opt/x/lib/libfoo.so.1.0");
    assert_eq!(foo[1].host_path, app.join("lib/libfoo.so.1.0"));
    // An absolute RPATH (as in /nix/store) keeps its path.
    let c = closure(
        &[(app.join("bin/prog2"), "/bin/prog2".into())],
        &LibrarySearch::default(),
    )
    .unwrap();
    let want = format!("{}/libfoo.so.1.0", app.join("lib").display());
    assert!(initrd_paths(&c).contains(&want.as_str()), "{c:?}");
    // Remove the library: the error names the program and the library.
    std::fs::remove_file(app.join("lib/libfoo.so.1")).unwrap();
    let e = closure(
        &[(app.join("bin/prog"), "/bin/prog".into())],
        &LibrarySearch::default(),
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("bin/prog needs libfoo.so.1"), "{msg}");
}
