//! Typed paths: where each file MetalOS writes for a later reader lives.
//!
//! A path's type says which filesystem it is relative to, so an ESP path
//! cannot be joined onto `/usr` by mistake:
//!
//! * [`EspPath`]: relative to the ESP's root (FAT, read in place);
//! * [`OemPath`]: relative to the OEM partition's root (FAT, read in place);
//! * [`InitrdPath`]: absolute inside an initrd (the PID-1 program's `/`);
//! * [`UsrPath`]: relative to a `/usr` slot's filesystem root, which a
//!   running system mounts at `/usr` ([`UsrPath::on_host`]).

use std::fmt;

/// A path on the ESP, relative to its root, `/`-separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspPath(&'static str);

impl EspPath {
    /// The bootloader UKI the firmware starts.
    pub const BOOTLOADER: EspPath = EspPath("EFI/BOOT/BOOTX64.EFI");
    /// A new bootloader while it is written (then swapped in).
    pub const BOOTLOADER_STAGED: EspPath = EspPath("EFI/BOOT/BOOTX64.NEW");
    /// The previous bootloader, kept as a fallback after an update.
    pub const BOOTLOADER_PREVIOUS: EspPath = EspPath("EFI/BOOT/BOOTX64.PRV");
    /// The HostConfig (imaging stores it; the bootloader and metalinit read it).
    pub const HOST_CONFIG: EspPath = EspPath("metalos/host-config.json");
    /// Present until the first boot's work is done (Flatcar's first-boot flag).
    pub const FIRST_BOOT_FLAG: EspPath = EspPath("metalos/first_boot");
    /// A staged, not yet activated update ([`crate::update::StagedUpdate`]).
    pub const STAGED_UPDATE: EspPath = EspPath("metalos/staged-update.json");

    /// The path as written on the ESP.
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

/// A path on the OEM partition (GPT label
/// [`crate::oem::OEM_PARTITION_LABEL`]), relative to its root,
/// `/`-separated: the image build writes it, metalos-bootloader and
/// metalinit read it in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OemPath(&'static str);

impl OemPath {
    /// `ID=`, `VERSION_ID=`, `NAME=` ([`crate::oem::OemRelease`]).
    pub const RELEASE: OemPath = OemPath("oem-release");
    /// The platform's base Ignition configs, `base/*.ign`, merged in
    /// file-name order under the user config.
    pub const BASE_DIR: OemPath = OemPath("base");
    /// A user Ignition config placed on the partition (Flatcar's
    /// `config.ign`): the user config when the command line names none.
    pub const USER_CONFIG: OemPath = OemPath("config.ign");

    /// The path as written on the partition.
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

/// An absolute path inside an initrd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InitrdPath(&'static str);

impl InitrdPath {
    /// The public key a signed build puts into every initrd: the
    /// bootloader verifies slot descriptors and metalimage netboot
    /// manifests with it.
    pub const SIGNING_KEY: InitrdPath = InitrdPath("/etc/metalos/signing.pub");

    /// The absolute path (`/etc/…`).
    pub const fn as_str(self) -> &'static str {
        self.0
    }

    /// The path as a cpio archive names it (no leading `/`).
    pub fn in_archive(self) -> &'static str {
        self.0.trim_start_matches('/')
    }
}

/// A path inside a `/usr` slot, relative to the slot's filesystem root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UsrPath(&'static str);

impl UsrPath {
    /// The public key of a signed build: update bundles must be signed
    /// with it.
    pub const SIGNING_KEY: UsrPath = UsrPath("lib/metalos/signing.pub");
    /// The slot's boot payload directory (`vmlinuz`, `initrd.img`, `cmdline`).
    pub const BOOT_PAYLOAD: UsrPath = UsrPath("lib/metalos/boot");
    /// The image's os-release (`VERSION_ID` is the image version).
    pub const OS_RELEASE: UsrPath = UsrPath("lib/os-release");
    /// Base Ignition configs of the image (`*.ign`, file-name order).
    pub const PROVISIONING_BASE: UsrPath = UsrPath("lib/metalos/provisioning/base.d");
    /// Per-platform base Ignition configs: `<platform id>/*.ign` below it.
    pub const PROVISIONING_BASE_PLATFORM: UsrPath =
        UsrPath("lib/metalos/provisioning/base.platform.d");

    /// The path inside the slot (`lib/…`).
    pub const fn in_slot(self) -> &'static str {
        self.0
    }

    /// Where a running system sees it (`/usr/lib/…`).
    pub fn on_host(self) -> String {
        format!("/usr/{}", self.0)
    }
}

impl fmt::Display for EspPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Display for OemPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Display for InitrdPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Display for UsrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/usr/{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(
            UsrPath::SIGNING_KEY.on_host(),
            "/usr/lib/metalos/signing.pub"
        );
        assert_eq!(
            UsrPath::SIGNING_KEY.to_string(),
            "/usr/lib/metalos/signing.pub"
        );
        assert_eq!(
            InitrdPath::SIGNING_KEY.in_archive(),
            "etc/metalos/signing.pub"
        );
        assert_eq!(EspPath::BOOTLOADER.to_string(), "EFI/BOOT/BOOTX64.EFI");
        assert_eq!(OemPath::RELEASE.to_string(), "oem-release");
        assert_eq!(
            UsrPath::PROVISIONING_BASE_PLATFORM.on_host(),
            "/usr/lib/metalos/provisioning/base.platform.d"
        );
    }
}
