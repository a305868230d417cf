//! Planning `storage.files`, `directories` and `links` with Ignition's
//! semantics: entries sorted by path depth (hard links last), missing
//! parents created 0755 root:root, `overwrite` false by default, modes
//! defaulting to 0644/0755 or the existing node's, owners by id or by name
//! as the target root's passwd/group will read after the passwd step.

use crate::config::{Directory, File, Link, NodeOwner, Storage};
use crate::error::{Error, Result};
use crate::plan::{Attrs, Op};
use crate::planner::{Planned, Planner};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Fetched bytes of one `storage.files[]` entry.
#[derive(Debug, Clone, Default)]
pub struct FileData {
    /// `contents`, when it has a source.
    pub contents: Option<Vec<u8>>,
    /// `append[]`, in order.
    pub appends: Vec<Vec<u8>>,
}

/// Resolves user and group names in the target root.
pub trait Owners {
    /// uid of a user name.
    fn uid(&self, name: &str) -> Option<u32>;
    /// gid of a group name.
    fn gid(&self, name: &str) -> Option<u32>;
}

#[derive(Clone, Copy)]
enum Kind {
    File(usize),
    Dir(usize),
    Link(usize),
}

fn depth(p: &str) -> usize {
    p.split('/').filter(|c| !c.is_empty()).count()
}

/// One owner id: given, looked up by name with `lookup`, or 0.
fn owner_id(
    owner: &NodeOwner,
    path: String,
    (kind, table): (&str, &str),
    lookup: impl Fn(&str) -> Option<u32>,
) -> Result<u32> {
    match (&owner.id, &owner.name) {
        (Some(id), _) => Ok(*id),
        (None, Some(n)) => lookup(n).ok_or_else(|| {
            Error::apply(
                path,
                format!("no {kind} {n:?} in the target's /etc/{table}"),
            )
        }),
        (None, None) => Ok(0),
    }
}

fn owner_ids(
    user: &NodeOwner,
    group: &NodeOwner,
    jp: &str,
    owners: &dyn Owners,
) -> Result<(u32, u32)> {
    let uid = owner_id(user, format!("{jp}.user.name"), ("user", "passwd"), |n| {
        owners.uid(n)
    })?;
    let gid = owner_id(group, format!("{jp}.group.name"), ("group", "group"), |n| {
        owners.gid(n)
    })?;
    Ok((uid, gid))
}

/// Plans every node of `storage` into `planner`.
pub fn plan_nodes(
    planner: &mut Planner,
    storage: &Storage,
    data: &[FileData],
    owners: &dyn Owners,
) -> Result<()> {
    let mut order: Vec<(bool, usize, Kind)> = Vec::new();
    for (i, f) in storage.files.iter().enumerate() {
        order.push((false, depth(&f.path), Kind::File(i)));
    }
    for (i, d) in storage.directories.iter().enumerate() {
        order.push((false, depth(&d.path), Kind::Dir(i)));
    }
    for (i, l) in storage.links.iter().enumerate() {
        order.push((l.hard == Some(true), depth(&l.path), Kind::Link(i)));
    }
    order.sort_by_key(|(hard, depth, _)| (*hard, *depth));
    let mut resolved: BTreeMap<PathBuf, String> = BTreeMap::new();
    for (_, _, kind) in order {
        let (jp, path) = match kind {
            Kind::File(i) => (format!("storage.files[{i}]"), &storage.files[i].path),
            Kind::Dir(i) => (
                format!("storage.directories[{i}]"),
                &storage.directories[i].path,
            ),
            Kind::Link(i) => (format!("storage.links[{i}]"), &storage.links[i].path),
        };
        let at = planner
            .resolve(path)
            .map_err(|m| Error::apply(format!("{jp}.path"), m))?;
        if let Some(other) = resolved.insert(at.clone(), jp.clone()) {
            return Err(Error::apply(
                format!("{jp}.path"),
                format!("resolves to {}, which {other} also writes", at.display()),
            ));
        }
        planner
            .ensure_parents(&at)
            .map_err(|m| Error::apply(format!("{jp}.path"), m))?;
        match kind {
            Kind::File(i) => plan_file(planner, &storage.files[i], &data[i], &at, &jp, owners)?,
            Kind::Dir(i) => plan_dir(planner, &storage.directories[i], &at, &jp, owners)?,
            Kind::Link(i) => plan_link(planner, &storage.links[i], &at, &jp, owners)?,
        }
    }
    Ok(())
}

fn exists_error(jp: &str, what: &str) -> Error {
    Error::apply(
        format!("{jp}.path"),
        format!("{what} exists there already and overwrite is false"),
    )
}

