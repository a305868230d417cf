//! Interface ioctls (`struct ifreq`) on an `AF_INET` datagram socket.
//!
//! nix has no typed wrappers for these requests, so its `ioctl_*_bad!`
//! macros declare them over libc's `ifreq`.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

nix::ioctl_readwrite_bad!(siocgifflags, libc::SIOCGIFFLAGS, libc::ifreq);
nix::ioctl_write_ptr_bad!(siocsifflags, libc::SIOCSIFFLAGS, libc::ifreq);
nix::ioctl_write_ptr_bad!(siocsifaddr, libc::SIOCSIFADDR, libc::ifreq);
nix::ioctl_write_ptr_bad!(siocsifnetmask, libc::SIOCSIFNETMASK, libc::ifreq);
nix::ioctl_readwrite_bad!(siocgifaddr, libc::SIOCGIFADDR, libc::ifreq);
nix::ioctl_readwrite_bad!(siocgifnetmask, libc::SIOCGIFNETMASK, libc::ifreq);
nix::ioctl_write_ptr_bad!(siocaddrt, libc::SIOCADDRT, libc::rtentry);

/// A socket to issue interface ioctls on.
pub(crate) fn control_socket() -> io::Result<OwnedFd> {
    Ok(socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?)
}

/// An `ifreq` naming `ifname`; errors when the name does not fit.
pub(crate) fn ifreq(ifname: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if ifname.is_empty() || ifname.len() >= req.ifr_name.len() || ifname.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a valid interface name",
        ));
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(ifname.bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

/// A `sockaddr` holding an `AF_INET` address (port 0).
pub(crate) fn sockaddr_v4(addr: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(addr).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size (16 bytes) and
    // sockaddr has no invalid bit patterns.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

fn sockaddr_to_v4(sa: &libc::sockaddr) -> Ipv4Addr {
    // SAFETY: same size, plain old data; the kernel filled an AF_INET address.
    let sin: libc::sockaddr_in = unsafe { std::mem::transmute_copy(sa) };
    Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))
}

/// Reads the interface flags (`IFF_*`).
pub(crate) fn get_flags(ifname: &str) -> io::Result<libc::c_short> {
    let sock = control_socket()?;
    let mut req = ifreq(ifname)?;
    // SAFETY: req is a valid ifreq for this request.
    unsafe { siocgifflags(sock.as_raw_fd(), &mut req) }?;
    // SAFETY: SIOCGIFFLAGS filled the flags member.
    Ok(unsafe { req.ifr_ifru.ifru_flags })
}

/// Sets the interface flags (`IFF_*`).
pub(crate) fn set_flags(ifname: &str, flags: libc::c_short) -> io::Result<()> {
    let sock = control_socket()?;
    let mut req = ifreq(ifname)?;
    req.ifr_ifru.ifru_flags = flags;
    // SAFETY: req is a valid ifreq for this request.
    unsafe { siocsifflags(sock.as_raw_fd(), &req) }?;
    Ok(())
}

/// Sets the primary IPv4 address and then the netmask.
pub(crate) fn set_ipv4(ifname: &str, address: Ipv4Addr, netmask: Ipv4Addr) -> io::Result<()> {
    let sock = control_socket()?;
    let mut req = ifreq(ifname)?;
    req.ifr_ifru.ifru_addr = sockaddr_v4(address);
    // SAFETY: req is a valid ifreq for this request.
    unsafe { siocsifaddr(sock.as_raw_fd(), &req) }?;
    let mut req = ifreq(ifname)?;
    req.ifr_ifru.ifru_netmask = sockaddr_v4(netmask);
    // SAFETY: as above.
    unsafe { siocsifnetmask(sock.as_raw_fd(), &req) }?;
    Ok(())
}

/// The primary IPv4 address and netmask; `None` when there is none.
pub(crate) fn get_ipv4(ifname: &str) -> io::Result<Option<(Ipv4Addr, Ipv4Addr)>> {
    let sock = control_socket()?;
    let mut req = ifreq(ifname)?;
    // SAFETY: req is a valid ifreq for this request.
    match unsafe { siocgifaddr(sock.as_raw_fd(), &mut req) } {
        Ok(_) => {}
        Err(nix::errno::Errno::EADDRNOTAVAIL) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    // SAFETY: SIOCGIFADDR filled the address member.
    let address = sockaddr_to_v4(unsafe { &req.ifr_ifru.ifru_addr });
    let mut req = ifreq(ifname)?;
    // SAFETY: as above.
    unsafe { siocgifnetmask(sock.as_raw_fd(), &mut req) }?;
    // SAFETY: SIOCGIFNETMASK filled the netmask member.
    let netmask = sockaddr_to_v4(unsafe { &req.ifr_ifru.ifru_netmask });
    Ok(Some((address, netmask)))
}

/// Adds a default route via `gateway` out of `ifname`. An existing
/// identical route is not an error.
pub(crate) fn add_default_route(ifname: &str, gateway: Ipv4Addr) -> io::Result<()> {
    let sock = control_socket()?;
    let mut dev = ifreq(ifname)?.ifr_name;
    // SAFETY: rtentry is plain old data; all-zero is a valid value.
    let mut rt: libc::rtentry = unsafe { std::mem::zeroed() };
    rt.rt_dst = sockaddr_v4(Ipv4Addr::UNSPECIFIED);
    rt.rt_genmask = sockaddr_v4(Ipv4Addr::UNSPECIFIED);
    rt.rt_gateway = sockaddr_v4(gateway);
    rt.rt_flags = libc::RTF_UP | libc::RTF_GATEWAY;
    rt.rt_dev = dev.as_mut_ptr();
    // SAFETY: rt is a valid rtentry; rt_dev points at a NUL-terminated name
    // that outlives the call.
    match unsafe { siocaddrt(sock.as_raw_fd(), &rt) } {
        Ok(_) | Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
