//! Getting onto the network as the kernel command line says, in one call.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::cmdline::{IpConfig, NetCmdline};
use crate::dhcp::{self, DhcpConfig, Lease};
use crate::link::{self, Nic};
use crate::{addr, dns, Error};

/// Timeouts for [`configure`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupOptions {
    /// How long to wait for NICs to appear and get link (default 10 s).
    pub link_timeout: Duration,
    /// The DHCP client's timing.
    pub dhcp: DhcpConfig,
}

impl Default for SetupOptions {
    fn default() -> Self {
        SetupOptions {
            link_timeout: Duration::from_secs(10),
            dhcp: DhcpConfig::default(),
        }
    }
}

/// The configuration [`configure`] applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkState {
    /// The boot NIC.
    pub nic: Nic,
    /// Its address.
    pub address: Ipv4Addr,
    /// The prefix length.
    pub prefix_len: u8,
    /// The default gateway, if any.
    pub gateway: Option<Ipv4Addr>,
    /// The DNS servers now the process-wide default.
    pub dns_servers: Vec<Ipv4Addr>,
    /// The DHCP lease, when DHCP was used.
    pub lease: Option<Lease>,
}

/// Chooses the boot NIC (by `BOOTIF=`/`metalos.mac=`, else the device of
/// `ip=`, else the only NIC with link), brings it up, configures it from
/// `ip=` (static) or by DHCP (`ip=dhcp` or no `ip=`), and sets the DNS
/// servers (`metalos.dns=` first, then those of `ip=` or the lease) as the
/// process-wide default for [`crate::dns`] and [`crate::http`].
/// `ip=off` is an error: the caller asked for the network.
pub fn configure(cmdline: &NetCmdline, options: &SetupOptions) -> Result<NetworkState, Error> {
    let ip = cmdline.ip.clone().unwrap_or(IpConfig::Dhcp);
    if ip == IpConfig::Off {
        return Err(Error::Disabled);
    }
    let mut mac = cmdline.boot_mac;
    if let (None, IpConfig::Static(s)) = (mac, &ip) {
        if let Some(name) = &s.interface {
            mac = Some(nic_named(name)?.mac);
        }
    }
    let nic = link::choose_boot_nic(mac, options.link_timeout)?;
    let mut dns_servers = cmdline.dns_servers.clone();
    let state = match ip {
        IpConfig::Static(config) => {
            addr::apply_static(&nic.name, &config)?;
            dns_servers.extend(&config.dns_servers);
            NetworkState {
                address: config.address,
                prefix_len: config.prefix_len,
                gateway: config.gateway,
                lease: None,
                nic,
                dns_servers,
            }
        }
        IpConfig::Dhcp | IpConfig::Off => {
            let lease = dhcp::obtain_lease(&nic.name, nic.mac, &options.dhcp)?;
            dhcp::apply_lease(&nic.name, &lease)?;
            dns_servers.extend(&lease.dns_servers);
            NetworkState {
                address: lease.address,
                prefix_len: lease.prefix_len,
                gateway: lease.routers.first().copied(),
                lease: Some(lease),
                nic,
                dns_servers,
            }
        }
    };
    dns::set_default_servers(&state.dns_servers);
    Ok(state)
}

fn nic_named(name: &str) -> Result<Nic, Error> {
    let nics = link::list_nics()?;
    nics.iter()
        .find(|n| n.name == name)
        .cloned()
        .ok_or_else(|| Error::NoSuchInterface {
            name: name.to_string(),
            found: nics
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        })
}
