//! Lists the regular files under a directory, recursively (shared by the
//! test crate's build script and its image cache).

use std::path::{Path, PathBuf};

/// Appends every regular file under `dir` to `files`.
pub fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            walk(&e.path(), files);
        } else if t.is_file() {
            files.push(e.path());
        }
    }
}
