//! The platform id: which platform the machine runs on, so where its user
//! config and metadata come from and which `base.platform.d/<id>` configs
//! apply.
//!
//! Chosen as Flatcar's initrd does, with MetalOS's own key first: the
//! kernel command line's `metalos.oem.id=`, else `flatcar.oem.id=`, else
//! `coreos.oem.id=`, else `ignition.platform.id=` (per key the last
//! non-empty occurrence wins, as for the kernel's own parameters); the
//! aliases `ec2`→`aws`, `gce`→`gcp`, `pxe`→`metal`. Without any: the
//! image's OEM id, else `qemu` when DMI names QEMU or KVM, else `metal`.

use std::fmt;
use std::path::Path;

use crate::PlatformError;

/// The kernel command line keys read, first found wins.
pub const ID_KEYS: [&str; 4] = [
    "metalos.oem.id",
    "flatcar.oem.id",
    "coreos.oem.id",
    "ignition.platform.id",
];

/// Aliases (Flatcar OEM ids and dropped Ignition names) and what they mean.
const ALIASES: [(&str, &str); 3] = [("ec2", "aws"), ("gce", "gcp"), ("pxe", "metal")];

/// Ignition platform names MetalOS has no provider for (yet): rejected
/// with [`PlatformError::NotSupported`] rather than as unknown.
const IGNITION_ONLY: &[&str] = &[
    "akamai",
    "aliyun",
    "applehv",
    "azure",
    "azurestack",
    "brightbox",
    "cloudstack",
    "digitalocean",
    "exoscale",
    "file",
    "gcp",
    "hetzner",
    "hyperv",
    "ibmcloud",
    "kubevirt",
    "nutanix",
    "nvidiabluefield",
    "oraclecloud",
    "packet",
    "powervs",
    "proxmoxve",
    "scaleway",
    "upcloud",
    "virtualbox",
    "vmware",
    "vultr",
    "zvm",
];

/// A platform MetalOS supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Platform {
    /// Bare metal: no provider config (only `ignition.config.url=` and
    /// the other sources).
    Metal,
    /// QEMU: the config in a fw_cfg entry.
    Qemu,
    /// OpenStack: config drive or metadata service.
    Openstack,
    /// Amazon EC2 (and EC2-style metadata services): IMDS.
    Aws,
}

impl Platform {
    /// Every supported platform.
    pub const ALL: [Platform; 4] = [
        Platform::Metal,
        Platform::Qemu,
        Platform::Openstack,
        Platform::Aws,
    ];

    /// The Ignition platform name (`aws`, not `ec2`): the directory name
    /// of `base.platform.d/<name>/` and the id recorded in provisioning.json.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Metal => "metal",
            Platform::Qemu => "qemu",
            Platform::Openstack => "openstack",
            Platform::Aws => "aws",
        }
    }

    /// Parses an id (an alias is mapped first); `source` says where it came
    /// from, for the error.
    pub fn parse(id: &str, source: &str) -> Result<Platform, PlatformError> {
        let canonical = ALIASES
            .iter()
            .find(|(alias, _)| *alias == id)
            .map_or(id, |(_, to)| to);
        if let Some(p) = Platform::ALL.into_iter().find(|p| p.name() == canonical) {
            return Ok(p);
        }
        if IGNITION_ONLY.contains(&canonical) {
            return Err(PlatformError::NotSupported {
                id: id.to_string(),
                origin: source.to_string(),
                known: known_ids(),
            });
        }
        Err(PlatformError::UnknownId {
            id: id.to_string(),
            origin: source.to_string(),
            known: known_ids(),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `metal, qemu, openstack, aws (aliases: ec2 = aws, pxe = metal)`.
pub fn known_ids() -> String {
    let names: Vec<&str> = Platform::ALL.iter().map(|p| p.name()).collect();
    format!("{} (aliases: ec2 = aws, pxe = metal)", names.join(", "))
}

/// Where the platform id came from (recorded in provisioning.json).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdSource {
    /// A kernel command line key, e.g. `flatcar.oem.id`, with the value
    /// as given (`ec2` for [`Platform::Aws`]).
    Cmdline {
        /// One of [`ID_KEYS`].
        key: &'static str,
        /// The value as written.
        value: String,
    },
    /// The image's OEM id (its OEM partition's `oem-release`).
    ImageOem {
        /// The id as written.
        value: String,
    },
    /// DMI names QEMU or KVM.
    Dmi {
        /// The DMI text that matched.
        value: String,
    },
    /// Nothing said otherwise: `metal`.
    Default,
}

impl fmt::Display for IdSource {
    /// `kernel command line flatcar.oem.id=ec2`, `image OEM id qemu`,
    /// `DMI "QEMU"`, `default`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdSource::Cmdline { key, value } => write!(f, "kernel command line {key}={value}"),
            IdSource::ImageOem { value } => write!(f, "image OEM id {value}"),
            IdSource::Dmi { value } => write!(f, "DMI {value:?}"),
            IdSource::Default => f.write_str("default"),
        }
    }
}

