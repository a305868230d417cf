//! The read-only `/usr` image: squashfs with zstd, built deterministically
//! (every timestamp the build epoch, entries inserted sorted, owners as
//! given: 0/0 for spec entries, the source's numeric ids for imported
//! trees). Modes keep setuid/setgid/sticky (`0o7777`).

use crate::sparse::Region;
use backhand::compression::{CompressionOptions, Compressor, Zstd};
use backhand::{FilesystemCompressor, FilesystemWriter, NodeHeader};
use metalos_config::Resolved;
use std::io::Cursor;

/// One node of the `/usr` tree. Paths are relative to the filesystem root.
#[derive(Debug, Clone)]
pub enum UsrNode {
    /// A directory.
    Dir {
        /// Path, e.g. `lib/metalos`.
        path: String,
        /// Permission bits (e.g. 0o755), setuid/setgid/sticky included.
        mode: u16,
        /// Owner (numeric).
        uid: u32,
        /// Group (numeric).
        gid: u32,
    },
    /// A regular file.
    File {
        /// Path, e.g. `bin/busybox`.
        path: String,
        /// Permission bits, setuid/setgid/sticky included.
        mode: u16,
        /// Owner (numeric).
        uid: u32,
        /// Group (numeric).
        gid: u32,
        /// Content.
        content: Resolved,
    },
    /// A symbolic link.
    Symlink {
        /// Path of the link.
        path: String,
        /// Link target, stored verbatim.
        target: String,
        /// Owner (numeric).
        uid: u32,
        /// Group (numeric).
        gid: u32,
    },
}

impl UsrNode {
    /// A directory owned by root.
    pub fn dir(path: impl Into<String>, mode: u16) -> Self {
        UsrNode::Dir {
            path: path.into(),
            mode,
            uid: 0,
            gid: 0,
        }
    }

    /// A regular file owned by root.
    pub fn file(path: impl Into<String>, mode: u16, content: Resolved) -> Self {
        UsrNode::File {
            path: path.into(),
            mode,
            uid: 0,
            gid: 0,
            content,
        }
    }

    /// A symlink owned by root.
    pub fn symlink(path: impl Into<String>, target: impl Into<String>) -> Self {
        UsrNode::Symlink {
            path: path.into(),
            target: target.into(),
            uid: 0,
            gid: 0,
        }
    }

    /// Whether the node is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self, UsrNode::Dir { .. })
    }

    /// Path of the node.
    pub fn path(&self) -> &str {
        match self {
            UsrNode::Dir { path, .. }
            | UsrNode::File { path, .. }
            | UsrNode::Symlink { path, .. } => path,
        }
    }
}

/// Errors building the `/usr` image.
#[derive(Debug, thiserror::Error)]
pub enum UsrFsError {
    /// The image is larger than the partition.
    #[error("the /usr squashfs does not fit in its {capacity}-byte partition")]
    TooLarge {
        /// Partition size.
        capacity: u64,
    },
    /// The squashfs writer rejected the tree or failed.
    #[error("squashfs {path}: {message}")]
    Squashfs {
        /// Offending path, or `/`.
        path: String,
        /// Why.
        message: String,
    },
}

/// Options for [`write_squashfs`].
#[derive(Debug, Clone, Copy)]
pub struct SquashfsOptions {
    /// zstd level (1–22).
    pub zstd_level: u32,
    /// Timestamp of every inode and of the superblock.
    pub mtime: u32,
}

/// What [`write_squashfs`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsrFsInfo {
    /// Filesystem type name (`squashfs`).
    pub kind: &'static str,
    /// Bytes the filesystem occupies.
    pub bytes_used: u64,
    /// Compressor name.
    pub compression: &'static str,
}

