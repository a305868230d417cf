//! The newc writer; see the parent module for the conventions.

use super::encode::{fit, write_host, Counter, Header};
use super::{CpioError, S_IFBLK, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG, TRAILER};
use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Mode of directories created implicitly as parents.
pub const DEFAULT_DIR_MODE: u32 = 0o755;

/// Character or block device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// Character device (`S_IFCHR`).
    Char,
    /// Block device (`S_IFBLK`).
    Block,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Content {
    Bytes(Vec<u8>),
    Host(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir {
        mode: u32,
        explicit: bool,
    },
    File {
        mode: u32,
        content: Content,
    },
    Symlink {
        target: String,
    },
    Device {
        kind: DeviceKind,
        major: u32,
        minor: u32,
        mode: u32,
    },
    Hardlink {
        target: String,
    },
}

/// An archive under construction. Adding an entry identical to an existing
/// one is a no-op; adding a different entry at the same path is an error
/// (except that an explicit directory replaces an implicitly created one).
#[derive(Debug, Clone, Default)]
pub struct Archive {
    nodes: BTreeMap<String, Node>,
}

/// Normalizes an archive path: strips a leading `/`, empty and `.`
/// components; rejects `..` and the root itself.
pub fn normalize(path: &str) -> Result<String, CpioError> {
    let invalid = |reason: &str| CpioError::InvalidPath {
        path: path.to_string(),
        reason: reason.to_string(),
    };
    let mut parts = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(invalid("`..` is not allowed")),
            c if c.contains('\0') => return Err(invalid("NUL byte")),
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err(invalid("names the root directory"));
    }
    Ok(parts.join("/"))
}

impl Archive {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a directory.
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<(), CpioError> {
        self.insert(
            path,
            mode,
            Node::Dir {
                mode,
                explicit: true,
            },
        )
    }

    /// Adds a regular file with inline content.
    pub fn file(
        &mut self,
        path: &str,
        mode: u32,
        data: impl Into<Vec<u8>>,
    ) -> Result<(), CpioError> {
        let content = Content::Bytes(data.into());
        self.insert(path, mode, Node::File { mode, content })
    }

    /// Adds a regular file whose content is streamed from `host` when the
    /// archive is written.
    pub fn file_from_host(&mut self, path: &str, mode: u32, host: &Path) -> Result<(), CpioError> {
        let content = Content::Host(host.to_path_buf());
        self.insert(path, mode, Node::File { mode, content })
    }

