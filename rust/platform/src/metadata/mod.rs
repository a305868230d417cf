//! The metadata agent (`metalos metadata`): afterburn-compatible
//! attributes, SSH keys and host name from the platform's metadata, with
//! afterburn's retries ([`crate::fetch::Retry::AFTERBURN`]).
//!
//! * `aws` — EC2 IMDS (IMDSv2 token when the service has one);
//! * `openstack` — the config drive, else the metadata service;
//! * `write` — the attributes and host name files and the SSH key
//!   fragment.

mod aws;
mod openstack;
mod write;

use std::collections::BTreeMap;
use std::fmt;

pub use write::{
    apply_ssh_keys, attributes_text, truncate_hostname, write_attributes, write_hostname,
    SshKeysOutcome, FRAGMENT,
};

use crate::fetch::FetchContext;
use crate::id::Platform;
use crate::PlatformError;

/// A metadata source, named as afterburn names its providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// `aws` (alias `ec2`): EC2 IMDS.
    Aws,
    /// `openstack`: the config drive if there is one, else the metadata
    /// service.
    Openstack,
    /// `openstack-metadata`: the metadata service only.
    OpenstackMetadata,
}

impl Provider {
    /// The provider for an id given to `--provider`: a platform id or alias
    /// ([`Platform::parse`]) or `openstack-metadata`. Platforms without
    /// metadata (metal, qemu) are [`PlatformError::NoMetadata`].
    pub fn parse(name: &str) -> Result<Provider, PlatformError> {
        if name == "openstack-metadata" {
            return Ok(Provider::OpenstackMetadata);
        }
        Provider::for_platform(Platform::parse(name, "--provider")?)
    }

    /// The provider of `platform` (for `--cmdline`).
    pub fn for_platform(platform: Platform) -> Result<Provider, PlatformError> {
        match platform {
            Platform::Aws => Ok(Provider::Aws),
            Platform::Openstack => Ok(Provider::Openstack),
            Platform::Metal | Platform::Qemu => {
                Err(PlatformError::NoMetadata(platform.name().to_string()))
            }
        }
    }

    /// afterburn's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Aws => "aws",
            Provider::Openstack => "openstack",
            Provider::OpenstackMetadata => "openstack-metadata",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which parts of the metadata to fetch (afterburn fetches only what its
/// flags ask for, so a failing endpoint fails only the runs that need it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wanted {
    /// The `AFTERBURN_*` attributes.
    pub attributes: bool,
    /// The SSH public keys.
    pub ssh_keys: bool,
    /// The host name.
    pub hostname: bool,
}

/// What the platform's metadata says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Attributes by afterburn's key without the `AFTERBURN_` prefix (e.g.
    /// `AWS_INSTANCE_ID`); keys whose endpoint answered 404 are absent.
    pub attributes: BTreeMap<String, String>,
    /// SSH public keys, one OpenSSH line each, checked; in the metadata's
    /// order (config drive: by key name).
    pub ssh_keys: Vec<String>,
    /// The host name, as given (see [`truncate_hostname`]).
    pub hostname: Option<String>,
    /// Where it came from: the metadata service URL or the config drive.
    pub source: String,
}

/// Fetches the `wanted` parts of `provider`'s metadata.
pub fn fetch_metadata(
    provider: Provider,
    ctx: &FetchContext,
    wanted: Wanted,
) -> Result<Metadata, PlatformError> {
    match provider {
        Provider::Aws => aws::fetch_all(ctx, wanted),
        Provider::Openstack => openstack::fetch_all(ctx, wanted, true),
        Provider::OpenstackMetadata => openstack::fetch_all(ctx, wanted, false),
    }
}

/// Checks one key line from `source`; afterburn fails the run on a bad key.
pub(crate) fn check_key(source: &str, key: &str) -> Result<String, PlatformError> {
    let line = key.trim();
    metalos_sshkeys::PublicKey::parse(line).map_err(|e| PlatformError::BadMetadata {
        origin: source.to_string(),
        reason: format!("not an SSH public key: {e}"),
    })?;
    Ok(line.to_string())
}

/// Parses a key listing (`<index>=<name>` lines) into the indexes.
pub(crate) fn key_indexes(source: &str, listing: &str) -> Result<Vec<String>, PlatformError> {
    listing
        .lines()
        .map(|l| match l.split('=').collect::<Vec<_>>()[..] {
            [index, _name] => Ok(index.to_string()),
            _ => Err(PlatformError::BadMetadata {
                origin: source.to_string(),
                reason: format!("not an `<index>=<name>` line: {l:?}"),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests;
