//! What a machine is made of — boot method, disks, NICs, user networking,
//! accelerator — and how that becomes QEMU arguments.
//!
//! Network policy: QEMU runs with `-nodefaults`, so a machine without
//! [`Nic`]s has no network device at all. Every NIC gets its own QEMU user
//! network (slirp) with `restrict=on` (the guest cannot reach the host or
//! anything else), optionally QEMU's built-in TFTP server, and forwards
//! whose host side must be `127.0.0.1` ([`UserNet::validate`] refuses any
//! other address).
//!
//! A NIC can instead sit on a private L2 segment in a network namespace
//! ([`Nic::new_netns`], [`crate::netns`]; needs root).

use crate::error::{Result, VmError};
use crate::netns::NetnsLab;
pub use crate::paths::HTTPD_BUSYBOX;
pub use crate::quote::escape;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;

/// CPU accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// QEMU's emulator (the default: works everywhere, ~10× slower).
    Tcg,
    /// Hardware virtualisation (opt-in: `METALOS_VM_ACCEL=kvm`).
    Kvm,
}

impl Accel {
    /// `METALOS_VM_ACCEL`: unset, empty or `tcg` → TCG, `kvm` → KVM.
    pub fn from_env() -> Result<Accel> {
        match std::env::var("METALOS_VM_ACCEL")
            .unwrap_or_default()
            .as_str()
        {
            "" | "tcg" => Ok(Accel::Tcg),
            "kvm" => Ok(Accel::Kvm),
            other => Err(VmError::Config(format!(
                "METALOS_VM_ACCEL={other:?}: expected `tcg` or `kvm`"
            ))),
        }
    }
}

/// How the machine boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    /// UEFI firmware: OVMF code read-only + a private copy of the OVMF
    /// variable store, kept for the machine's lifetime (across restarts).
    Uefi,
    /// Direct kernel boot (`-kernel`, `-initrd`, `-append`), SeaBIOS.
    Kernel {
        /// Kernel image (bzImage).
        kernel: PathBuf,
        /// Initrd, if any.
        initrd: Option<PathBuf>,
        /// Kernel command line.
        append: String,
    },
}

/// Disk controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskInterface {
    /// `virtio-blk-pci` (`/dev/vdX` in the guest).
    VirtioBlk,
    /// `nvme` (`/dev/nvmeXn1`).
    Nvme,
}

/// A disk attached to the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// The image (raw).
    pub path: PathBuf,
    /// Attach through a qcow2 overlay (the image is never written) instead
    /// of using the image itself.
    pub overlay: bool,
    /// Virtual size of the overlay, if larger than the image.
    pub size: Option<u64>,
    /// Controller.
    pub interface: DiskInterface,
    /// Logical and physical block size (512 or 4096); `None` = QEMU default (512).
    pub block_size: Option<u32>,
    /// Firmware boot order (`bootindex`).
    pub bootindex: Option<u32>,
}

impl Disk {
    /// A raw image attached through a qcow2 overlay: the guest's writes go
    /// to the overlay (kept across restarts of the machine), `path` is
    /// never modified.
    pub fn overlay(path: impl Into<PathBuf>) -> Disk {
        Disk {
            path: path.into(),
            overlay: true,
            size: None,
            interface: DiskInterface::VirtioBlk,
            block_size: None,
            bootindex: None,
        }
    }

    /// A raw image used directly: the guest writes to it.
    pub fn direct(path: impl Into<PathBuf>) -> Disk {
        Disk {
            overlay: false,
            ..Disk::overlay(path)
        }
    }

    /// Uses an NVMe controller instead of virtio-blk.
    pub fn nvme(mut self) -> Disk {
        self.interface = DiskInterface::Nvme;
        self
    }

    /// Sets the logical and physical block size (512 or 4096).
    pub fn block_size(mut self, bytes: u32) -> Disk {
        self.block_size = Some(bytes);
        self
    }

    /// Grows the overlay's virtual size to `bytes` (overlay disks only).
    pub fn grow_to(mut self, bytes: u64) -> Disk {
        self.size = Some(bytes);
        self
    }

