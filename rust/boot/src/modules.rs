//! Loading kernel modules from the initrd's `/lib/modules/$(uname -r)`,
//! dependencies first, through `finit_module(2)`.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Module loading errors.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// modules.dep missing or unreadable.
    #[error("cannot read {}", path.display())]
    Index {
        /// Path of modules.dep.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The module is not in modules.dep (and not built in).
    #[error("kernel module {0:?} is not in this initrd")]
    Unknown(String),
    /// finit_module failed.
    #[error("loading {}", path.display())]
    Load {
        /// Module file.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
}

fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    normalize(file.split(".ko").next().unwrap_or(file))
}

/// The modules directory of the running kernel.
pub fn modules_dir() -> PathBuf {
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname fills the struct we own.
    unsafe { libc::uname(&mut uts) };
    let release: String = uts
        .release
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8 as char)
        .collect();
    Path::new("/lib/modules").join(release)
}

/// Parsed `modules.dep`: module name → (relative path, dependency paths).
pub struct ModuleIndex {
    dir: PathBuf,
    deps: BTreeMap<String, (String, Vec<String>)>,
    builtin: Vec<String>,
}

impl ModuleIndex {
    /// Reads `dir/modules.dep` (and `modules.builtin` when present).
    pub fn open(dir: &Path) -> Result<Self, ModuleError> {
        let path = dir.join("modules.dep");
        let text =
            std::fs::read_to_string(&path).map_err(|source| ModuleError::Index { path, source })?;
        let mut deps = BTreeMap::new();
        for line in text.lines() {
            if let Some((m, d)) = line.split_once(':') {
                let list = d.split_whitespace().map(str::to_string).collect();
                deps.insert(module_name(m), (m.trim().to_string(), list));
            }
        }
        let builtin = std::fs::read_to_string(dir.join("modules.builtin"))
            .unwrap_or_default()
            .lines()
            .map(module_name)
            .collect();
        Ok(Self {
            dir: dir.to_owned(),
            deps,
            builtin,
        })
    }

    /// Module files to load for `names`, dependencies first, each once.
    pub fn load_order(&self, names: &[&str]) -> Result<Vec<PathBuf>, ModuleError> {
        let mut out: Vec<String> = vec![];
        for name in names {
            let n = normalize(name);
            let Some((path, deps)) = self.deps.get(&n) else {
                if self.builtin.contains(&n) {
                    continue;
                }
                return Err(ModuleError::Unknown(name.to_string()));
            };
            // modules.dep lists the full closure, deepest dependency last.
            for dep in deps.iter().rev().chain(std::iter::once(path)) {
                if !out.contains(dep) {
                    out.push(dep.clone());
                }
            }
        }
        Ok(out.into_iter().map(|p| self.dir.join(p)).collect())
    }
}

/// Loads one module file. "Already loaded" is success; "no such device"
/// (ENODEV: e.g. a CPU-specific crypto driver on a CPU without that
/// feature, pulled in as a soft dependency) is skipped with a note.
pub fn load_file(path: &Path) -> Result<(), ModuleError> {
    let err = |source| ModuleError::Load {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(err)?;
    let params = c"";
    // SAFETY: valid fd and NUL-terminated parameter string.
    let rc = unsafe { libc::syscall(libc::SYS_finit_module, file.as_raw_fd(), params.as_ptr(), 0) };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EEXIST) => Ok(()),
        Some(libc::ENODEV) => {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            println!("module {name}: not applicable to this machine (ENODEV), skipped");
            Ok(())
        }
        _ => Err(err(e)),
    }
}

/// Loads every module the initrd carries (all of `modules.dep`), each after
/// its dependencies: the initrd spec decides what is needed.
pub fn load_all() -> Result<(), ModuleError> {
    let index = ModuleIndex::open(&modules_dir())?;
    let names: Vec<String> = index.deps.keys().cloned().collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    load_paths(index.load_order(&names)?)
}

/// Loads files in order; a module whose dependency was not loaded yet
/// (an index in a surprising order) is retried after the others.
fn load_paths(mut pending: Vec<PathBuf>) -> Result<(), ModuleError> {
    loop {
        let before = pending.len();
        let mut last_error = None;
        pending.retain(|p| match load_file(p) {
            Ok(()) => false,
            Err(e) => {
                last_error = Some(e);
                true
            }
        });
        match last_error {
            None => return Ok(()),
            Some(e) if pending.len() == before => return Err(e),
            Some(_) => {}
        }
    }
}

/// Loads `names` (with dependencies) from the running kernel's modules dir.
pub fn load(names: &[&str]) -> Result<(), ModuleError> {
    let index = ModuleIndex::open(&modules_dir())?;
    load_paths(index.load_order(names)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_come_first() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("modules.dep"),
            "kernel/a/virtio_blk.ko: kernel/v/virtio_ring.ko kernel/v/virtio.ko\nkernel/v/virtio_ring.ko: kernel/v/virtio.ko\nkernel/v/virtio.ko:\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("modules.builtin"),
            "kernel/fs/ext4/ext4.ko\n",
        )
        .unwrap();
        let idx = ModuleIndex::open(dir.path()).unwrap();
        let order = idx
            .load_order(&["virtio-blk", "ext4", "virtio_ring"])
            .unwrap();
        let rel: Vec<String> = order
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(
            rel,
            [
                "kernel/v/virtio.ko",
                "kernel/v/virtio_ring.ko",
                "kernel/a/virtio_blk.ko"
            ]
        );
        assert!(matches!(
            idx.load_order(&["nope"]),
            Err(ModuleError::Unknown(_))
        ));
    }
}
