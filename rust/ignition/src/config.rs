//! The Ignition config model: spec 3.5.0's fields, which are a superset of
//! every earlier 3.x spec (3.0.0–3.4.0 configs parse into the same types;
//! fields a version does not know are dropped with a warning first, see
//! [`crate::schema`]).
//!
//! Optional scalars are `Option` because Ignition's merge distinguishes
//! "unset" from "false"/"": a child config only replaces a parent's value
//! when it sets it. Sections MetalOS does not implement (disks, raid,
//! filesystems, luks, kernelArguments) are kept as raw JSON so that a
//! non-empty one can be reported, never silently ignored.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A whole config.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// `ignition`: version, config chain, timeouts, TLS, proxy.
    pub ignition: Ignition,
    /// `storage`: files, directories, links (and unimplemented sections).
    #[serde(default)]
    pub storage: Storage,
    /// `systemd`: units.
    #[serde(default)]
    pub systemd: Systemd,
    /// `passwd`: users and groups.
    #[serde(default)]
    pub passwd: Passwd,
    /// `kernelArguments` (3.3.0+): not implemented, must be empty.
    #[cfg_attr(feature = "arbitrary", arbitrary(default))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_arguments: Option<Value>,
}

/// The `ignition` section.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ignition {
    /// `ignition.version`, e.g. `3.4.0` (after parsing: the version the
    /// config was written for).
    #[serde(default)]
    pub version: Option<String>,
    /// `ignition.config`: merge and replace.
    #[serde(default)]
    pub config: IgnitionConfig,
    /// `ignition.timeouts`.
    #[serde(default)]
    pub timeouts: Timeouts,
    /// `ignition.security`.
    #[serde(default)]
    pub security: Security,
    /// `ignition.proxy` (3.1.0+).
    #[serde(default)]
    pub proxy: Proxy,
}

/// `ignition.config`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IgnitionConfig {
    /// Configs merged into this one, in order.
    #[serde(default)]
    pub merge: Vec<Resource>,
    /// A config that replaces this one.
    #[serde(default)]
    pub replace: Resource,
}

/// `ignition.timeouts`, in seconds.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeouts {
    /// Wait for response headers (default 10 s, 0 = no limit).
    pub http_response_headers: Option<u64>,
    /// Whole request (default 0 = no limit).
    pub http_total: Option<u64>,
}

/// `ignition.security`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Security {
    /// `ignition.security.tls`.
    #[serde(default)]
    pub tls: Tls,
}

/// `ignition.security.tls`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tls {
    /// Extra PEM CA bundles, trusted in addition to the system roots.
    #[serde(default)]
    pub certificate_authorities: Vec<Resource>,
}

/// `ignition.proxy`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Proxy {
    /// Proxy for http URLs.
    pub http_proxy: Option<String>,
    /// Proxy for https URLs.
    pub https_proxy: Option<String>,
    /// Hosts not to proxy.
    #[serde(default)]
    pub no_proxy: Vec<String>,
}

/// A resource: where bytes come from and how to check them.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// URL: `data:`, `http:`, `https:` (others are validation errors).
    pub source: Option<String>,
    /// `""`/unset = none, `gzip`.
    pub compression: Option<String>,
    /// Headers for http(s) sources (3.1.0+).
    #[serde(default)]
    pub http_headers: Vec<HttpHeader>,
    /// Hash over the decompressed bytes.
    #[serde(default)]
    pub verification: Verification,
}

/// An HTTP header of a resource.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpHeader {
    /// Header name (the merge key).
    pub name: String,
    /// Header value; unset in a child config deletes the parent's header.
    pub value: Option<String>,
}

/// `verification`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    /// `sha512-<hex>` or (3.1.0+) `sha256-<hex>`.
    pub hash: Option<String>,
}

/// The `storage` section.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    /// Not implemented: must be empty.
    #[cfg_attr(feature = "arbitrary", arbitrary(default))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disks: Vec<Value>,
    /// Not implemented: must be empty.
    #[cfg_attr(feature = "arbitrary", arbitrary(default))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub raid: Vec<Value>,
    /// Not implemented: must be empty.
    #[cfg_attr(feature = "arbitrary", arbitrary(default))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filesystems: Vec<Value>,
    /// Not implemented: must be empty (3.2.0+).
    #[cfg_attr(feature = "arbitrary", arbitrary(default))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub luks: Vec<Value>,
    /// Regular files.
    #[serde(default)]
    pub files: Vec<File>,
    /// Directories.
    #[serde(default)]
    pub directories: Vec<Directory>,
    /// Symbolic and hard links.
    #[serde(default)]
    pub links: Vec<Link>,
}

