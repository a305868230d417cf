//! MetalOS in-initrd networking for static PID 1 programs (no NSS, no
//! shell, no udev, no async runtime).
//!
//! * [`cmdline`] — `BOOTIF=`, `metalos.mac=`, `ip=`, `metalos.dns=`.
//! * [`link`] — NICs from sysfs, link up, choosing the boot NIC.
//! * [`addr`] — IPv4 address and default route.
//! * [`dhcp`] — a DHCPv4 client producing a [`dhcp::Lease`].
//! * [`dns`] — a stub resolver for A records.
//! * [`http`] — GETs with retries, a CA bundle and [`dns`] resolution.
//! * [`setup`] — all of the above from a command line in one call.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cmdline = std::fs::read_to_string("/proc/cmdline")?;
//! let net = metalos_net::cmdline::parse(&cmdline)?;
//! let state = metalos_net::setup::configure(&net, &Default::default())?;
//! let client = metalos_net::http::HttpClient::new(Default::default())?;
//! let url = metalos_net::http::expand_url("http://images.metalos.test/hosts/${mac}.json", state.nic.mac);
//! let host_config = client.get_bytes(&url, 1 << 20)?;
//! # Ok(()) }
//! ```
//!
//! Modules:
//!
//! * [`addr`] — IPv4 addresses and the default route of an interface;
//! * [`cmdline`] — The network parameters of a kernel command line;
//! * [`dhcp`] — A DHCPv4 client for the boot NIC;
//! * [`dns`] — A minimal stub resolver;
//! * [`http`] — HTTP(S) requests (GET, streaming GET, POST, PUT) for the in-initrd programs;
//! * `ifreq` — Interface ioctls (`struct ifreq`) on an `AF_INET` datagram socket;
//! * [`link`] — Ethernet NICs;
//! * [`setup`] — Getting onto the network as the kernel command line says, in one call.

#![warn(missing_docs)]

pub mod addr;
pub mod cmdline;
pub mod dhcp;
pub mod dns;
pub mod http;
mod ifreq;
pub mod link;
pub mod setup;

pub use metalos_contract::mac;
pub use metalos_contract::MacAddr;

/// `from + timeout`, saturating far in the future instead of panicking on
/// an absurd timeout (PID 1 must not panic).
pub(crate) fn deadline_after(
    from: std::time::Instant,
    timeout: std::time::Duration,
) -> std::time::Instant {
    from.checked_add(timeout)
        .or_else(|| from.checked_add(std::time::Duration::from_secs(100 * 365 * 86400)))
        .unwrap_or(from)
}

/// Any error of this crate, for callers that handle them alike.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad network parameter on the kernel command line.
    #[error(transparent)]
    Cmdline(#[from] cmdline::CmdlineError),
    /// NIC listing, link up or boot NIC choice failed.
    #[error(transparent)]
    Link(#[from] link::LinkError),
    /// Setting an address or route failed.
    #[error(transparent)]
    Addr(#[from] addr::AddrError),
    /// No DHCP lease.
    #[error(transparent)]
    Dhcp(#[from] dhcp::DhcpError),
    /// A name did not resolve.
    #[error(transparent)]
    Dns(#[from] dns::DnsError),
    /// A GET failed.
    #[error(transparent)]
    Http(#[from] http::HttpError),
    /// `ip=off` / `ip=none` on the command line.
    #[error("kernel command line: ip=off: networking is disabled, but the network is needed")]
    Disabled,
    /// The `ip=` device field names an interface that does not exist.
    #[error("kernel command line: ip=: no interface {name:?} (NICs found: {found})")]
    NoSuchInterface {
        /// The interface name from `ip=`.
        name: String,
        /// The NICs present.
        found: String,
    },
}
