//! A DHCPv4 client for the boot NIC.
//!
//! DISCOVER → OFFER → REQUEST → ACK over a UDP socket bound to port 68 on
//! the interface (`SO_BINDTODEVICE`), broadcasting to `255.255.255.255:67`
//! with the broadcast flag set, so no raw sockets and no address are needed.
//! Retransmissions back off exponentially (1, 2, 4, 8, 8… s by default)
//! until [`DhcpConfig::timeout`]; a NAK restarts with a new transaction.
//! Replies for other transactions or other clients are ignored. Leases are
//! not renewed: the in-initrd programs finish long before they expire.

mod client;
mod packet;
mod replay;
mod socket;

use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::addr::{self, AddrError};
use crate::cmdline::{prefix_to_netmask, StaticConfig};
use crate::dns;
use crate::mac::MacAddr;

#[doc(hidden)]
pub use packet::{decode, discover, encode, parse_reply, request, Reply, ReplyKind};
#[doc(hidden)]
pub use replay::negotiate_replayed;

/// Timing of the DHCP exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpConfig {
    /// Give up after this long in total (default 30 s).
    pub timeout: Duration,
    /// Wait this long for the first reply before retransmitting (default
    /// 1 s); each retransmission doubles the wait.
    pub first_retransmit: Duration,
    /// The longest wait between retransmissions (default 8 s).
    pub max_retransmit: Duration,
}

impl Default for DhcpConfig {
    fn default() -> Self {
        DhcpConfig {
            timeout: Duration::from_secs(30),
            first_retransmit: Duration::from_secs(1),
            max_retransmit: Duration::from_secs(8),
        }
    }
}

/// An acknowledged DHCP lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Our address (`yiaddr`).
    pub address: Ipv4Addr,
    /// Prefix length from the subnet mask option (classful if absent).
    pub prefix_len: u8,
    /// Routers (option 3), in the server's order of preference.
    pub routers: Vec<Ipv4Addr>,
    /// DNS servers (option 6).
    pub dns_servers: Vec<Ipv4Addr>,
    /// Domain name (option 15).
    pub domain: Option<String>,
    /// Host name (option 12).
    pub hostname: Option<String>,
    /// Lease time (option 51).
    pub lease_time: Option<Duration>,
    /// The server that granted the lease (option 54).
    pub server_id: Ipv4Addr,
}

impl Lease {
    /// The subnet mask.
    pub fn netmask(&self) -> Ipv4Addr {
        prefix_to_netmask(self.prefix_len)
    }

    /// The lease as a static configuration (gateway = first router).
    pub fn to_static_config(&self) -> StaticConfig {
        StaticConfig {
            address: self.address,
            prefix_len: self.prefix_len,
            gateway: self.routers.first().copied(),
            hostname: self.hostname.clone(),
            interface: None,
            dns_servers: self.dns_servers.clone(),
        }
    }
}

/// Why no lease was obtained.
#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    /// No (acceptable) reply in time.
    #[error("DHCP on {ifname} (MAC {mac}): {phase} after {waited:.1?} ({sent} {what} sent){naks}")]
    Timeout {
        /// The interface.
        ifname: String,
        /// Our MAC (chaddr).
        mac: MacAddr,
        /// How long we tried.
        waited: Duration,
        /// `no DHCPOFFER` or `no DHCPACK`.
        phase: &'static str,
        /// How many messages of the last phase were sent.
        sent: u32,
        /// The message type of the last phase.
        what: &'static str,
        /// NAKs seen before, as `; NAKs: ...`, or empty.
        naks: String,
    },
    /// The socket could not be opened, or sending/receiving failed.
    #[error("DHCP on {ifname}: {op}: {source}")]
    Io {
        /// The interface.
        ifname: String,
        /// What was being done.
        op: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A message could not be encoded (a bug).
    #[error("DHCP on {ifname}: encoding a message: {reason}")]
    Encode {
        /// The interface.
        ifname: String,
        /// dhcproto's error.
        reason: String,
    },
}

/// Obtains a lease on `ifname` (which must be up) for the NIC with `mac`.
/// Blocks for at most `config.timeout` (plus one socket timeout slice).
pub fn obtain_lease(ifname: &str, mac: MacAddr, config: &DhcpConfig) -> Result<Lease, DhcpError> {
    let mut transport = socket::UdpTransport::open(ifname).map_err(|source| DhcpError::Io {
        ifname: ifname.to_string(),
        op: "opening UDP port 68".to_string(),
        source,
    })?;
    client::negotiate(&mut transport, ifname, mac, config, random_xid)
}

/// Configures `lease` on `ifname`: the address, a default route via the
/// first router (if any), and the DNS servers as the process-wide default
/// for [`dns::Resolver::from_defaults`] and [`crate::http`].
pub fn apply_lease(ifname: &str, lease: &Lease) -> Result<(), AddrError> {
    addr::apply_static(ifname, &lease.to_static_config())?;
    dns::set_default_servers(&lease.dns_servers);
    Ok(())
}

/// A transaction id from getrandom(2), falling back to the clock.
fn random_xid() -> u32 {
    let mut bytes = [0u8; 4];
    // SAFETY: the buffer is valid for 4 bytes.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), libc::GRND_NONBLOCK) };
    if n == 4 {
        return u32::from_ne_bytes(bytes);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.subsec_nanos() ^ (now.as_secs() as u32) ^ std::process::id().rotate_left(16)
}
