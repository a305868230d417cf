//! The image spec (`images/*.toml`): what `metalos build` writes. See
//! `docs/image-spec.md` for the documented format. Parsing is strict
//! (unknown fields are errors) and [`ImageSpec::validate`] reports the
//! first problem with its field path, e.g. `partitions[1].size: …`.

use crate::error::FieldError;
use crate::size::ByteSize;
use crate::source::{check_relative, Source};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::Path;
use uuid::Uuid;

/// The whole image spec.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImageSpec {
    /// Disk geometry and identity.
    pub disk: DiskSpec,
    /// Partitions, each in a fixed slot.
    pub partitions: Vec<PartitionSpec>,
    /// Files on the ESP.
    #[serde(default)]
    pub esp: EspSpec,
    /// The `/usr` tree.
    #[serde(default)]
    pub usr: UsrSpec,
    /// The HostConfig placed on the ESP.
    #[serde(default)]
    pub host_config: Option<HostConfigSpec>,
    /// Initrds built (in order) before the disk; usable as `{ artifact = NAME }`.
    #[serde(default)]
    pub initrds: Vec<InitrdArtifact>,
    /// UKIs built (in order) after the initrds; usable as `{ artifact = NAME }`.
    #[serde(default)]
    pub ukis: Vec<UkiArtifact>,
    /// `[signing]`: the operator's key directory (docs/signing.md).
    #[serde(default)]
    pub signing: Option<SigningSpec>,
}

/// `[signing]`: sign the update bundle and netboot manifests, and put the
/// public key into `/usr` and the initrds.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningSpec {
    /// Key directory written by `metalos keys generate`, relative to the
    /// image spec (only `signing.key` and `signing.pub` are read).
    pub keys: String,
}

/// `[[initrds]]`: an initrd built from an initrd spec.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitrdArtifact {
    /// Artifact name (also its file name under `DIR/artifacts/`).
    pub name: String,
    /// Initrd spec, relative to the image spec.
    pub spec: String,
}

/// `[[ukis]]`: a Unified Kernel Image.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UkiArtifact {
    /// Artifact name.
    pub name: String,
    /// systemd-stub.
    pub stub: Source,
    /// Kernel.
    pub kernel: Source,
    /// Initrd.
    #[serde(default)]
    pub initrd: Option<Source>,
    /// Embedded command line.
    #[serde(default)]
    pub cmdline: String,
    /// os-release.
    #[serde(default)]
    pub os_release: Option<Source>,
    /// Kernel release for `.uname` (default: from the kernel's header).
    #[serde(default)]
    pub uname: Option<String>,
}

/// `[disk]`
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DiskSpec {
    /// Image size.
    pub size: ByteSize,
    /// Logical sector size: 512 or 4096.
    #[serde(default = "default_sector_size")]
    pub sector_size: u64,
    /// Seed (a UUID) from which partition GUIDs and filesystem ids derive.
    pub seed: String,
    /// Timestamp for every file (overridden by `SOURCE_DATE_EPOCH`). Default 0.
    #[serde(default)]
    pub source_date_epoch: u64,
}

fn default_sector_size() -> u64 {
    512
}

/// What a partition holds.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContentKind {
    /// Nothing: the partition stays a hole.
    Empty,
    /// The FAT32 ESP built from `[esp]`.
    Esp,
    /// The `/usr` filesystem built from `[usr]`.
    Usr,
}

/// Partition size: fixed, or the rest of the disk.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionSize {
    /// Exactly this many bytes.
    Fixed(ByteSize),
    /// Everything up to the end of the usable area.
    Fill,
}

impl<'de> Deserialize<'de> for PartitionSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(n) => Ok(PartitionSize::Fixed(ByteSize(n))),
            Raw::Text(t) if t == "fill" => Ok(PartitionSize::Fill),
            Raw::Text(t) => ByteSize::parse(&t)
                .map(PartitionSize::Fixed)
                .map_err(|m| serde::de::Error::custom(format!("{m}, or \"fill\""))),
        }
    }
}

/// `[[partitions]]`
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PartitionSpec {
    /// Slot number (1–128): the partition's fixed number.
    pub slot: u32,
    /// GPT label.
    pub label: String,
    /// Type name (`esp`, `usr-x86-64`, `root-x86-64`, `linux-generic`, …) or a GUID.
    #[serde(rename = "type")]
    pub type_name: String,
    /// Size, or `"fill"`.
    pub size: PartitionSize,
    /// Content kind.
    #[serde(default = "default_content")]
    pub content: ContentKind,
    /// gptprio attribute fields (for USR slots).
    #[serde(default)]
    pub gptprio: Option<GptPrioSpec>,
}

fn default_content() -> ContentKind {
    ContentKind::Empty
}

