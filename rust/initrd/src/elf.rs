//! Shared-library closure of ELF executables, read with the `object` crate.
//!
//! For each executable the closure holds its `PT_INTERP` interpreter and,
//! recursively, every `DT_NEEDED` library, searched the way glibc's `ld.so`
//! does without `LD_LIBRARY_PATH` or `ld.so.cache`:
//!
//! 1. a name containing `/` is used as is;
//! 2. `DT_RPATH` of the object (and of the executable) when the object has
//!    no `DT_RUNPATH`;
//! 3. `DT_RUNPATH` of the object;
//! 4. the default directories ([`DEFAULT_LIBRARY_DIRS`], configurable).
//!
//! `$ORIGIN`/`${ORIGIN}` expand to the directory of the object. For
//! libraries that directory is the same on the host and in the initrd;
//! for an executable placed at another initrd path, a library found through
//! `$ORIGIN` is placed relative to the executable's *initrd* directory.
//! Absolute directories (including `/nix/store/…` RUNPATHs) keep their path:
//! every library lands in the initrd at the absolute path it was found at.
//! Candidates of the wrong ELF class or machine are skipped, as `ld.so` does.
//!
//! A library path that is a symlink (`libc.so.6`, `/lib64/ld-linux-x86-64.so.2`)
//! yields a symlink entry with the original target text plus the target
//! itself (followed until a regular file). Symlinked *directories* on the host
//! (merged `/usr`) are transparent: the initrd gets real directories.
//!
//! Statically linked programs (and non-ELF files such as scripts) have an
//! empty closure. The result is sorted by initrd path.

use object::elf::{
    FileHeader32, FileHeader64, DT_NEEDED, DT_RPATH, DT_RUNPATH, DT_STRSZ, DT_STRTAB, PT_LOAD,
};
use object::read::elf::{Dyn, FileHeader, ProgramHeader};
use object::Endianness;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// Default library directories (Debian x86-64 multiarch, then the classic ones).
pub const DEFAULT_LIBRARY_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/lib",
    "/usr/lib",
];

/// Library search configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibrarySearch {
    /// Directories searched after RPATH/RUNPATH, in order.
    pub default_dirs: Vec<PathBuf>,
}

impl Default for LibrarySearch {
    fn default() -> Self {
        Self {
            default_dirs: DEFAULT_LIBRARY_DIRS.iter().map(PathBuf::from).collect(),
        }
    }
}

/// One file of a closure.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LibFile {
    /// Absolute path in the initrd (`/lib/x86_64-linux-gnu/libc.so.6`).
    pub initrd_path: String,
    /// Where it is on the host.
    pub host_path: PathBuf,
    /// For a symlink: its target as stored on the host (then `host_path`
    /// is the link itself and the target is another entry of the closure).
    pub symlink_target: Option<String>,
}

/// Closure failures; each names the file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// Host path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A file is ELF but malformed.
    #[error("cannot parse ELF file {path}: {reason}")]
    Parse {
        /// Host path.
        path: PathBuf,
        /// Parser message.
        reason: String,
    },
    /// A needed library was not found.
    #[error("{binary} needs {library}, which is not found in {}", searched.join(", "))]
    NotFound {
        /// The object with the `DT_NEEDED` entry.
        binary: PathBuf,
        /// The library name.
        library: String,
        /// Directories searched (host paths).
        searched: Vec<String>,
    },
}

/// Dynamic-linking facts of one ELF file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElfInfo {
    /// `EI_CLASS` (1 = 32-bit, 2 = 64-bit).
    pub class: u8,
    /// `e_machine`.
    pub machine: u16,
    /// `PT_INTERP`.
    pub interpreter: Option<String>,
    /// `DT_NEEDED` entries in order.
    pub needed: Vec<String>,
    /// `DT_RPATH` entries (split on `:`).
    pub rpath: Vec<String>,
    /// `DT_RUNPATH` entries (split on `:`).
    pub runpath: Vec<String>,
}

