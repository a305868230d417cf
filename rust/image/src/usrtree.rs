//! `[[usr.trees]]`: host directory trees imported into `/usr`.
//!
//! A tree is walked in byte-wise sorted order; every directory, regular
//! file and symlink becomes a [`UsrNode`] with the source's permission
//! bits (setuid/setgid/sticky included) and numeric uid/gid. Symlink
//! targets are kept verbatim. Hard links become separate files (squashfs
//! stores the content once per name). Device nodes, sockets and fifos are
//! refused, naming the path: a Debian `/usr` or `/etc` has none.
//!
//! Merging ([`merge`]): trees are laid down in spec order, directories of
//! several trees merge (the later tree's mode/owner wins), any other path
//! given by two trees is an error; explicit `usr.files`, `usr.directories`
//! and `usr.symlinks` then replace tree entries at the same path (a tree
//! directory only by a directory).

use metalos_config::tree::exclude_matches;
use metalos_config::{FieldError, Resolved};
use metalos_disk::usrfs::UsrNode;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Walks `root` into nodes placed under `dest` (`""`: the top of `/usr`),
/// leaving out paths matched by `exclude`. A non-empty `dest` gets a
/// directory node with `root`'s own mode and owner.
pub fn walk_tree(root: &Path, dest: &str, exclude: &[String]) -> Result<Vec<UsrNode>, String> {
    let mut nodes = vec![];
    if !dest.is_empty() {
        let meta = std::fs::metadata(root).map_err(|e| format!("{}: {e}", root.display()))?;
        nodes.push(dir_node(dest.to_string(), &meta));
    }
    walk(root, "", dest, exclude, &mut nodes)?;
    Ok(nodes)
}

fn dir_node(path: String, meta: &std::fs::Metadata) -> UsrNode {
    UsrNode::Dir {
        path,
        mode: (meta.mode() & 0o7777) as u16,
        uid: meta.uid(),
        gid: meta.gid(),
    }
}

fn walk(
    dir: &Path,
    rel: &str,
    dest: &str,
    exclude: &[String],
    nodes: &mut Vec<UsrNode>,
) -> Result<(), String> {
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |e: std::io::Error| format!("{p}: {e}")
    };
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    names.sort();
    for name in names {
        let host = dir.join(&name);
        let name = name
            .to_str()
            .ok_or_else(|| format!("{}: the name is not UTF-8", host.display()))?;
        let rel = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        if exclude.iter().any(|p| exclude_matches(p, &rel)) {
            continue;
        }
        let path = if dest.is_empty() {
            rel.clone()
        } else {
            format!("{dest}/{rel}")
        };
        let meta = std::fs::symlink_metadata(&host).map_err(io(&host))?;
        let (mode, uid, gid) = ((meta.mode() & 0o7777) as u16, meta.uid(), meta.gid());
        let ft = meta.file_type();
        if ft.is_dir() {
            nodes.push(dir_node(path, &meta));
            walk(&host, &rel, dest, exclude, nodes)?;
        } else if ft.is_file() {
            nodes.push(UsrNode::File {
                path,
                mode,
                uid,
                gid,
                content: Resolved::Path(host),
            });
        } else if ft.is_symlink() {
            let target = std::fs::read_link(&host).map_err(io(&host))?;
            let target = target
                .to_str()
                .ok_or_else(|| format!("{}: the symlink target is not UTF-8", host.display()))?;
            nodes.push(UsrNode::Symlink {
                path,
                target: target.to_string(),
                uid,
                gid,
            });
        } else {
            let kind = if ft.is_block_device() || ft.is_char_device() {
                "a device node"
            } else if ft.is_socket() {
                "a socket"
            } else {
                "a fifo"
            };
            return Err(format!(
                "{} is {kind}: /usr holds only directories, files and symlinks (exclude it)",
                host.display()
            ));
        }
    }
    Ok(())
}

/// Combines the explicit spec nodes with the trees' nodes (`(field, nodes)`
/// in spec order) as described in the module docs. Explicit nodes come
/// first in the result.
pub fn merge(
    explicit: Vec<UsrNode>,
    trees: Vec<(String, Vec<UsrNode>)>,
) -> Result<Vec<UsrNode>, FieldError> {
    let mut from_trees: BTreeMap<String, (UsrNode, String)> = BTreeMap::new();
    for (field, nodes) in trees {
        for node in nodes {
            let path = node.path().to_string();
            if let Some((old, origin)) = from_trees.get(&path) {
                if !(old.is_dir() && node.is_dir()) {
                    return Err(FieldError::new(
                        format!("{field}.source"),
                        format!(
                            "{path:?} is also provided by {origin} (only directories may overlap)"
                        ),
                    ));
                }
            }
            from_trees.insert(path, (node, field.clone()));
        }
    }
    for node in &explicit {
        if let Some((old, origin)) = from_trees.remove(node.path()) {
            if old.is_dir() && !node.is_dir() {
                return Err(FieldError::new(
                    "usr",
                    format!(
                        "{:?} is a directory in {origin} but a file or link in the spec",
                        node.path()
                    ),
                ));
            }
        }
    }
    let mut all = explicit;
    all.extend(from_trees.into_values().map(|(n, _)| n));
    let leaves: BTreeSet<&str> = all
        .iter()
        .filter(|n| !n.is_dir())
        .map(|n| n.path())
        .collect();
    for n in &all {
        for dir in Path::new(n.path()).ancestors().skip(1) {
            let dir = dir.to_string_lossy();
            if leaves.contains(dir.as_ref()) {
                return Err(FieldError::new(
                    "usr",
                    format!("{dir:?} is a file or link but {:?} is inside it", n.path()),
                ));
            }
        }
    }
    Ok(all)
}

#[cfg(test)]
#[path = "usrtree_tests.rs"]
mod tests;

/// `VERSION_ID` of the os-release in `/usr`, or `unknown`.
pub(crate) fn usr_version(usr: &[UsrNode]) -> String {
    usr.iter()
        .find_map(|n| match n {
            UsrNode::File { path, content, .. } if path.ends_with("os-release") => {
                content.read().ok()
            }
            _ => None,
        })
        .and_then(|b| metalos_contract::update::os_release_version(&String::from_utf8_lossy(&b)))
        .unwrap_or_else(|| "unknown".into())
}
