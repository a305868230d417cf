//! The target root as it will be after the ops planned so far: disk
//! state overlaid with planned creations and removals, and symlinks
//! resolved *inside* the root (an absolute link target means ROOT/target).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// What a path is, on disk or as planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A directory.
    Dir,
    /// Anything else that exists.
    Other,
}

/// Disk plus the planned changes.
pub(crate) struct FsView<'a> {
    root: &'a Path,
    /// Planned state of paths (inside the root): `None` = removed.
    planned: BTreeMap<PathBuf, Option<Kind>>,
}

impl<'a> FsView<'a> {
    /// A view of `root` with nothing planned.
    pub(crate) fn new(root: &'a Path) -> FsView<'a> {
        FsView {
            root,
            planned: BTreeMap::new(),
        }
    }

    /// The host path of `p` (a path inside the root).
    pub(crate) fn host(&self, p: &Path) -> PathBuf {
        self.root.join(p.strip_prefix("/").unwrap_or(p))
    }

    /// What `p` (resolved, inside the root) is, if it exists.
    pub(crate) fn kind(&self, p: &Path) -> Option<Kind> {
        for anc in p.ancestors() {
            if let Some(state) = self.planned.get(anc) {
                return if anc == p { *state } else { None };
            }
        }
        let m = self.host(p).symlink_metadata().ok()?;
        Some(if m.is_dir() { Kind::Dir } else { Kind::Other })
    }

    /// Records that `p` will exist as `kind`.
    pub(crate) fn created(&mut self, p: &Path, kind: Kind) {
        self.planned.insert(p.to_path_buf(), Some(kind));
    }

    /// Records that `p` and everything below it will be gone.
    pub(crate) fn removed(&mut self, p: &Path) {
        let below: Vec<PathBuf> = self
            .planned
            .keys()
            .filter(|k| k.starts_with(p))
            .cloned()
            .collect();
        for k in below {
            self.planned.remove(&k);
        }
        self.planned.insert(p.to_path_buf(), None);
    }

    /// Resolves every symlink of the *existing disk* prefix of `p`
    /// (absolute, inside the root), the last component included; `..`
    /// never leaves the root. Planned nodes are never symlinks.
    pub(crate) fn resolve(&self, p: &Path) -> PathBuf {
        let mut out = PathBuf::from("/");
        let mut hops = 0;
        let mut queue: std::collections::VecDeque<String> = parts(p).into();
        while let Some(c) = queue.pop_front() {
            if c == ".." {
                out.pop();
                if out.as_os_str().is_empty() {
                    out = PathBuf::from("/");
                }
                continue;
            }
            let next = out.join(&c);
            let planned = self.planned.keys().any(|k| next.starts_with(k));
            let link = if planned || hops > 40 {
                None
            } else {
                std::fs::read_link(self.host(&next)).ok()
            };
            match link {
                Some(target) => {
                    hops += 1;
                    if target.is_absolute() {
                        out = PathBuf::from("/");
                    }
                    let mut more = parts(&target);
                    while let Some(x) = more.pop() {
                        queue.push_front(x);
                    }
                }
                None => out = next,
            }
        }
        out
    }
}

/// The normal and `..` components of `p`, as strings.
fn parts(p: &Path) -> Vec<String> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}
