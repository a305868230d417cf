//! The initrd spec: a TOML document describing one initrd, and [`build`],
//! which turns it into initrd bytes.
//!
//! ```toml
//! init = "/usr/bin/metalinit"         # path in the initrd; /init links to it
//! # init = { input = "metalinit" }    # …or a source placed at /init (0755)
//! compression = { algorithm = "zstd", level = 19 }   # or "none", or "zstd"
//! library_dirs = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"]  # optional
//!
//! [[executables]]                     # ELF closure (interpreter + libraries) added
//! path = "/usr/bin/metalinit"
//! source = { input = "metalinit" }
//!
//! [[files]]
//! path = "/etc/motd"
//! source = { text = "hello\n" }
//! mode = "0644"                       # octal string, or integer (use 0o644 in TOML)
//!
//! [[directories]]
//! path = "/run"
//! mode = "0755"
//!
//! [[symlinks]]
//! path = "/bin"
//! target = "usr/bin"
//!
//! [[devices]]
//! path = "/dev/null"
//! kind = "char"                       # or "block"
//! major = 1
//! minor = 3
//! mode = "0666"
//!
//! [modules]
//! tree = { input = "kernel-modules" }  # lib/modules/<version> (or a root holding one)
//! load = ["virtio_blk", "btrfs"]
//!
//! [[early]]                            # uncompressed archive placed first
//! path = "kernel/x86/microcode/GenuineIntel.bin"
//! source = { input = "intel-microcode" }
//! ```
//!
//! Rules:
//! * Paths are initrd paths; a leading `/` is optional, `..` is rejected.
//! * Default modes: files 0644 (0755 if the host file has an execute bit),
//!   executables 0755, directories 0755, devices 0600, early files 0644.
//!   Libraries keep their host permission bits.
//! * A `files` source that is a directory is copied recursively (regular
//!   files, directories and symlinks; modes from the host); `mode` is then
//!   not allowed.
//! * `/dev/console` (char 5:1, 0600) is added unless the spec lists a
//!   `dev/console` device itself: the kernel opens it for init's stdio
//!   before any devtmpfs is mounted.
//! * Explicit entries win over library-closure entries at the same path;
//!   other conflicts are errors naming the entry.
//! * Libraries and modules are placed through symlinks of the spec: with
//!   `lib -> usr/lib`, `/lib/x86_64-linux-gnu/libc.so.6` lands in
//!   `usr/lib/x86_64-linux-gnu/`. Explicit entries are placed literally.
//! * Modules land in `lib/modules/<version>/` with index files for the
//!   subset (see [`crate::kmod`]).
//! * The output is the early archive (uncompressed, if any `early` entry)
//!   followed by the main archive, compressed as one frame.
//!
//! Every validation error names its field, e.g. `files[3].mode: …`.

mod build;

pub use build::{build, build_archives, BuildError, BuildOptions, Built};

use crate::compress::{check_level, Compression};
use crate::cpio::{normalize, DeviceKind};
use metalos_config::{FieldError, Source};
use serde::Deserialize;

/// The whole spec document.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitrdSpec {
    /// The program the kernel runs.
    pub init: Init,
    /// Compression of the main archive (default zstd level 19).
    #[serde(default)]
    pub compression: Option<CompressionSpec>,
    /// Library search directories replacing [`crate::elf::DEFAULT_LIBRARY_DIRS`].
    #[serde(default)]
    pub library_dirs: Option<Vec<String>>,
    /// Regular files (or copied directory trees).
    #[serde(default)]
    pub files: Vec<FileEntry>,
    /// Directories.
    #[serde(default)]
    pub directories: Vec<DirEntry>,
    /// Symlinks.
    #[serde(default)]
    pub symlinks: Vec<SymlinkEntry>,
    /// Device nodes.
    #[serde(default)]
    pub devices: Vec<DeviceEntry>,
    /// Programs whose shared-library closure is added.
    #[serde(default)]
    pub executables: Vec<FileEntry>,
    /// Kernel modules.
    #[serde(default)]
    pub modules: Option<ModulesEntry>,
    /// Files of the uncompressed early archive (CPU microcode).
    #[serde(default)]
    pub early: Vec<EarlyEntry>,
}

/// `init`: a path in the initrd, or a source placed at `/init`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Init {
    /// `/init` is a symlink to this path (unless it is `/init` itself), which
    /// must exist in the initrd.
    Path(String),
    /// Placed at `/init` with mode 0755; its ELF closure is added.
    Source(Source),
}

/// `compression = "none" | "zstd" | { algorithm = …, level = … }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum CompressionSpec {
    /// `"none"` or `"zstd"` (level 19).
    Name(String),
    /// Algorithm and level.
    Table(CompressionTable),
}

/// Table form of [`CompressionSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompressionTable {
    /// `"zstd"` or `"none"`.
    pub algorithm: String,
    /// zstd level `1..=19` (default 19).
    pub level: Option<i32>,
}

/// A mode: octal string (`"0755"`) or integer (`0o755` in TOML).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Mode {
    /// Integer value.
    Int(u32),
    /// Octal digits.
    Octal(String),
}

/// `[[files]]` and `[[executables]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Initrd path.
    pub path: String,
    /// Content.
    pub source: Source,
    /// Permission bits.
    pub mode: Option<Mode>,
}

