//! The DHCP client's UDP socket: port 68 on one interface, broadcasting to
//! port 67. Works before the interface has an address (no raw sockets).

use std::ffi::OsString;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    bind, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn,
};

use super::client::Transport;

const SERVER_PORT: u16 = 67;
const CLIENT_PORT: u16 = 68;

/// A UDP socket bound to `0.0.0.0:68` on one interface.
pub(crate) struct UdpTransport {
    socket: UdpSocket,
    buf: Vec<u8>,
}

impl UdpTransport {
    /// Opens the socket on `ifname` (SO_BINDTODEVICE, SO_BROADCAST).
    pub(crate) fn open(ifname: &str) -> io::Result<Self> {
        let fd = socket(
            AddressFamily::Inet,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            None,
        )?;
        setsockopt(&fd, sockopt::Broadcast, &true)?;
        // Several interfaces may run DHCP at once, each with its own socket.
        setsockopt(&fd, sockopt::ReuseAddr, &true)?;
        setsockopt(&fd, sockopt::BindToDevice, &OsString::from(ifname))?;
        bind(
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            &SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT)),
        )?;
        Ok(UdpTransport {
            socket: UdpSocket::from(fd),
            buf: vec![0; 4096],
        })
    }
}

impl Transport for UdpTransport {
    fn send(&mut self, packet: &[u8]) -> io::Result<()> {
        self.socket
            .send_to(packet, SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT))
            .map(|_| ())
    }

    fn recv(&mut self, deadline: Instant) -> io::Result<Option<Vec<u8>>> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))?;
            match self.socket.recv_from(&mut self.buf) {
                Ok((n, _)) => return Ok(Some(self.buf[..n].to_vec())),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}