/// gptprio fields.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GptPrioSpec {
    /// 0–15.
    pub priority: u8,
    /// 0–15.
    #[serde(default)]
    pub tries: u8,
    /// Marked as booted successfully.
    #[serde(default)]
    pub successful: bool,
}

/// `[esp]`
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EspSpec {
    /// Files on the ESP.
    #[serde(default)]
    pub files: Vec<FileSpec>,
}

/// A file in the ESP or `/usr`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    /// Destination path, relative (e.g. `EFI/BOOT/BOOTX64.EFI`, `bin/busybox`).
    pub path: String,
    /// Where the bytes come from.
    pub source: Source,
    /// Permission bits as an octal string (`"0755"`); default `0644`. Ignored on the ESP.
    #[serde(default)]
    pub mode: Option<String>,
}

/// A directory in `/usr`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirSpec {
    /// Path.
    pub path: String,
    /// Octal mode; default `0755`.
    #[serde(default)]
    pub mode: Option<String>,
}

/// A symlink in `/usr`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// Path of the link.
    pub path: String,
    /// Target, stored verbatim.
    pub target: String,
}

/// `[usr]`
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct UsrSpec {
    /// Filesystem: only `squashfs`.
    #[serde(default = "default_usr_fs")]
    pub filesystem: String,
    /// zstd level, 1–22 (default 3).
    #[serde(default = "default_level")]
    pub compression_level: u32,
    /// Files.
    #[serde(default)]
    pub files: Vec<FileSpec>,
    /// Directories.
    #[serde(default)]
    pub directories: Vec<DirSpec>,
    /// Symlinks.
    #[serde(default)]
    pub symlinks: Vec<LinkSpec>,
    /// Directory trees imported whole (owners, modes, links kept).
    #[serde(default)]
    pub trees: Vec<TreeSpec>,
}

/// `[[usr.trees]]`: a host directory tree copied into `/usr` under `path`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeSpec {
    /// The directory (usually `{ input = NAME, path = "sub/dir" }`).
    pub source: Source,
    /// Destination inside `/usr`; `""` is `/usr` itself.
    #[serde(default)]
    pub path: String,
    /// Paths relative to the source to leave out (see [`crate::tree::exclude_matches`]).
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl Default for UsrSpec {
    fn default() -> Self {
        Self {
            filesystem: default_usr_fs(),
            compression_level: default_level(),
            files: vec![],
            directories: vec![],
            symlinks: vec![],
            trees: vec![],
        }
    }
}

fn default_usr_fs() -> String {
    "squashfs".into()
}
fn default_level() -> u32 {
    3
}

/// `[host-config]`: the HostConfig stored on the ESP as `metalos/host-config.json`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfigSpec {
    /// The default HostConfig document (JSON).
    pub default: Source,
}

/// Parses a mode string like `"0755"`.
pub fn parse_mode(text: &str) -> Result<u16, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    u16::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("{text:?} is not an octal mode such as \"0755\""))
}