/// Reads the dynamic-linking facts of `data`; `Ok(None)` if it is not ELF.
pub fn inspect(data: &[u8]) -> Result<Option<ElfInfo>, String> {
    if !data.starts_with(b"\x7fELF") || data.len() < 20 {
        return Ok(None);
    }
    let r = match data[4] {
        1 => parse::<FileHeader32<Endianness>>(data),
        2 => parse::<FileHeader64<Endianness>>(data),
        c => return Err(format!("unknown ELF class {c}")),
    };
    r.map(Some)
}

fn parse<E: FileHeader<Endian = Endianness>>(data: &[u8]) -> Result<ElfInfo, String> {
    let h = E::parse(data).map_err(|e| e.to_string())?;
    let e = h.endian().map_err(|e| e.to_string())?;
    let mut info = ElfInfo {
        class: data[4],
        machine: h.e_machine(e).0,
        ..ElfInfo::default()
    };
    let phs = h.program_headers(e, data).map_err(|e| e.to_string())?;
    let mut dynamic = None;
    for ph in phs {
        if let Some(i) = ph.interpreter(e, data).map_err(|e| e.to_string())? {
            info.interpreter = Some(String::from_utf8_lossy(i).into_owned());
        }
        if let Some(d) = ph.dynamic(e, data).map_err(|e| e.to_string())? {
            dynamic = Some(d);
        }
    }
    let Some(dyns) = dynamic else { return Ok(info) };
    let find = |tag| dyns.iter().find(|d| d.tag(e) == tag).map(|d| d.val(e));
    let (Some(strtab), Some(strsz)) = (find(DT_STRTAB), find(DT_STRSZ)) else {
        return Ok(info);
    };
    // DT_STRTAB is a virtual address: map it through the PT_LOAD segments.
    let strings = phs
        .iter()
        .filter(|ph| ph.p_type(e) == PT_LOAD)
        .find_map(|ph| {
            let (va, off, filesz) = (
                ph.p_vaddr(e).into(),
                ph.p_offset(e).into(),
                ph.p_filesz(e).into(),
            );
            (strtab >= va && strtab + strsz <= va + filesz).then(|| off + (strtab - va))
        })
        .and_then(|off| data.get(off as usize..(off + strsz) as usize))
        .ok_or("DT_STRTAB outside the loadable segments")?;
    let string = |v: u64| -> String {
        let s = strings.get(v as usize..).unwrap_or_default();
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        String::from_utf8_lossy(&s[..end]).into_owned()
    };
    let split = |s: String| -> Vec<String> {
        s.split(':')
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect()
    };
    for d in dyns {
        let tag = d.tag(e);
        if tag == DT_NEEDED {
            info.needed.push(string(d.val(e)));
        } else if tag == DT_RPATH {
            info.rpath.extend(split(string(d.val(e))));
        } else if tag == DT_RUNPATH {
            info.runpath.extend(split(string(d.val(e))));
        }
    }
    Ok(info)
}

/// Computes the closure of executables given as (host path, initrd path).
pub fn closure(
    executables: &[(PathBuf, String)],
    search: &LibrarySearch,
) -> Result<Vec<LibFile>, ElfError> {
    let mut w = Walker {
        search,
        out: BTreeMap::new(),
    };
    for (host, initrd) in executables {
        let real = std::fs::canonicalize(host).map_err(|source| ElfError::Read {
            path: host.clone(),
            source,
        })?;
        let initrd = format!("/{}", initrd.trim_start_matches('/'));
        w.object(&real, &initrd, true, &[])?;
    }
    Ok(w.out.into_values().collect())
}

struct Walker<'a> {
    search: &'a LibrarySearch,
    out: BTreeMap<String, LibFile>,
}

/// A search directory on the host and its counterpart in the initrd.
type Dir = (PathBuf, String);

