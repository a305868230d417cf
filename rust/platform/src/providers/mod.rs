//! The platform providers of the user config, one module per platform,
//! each with Ignition's rules for "no config" versus error (a source that
//! has nothing gives `Ok(None)`; a source that fails is an error naming
//! the URL, device or file and why).
//!
//! * `metal` — never a provider config;
//! * `qemu` — the fw_cfg entries `opt/com.coreos/config` and
//!   `opt/org.flatcar-linux/config`;
//! * `openstack` — a config drive raced against the metadata service;
//! * `aws` — EC2 IMDS user data with an IMDSv2 session token.

pub(crate) mod aws;
mod metal;
mod openstack;
mod qemu;

pub use qemu::FW_CFG_NAMES;

use crate::fetch::FetchContext;
use crate::id::Platform;
use crate::PlatformError;

/// Largest user config accepted from a provider.
pub const USER_DATA_LIMIT: u64 = 32 << 20;

/// A user config a provider gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserConfig {
    /// The bytes, as given (an Ignition config for the caller to parse).
    pub data: Vec<u8>,
    /// Where they came from: a URL, or a config drive or fw_cfg path (for
    /// provisioning.json and the console).
    pub source: String,
}

/// The user config of `platform`'s provider: `Ok(None)` when the provider
/// has none (metal always; qemu without the fw_cfg entries or module; an
/// OpenStack config drive without `openstack/latest/user_data` or a
/// metadata 404; an EC2 `user-data` 404), and as Flatcar's Ignition does,
/// when the user data is empty or is not an Ignition config at all
/// (`#cloud-config`, a `#!` script, MIME multipart: logged and ignored).
/// Call it with the network up when [`needs_network`] says so.
pub fn user_config(
    platform: Platform,
    ctx: &FetchContext,
) -> Result<Option<UserConfig>, PlatformError> {
    let config = match platform {
        Platform::Metal => metal::user_config(),
        Platform::Qemu => qemu::user_config(ctx)?,
        Platform::Openstack => openstack::user_config(ctx)?,
        Platform::Aws => aws::user_config(ctx)?,
    };
    Ok(config.filter(|c| match not_ignition(&c.data) {
        Some(kind) => {
            ctx.log.line(&format!(
                "{platform}: the user data from {} is {kind}, not an Ignition config: ignored",
                c.source
            ));
            false
        }
        None => true,
    }))
}

/// Whether fetching `platform`'s provider config needs the network
/// (Ignition runs those providers only after `fetch-offline`): metal and
/// qemu never do; OpenStack (even with a config drive, raced against the
/// metadata service) and EC2 always.
pub fn needs_network(platform: Platform) -> bool {
    match platform {
        Platform::Metal | Platform::Qemu => false,
        Platform::Openstack | Platform::Aws => true,
    }
}

/// What user data is when it is no Ignition config (Flatcar's Ignition
/// treats these as "no config"): empty, cloud-config, a script, MIME
/// multipart. Gzipped user data is not looked into.
pub fn not_ignition(data: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(&data[..data.len().min(4096)]);
    let first = text.lines().next().unwrap_or("").trim_end();
    if data.iter().all(u8::is_ascii_whitespace) {
        Some("empty")
    } else if first == "#cloud-config" {
        Some("a cloud-config")
    } else if first.starts_with("#!") {
        Some("a script")
    } else if text.lines().take(32).any(|l| {
        l.to_ascii_lowercase()
            .starts_with("content-type: multipart/")
    }) {
        Some("MIME multipart")
    } else {
        None
    }
}

#[cfg(test)]
pub(crate) mod tests;