/// The platform and where it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformId {
    /// The platform.
    pub platform: Platform,
    /// What gave it.
    pub source: IdSource,
}

/// Chooses the platform (module doc): `cmdline` is the kernel command
/// line, `image_oem_id` the image's OEM id if it has one, and `dmi` returns
/// the machine's DMI vendor and product names, one per line (called only
/// when needed; [`dmi_from_sysfs`] in production). An unknown or
/// unsupported id is an error naming it and the known ids.
pub fn platform_id(
    cmdline: &str,
    image_oem_id: Option<&str>,
    dmi: &dyn Fn() -> Option<String>,
) -> Result<PlatformId, PlatformError> {
    for key in ID_KEYS {
        if let Some(value) = cmdline_value(cmdline, key) {
            let source = IdSource::Cmdline {
                key,
                value: value.to_string(),
            };
            let platform = Platform::parse(value, &format!("kernel command line {key}="))?;
            return Ok(PlatformId { platform, source });
        }
    }
    if let Some(value) = image_oem_id.map(str::trim).filter(|v| !v.is_empty()) {
        let platform = Platform::parse(value, "the image's OEM partition")?;
        let source = IdSource::ImageOem {
            value: value.to_string(),
        };
        return Ok(PlatformId { platform, source });
    }
    if let Some(value) = dmi().as_deref().and_then(qemu_dmi_line) {
        return Ok(PlatformId {
            platform: Platform::Qemu,
            source: IdSource::Dmi { value },
        });
    }
    Ok(PlatformId {
        platform: Platform::Metal,
        source: IdSource::Default,
    })
}

/// The last non-empty `key=value` of `cmdline`.
fn cmdline_value<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v.trim_matches('"'))
        .rfind(|v| !v.is_empty())
}

/// The first DMI line naming QEMU or KVM (systemd-detect-virt's vendor
/// strings for them), if any.
fn qemu_dmi_line(dmi: &str) -> Option<String> {
    dmi.lines()
        .map(str::trim)
        .find(|l| l.starts_with("QEMU") || l.starts_with("KVM"))
        .map(str::to_string)
}

/// The DMI `sys_vendor` and `product_name` of this machine, one per line
/// (`/sys/class/dmi/id/`); `None` when neither is readable.
pub fn dmi_from_sysfs() -> Option<String> {
    dmi_from(Path::new("/sys"))
}

