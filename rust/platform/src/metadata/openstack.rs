//! OpenStack metadata as afterburn reads it. From a config drive (label
//! `config-2` or `CONFIG-2`; afterburn takes only an ISO 9660 `config-2`):
//! `openstack/latest/meta_data.json` (required: host name, uuid, the
//! `public_keys` object) and the optional `ec2/latest/meta-data.json`.
//! From the metadata service: nova's EC2 tree under `/latest/meta-data/`
//! (values and keys) and the uuid from
//! `/openstack/2012-08-10/meta_data.json`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::aws::{get_text, VALUE_LIMIT};
use super::{check_key, key_indexes, Metadata, Wanted};
use crate::configdrive::{self, ConfigDrive};
use crate::fetch::FetchContext;
use crate::PlatformError;

/// The EC2-tree attributes of the metadata service, in afterburn's order.
const NETWORK_ATTRIBUTES: [(&str, &str); 5] = [
    ("OPENSTACK_HOSTNAME", "hostname"),
    ("OPENSTACK_INSTANCE_ID", "instance-id"),
    ("OPENSTACK_INSTANCE_TYPE", "instance-type"),
    ("OPENSTACK_IPV4_LOCAL", "local-ipv4"),
    ("OPENSTACK_IPV4_PUBLIC", "public-ipv4"),
];

/// The config drive's `ec2/latest/meta-data.json` fields.
const DRIVE_EC2_ATTRIBUTES: [(&str, &str); 4] = [
    ("OPENSTACK_INSTANCE_ID", "instance-id"),
    ("OPENSTACK_INSTANCE_TYPE", "instance-type"),
    ("OPENSTACK_IPV4_LOCAL", "local-ipv4"),
    ("OPENSTACK_IPV4_PUBLIC", "public-ipv4"),
];

pub(super) fn fetch_all(
    ctx: &FetchContext,
    wanted: Wanted,
    drive_first: bool,
) -> Result<Metadata, PlatformError> {
    if drive_first {
        if let Some(drive) = configdrive::find(&ctx.sysfs, &ctx.dev) {
            return from_drive(&drive, wanted);
        }
        ctx.log
            .line("openstack: no config drive; using the metadata service");
    }
    from_network(ctx, wanted)
}

/// Reads and parses a JSON file of the drive; `None` when absent.
fn drive_json(drive: &ConfigDrive, path: &str) -> Result<Option<Value>, PlatformError> {
    let Some(bytes) = drive.read(path, VALUE_LIMIT)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| PlatformError::BadMetadata {
            origin: format!("{}:{path}", drive.device.display()),
            reason: format!("not JSON: {e}"),
        })
}

fn string(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn from_drive(drive: &ConfigDrive, wanted: Wanted) -> Result<Metadata, PlatformError> {
    let path = "openstack/latest/meta_data.json";
    let source = format!("{}:{path}", drive.device.display());
    let meta = drive_json(drive, path)?.ok_or_else(|| PlatformError::BadMetadata {
        origin: source.clone(),
        reason: "missing".to_string(),
    })?;
    let mut out = Metadata {
        source: drive.device.display().to_string(),
        hostname: string(&meta, "hostname").filter(|_| wanted.hostname),
        ..Metadata::default()
    };
    if wanted.attributes {
        let mut attrs = BTreeMap::new();
        for (key, field) in [
            ("OPENSTACK_HOSTNAME", "hostname"),
            ("OPENSTACK_INSTANCE_UUID", "uuid"),
        ] {
            if let Some(v) = string(&meta, field) {
                attrs.insert(key.to_string(), v);
            }
        }
        if let Some(ec2) = drive_json(drive, "ec2/latest/meta-data.json")? {
            for (key, field) in DRIVE_EC2_ATTRIBUTES {
                if let Some(v) = string(&ec2, field) {
                    attrs.insert(key.to_string(), v);
                }
            }
        }
        out.attributes = attrs;
    }
    if wanted.ssh_keys {
        // serde_json's map is sorted: keys come in name order.
        if let Some(keys) = meta.get("public_keys").and_then(Value::as_object) {
            for (name, key) in keys {
                let key = key.as_str().ok_or_else(|| PlatformError::BadMetadata {
                    origin: source.clone(),
                    reason: format!("public_keys.{name} is not a string"),
                })?;
                out.ssh_keys.push(check_key(&source, key)?);
            }
        }
    }
    Ok(out)
}

fn from_network(ctx: &FetchContext, wanted: Wanted) -> Result<Metadata, PlatformError> {
    let ec2 = |key: &str| ctx.url(&format!("/latest/meta-data/{key}"));
    let mut out = Metadata {
        source: ctx.url(""),
        ..Metadata::default()
    };
    if wanted.attributes {
        let uuid = network_uuid(ctx)?;
        for (key, path) in NETWORK_ATTRIBUTES {
            if let Some(v) = get_text(ctx, &ec2(path), &[])? {
                out.attributes.insert(key.to_string(), v);
            }
        }
        if let Some(uuid) = uuid {
            out.attributes
                .insert("OPENSTACK_INSTANCE_UUID".to_string(), uuid);
        }
    }
    if wanted.hostname {
        out.hostname = get_text(ctx, &ec2("hostname"), &[])?;
    }
    if wanted.ssh_keys {
        if let Some(listing) = get_text(ctx, &ec2("public-keys"), &[])? {
            for index in key_indexes(&ec2("public-keys"), &listing)? {
                let url = ec2(&format!("public-keys/{index}/openssh-key"));
                let key = get_text(ctx, &url, &[])?.ok_or_else(|| PlatformError::BadMetadata {
                    origin: url.clone(),
                    reason: "missing ssh key (404)".to_string(),
                })?;
                out.ssh_keys.push(check_key(&url, &key)?);
            }
        }
    }
    Ok(out)
}

/// The `uuid` of nova's `meta_data.json` (404: none).
fn network_uuid(ctx: &FetchContext) -> Result<Option<String>, PlatformError> {
    let url = ctx.url("/openstack/2012-08-10/meta_data.json");
    let Some(text) = get_text(ctx, &url, &[])? else {
        return Ok(None);
    };
    let meta: Value = serde_json::from_str(&text).map_err(|e| PlatformError::BadMetadata {
        origin: url,
        reason: format!("not JSON: {e}"),
    })?;
    Ok(string(&meta, "uuid"))
}
