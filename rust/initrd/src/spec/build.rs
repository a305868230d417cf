//! Building an initrd from an [`InitrdSpec`].

use super::{mode_or, parse_mode, Init, InitrdSpec};
use crate::compress::{compress, compress_cached, CompressError, Compression};
use crate::cpio::{normalize, Archive, CpioError, DeviceKind};
use crate::elf::{closure, ElfError, LibFile, LibrarySearch};
use crate::kmod::{KmodError, ModulesTree};
use metalos_config::{FieldError, Resolved, Resolver};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Build settings that are not part of the spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// mtime of every entry (`SOURCE_DATE_EPOCH`, or 0).
    pub mtime: u64,
    /// Directory of compressed archives to reuse and add to
    /// ([`compress_cached`]); `None` compresses every time.
    pub cache: Option<PathBuf>,
}

impl BuildOptions {
    /// Options with `mtime` from `SOURCE_DATE_EPOCH` (0 if unset or invalid).
    pub fn from_env() -> Self {
        let mtime = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Self { mtime, cache: None }
    }
}

/// Build failures; each names the spec field it came from.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Validation or source resolution.
    #[error(transparent)]
    Field(#[from] FieldError),
    /// Adding or writing an archive entry.
    #[error("{field}: {source}")]
    Cpio {
        /// Spec field.
        field: String,
        /// Cause.
        source: CpioError,
    },
    /// Shared-library closure.
    #[error("{field}: {source}")]
    Elf {
        /// Spec field.
        field: String,
        /// Cause.
        source: ElfError,
    },
    /// Kernel-module closure.
    #[error("{field}: {source}")]
    Kmod {
        /// Spec field.
        field: String,
        /// Cause.
        source: KmodError,
    },
    /// Compression.
    #[error("compression: {0}")]
    Compress(#[from] CompressError),
}

/// The archives of a build, before serialization.
#[derive(Debug, Clone)]
pub struct Built {
    /// Uncompressed early archive, if the spec has `early` entries.
    pub early: Option<Archive>,
    /// The main archive.
    pub main: Archive,
    /// How the main archive is compressed.
    pub compression: Compression,
}

impl Built {
    /// Serializes: early archive, then the (compressed) main archive.
    pub fn to_bytes(&self, options: &BuildOptions) -> Result<Vec<u8>, BuildError> {
        let cpio = |source| BuildError::Cpio {
            field: "archive".into(),
            source,
        };
        let mut out = match &self.early {
            Some(a) => a.to_bytes(options.mtime).map_err(cpio)?,
            None => Vec::new(),
        };
        let main = self.main.to_bytes(options.mtime).map_err(cpio)?;
        out.extend(match &options.cache {
            Some(dir) => compress_cached(&main, self.compression, dir)?,
            None => compress(&main, self.compression)?,
        });
        Ok(out)
    }
}

/// Builds the full initrd: see the [module documentation](super).
pub fn build(
    spec: &InitrdSpec,
    resolver: &Resolver,
    options: &BuildOptions,
) -> Result<Vec<u8>, BuildError> {
    build_archives(spec, resolver)?.to_bytes(options)
}

fn cpio_err(field: String) -> impl FnOnce(CpioError) -> BuildError {
    move |source| BuildError::Cpio { field, source }
}

/// Resolves the spec into archives without serializing them.
pub fn build_archives(spec: &InitrdSpec, resolver: &Resolver) -> Result<Built, BuildError> {
    spec.validate()?;
    let mut main = MainArchive {
        archive: Archive::new(),
        resolver,
        executables: Vec::new(),
    };
    main.add_directories(spec)?;
    main.add_sources(spec)?;
    main.add_symlinks_and_devices(spec)?;
    main.add_library_closures(spec)?;
    if let Some(m) = &spec.modules {
        add_modules(&mut main.archive, resolver, m)?;
    }
    main.link_init(spec)?;
    let early = early_archive(spec, resolver)?;
    Ok(Built {
        early,
        main: main.archive,
        compression: spec.compression()?,
    })
}

/// An executable added from the host, whose shared libraries are added later.
struct Executable {
    /// Spec field of the entry.
    field: String,
    /// Host path.
    host: PathBuf,
    /// Absolute path in the initrd.
    path: String,
}

/// The main archive while it is being filled.
struct MainArchive<'a> {
    archive: Archive,
    resolver: &'a Resolver,
    executables: Vec<Executable>,
}

