//! `[signing]`, `[[initrds]]` and `[[ukis]]`: what the build makes besides the disk.

use crate::source::Source;
use serde::Deserialize;

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
