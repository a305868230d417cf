//! The HostConfig: one versioned JSON document describing a host (identity,
//! network, root disk, kernel arguments, update and boot policy, provisioning).
//!
//! Parsed by the build host and by the static initrd binaries, so it only
//! depends on serde/serde_json. Parsing is strict (unknown keys are errors)
//! and every error names the offending field, e.g.
//! `network.interfaces[1].mac: "zz:00" is not a MAC address …`.
//! See `docs/host-config.md` for the schema.

mod net;
#[cfg(test)]
mod tests;
mod validate;

use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::FieldError;
pub use metalos_contract::mac::{InvalidMac, MacAddr};
pub use net::Cidr;

/// The only supported value of [`HostConfig::version`].
pub const HOST_CONFIG_VERSION: u32 = 1;

/// A host's configuration (schema version 1).
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct HostConfig {
    /// Schema version; must be [`HOST_CONFIG_VERSION`].
    pub version: u32,
    /// Who the host is.
    pub identity: Identity,
    /// Network interfaces and DNS.
    #[serde(default)]
    pub network: Network,
    /// Which disk to install to / boot from.
    #[serde(default)]
    pub root_disk: RootDisk,
    /// Kernel command line additions.
    #[serde(default)]
    pub kernel: Kernel,
    /// Update policy.
    #[serde(default)]
    pub update: Update,
    /// What the boot path does when it fails.
    #[serde(default)]
    pub boot: Boot,
    /// `oem-id`: the platform id, overriding the OEM partition's
    /// `oem-release` `ID=` (metalos-bootloader passes it as `metalos.oem.id=`).
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "oem_id")]
    pub oem_id: Option<String>,
    /// Provisioning config (Ignition-compatible JSON object); kept opaque here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "arbitrary", arbitrary(default))]
    pub provisioning: Option<serde_json::Value>,
}

/// `identity`: hostname and machine id.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Identity {
    /// RFC 1123 host name (one or more dot-separated labels, ≤ 253 chars).
    pub hostname: String,
    /// `/etc/machine-id`: 32 lower-case hex characters, not all zero.
    pub machine_id: String,
}

/// `network`: interfaces (matched by MAC) and DNS servers.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Network {
    /// Interfaces, each identified by its MAC address.
    #[serde(default)]
    pub interfaces: Vec<Interface>,
    /// DNS servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<IpAddr>,
}

/// `network.interfaces[]`: one NIC.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Interface {
    /// The NIC's MAC address (unique in the document).
    pub mac: MacAddr,
    /// The name the NIC gets (Linux ifname, 1–15 bytes; unique).
    pub name: String,
    /// Static addresses in CIDR notation.
    #[serde(default)]
    pub addresses: Vec<Cidr>,
    /// Default gateway reached through this interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// The host's main interface (at most one).
    #[serde(default)]
    pub primary: bool,
}

/// `root-disk`: how to find the disk that holds the OS.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RootDiskRaw", into = "RootDiskRaw")]
pub enum RootDisk {
    /// `{"match": "boot-disk"}`: the disk the firmware booted from (default).
    #[default]
    BootDisk,
    /// `{"match": "serial", "serial": "…"}`: the disk with this serial number.
    Serial(String),
    /// `{"match": "disk-guid", "guid": "…"}`: the disk with this GPT disk GUID.
    DiskGuid(Uuid),
}

/// Wire form of [`RootDisk`]: a flat object tagged by `match`, so that type
/// errors get precise paths such as `root-disk.match`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RootDiskRaw {
    #[serde(rename = "match")]
    kind: RootDiskMatch,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    serial: Option<String>,
    #[serde(
        default,
        with = "net::opt_uuid",
        skip_serializing_if = "Option::is_none"
    )]
    guid: Option<Uuid>,
}

#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum RootDiskMatch {
    BootDisk,
    Serial,
    DiskGuid,
}

impl TryFrom<RootDiskRaw> for RootDisk {
    type Error = String;
    fn try_from(raw: RootDiskRaw) -> Result<Self, String> {
        let only = |name: &str, wanted: &str| {
            format!("`{name}` is only allowed with \"match\": \"{wanted}\"")
        };
        let needs = |name: &str, m: &str| format!("\"match\": \"{m}\" needs `{name}`");
        match raw.kind {
            RootDiskMatch::BootDisk => match (raw.serial, raw.guid) {
                (None, None) => Ok(Self::BootDisk),
                (Some(_), _) => Err(only("serial", "serial")),
                (None, Some(_)) => Err(only("guid", "disk-guid")),
            },
            RootDiskMatch::Serial => match (raw.serial, raw.guid) {
                (_, Some(_)) => Err(only("guid", "disk-guid")),
                (Some(s), None) => Ok(Self::Serial(s)),
                (None, None) => Err(needs("serial", "serial")),
            },
            RootDiskMatch::DiskGuid => match (raw.serial, raw.guid) {
                (Some(_), _) => Err(only("serial", "serial")),
                (None, Some(g)) => Ok(Self::DiskGuid(g)),
                (None, None) => Err(needs("guid", "disk-guid")),
            },
        }
    }
}