impl MainArchive<'_> {
    fn add_directories(&mut self, spec: &InitrdSpec) -> Result<(), BuildError> {
        for (i, d) in spec.directories.iter().enumerate() {
            let f = format!("directories[{i}]");
            let mode = mode_or(&d.mode, 0o755, &format!("{f}.mode"))?;
            self.archive.dir(&d.path, mode).map_err(cpio_err(f))?;
        }
        Ok(())
    }

    /// The init (when it has a source), then `[[files]]` and `[[executables]]`.
    fn add_sources(&mut self, spec: &InitrdSpec) -> Result<(), BuildError> {
        if let Init::Source(src) = &spec.init {
            self.add_source(src, "/init", Some(0o755), "init", true)?;
        }
        for (i, e) in spec.files.iter().enumerate() {
            let f = format!("files[{i}]");
            let mode = e
                .mode
                .as_ref()
                .map(|m| parse_mode(m, &format!("{f}.mode")))
                .transpose()?;
            self.add_source(&e.source, &e.path, mode, &f, false)?;
        }
        for (i, e) in spec.executables.iter().enumerate() {
            let f = format!("executables[{i}]");
            let mode = mode_or(&e.mode, 0o755, &format!("{f}.mode"))?;
            self.add_source(&e.source, &e.path, Some(mode), &f, true)?;
        }
        Ok(())
    }

    /// `[[symlinks]]`, `[[devices]]`, and `/dev/console` unless listed.
    fn add_symlinks_and_devices(&mut self, spec: &InitrdSpec) -> Result<(), BuildError> {
        let a = &mut self.archive;
        for (i, s) in spec.symlinks.iter().enumerate() {
            a.symlink(&s.path, &s.target)
                .map_err(cpio_err(format!("symlinks[{i}]")))?;
        }
        for (i, d) in spec.devices.iter().enumerate() {
            let f = format!("devices[{i}]");
            let mode = mode_or(&d.mode, 0o600, &format!("{f}.mode"))?;
            a.device(&d.path, d.kind, d.major, d.minor, mode)
                .map_err(cpio_err(f))?;
        }
        if !a.contains("dev/console") {
            a.device("dev/console", DeviceKind::Char, 5, 1, 0o600)
                .map_err(cpio_err("devices".into()))?;
        }
        Ok(())
    }

    /// Adds the shared libraries each executable needs (and their links).
    fn add_library_closures(&mut self, spec: &InitrdSpec) -> Result<(), BuildError> {
        let search = match &spec.library_dirs {
            Some(dirs) => LibrarySearch {
                default_dirs: dirs.iter().map(PathBuf::from).collect(),
            },
            None => LibrarySearch::default(),
        };
        for exe in &self.executables {
            let libs =
                closure(&[(exe.host.clone(), exe.path.clone())], &search).map_err(|source| {
                    BuildError::Elf {
                        field: format!("{}.source", exe.field),
                        source,
                    }
                })?;
            for lib in libs {
                add_library(&mut self.archive, &lib).map_err(cpio_err(exe.field.clone()))?;
            }
        }
        Ok(())
    }

    /// `init = "/path"`: the path must be in the initrd; `/init` links to it.
    fn link_init(&mut self, spec: &InitrdSpec) -> Result<(), BuildError> {
        let Init::Path(p) = &spec.init else {
            return Ok(());
        };
        let a = &mut self.archive;
        let norm = normalize(p).map_err(|e| FieldError::new("init", e.to_string()))?;
        if !a.contains(&norm) {
            return Err(FieldError::new("init", format!("{p} is not in the initrd")).into());
        }
        if norm != "init" {
            a.symlink("init", &norm).map_err(cpio_err("init".into()))?;
        }
        Ok(())
    }

    /// Adds a file (or, for `[[files]]` without `mode`, a host directory
    /// tree) from a source; executables are remembered for their libraries.
    fn add_source(
        &mut self,
        src: &metalos_config::Source,
        path: &str,
        mode: Option<u32>,
        field: &str,
        executable: bool,
    ) -> Result<(), BuildError> {
        let a = &mut self.archive;
        let resolved = self.resolver.resolve(src, &format!("{field}.source"))?;
        let host = match resolved {
            Resolved::Bytes(b) => {
                return a
                    .file(path, mode.unwrap_or(0o644), b)
                    .map_err(cpio_err(field.into()));
            }
            Resolved::Path(h) => h,
        };
        let meta = std::fs::metadata(&host).map_err(|e| {
            FieldError::new(
                format!("{field}.source"),
                format!("{}: {e}", host.display()),
            )
        })?;
        if meta.is_dir() {
            if executable || mode.is_some() {
                let m = "a directory source is only allowed in [[files]], without `mode`";
                return Err(FieldError::new(format!("{field}.source"), m).into());
            }
            return copy_tree(a, &host, path).map_err(cpio_err(field.into()));
        }
        let mode = mode.unwrap_or(if meta.permissions().mode() & 0o111 != 0 {
            0o755
        } else {
            0o644
        });
        a.file_from_host(path, mode, &host)
            .map_err(cpio_err(field.into()))?;
        if executable {
            self.executables.push(Executable {
                field: field.to_string(),
                host,
                path: format!("/{}", path.trim_start_matches('/')),
            });
        }
        Ok(())
    }
}