/// [`dmi_from_sysfs`] under another sysfs root (tests).
pub fn dmi_from(sysfs: &Path) -> Option<String> {
    let dir = sysfs.join("class/dmi/id");
    let lines: Vec<String> = ["sys_vendor", "product_name"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .map(|s| s.trim().to_string())
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_dmi() -> Option<String> {
        None
    }

    fn id(cmdline: &str, oem: Option<&str>, dmi: Option<&str>) -> Result<PlatformId, String> {
        let dmi = dmi.map(str::to_string);
        platform_id(cmdline, oem, &move || dmi.clone()).map_err(|e| e.to_string())
    }

    fn platform(cmdline: &str, oem: Option<&str>, dmi: Option<&str>) -> &'static str {
        id(cmdline, oem, dmi).unwrap().platform.name()
    }

    #[test]
    fn keys_in_order_of_precedence() {
        let all = "ignition.platform.id=metal coreos.oem.id=qemu flatcar.oem.id=ec2 metalos.oem.id=openstack";
        assert_eq!(platform(all, None, None), "openstack");
        assert_eq!(
            platform(
                "ignition.platform.id=metal coreos.oem.id=qemu flatcar.oem.id=ec2",
                None,
                None
            ),
            "aws"
        );
        assert_eq!(
            platform("ignition.platform.id=metal coreos.oem.id=qemu", None, None),
            "qemu"
        );
        assert_eq!(
            platform("ignition.platform.id=openstack", Some("qemu"), None),
            "openstack"
        );
        let got = id("root=x flatcar.oem.id=ec2 quiet", None, None).unwrap();
        assert_eq!(
            got.source,
            IdSource::Cmdline {
                key: "flatcar.oem.id",
                value: "ec2".into()
            }
        );
        assert_eq!(
            got.source.to_string(),
            "kernel command line flatcar.oem.id=ec2"
        );
    }

    #[test]
    fn last_non_empty_occurrence_wins_and_empty_is_absent() {
        assert_eq!(
            platform("metalos.oem.id=aws metalos.oem.id=qemu", None, None),
            "qemu"
        );
        assert_eq!(
            platform("metalos.oem.id=aws metalos.oem.id=", None, None),
            "aws"
        );
        assert_eq!(
            platform("metalos.oem.id= coreos.oem.id=qemu", None, None),
            "qemu"
        );
        assert_eq!(platform("metalos.oem.id", Some("aws"), None), "aws");
    }

    #[test]
    fn aliases() {
        assert_eq!(platform("flatcar.oem.id=ec2", None, None), "aws");
        assert_eq!(platform("flatcar.oem.id=pxe", None, None), "metal");
        let e = id("coreos.oem.id=gce", None, None).unwrap_err();
        assert!(e.contains("\"gce\""), "{e}");
        assert!(e.contains("does not support yet"), "{e}");
    }

    #[test]
    fn fallbacks_image_oem_then_dmi_then_metal() {
        let got = id("", Some("ec2"), Some("QEMU")).unwrap();
        assert_eq!(got.platform, Platform::Aws);
        assert_eq!(got.source.to_string(), "image OEM id ec2");
        let got = id("", None, Some("QEMU\nStandard PC (Q35 + ICH9, 2009)")).unwrap();
        assert_eq!(got.platform, Platform::Qemu);
        assert_eq!(got.source.to_string(), "DMI \"QEMU\"");
        assert_eq!(platform("", Some(" "), Some("Red Hat\nKVM")), "qemu");
        let got = id("", None, Some("Dell Inc.\nPowerEdge R650")).unwrap();
        assert_eq!(
            (got.platform, got.source),
            (Platform::Metal, IdSource::Default)
        );
        assert_eq!(platform("", None, None), "metal");
    }

    #[test]
    fn dmi_is_read_only_when_needed() {
        let called = std::cell::Cell::new(false);
        let dmi = || {
            called.set(true);
            None
        };
        platform_id("metalos.oem.id=qemu", None, &dmi).unwrap();
        platform_id("", Some("aws"), &dmi).unwrap();
        assert!(!called.get());
        platform_id("", None, &dmi).unwrap();
        assert!(called.get());
        assert_eq!(
            platform_id("", None, &no_dmi).unwrap().platform,
            Platform::Metal
        );
    }

    #[test]
    fn unknown_ids_are_named_with_the_known_ones() {
        let e = id("ignition.platform.id=bogus", None, None).unwrap_err();
        assert_eq!(
            e,
            "unknown platform id \"bogus\" (from kernel command line ignition.platform.id=); \
             known platform ids: metal, qemu, openstack, aws (aliases: ec2 = aws, pxe = metal)"
        );
        let e = id("", Some("nonsense"), None).unwrap_err();
        assert!(e.contains("the image's OEM partition"), "{e}");
        let e = id("metalos.oem.id=azure", None, None).unwrap_err();
        assert!(e.starts_with("platform id \"azure\""), "{e}");
    }

    #[test]
    fn dmi_from_a_sysfs_tree() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(dmi_from(dir.path()), None);
        let id = dir.path().join("class/dmi/id");
        std::fs::create_dir_all(&id).unwrap();
        std::fs::write(id.join("sys_vendor"), "QEMU\n").unwrap();
        std::fs::write(
            id.join("product_name"),
            "Standard PC (i440FX + PIIX, 1996)\n",
        )
        .unwrap();
        assert_eq!(
            dmi_from(dir.path()).as_deref(),
            Some("QEMU\nStandard PC (i440FX + PIIX, 1996)")
        );
    }
}