impl ImageSpec {
    /// Reads and validates a spec file.
    pub fn load(path: &Path) -> Result<Self, FieldError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            FieldError::new(path.display().to_string(), format!("cannot read: {e}"))
        })?;
        Self::parse(&text)
    }

    /// Parses and validates spec text.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        let spec: ImageSpec = crate::error::parse_toml(text)?;
        spec.validate()?;
        Ok(spec)
    }

    /// The seed as a UUID (validated by [`Self::validate`]).
    pub fn seed(&self) -> Uuid {
        Uuid::parse_str(&self.disk.seed).unwrap_or_default()
    }

    /// Checks every field; the error names the first bad field.
    pub fn validate(&self) -> Result<(), FieldError> {
        let disk = &self.disk;
        if disk.sector_size != 512 && disk.sector_size != 4096 {
            return Err(FieldError::new(
                "disk.sector-size",
                format!("{} is not supported (use 512 or 4096)", disk.sector_size),
            ));
        }
        if disk.size.0 == 0 || !disk.size.0.is_multiple_of(disk.sector_size) {
            return Err(FieldError::new(
                "disk.size",
                format!(
                    "{} is not a positive multiple of the {}-byte sector size",
                    disk.size, disk.sector_size
                ),
            ));
        }
        Uuid::parse_str(&disk.seed)
            .map_err(|_| FieldError::new("disk.seed", format!("{:?} is not a UUID", disk.seed)))?;
        if self.partitions.is_empty() {
            return Err(FieldError::new(
                "partitions",
                "at least one partition is required",
            ));
        }
        let mut slots = BTreeSet::new();
        let mut labels = BTreeSet::new();
        let mut fills = 0;
        for (i, p) in self.partitions.iter().enumerate() {
            let f = |name: &str| format!("partitions[{i}].{name}");
            if !(1..=128).contains(&p.slot) {
                return Err(FieldError::new(
                    f("slot"),
                    format!("{} is outside 1..=128", p.slot),
                ));
            }
            if !slots.insert(p.slot) {
                return Err(FieldError::new(
                    f("slot"),
                    format!("slot {} is used twice", p.slot),
                ));
            }
            if p.label.is_empty() || p.label.encode_utf16().count() > 36 {
                return Err(FieldError::new(f("label"), "must be 1 to 36 characters"));
            }
            if !labels.insert(p.label.as_str()) {
                return Err(FieldError::new(
                    f("label"),
                    format!("{:?} is used twice", p.label),
                ));
            }
            if type_guid(&p.type_name).is_none() {
                return Err(FieldError::new(
                    f("type"),
                    format!(
                        "{:?} is neither a known type name ({}) nor a GUID",
                        p.type_name,
                        PARTITION_TYPES
                            .iter()
                            .map(|t| t.0)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            match p.size {
                PartitionSize::Fill => fills += 1,
                PartitionSize::Fixed(ByteSize(0)) => {
                    return Err(FieldError::new(f("size"), "must be larger than 0"))
                }
                PartitionSize::Fixed(s) if s.0 % disk.sector_size != 0 => {
                    return Err(FieldError::new(
                        f("size"),
                        format!(
                            "{s} is not a multiple of the {}-byte sector size",
                            disk.sector_size
                        ),
                    ))
                }
                PartitionSize::Fixed(_) => {}
            }
            if let Some(g) = p.gptprio {
                if g.priority > 15 {
                    return Err(FieldError::new(
                        f("gptprio.priority"),
                        format!("{} is outside 0..=15", g.priority),
                    ));
                }
                if g.tries > 15 {
                    return Err(FieldError::new(
                        f("gptprio.tries"),
                        format!("{} is outside 0..=15", g.tries),
                    ));
                }
            }
        }
        if fills > 1 {
            return Err(FieldError::new(
                "partitions",
                "only one partition may have size = \"fill\"",
            ));
        }
        for (kind, name) in [(ContentKind::Esp, "esp"), (ContentKind::Usr, "usr")] {
            if self.partitions.iter().filter(|p| p.content == kind).count() > 1 {
                return Err(FieldError::new(
                    "partitions",
                    format!("only one partition may have content = \"{name}\""),
                ));
            }
        }
        let has = |k| self.partitions.iter().any(|p| p.content == k);
        if !self.esp.files.is_empty() && !has(ContentKind::Esp) {
            return Err(FieldError::new(
                "esp.files",
                "files are listed but no partition has content = \"esp\"",
            ));
        }
        if self.host_config.is_some() && !has(ContentKind::Esp) {
            return Err(FieldError::new(
                "host-config",
                "a HostConfig needs a partition with content = \"esp\"",
            ));
        }
        self.validate_artifacts()?;
        self.validate_trees()
    }

    fn validate_artifacts(&self) -> Result<(), FieldError> {
        let mut names = BTreeSet::new();
        let all = self
            .initrds
            .iter()
            .map(|i| ("initrds", &i.name))
            .chain(self.ukis.iter().map(|u| ("ukis", &u.name)));
        let mut counters = std::collections::BTreeMap::new();
        for (list, name) in all {
            let i = counters.entry(list).or_insert(0usize);
            let field = format!("{list}[{i}].name");
            *i += 1;
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && !name.starts_with('.');
            if !ok {
                return Err(FieldError::new(
                    field,
                    format!("{name:?} must be a plain file name (letters, digits, - _ .)"),
                ));
            }
            if !names.insert(name.as_str()) {
                return Err(FieldError::new(
                    field,
                    format!("artifact {name:?} is defined twice"),
                ));
            }
        }
        Ok(())
    }

    fn validate_trees(&self) -> Result<(), FieldError> {
        let mut esp_paths = BTreeSet::new();
        for (i, file) in self.esp.files.iter().enumerate() {
            check_tree_path(&file.path)
                .map_err(|m| FieldError::new(format!("esp.files[{i}].path"), m))?;
            if !esp_paths.insert(file.path.to_ascii_lowercase()) {
                return Err(FieldError::new(
                    format!("esp.files[{i}].path"),
                    format!(
                        "{:?} is listed twice (FAT names are case-insensitive)",
                        file.path
                    ),
                ));
            }
        }
        let usr = &self.usr;
        if usr.filesystem != "squashfs" {
            return Err(FieldError::new(
                "usr.filesystem",
                format!("{:?} is not supported (use \"squashfs\")", usr.filesystem),
            ));
        }
        if !(1..=22).contains(&usr.compression_level) {
            return Err(FieldError::new(
                "usr.compression-level",
                format!("{} is outside 1..=22", usr.compression_level),
            ));
        }
        let mut paths = BTreeSet::new();
        let mut claim = |path: &str, field: String| -> Result<(), FieldError> {
            check_tree_path(path).map_err(|m| FieldError::new(format!("{field}.path"), m))?;
            if !paths.insert(path.to_string()) {
                return Err(FieldError::new(
                    format!("{field}.path"),
                    format!("{path:?} is listed twice"),
                ));
            }
            Ok(())
        };
        for (i, f) in usr.files.iter().enumerate() {
            claim(&f.path, format!("usr.files[{i}]"))?;
            if let Some(m) = &f.mode {
                parse_mode(m).map_err(|e| FieldError::new(format!("usr.files[{i}].mode"), e))?;
            }
        }
        for (i, d) in usr.directories.iter().enumerate() {
            claim(&d.path, format!("usr.directories[{i}]"))?;
            if let Some(m) = &d.mode {
                parse_mode(m)
                    .map_err(|e| FieldError::new(format!("usr.directories[{i}].mode"), e))?;
            }
        }
        for (i, l) in usr.symlinks.iter().enumerate() {
            claim(&l.path, format!("usr.symlinks[{i}]"))?;
            if l.target.is_empty() {
                return Err(FieldError::new(
                    format!("usr.symlinks[{i}].target"),
                    "must not be empty",
                ));
            }
        }
        for (i, t) in usr.trees.iter().enumerate() {
            if !t.path.is_empty() {
                check_tree_path(&t.path)
                    .map_err(|m| FieldError::new(format!("usr.trees[{i}].path"), m))?;
            }
            if t.source.text.is_some() {
                return Err(FieldError::new(
                    format!("usr.trees[{i}].source"),
                    "a tree needs a directory (`input`, `file` or `artifact`), not `text`",
                ));
            }
            for (j, pattern) in t.exclude.iter().enumerate() {
                crate::tree::check_pattern(pattern)
                    .map_err(|m| FieldError::new(format!("usr.trees[{i}].exclude[{j}]"), m))?;
            }
        }
        // A file or link used as a directory is an error too.
        for p in &paths {
            for dir in Path::new(p).ancestors().skip(1) {
                let dir = dir.to_string_lossy();
                let is_dir = usr.directories.iter().any(|d| d.path == dir);
                if paths.contains(dir.as_ref()) && !is_dir {
                    return Err(FieldError::new(
                        "usr",
                        format!("{dir:?} is a file or link but {p:?} is inside it"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Partition types accepted by name in `partitions[].type` (besides GUIDs).
pub const PARTITION_TYPES: &[(&str, Uuid)] = &[
    (
        "esp",
        Uuid::from_u128(0xc12a7328_f81f_11d2_ba4b_00a0c93ec93b),
    ),
    (
        "usr-x86-64",
        Uuid::from_u128(0x8484680c_9521_48c6_9c11_b0720656f69e),
    ),
    (
        "root-x86-64",
        Uuid::from_u128(0x4f68bce3_e8cd_4db1_96e7_fbcaf984b709),
    ),
    (
        "linux-generic",
        Uuid::from_u128(0x0fc63daf_8483_4772_8e79_3d69d8477de4),
    ),
    (
        "xbootldr",
        Uuid::from_u128(0xbc13c2ff_59e6_4262_a352_b275fd6f7172),
    ),
    (
        "swap",
        Uuid::from_u128(0x0657fd6d_a4ab_43c4_84e5_0933c84b4f4f),
    ),
    (
        "home",
        Uuid::from_u128(0x933ac7e1_2eb4_4f13_b844_0e14e2aef915),
    ),
    (
        "var",
        Uuid::from_u128(0x4d21b016_b534_45c2_a9fb_5c16e091fd2d),
    ),
    (
        "bios-boot",
        Uuid::from_u128(0x21686148_6449_6e6f_744e_656564454649),
    ),
];

/// Resolves a type name (see [`PARTITION_TYPES`]) or GUID string.
pub fn type_guid(name: &str) -> Option<Uuid> {
    PARTITION_TYPES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, u)| *u)
        .or_else(|| Uuid::parse_str(name).ok())
}

/// Name of a known partition type GUID.
pub fn type_name(guid: &Uuid) -> Option<&'static str> {
    PARTITION_TYPES
        .iter()
        .find(|(_, u)| u == guid)
        .map(|(n, _)| *n)
}

fn check_tree_path(path: &str) -> Result<(), String> {
    if path.is_empty() || path.ends_with('/') || path.contains("//") {
        return Err(format!("{path:?} is not a clean relative path"));
    }
    check_relative(path)?;
    if path.split('/').any(|c| c == ".") {
        return Err(format!("{path:?} must not contain `.` components"));
    }
    Ok(())
}