/// Adds one library of a closure, unless its path is already taken.
fn add_library(a: &mut Archive, lib: &LibFile) -> Result<(), CpioError> {
    let path = a.resolve_parents(&lib.initrd_path)?;
    if a.contains(&path) {
        return Ok(());
    }
    match &lib.symlink_target {
        Some(t) => a.symlink(&path, t),
        None => host_mode(&lib.host_path)
            .and_then(|m| a.file_from_host(&path, m & 0o7777, &lib.host_path)),
    }
}

/// The early (uncompressed) archive of `[[early]]` entries, if any.
fn early_archive(spec: &InitrdSpec, resolver: &Resolver) -> Result<Option<Archive>, BuildError> {
    if spec.early.is_empty() {
        return Ok(None);
    }
    let mut e = Archive::new();
    for (i, entry) in spec.early.iter().enumerate() {
        let f = format!("early[{i}]");
        match resolver.resolve(&entry.source, &format!("{f}.source"))? {
            Resolved::Path(h) => e.file_from_host(&entry.path, 0o644, &h),
            Resolved::Bytes(b) => e.file(&entry.path, 0o644, b),
        }
        .map_err(cpio_err(f))?;
    }
    Ok(Some(e))
}

fn host_mode(path: &Path) -> Result<u32, CpioError> {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode())
        .map_err(|source| CpioError::Io {
            path: path.into(),
            source,
        })
}

/// Copies a host directory tree (files, directories, symlinks) to `dest`.
fn copy_tree(a: &mut Archive, host: &Path, dest: &str) -> Result<(), CpioError> {
    let io = |source| CpioError::Io {
        path: host.into(),
        source,
    };
    let mut names: Vec<_> = std::fs::read_dir(host)
        .map_err(io)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    names.sort();
    a.dir(dest, host_mode(host)? & 0o7777)?;
    for name in names {
        let h = host.join(&name);
        let d = format!("{}/{}", dest.trim_end_matches('/'), name.to_string_lossy());
        let meta = std::fs::symlink_metadata(&h).map_err(|source| CpioError::Io {
            path: h.clone(),
            source,
        })?;
        if meta.file_type().is_symlink() {
            let t = std::fs::read_link(&h).map_err(|source| CpioError::Io {
                path: h.clone(),
                source,
            })?;
            a.symlink(&d, &t.to_string_lossy())?;
        } else if meta.is_dir() {
            copy_tree(a, &h, &d)?;
        } else if meta.is_file() {
            a.file_from_host(&d, meta.permissions().mode() & 0o7777, &h)?;
        } else {
            return Err(CpioError::HostFile {
                path: h,
                reason: "is not a file, directory or symlink".into(),
            });
        }
    }
    Ok(())
}

fn add_modules(
    a: &mut Archive,
    resolver: &Resolver,
    m: &super::ModulesEntry,
) -> Result<(), BuildError> {
    let tree_dir = match resolver.resolve(&m.tree, "modules.tree")? {
        Resolved::Path(p) => p,
        Resolved::Bytes(_) => {
            return Err(FieldError::new("modules.tree", "must be a directory, not text").into())
        }
    };
    let kmod = |field: &str| {
        let field = field.to_string();
        move |source| BuildError::Kmod { field, source }
    };
    let tree = ModulesTree::open(&tree_dir).map_err(kmod("modules.tree"))?;
    let c = tree.closure(&m.load).map_err(kmod("modules.load"))?;
    let dir = c.initrd_dir();
    for module in &c.modules {
        let path = a
            .resolve_parents(&format!("{dir}/{}", module.rel_path))
            .map_err(cpio_err("modules".into()))?;
        a.file_from_host(&path, 0o644, &module.host_path)
            .map_err(cpio_err("modules".into()))?;
    }
    for (name, bytes) in &c.metadata {
        let path = a
            .resolve_parents(&format!("{dir}/{name}"))
            .map_err(cpio_err("modules".into()))?;
        a.file(&path, 0o644, bytes.clone())
            .map_err(cpio_err("modules".into()))?;
    }
    Ok(())
}