    /// Sets the firmware boot order index.
    pub fn bootindex(mut self, index: u32) -> Disk {
        self.bootindex = Some(index);
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if !self.path.is_file() {
            return Err(VmError::Config(format!(
                "disk image {} does not exist",
                self.path.display()
            )));
        }
        if let Some(b) = self.block_size {
            if b != 512 && b != 4096 {
                return Err(VmError::Config(format!(
                    "disk {}: block size {b} (use 512 or 4096)",
                    self.path.display()
                )));
            }
        }
        if self.size.is_some() && !self.overlay {
            return Err(VmError::Config(format!(
                "disk {}: grow_to needs an overlay disk (a direct disk is used as is)",
                self.path.display()
            )));
        }
        Ok(())
    }
}

/// A TCP or UDP forward from `127.0.0.1:<host port>` to a guest port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFwd {
    /// `tcp` or `udp`.
    pub udp: bool,
    /// Host side, `127.0.0.1:<port>` (checked).
    pub host: String,
    /// Guest port.
    pub guest_port: u16,
}

/// A guest-side address (in `10.0.2.0/24`) whose TCP connections QEMU
/// forwards to a host service on `127.0.0.1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestFwd {
    /// Guest-visible `address:port`, e.g. `10.0.2.100:80`.
    pub guest: String,
    /// Host service, `127.0.0.1:<port>` (checked).
    pub host: String,
}

/// QEMU user networking (slirp) for one NIC, always `restrict=on`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserNet {
    /// Root of QEMU's built-in TFTP server (`tftp=`).
    pub tftp_root: Option<PathBuf>,
    /// DHCP boot file name (`bootfile=`), relative to the TFTP root.
    pub bootfile: Option<String>,
    /// Host → guest forwards.
    pub hostfwd: Vec<HostFwd>,
    /// Guest → host forwards.
    pub guestfwd: Vec<GuestFwd>,
    /// Guest addresses (`10.0.2.x:port`) answered by a static HTTP server
    /// for a host directory, one `busybox httpd -i` per connection.
    pub http_dirs: Vec<(String, PathBuf)>,
}

impl UserNet {
    /// No TFTP, no forwards.
    pub fn new() -> UserNet {
        UserNet::default()
    }

    /// Serves `root` over TFTP and announces `bootfile` over DHCP.
    pub fn tftp(mut self, root: impl Into<PathBuf>, bootfile: &str) -> UserNet {
        self.tftp_root = Some(root.into());
        self.bootfile = Some(bootfile.to_string());
        self
    }

    /// Forwards TCP `host` (must be `127.0.0.1:<port>`) to guest port `guest_port`.
    pub fn hostfwd_tcp(mut self, host: &str, guest_port: u16) -> UserNet {
        self.hostfwd.push(HostFwd {
            udp: false,
            host: host.to_string(),
            guest_port,
        });
        self
    }

    /// Forwards guest TCP connections to `guest` (`10.0.2.x:port`) to the
    /// host service `host` (must be `127.0.0.1:<port>`).
    pub fn guestfwd_tcp(mut self, guest: &str, host: &str) -> UserNet {
        self.guestfwd.push(GuestFwd {
            guest: guest.to_string(),
            host: host.to_string(),
        });
        self
    }

    /// Serves `dir` over HTTP at guest address `guest` (`10.0.2.x:port`,
    /// not .2 or .3): QEMU starts `busybox httpd -i -h DIR` for every
    /// connection (`guestfwd=…-cmd:`), so any number of requests work and
    /// no host port is opened. The command is fixed: no free-form commands.
    pub fn http_dir(mut self, guest: &str, dir: impl Into<PathBuf>) -> UserNet {
        self.http_dirs.push((guest.to_string(), dir.into()));
        self
    }

