//! IPv4 addresses and the default route of an interface.
//!
//! Uses the classic ioctls (`SIOCSIFADDR`, `SIOCSIFNETMASK`, `SIOCADDRT`):
//! enough for one address and one default route, and idempotent. The link
//! must be up (see [`crate::link::set_link_up`]) before a route can be added.

use std::io;
use std::net::Ipv4Addr;

use crate::cmdline::{parse_netmask, prefix_to_netmask, StaticConfig};
use crate::ifreq;

/// An address or route could not be read or set.
#[derive(Debug, thiserror::Error)]
#[error("{ifname}: {op}: {source}{hint}")]
pub struct AddrError {
    /// The interface.
    pub ifname: String,
    /// What was being done, e.g. `setting address 10.0.0.5/24`.
    pub op: String,
    /// The underlying error.
    pub source: io::Error,
    hint: &'static str,
}

impl AddrError {
    fn new(ifname: &str, op: String, source: io::Error) -> Self {
        let hint = match source.raw_os_error() {
            Some(libc::ENETUNREACH) => {
                " (is the gateway inside the interface's subnet, and the link up?)"
            }
            Some(libc::ENODEV) => " (no such interface)",
            Some(libc::EPERM) | Some(libc::EACCES) => " (needs CAP_NET_ADMIN)",
            _ => "",
        };
        AddrError {
            ifname: ifname.to_string(),
            op,
            source,
            hint,
        }
    }
}

/// Sets `address/prefix_len` as the interface's (primary) IPv4 address,
/// replacing any previous primary address.
pub fn configure_ipv4(ifname: &str, address: Ipv4Addr, prefix_len: u8) -> Result<(), AddrError> {
    ifreq::set_ipv4(ifname, address, prefix_to_netmask(prefix_len))
        .map_err(|e| AddrError::new(ifname, format!("setting address {address}/{prefix_len}"), e))
}

/// Adds a default route via `gateway` out of `ifname`; an existing default
/// route is left alone (EEXIST is success).
pub fn add_default_route(ifname: &str, gateway: Ipv4Addr) -> Result<(), AddrError> {
    ifreq::add_default_route(ifname, gateway)
        .map_err(|e| AddrError::new(ifname, format!("adding default route via {gateway}"), e))
}

/// Sets the address of `config` and, when it has a gateway, the default
/// route.
pub fn apply_static(ifname: &str, config: &StaticConfig) -> Result<(), AddrError> {
    configure_ipv4(ifname, config.address, config.prefix_len)?;
    if let Some(gateway) = config.gateway {
        add_default_route(ifname, gateway)?;
    }
    Ok(())
}

/// The interface's primary IPv4 address and prefix length, if it has one.
pub fn ipv4_address(ifname: &str) -> Result<Option<(Ipv4Addr, u8)>, AddrError> {
    let found = ifreq::get_ipv4(ifname)
        .map_err(|e| AddrError::new(ifname, "reading IPv4 address".to_string(), e))?;
    Ok(found.map(|(address, netmask)| {
        let prefix = parse_netmask(&netmask.to_string()).unwrap_or(32);
        (address, prefix)
    }))
}