fn plan_file(
    planner: &mut Planner,
    f: &File,
    data: &FileData,
    at: &Path,
    jp: &str,
    owners: &dyn Owners,
) -> Result<()> {
    let overwrite = f.overwrite == Some(true);
    let (mut uid, mut gid) = owner_ids(&f.user, &f.group, jp, owners)?;
    let existing = planner.lstat(at);
    let mut mode = f.mode;
    let mut bytes = match (&existing, &data.contents) {
        (None, Some(c)) => c.clone(),
        (None, None) => Vec::new(),
        (Some(m), _) if !m.is_file() && !overwrite => {
            return Err(exists_error(jp, "a node that is not a regular file"))
        }
        (Some(m), None) if m.is_file() => {
            // The file is kept (appended to): like its mode, each owner
            // field not given stays what it was (Ignition 2.14).
            mode = mode.or(Some(m.mode() & 0o7777));
            if f.user.id.is_none() && f.user.name.is_none() {
                uid = m.uid();
            }
            if f.group.id.is_none() && f.group.name.is_none() {
                gid = m.gid();
            }
            std::fs::read(planner.host(at))
                .map_err(|e| Error::io(format!("reading {}", at.display()), e))?
        }
        (Some(_), Some(c)) if overwrite => c.clone(),
        (Some(_), Some(_)) => return Err(exists_error(jp, "a file")),
        (Some(_), None) => Vec::new(),
    };
    for a in &data.appends {
        bytes.extend_from_slice(a);
    }
    planner.push(Op::WriteFile {
        path: at.to_path_buf(),
        contents: bytes,
        attrs: Attrs {
            mode: mode.unwrap_or(0o644),
            uid,
            gid,
        },
    });
    Ok(())
}

fn plan_dir(
    planner: &mut Planner,
    d: &Directory,
    at: &Path,
    jp: &str,
    owners: &dyn Owners,
) -> Result<()> {
    let (uid, gid) = owner_ids(&d.user, &d.group, jp, owners)?;
    let mut mode = d.mode;
    match planner.lstat(at) {
        Some(m) if m.is_dir() => mode = mode.or(Some(m.mode() & 0o7777)),
        Some(_) if d.overwrite != Some(true) => {
            return Err(exists_error(jp, "a node that is not a directory"))
        }
        Some(_) => planner.push(Op::Remove {
            path: at.to_path_buf(),
        }),
        None => {}
    }
    planner.push(Op::Directory {
        path: at.to_path_buf(),
        attrs: Attrs {
            mode: mode.unwrap_or(0o755),
            uid,
            gid,
        },
    });
    Ok(())
}

/// Lexically cleans a symlink target for comparison (`a//b/./c` = `a/b/c`).
fn clean(t: &str) -> String {
    let abs = t.starts_with('/');
    let parts: Vec<&str> = t
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    format!("{}{}", if abs { "/" } else { "" }, parts.join("/"))
}

fn plan_link(
    planner: &mut Planner,
    l: &Link,
    at: &Path,
    jp: &str,
    owners: &dyn Owners,
) -> Result<()> {
    let target = l.target.clone().unwrap_or_default();
    let overwrite = l.overwrite == Some(true);
    let existing = planner.lstat(at);
    if l.hard == Some(true) {
        let t = planner
            .resolve(&target)
            .map_err(|m| Error::apply(format!("{jp}.target"), m))?;
        let target_exists =
            planner.lstat(&t).is_some() || planner.planned(&t) == Some(Planned::Other);
        if !target_exists {
            return Err(Error::apply(
                format!("{jp}.target"),
                format!("hard link target {target} does not exist"),
            ));
        }
        if existing.is_some() && !overwrite {
            let same = planner
                .lstat(&t)
                .zip(existing.as_ref())
                .is_some_and(|(a, b)| a.ino() == b.ino() && a.dev() == b.dev());
            if same {
                return Ok(());
            }
            return Err(exists_error(jp, "a node"));
        }
        planner.push(Op::HardLink {
            path: at.to_path_buf(),
            target: t,
        });
        return Ok(());
    }
    let (uid, gid) = owner_ids(&l.user, &l.group, jp, owners)?;
    if let Some(m) = &existing {
        if m.file_type().is_symlink() {
            let cur = std::fs::read_link(planner.host(at)).unwrap_or_default();
            if clean(&cur.to_string_lossy()) == clean(&target) {
                return Ok(());
            }
        }
        if !overwrite {
            return Err(exists_error(jp, "a different node"));
        }
        if m.is_dir() {
            planner.push(Op::Remove {
                path: at.to_path_buf(),
            });
        }
    }
    planner.push(Op::Symlink {
        path: at.to_path_buf(),
        target: PathBuf::from(target),
        uid,
        gid,
    });
    Ok(())
}