/// `[[directories]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirEntry {
    /// Initrd path.
    pub path: String,
    /// Permission bits (default 0755).
    pub mode: Option<Mode>,
}

/// `[[symlinks]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymlinkEntry {
    /// Initrd path of the link.
    pub path: String,
    /// Target, stored verbatim.
    pub target: String,
}

/// `[[devices]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    /// Initrd path.
    pub path: String,
    /// `"char"` or `"block"`.
    pub kind: DeviceKind,
    /// Major number (< 4096).
    pub major: u32,
    /// Minor number (< 2^20).
    pub minor: u32,
    /// Permission bits (default 0600).
    pub mode: Option<Mode>,
}

/// `[modules]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModulesEntry {
    /// The modules tree.
    pub tree: Source,
    /// Module names to include with their closure.
    pub load: Vec<String>,
}

/// `[[early]]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyEntry {
    /// Path in the early archive (`kernel/x86/microcode/GenuineIntel.bin`).
    pub path: String,
    /// Content.
    pub source: Source,
}

/// Parses a mode for `field`.
pub fn parse_mode(mode: &Mode, field: &str) -> Result<u32, FieldError> {
    let v = match mode {
        Mode::Int(v) => *v,
        Mode::Octal(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8)
            .map_err(|_| FieldError::new(field, format!("{s:?} is not an octal mode")))?,
    };
    if v > 0o7777 {
        return Err(FieldError::new(
            field,
            format!("{v:#o} has bits outside 0o7777"),
        ));
    }
    Ok(v)
}

fn mode_or(mode: &Option<Mode>, default: u32, field: &str) -> Result<u32, FieldError> {
    mode.as_ref().map_or(Ok(default), |m| parse_mode(m, field))
}

fn check_path(path: &str, field: &str) -> Result<String, FieldError> {
    normalize(path).map_err(|e| FieldError::new(field, e.to_string()))
}

impl InitrdSpec {
    /// Parses and validates a TOML spec.
    pub fn from_toml(text: &str) -> Result<Self, FieldError> {
        let spec: InitrdSpec = metalos_config::error::parse_toml(text)?;
        spec.validate()?;
        Ok(spec)
    }

    /// The effective compression.
    pub fn compression(&self) -> Result<Compression, FieldError> {
        let err = |f: &str, m: String| FieldError::new(f, m);
        let (algo, level, field) = match &self.compression {
            None => return Ok(Compression::default()),
            Some(CompressionSpec::Name(n)) => (n.as_str(), None, "compression"),
            Some(CompressionSpec::Table(t)) => {
                (t.algorithm.as_str(), t.level, "compression.algorithm")
            }
        };
        match (algo, level) {
            ("none", None) => Ok(Compression::None),
            ("none", Some(_)) => Err(err(
                "compression.level",
                "not allowed with algorithm \"none\"".into(),
            )),
            ("zstd", l) => {
                let level = l.unwrap_or(19);
                check_level(level).map_err(|e| err("compression.level", e.to_string()))?;
                Ok(Compression::Zstd { level })
            }
            (other, _) => Err(err(
                field,
                format!("unknown algorithm {other:?} (expected \"zstd\" or \"none\")"),
            )),
        }
    }

    /// Checks everything that can be checked without touching the host.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Init::Path(p) = &self.init {
            check_path(p, "init")?;
        }
        self.compression()?;
        for (i, f) in self.files.iter().enumerate() {
            check_path(&f.path, &format!("files[{i}].path"))?;
            mode_or(&f.mode, 0, &format!("files[{i}].mode"))?;
        }
        for (i, f) in self.executables.iter().enumerate() {
            check_path(&f.path, &format!("executables[{i}].path"))?;
            mode_or(&f.mode, 0, &format!("executables[{i}].mode"))?;
        }
        for (i, d) in self.directories.iter().enumerate() {
            check_path(&d.path, &format!("directories[{i}].path"))?;
            mode_or(&d.mode, 0, &format!("directories[{i}].mode"))?;
        }
        for (i, s) in self.symlinks.iter().enumerate() {
            check_path(&s.path, &format!("symlinks[{i}].path"))?;
            if s.target.is_empty() {
                return Err(FieldError::new(
                    format!("symlinks[{i}].target"),
                    "must not be empty",
                ));
            }
        }
        for (i, d) in self.devices.iter().enumerate() {
            check_path(&d.path, &format!("devices[{i}].path"))?;
            mode_or(&d.mode, 0, &format!("devices[{i}].mode"))?;
            if d.major >= 1 << 12 {
                return Err(FieldError::new(
                    format!("devices[{i}].major"),
                    format!("{} is not below 4096", d.major),
                ));
            }
            if d.minor >= 1 << 20 {
                return Err(FieldError::new(
                    format!("devices[{i}].minor"),
                    format!("{} is not below 2^20", d.minor),
                ));
            }
        }
        if let Some(m) = &self.modules {
            for (i, name) in m.load.iter().enumerate() {
                if name.trim().is_empty() || name.contains(char::is_whitespace) {
                    return Err(FieldError::new(
                        format!("modules.load[{i}]"),
                        format!("{name:?} is not a module name"),
                    ));
                }
            }
        }
        for (i, e) in self.early.iter().enumerate() {
            check_path(&e.path, &format!("early[{i}].path"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
