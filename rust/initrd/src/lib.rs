//! MetalOS initrd builder: cpio newc archives, zstd, ELF shared-library
//! closures and kernel-module closures, driven by a TOML spec.
//!
//! Public API at a glance:
//!
//! * [`cpio`] — [`cpio::Archive`] (`dir`, `file`, `file_from_host`,
//!   `symlink`, `device`, `hardlink`, `write_to(out, mtime)`,
//!   `to_bytes(mtime)`) writes deterministic newc archives;
//!   [`cpio::read_archives`] lists [`cpio::Entry`]s of concatenated plain or
//!   zstd archives.
//! * [`compress`] — [`compress::compress`]`(data, `[`compress::Compression`]`)`:
//!   one kernel-compatible zstd frame (multithreaded mode, fixed), or none.
//! * [`elf`] — [`elf::closure`]`(&[(host, initrd_path)], &`[`elf::LibrarySearch`]`)`
//!   → sorted [`elf::LibFile`]s (interpreter, libraries, symlinks);
//!   [`elf::inspect`] reads `PT_INTERP`/`DT_NEEDED`/`RPATH`/`RUNPATH`.
//! * [`kmod`] — [`kmod::ModulesTree::open`]`(dir)` and
//!   [`kmod::ModulesTree::closure`]`(&names)` → [`kmod::ModuleClosure`]
//!   (modules in load order + index files for the subset).
//! * [`spec`] — [`spec::InitrdSpec::from_toml`] (errors name fields such as
//!   `files[3].mode`) and [`spec::build`]`(spec, resolver, options)` → the
//!   initrd bytes (early uncompressed archive + compressed main archive).
//!   The format is documented in [`spec`] and `docs/initrd-spec.md`.

#![warn(missing_docs)]

pub mod compress;
pub mod cpio;
pub mod elf;
pub mod kmod;
pub mod spec;

pub use compress::Compression;
pub use cpio::Archive;
pub use spec::{build, BuildError, BuildOptions, InitrdSpec};