    /// Checks the policy and returns the `-netdev` value for netdev `id`.
    pub fn validate(&self, id: &str) -> Result<String> {
        let loopback = |what: &str, addr: &str| -> Result<SocketAddrV4> {
            let a: SocketAddrV4 = addr.parse().map_err(|_| {
                VmError::Config(format!("{what} {addr:?} is not an IPv4 address:port"))
            })?;
            if *a.ip() != Ipv4Addr::LOCALHOST {
                return Err(VmError::Config(format!(
                    "{what} {addr}: only 127.0.0.1 is allowed (VMs must not reach the network)"
                )));
            }
            Ok(a)
        };
        let mut v = format!("user,id={id},restrict=on");
        if let Some(root) = &self.tftp_root {
            if !root.is_dir() {
                return Err(VmError::Config(format!(
                    "TFTP root {} is not a directory",
                    root.display()
                )));
            }
            v += &format!(",tftp={}", escape(&root.display().to_string()));
        }
        if let Some(f) = &self.bootfile {
            v += &format!(",bootfile={}", escape(f));
        }
        for f in &self.hostfwd {
            let h = loopback("hostfwd host address", &f.host)?;
            let proto = if f.udp { "udp" } else { "tcp" };
            v += &format!(",hostfwd={proto}:{}:{}-:{}", h.ip(), h.port(), f.guest_port);
        }
        for f in &self.guestfwd {
            let g: SocketAddrV4 = f.guest.parse().map_err(|_| {
                VmError::Config(format!(
                    "guestfwd address {:?} is not an IPv4 address:port",
                    f.guest
                ))
            })?;
            let h = loopback("guestfwd target", &f.host)?;
            v += &format!(
                ",guestfwd=tcp:{}:{}-tcp:{}:{}",
                g.ip(),
                g.port(),
                h.ip(),
                h.port()
            );
        }
        for (guest, dir) in &self.http_dirs {
            let g: SocketAddrV4 = guest.parse().map_err(|_| {
                VmError::Config(format!(
                    "HTTP address {guest:?} is not an IPv4 address:port"
                ))
            })?;
            if !dir.is_dir() {
                return Err(VmError::Config(format!(
                    "HTTP root {} is not a directory",
                    dir.display()
                )));
            }
            v += &format!(
                ",guestfwd=tcp:{}:{}-cmd:{HTTPD_BUSYBOX} httpd -i -h {}",
                g.ip(),
                g.port(),
                escape(&dir.display().to_string())
            );
        }
        Ok(v)
    }
}

/// A `virtio-net-pci` NIC on its own restricted user network, or on a
/// [`NetnsLab`] segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nic {
    /// MAC address (`52:54:00:12:34:56`); QEMU picks one if `None`.
    pub mac: Option<String>,
    /// Its user network (unused when `netns` is set).
    pub net: UserNet,
    /// Firmware boot order index (makes the firmware try PXE on it).
    pub bootindex: Option<u32>,
    /// Instead of user networking: tap `tapN` (`N` = the NIC's index) on
    /// this lab's bridge. All lab NICs of a machine share one namespace, so
    /// they must name the same lab.
    pub netns: Option<NetnsLab>,
    /// The NIC's option ROM: `None` = QEMU's default (iPXE), `Some("")` =
    /// none (OVMF's own PXE / HTTP Boot), else a ROM file.
    pub romfile: Option<String>,
    /// Record the NIC's traffic to `net<N>.pcap` in the machine directory
    /// (QEMU's `filter-dump`; also what the firmware sends).
    pub capture: bool,
}

impl Nic {
    /// A NIC on `net`.
    pub fn new(net: UserNet) -> Nic {
        Nic {
            net,
            ..Nic::default()
        }
    }

    /// A NIC on `lab`'s private segment (see [`crate::netns`]; needs root).
    pub fn new_netns(lab: NetnsLab) -> Nic {
        Nic {
            netns: Some(lab),
            ..Nic::default()
        }
    }

    /// Removes the option ROM (`romfile=`): no iPXE, so OVMF boots from the
    /// NIC with its own PXE and HTTP Boot drivers.
    pub fn no_option_rom(mut self) -> Nic {
        self.romfile = Some(String::new());
        self
    }

    /// Records the NIC's traffic (every boot, appended) to `net<N>.pcap`
    /// in the machine directory, readable with tcpdump or Wireshark. The
    /// file grows with every byte sent, image downloads included.
    pub fn capture(mut self) -> Nic {
        self.capture = true;
        self
    }

