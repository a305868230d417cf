//! Ethernet NICs: listing them from sysfs, bringing links up and choosing
//! the boot NIC.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::ifreq;
use crate::mac::MacAddr;

/// Where the kernel lists network interfaces.
pub const SYS_CLASS_NET: &str = "/sys/class/net";

/// After the first NIC gets link, how long to keep waiting for others
/// before deciding that it is the only one.
const CARRIER_SETTLE: Duration = Duration::from_millis(1500);
const POLL: Duration = Duration::from_millis(100);

/// An Ethernet network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    /// The kernel's interface name (`eth0`, `enp1s0`).
    pub name: String,
    /// Its (current) MAC address.
    pub mac: MacAddr,
    /// Whether it has link (`carrier` is 1); false while it is down.
    pub carrier: bool,
}

impl fmt::Display for Nic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let link = if self.carrier { "link" } else { "no link" };
        write!(f, "{} ({}, {link})", self.name, self.mac)
    }
}

/// Why NICs could not be listed, brought up or chosen.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// A sysfs file could not be read.
    #[error("reading {path}: {source}")]
    Sysfs {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// An interface ioctl failed.
    #[error("{ifname}: {op}: {source}")]
    Ioctl {
        /// The interface.
        ifname: String,
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// The boot NIC named by MAC is not present.
    #[error("no NIC has MAC {mac} (NICs found: {found})")]
    NoSuchMac {
        /// The MAC asked for.
        mac: MacAddr,
        /// The NICs that are present.
        found: String,
    },
    /// There are no Ethernet NICs at all.
    #[error("no Ethernet NICs in /sys/class/net after {waited:?} (is the NIC driver loaded?)")]
    NoNics {
        /// How long we waited for one to appear.
        waited: Duration,
    },
    /// No NIC got link.
    #[error("no NIC has link after {waited:?} (NICs found: {found})")]
    NoCarrier {
        /// How long we waited for link.
        waited: Duration,
        /// The NICs that are present.
        found: String,
    },
    /// Several NICs have link and none was named.
    #[error("several NICs have link ({found}); name the boot NIC with BOOTIF= or metalos.mac=")]
    SeveralWithCarrier {
        /// The NICs that are present.
        found: String,
    },
}

/// Lists the Ethernet NICs in `/sys/class/net`, sorted by name (skips `lo`,
/// non-Ethernet types, bridges and bonds).
pub fn list_nics() -> Result<Vec<Nic>, LinkError> {
    list_nics_in(Path::new(SYS_CLASS_NET))
}

/// As [`list_nics`], reading a sysfs-like tree at `root` (for tests).
pub fn list_nics_in(root: &Path) -> Result<Vec<Nic>, LinkError> {
    let sysfs = |path: &Path, source| LinkError::Sysfs {
        path: path.to_path_buf(),
        source,
    };
    let mut nics = Vec::new();
    for entry in fs::read_dir(root).map_err(|e| sysfs(root, e))? {
        let dir = entry.map_err(|e| sysfs(root, e))?.path();
        let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        if name == "lo" || dir.join("bridge").exists() || dir.join("bonding").exists() {
            continue;
        }
        // An interface can vanish between read_dir and here: skip it.
        let Ok(kind) = fs::read_to_string(dir.join("type")) else {
            continue;
        };
        if kind.trim() != "1" {
            continue; // not ARPHRD_ETHER
        }
        let Ok(address) = fs::read_to_string(dir.join("address")) else {
            continue;
        };
        let Ok(mac) = address.trim().parse() else {
            continue;
        };
        nics.push(Nic {
            carrier: carrier_in(&dir),
            name,
            mac,
        });
    }
    nics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(nics)
}

/// Whether `ifname` has link now (false when down or unknown).
pub fn has_carrier(ifname: &str) -> bool {
    carrier_in(&Path::new(SYS_CLASS_NET).join(ifname))
}

fn carrier_in(dir: &Path) -> bool {
    // Reading `carrier` fails with EINVAL while the interface is down.
    fs::read_to_string(dir.join("carrier")).is_ok_and(|s| s.trim() == "1")
}

/// Brings `ifname` up (sets `IFF_UP`, like `ip link set dev IFNAME up`).
pub fn set_link_up(ifname: &str) -> Result<(), LinkError> {
    let ioctl_err = |op, source| LinkError::Ioctl {
        ifname: ifname.to_string(),
        op,
        source,
    };
    let flags = ifreq::get_flags(ifname).map_err(|e| ioctl_err("reading flags", e))?;
    let up = libc::IFF_UP as libc::c_short;
    if flags & up == 0 {
        ifreq::set_flags(ifname, flags | up).map_err(|e| ioctl_err("bringing link up", e))?;
    }
    Ok(())
}

/// Waits up to `timeout` for `ifname` to have link; returns whether it has.
pub fn wait_for_carrier(ifname: &str, timeout: Duration) -> bool {
    let deadline = crate::deadline_after(Instant::now(), timeout);
    loop {
        if has_carrier(ifname) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}

/// Picks the boot NIC from `nics` without waiting: the one with `mac` when
/// given, else the only one with link.
pub fn select_boot_nic(nics: &[Nic], mac: Option<MacAddr>) -> Result<&Nic, LinkError> {
    if let Some(mac) = mac {
        return nics
            .iter()
            .find(|n| n.mac == mac)
            .ok_or_else(|| LinkError::NoSuchMac {
                mac,
                found: describe(nics),
            });
    }
    let mut with_link = nics.iter().filter(|n| n.carrier);
    match (with_link.next(), with_link.next()) {
        (Some(nic), None) => Ok(nic),
        (Some(_), Some(_)) => Err(LinkError::SeveralWithCarrier {
            found: describe(nics),
        }),
        (None, _) if nics.is_empty() => Err(LinkError::NoNics {
            waited: Duration::ZERO,
        }),
        (None, _) => Err(LinkError::NoCarrier {
            waited: Duration::ZERO,
            found: describe(nics),
        }),
    }
}

/// Finds and brings up the boot NIC, waiting up to `timeout` for NICs to
/// appear and get link.
///
/// With `mac`, that NIC is brought up and returned once it has link (or at
/// the timeout, with `carrier: false`: the caller's DHCP or HTTP will then
/// report the failure). Without, every NIC is brought up and the only one
/// with link is returned; once one has link the others get a short grace
/// period, and several with link is an error listing them.
pub fn choose_boot_nic(mac: Option<MacAddr>, timeout: Duration) -> Result<Nic, LinkError> {
    let start = Instant::now();
    let deadline = crate::deadline_after(start, timeout);
    let mut first_link: Option<Instant> = None;
    loop {
        let mut nics = list_nics()?;
        let now = Instant::now();
        let timed_out = now >= deadline;
        if let Some(mac) = mac {
            match nics.iter().find(|n| n.mac == mac) {
                Some(nic) => {
                    set_link_up(&nic.name)?;
                    let carrier =
                        wait_for_carrier(&nic.name, deadline.saturating_duration_since(now));
                    return Ok(Nic {
                        carrier,
                        ..nic.clone()
                    });
                }
                None if timed_out => {
                    return Err(LinkError::NoSuchMac {
                        mac,
                        found: describe(&nics),
                    })
                }
                None => {}
            }
        } else {
            for nic in &nics {
                set_link_up(&nic.name)?;
            }
            for nic in &mut nics {
                nic.carrier = has_carrier(&nic.name);
            }
            let linked = nics.iter().filter(|n| n.carrier).count();
            if linked > 0 && first_link.is_none() {
                first_link = Some(now);
            }
            let settled = first_link.is_some_and(|t| now.duration_since(t) >= CARRIER_SETTLE);
            if linked > 1 || (linked == 1 && (settled || linked == nics.len())) || timed_out {
                return select_boot_nic(&nics, None)
                    .cloned()
                    .map_err(|e| with_wait(e, now.duration_since(start)));
            }
        }
        thread::sleep(POLL);
    }
}

fn with_wait(e: LinkError, waited: Duration) -> LinkError {
    match e {
        LinkError::NoNics { .. } => LinkError::NoNics { waited },
        LinkError::NoCarrier { found, .. } => LinkError::NoCarrier { waited, found },
        other => other,
    }
}

fn describe(nics: &[Nic]) -> String {
    if nics.is_empty() {
        return "none".to_string();
    }
    nics.iter()
        .map(Nic::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nic(name: &str, mac: &str, carrier: bool) -> Nic {
        Nic {
            name: name.into(),
            mac: mac.parse().unwrap(),
            carrier,
        }
    }

    #[test]
    fn lists_ethernet_nics_from_a_sysfs_tree() {
        let root = tempfile::tempdir().unwrap();
        let mk = |name: &str, kind: &str, mac: &str, carrier: Option<&str>| {
            let d = root.path().join(name);
            fs::create_dir(&d).unwrap();
            fs::write(d.join("type"), format!("{kind}\n")).unwrap();
            fs::write(d.join("address"), format!("{mac}\n")).unwrap();
            if let Some(c) = carrier {
                fs::write(d.join("carrier"), format!("{c}\n")).unwrap();
            }
            d
        };
        mk("lo", "772", "00:00:00:00:00:00", Some("1"));
        mk("eth1", "1", "52:54:00:00:00:02", None);
        mk("eth0", "1", "52:54:00:00:00:01", Some("1"));
        mk("wg0", "65534", "00:00:00:00:00:00", Some("1"));
        let br = mk("br0", "1", "52:54:00:00:00:03", Some("1"));
        fs::create_dir(br.join("bridge")).unwrap();
        let nics = list_nics_in(root.path()).unwrap();
        assert_eq!(
            nics,
            vec![
                nic("eth0", "52:54:00:00:00:01", true),
                nic("eth1", "52:54:00:00:00:02", false)
            ]
        );
    }

    #[test]
    fn selects_by_mac_or_only_link() {
        let nics = [
            nic("eth0", "52:54:00:00:00:01", false),
            nic("eth1", "52:54:00:00:00:02", true),
        ];
        let by_mac = select_boot_nic(&nics, Some("52:54:00:00:00:01".parse().unwrap()));
        assert_eq!(by_mac.unwrap().name, "eth0");
        assert_eq!(select_boot_nic(&nics, None).unwrap().name, "eth1");
    }

    #[test]
    fn selection_errors_list_the_nics() {
        let nics = [
            nic("eth0", "52:54:00:00:00:01", true),
            nic("eth1", "52:54:00:00:00:02", true),
        ];
        let e = select_boot_nic(&nics, Some("aa:bb:cc:dd:ee:ff".parse().unwrap())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no NIC has MAC aa:bb:cc:dd:ee:ff (NICs found: eth0 (52:54:00:00:00:01, link), \
             eth1 (52:54:00:00:00:02, link))"
        );
        let e = select_boot_nic(&nics, None).unwrap_err().to_string();
        assert!(
            e.starts_with("several NICs have link (eth0 (52:54:00:00:00:01, link)"),
            "{e}"
        );
        let none = [nic("eth0", "52:54:00:00:00:01", false)];
        let e = select_boot_nic(&none, None).unwrap_err().to_string();
        assert!(
            e.contains("no NIC has link") && e.contains("eth0 (52:54:00:00:00:01, no link)"),
            "{e}"
        );
        let e = select_boot_nic(&[], None).unwrap_err().to_string();
        assert!(e.contains("no Ethernet NICs"), "{e}");
    }
}
