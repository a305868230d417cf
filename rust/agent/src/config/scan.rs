//! Finding the drop-ins: one file per name, the last directory's, minus
//! the names masked by a symlink to `/dev/null`.

use super::ConfigError;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The drop-ins to apply, in order, and the entries skipped.
pub(super) struct Scan {
    /// Files in lexicographic order of file name.
    pub files: Vec<PathBuf>,
    /// One line per skipped entry (not a regular file, dangling link).
    pub warnings: Vec<String>,
}

/// What a `*.toml` directory entry is.
enum Entry {
    /// A regular file (or a link to one): a drop-in.
    Fragment,
    /// A link to `/dev/null`: masks the name.
    Masked,
    /// Anything else, ignored (as liboverdrop does) with this reason.
    Skipped(&'static str),
}

fn classify(path: &Path) -> Entry {
    if std::fs::canonicalize(path).is_ok_and(|real| real == Path::new("/dev/null")) {
        return Entry::Masked;
    }
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Entry::Fragment,
        Ok(_) => Entry::Skipped("not a regular file"),
        Err(_) => Entry::Skipped("a dangling symlink or unreadable entry"),
    }
}

/// The sorted entry names of `dir` that may be drop-ins (`*.toml`, not
/// dotfiles); a missing directory has none.
fn candidates(dir: &Path) -> Result<Vec<OsString>, ConfigError> {
    let fail = |source| ConfigError::ReadDir {
        dir: dir.to_path_buf(),
        source,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(fail(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let name = entry.map_err(fail)?.file_name();
        let dotfile = name.as_encoded_bytes().starts_with(b".");
        let toml = Path::new(&name).extension().is_some_and(|e| e == "toml");
        if toml && !dotfile {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Scans `dirs`, lowest priority first.
pub(super) fn scan(dirs: &[&Path]) -> Result<Scan, ConfigError> {
    let mut chosen: BTreeMap<OsString, PathBuf> = BTreeMap::new();
    let mut warnings = Vec::new();
    for dir in dirs {
        for name in candidates(dir)? {
            let path = dir.join(&name);
            match classify(&path) {
                Entry::Fragment => {
                    chosen.insert(name, path);
                }
                Entry::Masked => {
                    chosen.remove(&name);
                }
                Entry::Skipped(why) => warnings.push(format!("{}: ignored: {why}", path.display())),
            }
        }
    }
    Ok(Scan {
        files: chosen.into_values().collect(),
        warnings,
    })
}