    /// The `-netdev` value for netdev `net<index>`, after checking it.
    pub(crate) fn netdev(&self, index: usize) -> Result<String> {
        match &self.netns {
            None => self.net.validate(&format!("net{index}")),
            Some(_) if self.net != UserNet::default() => Err(VmError::Config(format!(
                "NIC {index}: a NetnsLab NIC has no user network (TFTP/forwards): \
                 use the lab's servers"
            ))),
            Some(lab) => Ok(format!(
                "tap,id=net{index},ifname={},script=no,downscript=no",
                lab.tap_name(index)
            )),
        }
    }

    /// Sets the MAC address.
    pub fn mac(mut self, mac: &str) -> Nic {
        self.mac = Some(mac.to_string());
        self
    }

    /// Sets the firmware boot order index.
    pub fn bootindex(mut self, index: u32) -> Nic {
        self.bootindex = Some(index);
        self
    }

    pub(crate) fn validate_mac(&self) -> Result<()> {
        let Some(mac) = &self.mac else { return Ok(()) };
        let parsed = metalos_contract::MacAddr::parse(mac).map_err(|_| {
            VmError::Config(format!("MAC address {mac:?} is not aa:bb:cc:dd:ee:ff"))
        })?;
        if parsed.is_multicast() {
            return Err(VmError::Config(format!(
                "MAC address {mac} is a multicast address"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_must_target_loopback() {
        let ok = UserNet::new()
            .hostfwd_tcp("127.0.0.1:2222", 22)
            .guestfwd_tcp("10.0.2.100:80", "127.0.0.1:8080");
        assert_eq!(
            ok.validate("n0").unwrap(),
            "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22,guestfwd=tcp:10.0.2.100:80-tcp:127.0.0.1:8080"
        );
        for bad in [
            UserNet::new().hostfwd_tcp("0.0.0.0:2222", 22),
            UserNet::new().hostfwd_tcp(":2222", 22),
            UserNet::new().guestfwd_tcp("10.0.2.100:80", "192.168.1.1:80"),
            UserNet::new().guestfwd_tcp("10.0.2.100:80", "localhost:80"),
        ] {
            let err = bad.validate("n0").unwrap_err().to_string();
            assert!(err.contains("127.0.0.1") || err.contains("IPv4"), "{err}");
        }
    }

    #[test]
    fn http_dir_serves_a_directory_per_connection() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a,b");
        std::fs::create_dir(&root).unwrap();
        let v = UserNet::new()
            .http_dir("10.0.2.100:80", &root)
            .validate("n0")
            .unwrap();
        assert_eq!(
            v,
            format!(
                "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:80-cmd:{HTTPD_BUSYBOX} httpd -i -h {}",
                escape(&root.display().to_string())
            )
        );
        let missing = UserNet::new().http_dir("10.0.2.100:80", dir.path().join("none"));
        assert!(missing.validate("n0").is_err());
        let bad = UserNet::new().http_dir("example.com:80", dir.path());
        assert!(bad.validate("n0").is_err());
    }

    #[test]
    fn mac_validation() {
        assert!(Nic::default()
            .mac("52:54:00:12:34:56")
            .validate_mac()
            .is_ok());
        assert!(Nic::default()
            .mac("53:54:00:12:34:56")
            .validate_mac()
            .is_err());
        assert!(Nic::default().mac("52:54:00:12:34").validate_mac().is_err());
    }

    #[test]
    fn netns_nics_use_their_tap() {
        let nic = Nic::new_netns(NetnsLab::new()).no_option_rom();
        assert_eq!(
            nic.netdev(1).unwrap(),
            "tap,id=net1,ifname=tap1,script=no,downscript=no"
        );
        assert_eq!(nic.romfile.as_deref(), Some(""));
        let mixed = Nic {
            net: UserNet::new().hostfwd_tcp("127.0.0.1:2222", 22),
            ..nic
        };
        assert!(mixed.netdev(0).is_err());
    }
}