/// Builds a squashfs from `nodes` into `region`. Parents are created as
/// 0755 directories when not listed.
pub fn write_squashfs(
    region: Region<'_>,
    nodes: &[UsrNode],
    options: SquashfsOptions,
) -> Result<UsrFsInfo, UsrFsError> {
    let capacity = region.len();
    let sq_err = |path: &str, e: backhand::BackhandError| UsrFsError::Squashfs {
        path: path.to_string(),
        message: e.to_string(),
    };
    let mut fs = FilesystemWriter::default();
    fs.set_time(options.mtime);
    fs.set_root_mode(0o755);
    fs.set_root_uid(0);
    fs.set_root_gid(0);
    let compressor = FilesystemCompressor::new(
        Compressor::Zstd,
        Some(CompressionOptions::Zstd(Zstd {
            compression_level: options.zstd_level,
        })),
    )
    .map_err(|e| sq_err("/", e))?;
    fs.set_compressor(compressor);
    let header = |mode: u16, uid: u32, gid: u32| NodeHeader::new(mode, uid, gid, options.mtime);

    let mut sorted: Vec<&UsrNode> = nodes.iter().collect();
    sorted.sort_by(|a, b| a.path().cmp(b.path()));
    let listed: std::collections::BTreeSet<&str> = sorted.iter().map(|n| n.path()).collect();
    let mut made = std::collections::BTreeSet::new();
    for node in sorted {
        let path = node.path();
        // Missing parents first, in order.
        let parts: Vec<&str> = path.split('/').collect();
        for i in 1..parts.len() {
            let parent = parts[..i].join("/");
            if !listed.contains(parent.as_str()) && made.insert(parent.clone()) {
                fs.push_dir(&parent, header(0o755, 0, 0))
                    .map_err(|e| sq_err(&parent, e))?;
            }
        }
        match node {
            UsrNode::Dir { mode, uid, gid, .. } => fs.push_dir(path, header(*mode, *uid, *gid)),
            UsrNode::Symlink {
                target, uid, gid, ..
            } => fs.push_symlink(target.as_str(), path, header(0o777, *uid, *gid)),
            UsrNode::File {
                mode,
                uid,
                gid,
                content: Resolved::Path(p),
                ..
            } => fs.push_file_from_path(p.clone(), path, header(*mode, *uid, *gid)),
            UsrNode::File {
                mode,
                uid,
                gid,
                content: Resolved::Bytes(b),
                ..
            } => fs.push_file(Cursor::new(b.clone()), path, header(*mode, *uid, *gid)),
        }
        .map_err(|e| sq_err(path, e))?;
    }
    match fs.write(region) {
        Ok((_, bytes_used)) => Ok(UsrFsInfo {
            kind: "squashfs",
            bytes_used,
            compression: "zstd",
        }),
        Err(backhand::BackhandError::StdIo(e)) if e.kind() == std::io::ErrorKind::WriteZero => {
            Err(UsrFsError::TooLarge { capacity })
        }
        Err(e) => Err(sq_err("/", e)),
    }
}

/// Recognises a squashfs or erofs superblock at the start of `head`
/// (at least 2 KiB of the partition).
pub fn probe(head: &[u8]) -> Option<UsrFsInfo> {
    if head.len() >= 96 && &head[0..4] == b"hsqs" {
        let compression = match u16::from_le_bytes([head[20], head[21]]) {
            1 => "gzip",
            2 => "lzma",
            3 => "lzo",
            4 => "xz",
            5 => "lz4",
            6 => "zstd",
            _ => "unknown",
        };
        let bytes_used = u64::from_le_bytes(head[40..48].try_into().ok()?);
        return Some(UsrFsInfo {
            kind: "squashfs",
            bytes_used,
            compression,
        });
    }
    if head.len() >= 1024 + 48 && head[1024..1028] == 0xE0F5_E1E2u32.to_le_bytes() {
        // EROFS block sizes are 512 B..64 KiB; another `blkszbits` is not
        // an erofs superblock (and would overflow the shift).
        let blkszbits = head[1024 + 12];
        if !(9..=16).contains(&blkszbits) {
            return None;
        }
        let blocks = u32::from_le_bytes(head[1024 + 36..1024 + 40].try_into().ok()?);
        return Some(UsrFsInfo {
            kind: "erofs",
            bytes_used: u64::from(blocks) << blkszbits,
            compression: "unknown",
        });
    }
    None
}

/// Packs the files of directories into a squashfs image file at `out`
/// (file `NAME/FILE` for each `(NAME, DIR)`): how update bundles reach a VM
/// as a second disk (`mount -t squashfs /dev/vdb …`). Subdirectories of a
/// DIR are not descended into.
pub fn squashfs_of_dirs(
    out: &std::path::Path,
    dirs: &[(&str, &std::path::Path)],
) -> std::io::Result<()> {
    let mut nodes = vec![];
    let mut total = 0;
    for (name, dir) in dirs {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            if !e.file_type()?.is_file() {
                continue;
            }
            total += e.metadata()?.len();
            nodes.push(UsrNode::file(
                format!("{name}/{}", e.file_name().to_string_lossy()),
                0o644,
                metalos_config::Resolved::Path(e.path()),
            ));
        }
    }
    let f = std::fs::File::create(out)?;
    let capacity = (total + (16 << 20)).div_ceil(1 << 20) << 20;
    f.set_len(capacity)?;
    let region = crate::sparse::Region::new(&f, 0, capacity);
    write_squashfs(
        region,
        &nodes,
        SquashfsOptions {
            zstd_level: 1,
            mtime: 0,
        },
    )
    .map(|_| ())
    .map_err(std::io::Error::other)
}