/// Owner of a node: by id or by name (not both).
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeOwner {
    /// Numeric id.
    pub id: Option<u32>,
    /// Name, looked up in the target root's `/etc/passwd` or `/etc/group`.
    pub name: Option<String>,
}

/// A regular file.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct File {
    /// Absolute, clean path (the merge key shared with directories and links).
    pub path: String,
    /// Replace an existing node (default false).
    pub overwrite: Option<bool>,
    /// Owner.
    #[serde(default)]
    pub user: NodeOwner,
    /// Group.
    #[serde(default)]
    pub group: NodeOwner,
    /// Contents.
    #[serde(default)]
    pub contents: Resource,
    /// Fragments appended after `contents`, in order.
    #[serde(default)]
    pub append: Vec<Resource>,
    /// Permission bits, decimal in JSON (420 = 0644).
    pub mode: Option<u32>,
}

/// A directory.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    /// Absolute, clean path.
    pub path: String,
    /// Replace an existing non-directory / empty an existing directory.
    pub overwrite: Option<bool>,
    /// Owner.
    #[serde(default)]
    pub user: NodeOwner,
    /// Group.
    #[serde(default)]
    pub group: NodeOwner,
    /// Permission bits (default 0755).
    pub mode: Option<u32>,
}

/// A symbolic or hard link.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    /// Absolute, clean path.
    pub path: String,
    /// Replace an existing node.
    pub overwrite: Option<bool>,
    /// Owner (of the symlink itself).
    #[serde(default)]
    pub user: NodeOwner,
    /// Group.
    #[serde(default)]
    pub group: NodeOwner,
    /// Link target.
    pub target: Option<String>,
    /// Hard link (default false).
    pub hard: Option<bool>,
}

/// The `systemd` section.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Systemd {
    /// Units.
    #[serde(default)]
    pub units: Vec<Unit>,
}

/// A systemd unit.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unit {
    /// Unit name with its suffix (the merge key).
    pub name: String,
    /// Enable (true) or disable (false) through the preset file.
    pub enabled: Option<bool>,
    /// Mask (symlink to /dev/null) or unmask.
    pub mask: Option<bool>,
    /// Unit file contents.
    pub contents: Option<String>,
    /// Drop-ins.
    #[serde(default)]
    pub dropins: Vec<Dropin>,
}

/// A unit drop-in.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dropin {
    /// File name ending `.conf`.
    pub name: String,
    /// Contents (unset: nothing is written).
    pub contents: Option<String>,
}

/// The `passwd` section.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Passwd {
    /// Users.
    #[serde(default)]
    pub users: Vec<User>,
    /// Groups.
    #[serde(default)]
    pub groups: Vec<Group>,
}

/// A user account.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Login name (the merge key).
    pub name: String,
    /// crypt(3) hash for shadow; unset or "" = `*` (no password login).
    pub password_hash: Option<String>,
    /// Keys for `~/.ssh/authorized_keys.d/ignition`.
    #[serde(default)]
    pub ssh_authorized_keys: Vec<String>,
    /// Numeric uid (default: allocated as useradd does).
    pub uid: Option<u32>,
    /// GECOS field.
    pub gecos: Option<String>,
    /// Home directory (default `/home/NAME`).
    pub home_dir: Option<String>,
    /// Do not create the home directory.
    pub no_create_home: Option<bool>,
    /// Primary group name (default: a user private group).
    pub primary_group: Option<String>,
    /// Supplementary groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Do not create a user private group.
    pub no_user_group: Option<bool>,
    /// Accepted for compatibility (no lastlog/faillog here).
    pub no_log_init: Option<bool>,
    /// Login shell.
    pub shell: Option<String>,
    /// Allocate the uid from the system range.
    pub system: Option<bool>,
    /// `false` deletes the user (3.2.0+).
    pub should_exist: Option<bool>,
}

/// A group.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Group name (the merge key).
    pub name: String,
    /// Numeric gid (default: allocated as groupadd does).
    pub gid: Option<u32>,
    /// gshadow password hash.
    pub password_hash: Option<String>,
    /// Allocate the gid from the system range.
    pub system: Option<bool>,
    /// `false` deletes the group (3.2.0+).
    pub should_exist: Option<bool>,
}
