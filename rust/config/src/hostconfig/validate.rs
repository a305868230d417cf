//! Semantic checks of a parsed [`HostConfig`]; every error carries the path
//! of the offending field.

use std::collections::HashMap;

use super::{HostConfig, Interface, RootDisk, HOST_CONFIG_VERSION};
use crate::error::FieldError;

type Result<T = ()> = std::result::Result<T, FieldError>;

/// The error for a `version` other than [`HOST_CONFIG_VERSION`].
pub(super) fn unsupported_version(v: &dyn std::fmt::Display) -> FieldError {
    FieldError::new(
        "version",
        format!("{v} is not supported (expected {HOST_CONFIG_VERSION})"),
    )
}

pub(super) fn validate(c: &HostConfig) -> Result {
    if c.version != HOST_CONFIG_VERSION {
        return Err(unsupported_version(&c.version));
    }
    check_hostname(&c.identity.hostname).map_err(|m| FieldError::new("identity.hostname", m))?;
    check_machine_id(&c.identity.machine_id)
        .map_err(|m| FieldError::new("identity.machine-id", m))?;
    check_interfaces(&c.network.interfaces)?;
    if let RootDisk::Serial(serial) = &c.root_disk {
        if serial.trim().is_empty() || serial.contains('\0') {
            return Err(FieldError::new(
                "root-disk.serial",
                format!("{serial:?} is not a disk serial (must be non-empty, no NUL)"),
            ));
        }
    }
    for (i, arg) in c.kernel.extra_args.iter().enumerate() {
        check_kernel_arg(arg).map_err(|m| FieldError::new(format!("kernel.extra-args[{i}]"), m))?;
    }
    if let Some(cmd) = &c.update.health_check {
        if cmd.trim().is_empty() || cmd.contains('\0') {
            return Err(FieldError::new(
                "update.health-check",
                "must be a non-empty command without NUL characters",
            ));
        }
    }
    if let Some(id) = &c.oem_id {
        metalos_contract::oem::check_id(id).map_err(|m| FieldError::new("oem-id", m))?;
    }
    if let Some(p) = &c.provisioning {
        if !p.is_object() {
            return Err(FieldError::new(
                "provisioning",
                "must be a JSON object (an Ignition config)",
            ));
        }
    }
    Ok(())
}

/// RFC 1123 host name: dot-separated labels of 1–63 `[a-z0-9-]` (any case),
/// not starting or ending with `-`; at most 253 characters in total.
pub(super) fn check_hostname(name: &str) -> std::result::Result<(), String> {
    let bad = |why: &str| format!("{name:?} is not a valid host name ({why})");
    if name.is_empty() || name.len() > 253 {
        return Err(bad("must be 1 to 253 characters"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad("each dot-separated label must be 1 to 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(bad("only letters, digits, '-' and '.' are allowed"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("a label must not start or end with '-'"));
        }
    }
    Ok(())
}

/// `/etc/machine-id` format: 32 lower-case hex characters, not all zero.
pub(super) fn check_machine_id(id: &str) -> std::result::Result<(), String> {
    if id.len() != 32
        || !id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "{id:?} is not a machine id (expected 32 lower-case hex characters \
             without dashes, as in /etc/machine-id; e.g. `systemd-id128 new`)"
        ));
    }
    if id.bytes().all(|b| b == b'0') {
        return Err("the machine id must not be all zeros".into());
    }
    Ok(())
}

/// Linux interface name: 1–15 bytes, no `/`, `:`, whitespace or control
/// characters, not `.` or `..`.
pub(super) fn check_ifname(name: &str) -> std::result::Result<(), String> {
    let bad = |why: &str| format!("{name:?} is not a valid interface name ({why})");
    if name.is_empty() || name.len() > 15 {
        return Err(bad("must be 1 to 15 bytes"));
    }
    if name == "." || name == ".." {
        return Err(bad("reserved name"));
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(bad("no '/', ':', whitespace or control characters"));
    }
    Ok(())
}

fn check_kernel_arg(arg: &str) -> std::result::Result<(), String> {
    if arg.is_empty() {
        return Err("an argument must not be empty".into());
    }
    if arg.contains('\0') {
        return Err(format!("{arg:?} contains a NUL character"));
    }
    if arg.chars().any(char::is_whitespace) {
        return Err(format!(
            "{arg:?} contains whitespace (give each argument as its own list entry)"
        ));
    }
    Ok(())
}

fn check_interfaces(ifs: &[Interface]) -> Result {
    let mut macs = HashMap::new();
    let mut names = HashMap::new();
    let mut primary: Option<usize> = None;
    for (i, iface) in ifs.iter().enumerate() {
        let path = |f: &str| format!("network.interfaces[{i}].{f}");
        let mac = iface.mac;
        if mac.is_zero() || mac.is_multicast() {
            return Err(FieldError::new(
                path("mac"),
                format!("{mac} is not a unicast MAC address (zero or multicast)"),
            ));
        }
        if let Some(first) = macs.insert(mac, i) {
            return Err(FieldError::new(
                path("mac"),
                format!("{mac} is already used by network.interfaces[{first}]"),
            ));
        }
        check_ifname(&iface.name).map_err(|m| FieldError::new(path("name"), m))?;
        if let Some(first) = names.insert(iface.name.as_str(), i) {
            return Err(FieldError::new(
                path("name"),
                format!(
                    "{:?} is already used by network.interfaces[{first}]",
                    iface.name
                ),
            ));
        }
        for (j, a) in iface.addresses.iter().enumerate() {
            a.check().map_err(|m| {
                FieldError::new(path(&format!("addresses[{j}]")), format!("{a}: {m}"))
            })?;
        }
        if let Some(gw) = iface.gateway {
            if !iface
                .addresses
                .iter()
                .any(|a| a.addr.is_ipv4() == gw.is_ipv4())
            {
                return Err(FieldError::new(
                    path("gateway"),
                    format!("{gw}: the interface has no address of the same IP family"),
                ));
            }
        }
        if iface.primary {
            if let Some(first) = primary {
                return Err(FieldError::new(
                    path("primary"),
                    format!(
                        "only one interface may be primary; network.interfaces[{first}] already is"
                    ),
                ));
            }
            primary = Some(i);
        }
    }
    Ok(())
}
