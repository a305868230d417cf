//! Kernel-module closure from a modules tree (`/lib/modules/<version>`).
//!
//! [`ModulesTree::open`] reads the text indexes `depmod` writes:
//! `modules.dep` (`kernel/path.ko: dep.ko …`), `modules.softdep`
//! (`softdep name pre: a b post: c`), `modules.builtin` (`kernel/…/x.ko`
//! per line) and `modules.alias` (`alias pattern module`). Missing optional
//! files count as empty. A tree without `modules.dep` (an unpacked Debian
//! `linux-image` package: `depmod` normally runs at install time) gets these
//! indexes synthesized from each module's `.modinfo` section (`depends=`,
//! `softdep=`, `alias=`), as `depmod` would; see `modinfo.rs`.
//!
//! [`ModulesTree::closure`] takes module names — `-` and `_` are equivalent,
//! `.ko`, `.ko.xz`, `.ko.zst` and `.ko.gz` suffixes are ignored — and returns
//! the modules to copy in **load order**: for each module its `pre:`
//! softdeps, then its dependencies (each with its own dependencies first),
//! then the module, then its `post:` softdeps. A requested name that is not
//! a module may be built in (nothing to copy, recorded in
//! [`ModuleClosure::builtin`]) or an exact (non-wildcard) alias, which
//! selects every module carrying it. Anything else is an error naming it.
//! Softdeps that are neither modules, built-ins nor aliases are skipped.
//!
//! [`ModuleClosure::metadata`] holds index files for the subset, to be
//! placed beside the modules: `modules.dep`, `modules.alias` and
//! `modules.softdep` restricted to the chosen modules, `modules.builtin`
//! (and `modules.builtin.modinfo` if present) copied whole, and
//! `modules.order` listing the chosen modules in load order. The binary
//! `*.bin` indexes are not generated (run `depmod` in the initrd if kmod's
//! `modprobe` is used; MetalOS's own loader reads the text files).

mod modinfo;

pub use modinfo::{read_modinfo, ModInfo};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module-closure failures.
#[derive(Debug, thiserror::Error)]
pub enum KmodError {
    /// An index file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// Host path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// No `modules.dep` in the directory, a single subdirectory or a single `lib/modules/<version>`.
    #[error("{0} is not a kernel modules tree (no modules.dep or kernel/ in it, in a single <version> subdirectory or in a single lib/modules/<version>)")]
    NotATree(PathBuf),
    /// A line of an index file is malformed.
    #[error("{file}:{line}: {reason}")]
    Malformed {
        /// Index file.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A requested module is neither a module, a built-in nor an alias.
    #[error("unknown kernel module {name:?} (not in {tree}/modules.dep, modules.builtin or modules.alias)")]
    Unknown {
        /// The name as requested.
        name: String,
        /// Tree directory.
        tree: String,
    },
    /// A module listed in modules.dep has no file.
    #[error("module {name}: {path} does not exist")]
    MissingFile {
        /// Module name.
        name: String,
        /// Expected host path.
        path: PathBuf,
    },
}

/// A module to copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Normalized name (`virtio_blk`).
    pub name: String,
    /// Path relative to the tree (`kernel/drivers/block/virtio_blk.ko`).
    pub rel_path: String,
    /// Host file.
    pub host_path: PathBuf,
}

/// Result of [`ModulesTree::closure`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleClosure {
    /// Kernel version (the tree directory's name).
    pub version: String,
    /// Modules in load order.
    pub modules: Vec<Module>,
    /// Requested names that are built into the kernel.
    pub builtin: Vec<String>,
    /// Generated index files by file name (`modules.dep`, …).
    pub metadata: BTreeMap<String, Vec<u8>>,
}

impl ModuleClosure {
    /// The initrd directory of this tree: `lib/modules/<version>`.
    pub fn initrd_dir(&self) -> String {
        format!("lib/modules/{}", self.version)
    }
}

/// Normalizes a module name or path: basename, no `.ko*` suffix, `-` → `_`.
pub fn normalize_name(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let stem = [".ko.xz", ".ko.zst", ".ko.gz", ".ko"]
        .iter()
        .find_map(|s| base.strip_suffix(s))
        .unwrap_or(base);
    stem.replace('-', "_")
}

