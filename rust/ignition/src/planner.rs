//! Shared state while planning: the root, the ops so far, and how paths
//! resolve inside the root (symlinks followed on every component but the
//! last, never escaping the root — `..` and absolute targets are clamped
//! to it, as a chroot would).

use crate::plan::{Attrs, Op};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Symlinks followed while resolving one path (as the kernel's limit).
const MAX_SYMLINKS: usize = 40;

/// A node the plan has already created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Planned {
    /// A directory.
    Dir,
    /// A file, symlink or hard link.
    Other,
}

/// The plan being built for one root.
pub struct Planner {
    root: PathBuf,
    /// Ops in execution order.
    pub ops: Vec<Op>,
    planned: BTreeMap<PathBuf, Planned>,
}

impl Planner {
    /// A planner for `root` (a host directory).
    pub fn new(root: &Path) -> Planner {
        Planner {
            root: root.to_path_buf(),
            ops: Vec::new(),
            planned: BTreeMap::new(),
        }
    }

    /// The host path of `inside` (a path inside the root).
    pub fn host(&self, inside: &Path) -> PathBuf {
        self.root.join(inside.strip_prefix("/").unwrap_or(inside))
    }

    /// What the plan already put at `inside`, if anything.
    pub fn planned(&self, inside: &Path) -> Option<Planned> {
        self.planned.get(inside).copied()
    }

    /// Adds an op, remembering what it creates.
    pub fn push(&mut self, op: Op) {
        let kind = match &op {
            Op::Directory { .. } => Some(Planned::Dir),
            Op::Remove { .. } => None,
            _ => Some(Planned::Other),
        };
        match kind {
            Some(k) => {
                self.planned.insert(op.path().to_path_buf(), k);
            }
            None => {
                let p = op.path().to_path_buf();
                self.planned.retain(|k, _| !k.starts_with(&p));
            }
        }
        self.ops.push(op);
    }

    /// Whether an op so far removes `inside` (or a directory above it).
    pub fn removes(&self, inside: &Path) -> bool {
        self.ops
            .iter()
            .any(|op| matches!(op, Op::Remove { path } if inside.starts_with(path)))
    }

    /// The current node at `inside` (on disk), not following a final symlink.
    pub fn lstat(&self, inside: &Path) -> Option<fs::Metadata> {
        fs::symlink_metadata(self.host(inside)).ok()
    }

    /// Resolves `path` (absolute, inside the root) following symlinks in
    /// all but the last component.
    pub fn resolve(&self, path: &str) -> Result<PathBuf, String> {
        let mut pending: Vec<String> = path
            .split('/')
            .filter(|c| !c.is_empty())
            .rev()
            .map(str::to_string)
            .collect();
        let mut cur = PathBuf::from("/");
        let mut followed = 0;
        while let Some(c) = pending.pop() {
            match c.as_str() {
                "." => continue,
                ".." => {
                    cur.pop();
                    continue;
                }
                _ => {}
            }
            let next = cur.join(&c);
            if pending.is_empty() {
                return Ok(next);
            }
            let host = self.host(&next);
            match fs::symlink_metadata(&host) {
                Ok(m) if m.file_type().is_symlink() && self.planned(&next).is_none() => {
                    followed += 1;
                    if followed > MAX_SYMLINKS {
                        return Err(format!(
                            "too many levels of symbolic links resolving {path}"
                        ));
                    }
                    let target = fs::read_link(&host)
                        .map_err(|e| format!("reading {}: {e}", next.display()))?;
                    let t = target.to_string_lossy().into_owned();
                    if t.starts_with('/') {
                        cur = PathBuf::from("/");
                    }
                    pending.extend(
                        t.split('/')
                            .filter(|c| !c.is_empty())
                            .rev()
                            .map(str::to_string),
                    );
                }
                Ok(m) if !m.is_dir() && self.planned(&next) != Some(Planned::Dir) => {
                    return Err(format!("{} exists and is not a directory", next.display()));
                }
                _ => cur = next,
            }
        }
        Ok(cur)
    }

    /// Resolves `path` following symlinks in every component, the last
    /// one included (for reading what a path points at inside the root).
    pub fn resolve_full(&self, path: &str) -> Result<PathBuf, String> {
        let mut p = self.resolve(path)?;
        for _ in 0..MAX_SYMLINKS {
            let host = self.host(&p);
            match fs::symlink_metadata(&host) {
                Ok(m) if m.file_type().is_symlink() && self.planned(&p).is_none() => {
                    let target = fs::read_link(&host)
                        .map_err(|e| format!("reading {}: {e}", p.display()))?;
                    let joined = if target.is_absolute() {
                        target
                    } else {
                        p.parent().unwrap_or(Path::new("/")).join(target)
                    };
                    p = self.resolve(&joined.to_string_lossy())?;
                }
                _ => return Ok(p),
            }
        }
        Err(format!(
            "too many levels of symbolic links resolving {path}"
        ))
    }

    /// Plans 0755 root:root directories for every missing ancestor of
    /// `inside` (already resolved).
    pub fn ensure_parents(&mut self, inside: &Path) -> Result<(), String> {
        let mut missing = Vec::new();
        let mut p = inside.parent();
        while let Some(dir) = p {
            if dir == Path::new("/") || self.planned(dir) == Some(Planned::Dir) {
                break;
            }
            match self.lstat(dir) {
                Some(m) if m.is_dir() => break,
                Some(_) => return Err(format!("{} exists and is not a directory", dir.display())),
                None => missing.push(dir.to_path_buf()),
            }
            p = dir.parent();
        }
        for dir in missing.into_iter().rev() {
            self.push(Op::Directory {
                path: dir,
                attrs: Attrs {
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                },
            });
        }
        Ok(())
    }
}
