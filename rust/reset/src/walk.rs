//! The reset walk: each MetalOS subvolume (and the `/etc` overlay's upper
//! directory) walked depth first, children before parents, with every
//! host path mapped to the path it has on the running system.
//!
//! | region | host directory (below the root) | system path | never entered |
//! |---|---|---|---|
//! | root subvolume | `.` | `/` | `usr var home etc proc sys dev run tmp boot` |
//! | `var` | `var` | `/var` | `lib/metalos` |
//! | `home` | `home` | `/home` | |
//! | `state` | `var/lib/metalos` | `/var/lib/metalos` | `etc` (overlay upper + work) |
//! | `/etc` upper | `var/lib/metalos/etc/upper` | `/etc` | |
//!
//! Region tops are never visited themselves; a directory on another
//! filesystem than its region's top (a mount point) is neither entered nor
//! visited; symlinks are never followed. Entries come in name order.

use crate::ere::Matcher;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One walked directory tree.
struct Region {
    host: &'static str,
    system: &'static str,
    skip: &'static [&'static str],
}

const REGIONS: &[Region] = &[
    Region {
        host: "",
        system: "/",
        skip: &[
            "usr", "var", "home", "etc", "proc", "sys", "dev", "run", "tmp", "boot",
        ],
    },
    Region {
        host: "var",
        system: "/var",
        skip: &["lib/metalos"],
    },
    Region {
        host: "home",
        system: "/home",
        skip: &[],
    },
    Region {
        host: crate::layout::STATE,
        system: "/var/lib/metalos",
        skip: &["etc"],
    },
    Region {
        host: crate::layout::ETC_UPPER,
        system: "/etc",
        skip: &[],
    },
];

/// One walked entry.
#[derive(Debug)]
pub struct Entry<'a> {
    /// Where it is below the walked root.
    pub host: &'a Path,
    /// The path it has on the running system (what the keep regex sees).
    pub system: &'a Path,
    /// A directory (not a symlink to one).
    pub is_dir: bool,
    /// Whether the keep regex matches [`Entry::system`].
    pub keep: bool,
    /// For a directory: whether anything below it remains.
    pub child_remains: bool,
}

/// What the walk does with each entry.
pub trait Visitor {
    /// Handles one entry (after its children); returns whether it remains.
    fn visit(&mut self, entry: &Entry) -> bool;
    /// Reports an error reading the tree (the entry then remains).
    fn error(&mut self, path: &Path, err: std::io::Error);
}

/// Walks every region below `base` (a root view or `/sysroot`).
pub fn walk(base: &Path, keep: &Matcher, visitor: &mut dyn Visitor) {
    for region in REGIONS {
        let top = base.join(region.host);
        let Ok(meta) = std::fs::symlink_metadata(&top) else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        let mut w = Walker {
            region,
            dev: meta.dev(),
            keep,
            visitor: &mut *visitor,
        };
        w.dir(&top, Path::new(region.system), Path::new(""));
    }
}

struct Walker<'a> {
    region: &'a Region,
    dev: u64,
    keep: &'a Matcher,
    visitor: &'a mut dyn Visitor,
}

impl Walker<'_> {
    /// Visits the children of `host`; returns whether any of them remains.
    fn dir(&mut self, host: &Path, system: &Path, rel: &Path) -> bool {
        let mut names: Vec<_> = match std::fs::read_dir(host) {
            Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.file_name()).collect(),
            Err(e) => {
                self.visitor.error(host, e);
                return true;
            }
        };
        names.sort();
        let mut any = false;
        for name in names {
            let (h, s, r): (PathBuf, PathBuf, PathBuf) =
                (host.join(&name), system.join(&name), rel.join(&name));
            if self.region.skip.iter().any(|k| Path::new(k) == r) {
                any = true;
                continue;
            }
            let meta = match std::fs::symlink_metadata(&h) {
                Ok(m) => m,
                Err(e) => {
                    self.visitor.error(&h, e);
                    any = true;
                    continue;
                }
            };
            let is_dir = meta.is_dir();
            if is_dir && meta.dev() != self.dev {
                any = true;
                continue;
            }
            let child_remains = is_dir && self.dir(&h, &s, &r);
            let entry = Entry {
                host: &h,
                system: &s,
                is_dir,
                keep: self.keep.is_match_path(&s),
                child_remains,
            };
            any |= self.visitor.visit(&entry);
        }
        any
    }
}