/// A parsed modules tree.
#[derive(Debug, Clone)]
pub struct ModulesTree {
    /// The `<version>` directory.
    pub dir: PathBuf,
    /// Kernel version (the directory name).
    pub version: String,
    dep_lines: Vec<(String, String)>,
    modules: BTreeMap<String, (String, Vec<String>)>,
    by_path: BTreeMap<String, String>,
    builtin: BTreeSet<String>,
    softdeps: BTreeMap<String, (Vec<String>, Vec<String>)>,
    aliases: Vec<(String, String)>,
}

fn read_opt(path: &Path) -> Result<Option<String>, KmodError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KmodError::Io {
            path: path.into(),
            source,
        }),
    }
}

fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// Finds the `<version>` directory at or below `path`.
fn find_version_dir(path: &Path) -> Result<PathBuf, KmodError> {
    let is_tree = |p: &Path| p.join("modules.dep").is_file() || p.join("kernel").is_dir();
    if is_tree(path) {
        return Ok(path.to_path_buf());
    }
    for sub in ["", "lib/modules", "usr/lib/modules"] {
        let Ok(rd) = std::fs::read_dir(path.join(sub)) else {
            continue;
        };
        let found: Vec<_> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_tree(p))
            .collect();
        if let [one] = found.as_slice() {
            return Ok(one.clone());
        }
    }
    Err(KmodError::NotATree(path.into()))
}

impl ModulesTree {
    /// Opens a tree: `path` is the `<version>` directory, a `modules`
    /// directory with a single `<version>`, or a root with a single
    /// `lib/modules/<version>` (or `usr/lib/modules/<version>`).
    pub fn open(path: &Path) -> Result<Self, KmodError> {
        let dir = find_version_dir(path)?;
        let version = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let mut t = ModulesTree {
            dir: dir.clone(),
            version,
            dep_lines: Vec::new(),
            modules: BTreeMap::new(),
            by_path: BTreeMap::new(),
            builtin: BTreeSet::new(),
            softdeps: BTreeMap::new(),
            aliases: Vec::new(),
        };
        let dep_file = dir.join("modules.dep");
        let (deps, softdep, alias) = if dep_file.is_file() {
            (
                read_opt(&dep_file)?.unwrap_or_default(),
                read_opt(&dir.join("modules.softdep"))?.unwrap_or_default(),
                read_opt(&dir.join("modules.alias"))?.unwrap_or_default(),
            )
        } else {
            let g = modinfo::synthesize(&dir)?;
            (g.dep, g.softdep, g.alias)
        };
        for (n, line) in lines(&deps) {
            let Some((path, rest)) = line.split_once(':') else {
                let reason = "expected `path.ko: deps…`".into();
                return Err(KmodError::Malformed {
                    file: dep_file,
                    line: n,
                    reason,
                });
            };
            let name = normalize_name(path);
            let list = rest.split_whitespace().map(String::from).collect();
            t.dep_lines.push((name.clone(), line.to_string()));
            t.by_path.insert(path.to_string(), name.clone());
            t.modules.entry(name).or_insert((path.to_string(), list));
        }
        for (_, line) in lines(&read_opt(&dir.join("modules.builtin"))?.unwrap_or_default()) {
            t.builtin.insert(normalize_name(line));
        }
        for (_, line) in lines(&softdep) {
            let mut words = line.split_whitespace();
            if words.next() != Some("softdep") {
                continue;
            }
            let Some(name) = words.next() else { continue };
            let entry = t.softdeps.entry(normalize_name(name)).or_default();
            let mut post = false;
            for w in words {
                match w {
                    "pre:" => post = false,
                    "post:" => post = true,
                    w if post => entry.1.push(w.to_string()),
                    w => entry.0.push(w.to_string()),
                }
            }
        }
        for (_, line) in lines(&alias) {
            let w: Vec<_> = line.split_whitespace().collect();
            if let ["alias", pattern, module] = w.as_slice() {
                t.aliases
                    .push((pattern.to_string(), normalize_name(module)));
            }
        }
        Ok(t)
    }

    /// Whether `name` is built into the kernel.
    pub fn is_builtin(&self, name: &str) -> bool {
        self.builtin.contains(&normalize_name(name))
    }

    /// Computes the closure of `names`; see the module documentation.
    pub fn closure(&self, names: &[String]) -> Result<ModuleClosure, KmodError> {
        let mut st = State::default();
        for name in names {
            if !self.visit(name, true, &mut st)? {
                return Err(KmodError::Unknown {
                    name: name.clone(),
                    tree: self.dir.display().to_string(),
                });
            }
        }
        let mut modules = Vec::new();
        for name in &st.order {
            let rel = self.modules[name].0.clone();
            let host_path = self.dir.join(&rel);
            if !host_path.is_file() {
                return Err(KmodError::MissingFile {
                    name: name.clone(),
                    path: host_path,
                });
            }
            modules.push(Module {
                name: name.clone(),
                rel_path: rel,
                host_path,
            });
        }
        let metadata = self.metadata(&modules)?;
        Ok(ModuleClosure {
            version: self.version.clone(),
            modules,
            builtin: st.builtin,
            metadata,
        })
    }