    /// Adds a symlink (mode `0777`) pointing at `target`, stored verbatim.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<(), CpioError> {
        if target.is_empty() {
            return Err(CpioError::InvalidPath {
                path: path.into(),
                reason: "empty symlink target".into(),
            });
        }
        let target = target.to_string();
        self.insert(path, 0o777, Node::Symlink { target })
    }

    /// Adds a device node.
    pub fn device(
        &mut self,
        path: &str,
        kind: DeviceKind,
        major: u32,
        minor: u32,
        mode: u32,
    ) -> Result<(), CpioError> {
        let node = Node::Device {
            kind,
            major,
            minor,
            mode,
        };
        self.insert(path, mode, node)
    }

    /// Adds `path` as a hardlink to the regular file `target` added before.
    pub fn hardlink(&mut self, path: &str, target: &str) -> Result<(), CpioError> {
        let norm_target = normalize(target)?;
        let root = match self.nodes.get(&norm_target) {
            Some(Node::File { .. }) => norm_target,
            Some(Node::Hardlink { target }) => target.clone(),
            _ => {
                return Err(CpioError::HardlinkTarget {
                    path: path.into(),
                    target: target.into(),
                })
            }
        };
        self.insert(path, 0, Node::Hardlink { target: root })
    }

    /// Whether `path` (normalized) is in the archive.
    pub fn contains(&self, path: &str) -> bool {
        normalize(path).is_ok_and(|p| self.nodes.contains_key(&p))
    }

    /// Number of entries (without the trailer).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the archive has no entries.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Entry paths in archive order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.nodes.keys().map(String::as_str)
    }

    /// Rewrites `path` so that none of its parents is a symlink of the
    /// archive, following archive symlinks the way the kernel would
    /// (relative targets against the link's directory, absolute ones against
    /// the archive root). The last component is not followed. Used to place
    /// library closures into trees with e.g. `lib -> usr/lib`.
    pub fn resolve_parents(&self, path: &str) -> Result<String, CpioError> {
        let mut parts: VecDeque<String> = normalize(path)?.split('/').map(String::from).collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while parts.len() > 1 {
            let c = parts.pop_front().unwrap_or_default();
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            done.push(c);
            if let Some(Node::Symlink { target }) = self.nodes.get(&done.join("/")) {
                hops += 1;
                if hops > 40 {
                    let reason = "too many levels of symlinks".to_string();
                    return Err(CpioError::InvalidPath {
                        path: path.into(),
                        reason,
                    });
                }
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                for t in target.split('/').rev() {
                    parts.push_front(t.to_string());
                }
            }
        }
        done.extend(parts);
        Ok(done.join("/"))
    }

    fn insert(&mut self, path: &str, mode: u32, node: Node) -> Result<(), CpioError> {
        let path = normalize(path)?;
        if mode & !0o7777 != 0 {
            return Err(CpioError::InvalidMode { path, mode });
        }
        let mut parent = String::new();
        for part in path.split('/').collect::<Vec<_>>().split_last().unwrap().1 {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(part);
            match self.nodes.get(&parent) {
                None => {
                    let dir = Node::Dir {
                        mode: DEFAULT_DIR_MODE,
                        explicit: false,
                    };
                    self.nodes.insert(parent.clone(), dir);
                }
                Some(Node::Dir { .. }) => {}
                Some(_) => return Err(CpioError::NotADirectory { path, parent }),
            }
        }
        match (self.nodes.get(&path), &node) {
            (None, _)
            | (
                Some(Node::Dir {
                    explicit: false, ..
                }),
                Node::Dir { .. },
            ) => {}
            (Some(old), new) if old == new => return Ok(()),
            _ => return Err(CpioError::Duplicate { path }),
        }
        self.nodes.insert(path, node);
        Ok(())
    }

    /// Writes the archive with every mtime set to `mtime`; returns the
    /// number of bytes written.
    pub fn write_to(&self, out: &mut dyn Write, mtime: u64) -> Result<u64, CpioError> {
        let mtime = fit("mtime", mtime)?;
        let inodes = Inodes::of(&self.nodes);
        let mut w = Counter { out, n: 0 };
        for (path, node) in &self.nodes {
            let key = inode_key(path, node);
            let mut h = Header {
                ino: inodes.inode[key],
                nlink: inodes.members[key],
                mtime,
                ..Header::default()
            };
            match node {
                Node::Dir { mode, .. } => {
                    h.mode = S_IFDIR | mode;
                    h.nlink = 2 + inodes.subdirs.get(path.as_str()).copied().unwrap_or(0);
                    h.write(&mut w, path)?;
                }
                Node::Symlink { target } => {
                    h.mode = S_IFLNK | 0o777;
                    h.size = fit(path, target.len() as u64)?;
                    h.write(&mut w, path)?;
                    w.data(target.as_bytes())?;
                }
                Node::Device {
                    kind,
                    major,
                    minor,
                    mode,
                } => {
                    h.mode = device_type(*kind) | mode;
                    (h.rdev_major, h.rdev_minor) = (*major, *minor);
                    h.write(&mut w, path)?;
                }
                Node::File { .. } | Node::Hardlink { .. } => {
                    let is_last = inodes.last[key] == path;
                    self.write_file_member(&mut w, h, path, key, is_last)?;
                }
            }
        }
        let trailer = Header {
            nlink: 1,
            ..Header::default()
        };
        trailer.write(&mut w, TRAILER)?;
        Ok(w.n)
    }

    /// Writes a regular file or a hardlink to one (`key`, the group's file):
    /// only the group's last member carries the data.
    fn write_file_member(
        &self,
        w: &mut Counter,
        mut h: Header,
        path: &str,
        key: &str,
        is_last: bool,
    ) -> Result<(), CpioError> {
        let Some(Node::File { mode, content }) = self.nodes.get(key) else {
            unreachable!("hardlinks point at files")
        };
        h.mode = S_IFREG | mode;
        if !is_last {
            return h.write(w, path);
        }
        match content {
            Content::Bytes(b) => {
                h.size = fit(path, b.len() as u64)?;
                h.write(w, path)?;
                w.data(b)
            }
            Content::Host(host) => write_host(w, h, path, host),
        }
    }

    /// Writes the archive into a new buffer (see [`Archive::write_to`]).
    pub fn to_bytes(&self, mtime: u64) -> Result<Vec<u8>, CpioError> {
        let mut v = Vec::new();
        self.write_to(&mut v, mtime)?;
        Ok(v)
    }
}

/// Inode numbers, link counts and the data-carrying (last) member of each
/// inode, and the subdirectory count of each directory, in archive order.
struct Inodes<'a> {
    inode: BTreeMap<&'a str, u32>,
    members: BTreeMap<&'a str, u32>,
    last: BTreeMap<&'a str, &'a str>,
    subdirs: BTreeMap<&'a str, u32>,
}

impl<'a> Inodes<'a> {
    fn of(nodes: &'a BTreeMap<String, Node>) -> Self {
        let mut inodes = Inodes {
            inode: BTreeMap::new(),
            members: BTreeMap::new(),
            last: BTreeMap::new(),
            subdirs: BTreeMap::new(),
        };
        for (path, node) in nodes {
            let key = inode_key(path, node);
            let next = inodes.inode.len() as u32 + 1;
            inodes.inode.entry(key).or_insert(next);
            *inodes.members.entry(key).or_default() += 1;
            inodes.last.insert(key, path);
            if let (Node::Dir { .. }, Some((parent, _))) = (node, path.rsplit_once('/')) {
                *inodes.subdirs.entry(parent).or_default() += 1;
            }
        }
        inodes
    }
}

/// The path whose inode an entry is: a hardlink's target, else its own.
fn inode_key<'a>(path: &'a str, node: &'a Node) -> &'a str {
    match node {
        Node::Hardlink { target } => target.as_str(),
        _ => path,
    }
}

/// The file type bits of a device node.
fn device_type(kind: DeviceKind) -> u32 {
    match kind {
        DeviceKind::Char => S_IFCHR,
        DeviceKind::Block => S_IFBLK,
    }
}