impl Walker<'_> {
    fn object(
        &mut self,
        host: &Path,
        initrd: &str,
        is_exe: bool,
        inherited: &[Dir],
    ) -> Result<(), ElfError> {
        let data = std::fs::read(host).map_err(|source| ElfError::Read {
            path: host.into(),
            source,
        })?;
        let parse_err = |reason| ElfError::Parse {
            path: host.into(),
            reason,
        };
        let Some(info) = inspect(&data).map_err(parse_err)? else {
            return Ok(());
        };
        if let (true, Some(interp)) = (is_exe, &info.interpreter) {
            self.add(Path::new(interp), interp)?;
        }
        let origin_host = host.parent().unwrap_or(Path::new("/"));
        let origin_initrd = initrd.rsplit_once('/').map_or("", |(d, _)| d);
        let expand = |list: &[String]| -> Vec<Dir> {
            list.iter()
                .map(|p| {
                    let sub = |o: &str| p.replace("${ORIGIN}", o).replace("$ORIGIN", o);
                    let o_host = origin_host.to_string_lossy();
                    (
                        PathBuf::from(sub(&o_host)),
                        lexical(&sub(if origin_initrd.is_empty() {
                            "/"
                        } else {
                            origin_initrd
                        })),
                    )
                })
                .collect()
        };
        let mut rpath_chain = expand(&info.rpath);
        rpath_chain.extend(inherited.iter().cloned());
        let mut dirs: Vec<Dir> = if info.runpath.is_empty() {
            rpath_chain.clone()
        } else {
            expand(&info.runpath)
        };
        dirs.extend(
            self.search
                .default_dirs
                .iter()
                .map(|d| (d.clone(), d.to_string_lossy().into_owned())),
        );
        for lib in &info.needed {
            let found = if lib.contains('/') {
                Some((PathBuf::from(lib), lexical(lib)))
            } else {
                dirs.iter()
                    .map(|(h, i)| (h.join(lib), format!("{}/{lib}", i.trim_end_matches('/'))))
                    .find(|(h, _)| compatible(h, &info))
            };
            let Some((h, i)) = found else {
                return Err(ElfError::NotFound {
                    binary: host.into(),
                    library: lib.clone(),
                    searched: dirs.iter().map(|d| d.0.display().to_string()).collect(),
                });
            };
            self.add_with(&h, &i, &rpath_chain)?;
        }
        Ok(())
    }

    fn add(&mut self, host: &Path, initrd: &str) -> Result<(), ElfError> {
        self.add_with(host, &lexical(initrd), &[])
    }

    fn add_with(&mut self, host: &Path, initrd: &str, chain: &[Dir]) -> Result<(), ElfError> {
        if self.out.contains_key(initrd) {
            return Ok(());
        }
        let read = |source| ElfError::Read {
            path: host.into(),
            source,
        };
        let meta = std::fs::symlink_metadata(host).map_err(read)?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(host)
                .map_err(read)?
                .to_string_lossy()
                .into_owned();
            self.out.insert(
                initrd.into(),
                LibFile {
                    initrd_path: initrd.into(),
                    host_path: host.into(),
                    symlink_target: Some(target.clone()),
                },
            );
            let (t_host, t_initrd) = if target.starts_with('/') {
                (PathBuf::from(&target), lexical(&target))
            } else {
                let parent = host.parent().unwrap_or(Path::new("/"));
                let real_parent = std::fs::canonicalize(parent).map_err(read)?;
                let initrd_parent = initrd.rsplit_once('/').map_or("", |(d, _)| d);
                (
                    real_parent.join(&target),
                    lexical(&format!("{initrd_parent}/{target}")),
                )
            };
            return self.add_with(&t_host, &t_initrd, chain);
        }
        self.out.insert(
            initrd.into(),
            LibFile {
                initrd_path: initrd.into(),
                host_path: host.into(),
                symlink_target: None,
            },
        );
        self.object(host, initrd, false, chain)
    }
}

/// Whether `path` is an ELF file of the same class and machine as `like`.
fn compatible(path: &Path, like: &ElfInfo) -> bool {
    use std::io::Read;
    let mut head = [0u8; 20];
    let ok = std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok();
    if !ok || !head.starts_with(b"\x7fELF") || head[4] != like.class {
        return false;
    }
    let m = if head[5] == 2 {
        u16::from_be_bytes([head[18], head[19]])
    } else {
        u16::from_le_bytes([head[18], head[19]])
    };
    m == like.machine
}

/// Absolute, lexically normalized path (`.`/`..` folded), always starting with `/`.
fn lexical(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(p).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str().unwrap_or_default()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
#[path = "elf_tests.rs"]
mod tests;