    /// Adds `name` (and what it needs) to `st`; `false` if it is unknown.
    fn visit(&self, name: &str, requested: bool, st: &mut State) -> Result<bool, KmodError> {
        let norm = normalize_name(name);
        if st.done.contains(&norm) || st.visiting.contains(&norm) {
            return Ok(true);
        }
        if let Some((_, deps)) = self.modules.get(&norm) {
            st.visiting.insert(norm.clone());
            let (pre, post) = self.softdeps.get(&norm).cloned().unwrap_or_default();
            for s in &pre {
                self.visit(s, false, st)?;
            }
            for dep in deps.iter().rev() {
                let dep_name = self
                    .by_path
                    .get(dep)
                    .cloned()
                    .unwrap_or_else(|| normalize_name(dep));
                self.visit(&dep_name, false, st)?;
            }
            st.visiting.remove(&norm);
            st.done.insert(norm.clone());
            st.order.push(norm);
            for s in &post {
                self.visit(s, false, st)?;
            }
            return Ok(true);
        }
        if self.builtin.contains(&norm) {
            st.done.insert(norm.clone());
            if requested {
                st.builtin.push(norm);
            }
            return Ok(true);
        }
        let targets: BTreeSet<&String> = self
            .aliases
            .iter()
            .filter(|(p, _)| p == name || normalize_name(p) == norm)
            .map(|(_, m)| m)
            .collect();
        let mut any = false;
        for m in targets {
            any |= self.visit(m, requested, st)?;
        }
        Ok(any)
    }

    fn metadata(&self, modules: &[Module]) -> Result<BTreeMap<String, Vec<u8>>, KmodError> {
        let chosen: BTreeSet<&str> = modules.iter().map(|m| m.name.as_str()).collect();
        let available = |n: &str| {
            let norm = normalize_name(n);
            chosen.contains(norm.as_str())
                || self.is_builtin(n)
                || self.aliases.iter().any(|(p, m)| {
                    (p == n || normalize_name(p) == norm) && chosen.contains(m.as_str())
                })
        };
        let mut md = BTreeMap::new();
        let mut dep = String::new();
        for (name, line) in &self.dep_lines {
            if chosen.contains(name.as_str()) {
                dep.push_str(line);
                dep.push('\n');
            }
        }
        md.insert("modules.dep".into(), dep.into_bytes());
        let mut alias = String::new();
        for (pattern, module) in &self.aliases {
            if chosen.contains(module.as_str()) {
                alias.push_str(&format!("alias {pattern} {module}\n"));
            }
        }
        md.insert("modules.alias".into(), alias.into_bytes());
        let mut soft = String::new();
        for (name, (pre, post)) in &self.softdeps {
            let pre: Vec<_> = pre
                .iter()
                .filter(|n| available(n))
                .map(String::as_str)
                .collect();
            let post: Vec<_> = post
                .iter()
                .filter(|n| available(n))
                .map(String::as_str)
                .collect();
            if chosen.contains(name.as_str()) && !(pre.is_empty() && post.is_empty()) {
                soft.push_str(&format!("softdep {name}"));
                if !pre.is_empty() {
                    soft.push_str(&format!(" pre: {}", pre.join(" ")));
                }
                if !post.is_empty() {
                    soft.push_str(&format!(" post: {}", post.join(" ")));
                }
                soft.push('\n');
            }
        }
        md.insert("modules.softdep".into(), soft.into_bytes());
        let order: String = modules
            .iter()
            .map(|m| format!("{}\n", m.rel_path))
            .collect();
        md.insert("modules.order".into(), order.into_bytes());
        for whole in ["modules.builtin", "modules.builtin.modinfo"] {
            let path = self.dir.join(whole);
            match std::fs::read(&path) {
                Ok(b) => {
                    md.insert(whole.into(), b);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(KmodError::Io { path, source }),
            }
        }
        Ok(md)
    }
}

#[derive(Default)]
struct State {
    done: BTreeSet<String>,
    visiting: BTreeSet<String>,
    order: Vec<String>,
    builtin: Vec<String>,
}

#[cfg(test)]
mod tests;