impl From<RootDisk> for RootDiskRaw {
    fn from(d: RootDisk) -> Self {
        let (kind, serial, guid) = match d {
            RootDisk::BootDisk => (RootDiskMatch::BootDisk, None, None),
            RootDisk::Serial(s) => (RootDiskMatch::Serial, Some(s), None),
            RootDisk::DiskGuid(g) => (RootDiskMatch::DiskGuid, None, Some(g)),
        };
        Self { kind, serial, guid }
    }
}

/// `kernel`: additions to the kernel command line of the installed system.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Kernel {
    /// Extra arguments, one per entry (no whitespace or NUL inside one).
    #[serde(default)]
    pub extra_args: Vec<String>,
}

/// `update.policy`: whether updates are applied without an operator.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdatePolicy {
    /// Only on request (default).
    #[default]
    Manual,
    /// As soon as an update is available.
    Automatic,
}

/// `update`: update policy and the "mark good" step after an update boots.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Update {
    /// Manual (default) or automatic.
    pub policy: UpdatePolicy,
    /// Seconds a new slot must stay up before it is marked good (default 60).
    pub mark_good_delay_seconds: u32,
    /// Command that must succeed before the slot is marked good.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<String>,
}

impl Default for Update {
    fn default() -> Self {
        Self {
            policy: UpdatePolicy::Manual,
            mark_good_delay_seconds: 60,
            health_check: None,
        }
    }
}

/// `boot.emergency-action`: what the boot path does after a fatal error.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmergencyAction {
    /// Reboot (default), so boot counting can fall back to the other slot.
    #[default]
    Reboot,
    /// Power the machine off.
    Poweroff,
    /// Start an emergency shell on the console.
    Shell,
}

/// `boot`: failure handling of the bootloader and the initrds.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields, default)]
pub struct Boot {
    /// What to do after a fatal error (default reboot).
    pub emergency_action: EmergencyAction,
    /// Seconds to show the error before acting (default 10).
    pub emergency_delay_seconds: u32,
}

impl Default for Boot {
    fn default() -> Self {
        Self {
            emergency_action: EmergencyAction::Reboot,
            emergency_delay_seconds: 10,
        }
    }
}

impl HostConfig {
    /// Parses and validates a HostConfig; the error names the first bad field.
    pub fn from_json(text: &str) -> Result<Self, FieldError> {
        // Check the version before anything else, so a document for another
        // schema version fails with a clear message rather than on a field.
        #[derive(Deserialize)]
        struct Probe {
            version: Option<serde_json::Value>,
        }
        if let Ok(Probe { version: Some(v) }) = serde_json::from_str::<Probe>(text) {
            if v.is_u64() && v.as_u64() != Some(HOST_CONFIG_VERSION.into()) {
                return Err(validate::unsupported_version(&v));
            }
        }
        let config: HostConfig = parse_json(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a HostConfig file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, FieldError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            FieldError::new(path.display().to_string(), format!("cannot read: {e}"))
        })?;
        Self::from_json(&text)
    }

    /// Serialises to indented JSON (with every defaulted field spelled out).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a HostConfig always serialises")
    }

    /// Semantic checks (formats, uniqueness, at most one primary interface);
    /// the error names the first bad field.
    pub fn validate(&self) -> Result<(), FieldError> {
        validate::validate(self)
    }

    /// The interface marked `primary`, else the first interface, else `None`.
    pub fn primary_interface(&self) -> Option<&Interface> {
        let ifs = &self.network.interfaces;
        ifs.iter().find(|i| i.primary).or_else(|| ifs.first())
    }

    /// The interface with this MAC address (any case); `None` if there is
    /// none or `mac` is not a MAC address.
    pub fn interface_for_mac(&self, mac: &str) -> Option<&Interface> {
        let mac = MacAddr::parse(mac.trim()).ok()?;
        self.network.interfaces.iter().find(|i| i.mac == mac)
    }

    /// `kernel.extra-args` joined with single spaces (empty if none).
    pub fn kernel_cmdline_extra(&self) -> String {
        self.kernel.extra_args.join(" ")
    }
}

/// Deserialises JSON, reporting errors with the path of the offending field.
fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, FieldError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        json_error(path, e.into_inner())
    })?;
    de.end().map_err(|e| json_error(".".into(), e))?;
    Ok(value)
}

/// Turns a serde_json error at `path` into a [`FieldError`]: syntax errors
/// are located by line/column, a missing field gets its own path.
fn json_error(path: String, e: serde_json::Error) -> FieldError {
    let mut message = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    if let Some(stripped) = message.strip_suffix(&suffix) {
        message.truncate(stripped.len());
    }
    let root = path == ".";
    if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        let field = if root {
            name.to_string()
        } else {
            format!("{path}.{name}")
        };
        return FieldError::new(field, "is required");
    }
    let syntax = e.is_syntax() || e.is_eof();
    let field = if !root && !syntax {
        path
    } else if e.line() > 0 {
        format!("line {} column {}", e.line(), e.column())
    } else {
        "host-config".into()
    };
    FieldError::new(field, message)
}
